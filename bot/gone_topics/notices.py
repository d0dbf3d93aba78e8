"""What a channel is told of its topic's departure and return, and once per departure."""

from __future__ import annotations

import sqlite_utils

from bot.clock import iso, minute_utc, parse_stored, utcnow
from bot.durations import format_duration
from bot.store import SubscriptionRow, queue_notice
from bot.wording import counted


def tell(db: sqlite_utils.Database, sub: SubscriptionRow, what: str, text: str) -> None:
    """Once per departure of the topic; a return only where its departure was told."""
    departure = departure_key(db, sub)
    if what == "back" and not told(db, f"topic-gone:{departure}"):
        return
    queue_notice(db, f"topic-{what}:{departure}", text, sub.channel)


def departure_key(db: sqlite_utils.Database, sub: SubscriptionRow) -> str:
    """The notices' key of the topic's current departure from this channel: its returns
    told so far tell one departure from the next."""
    prefix = f"topic-back:{sub.channel}\n{sub.topic}\n"
    returns = db.execute(  # a range of the unique index on the key, not a scan
        "SELECT count(*) FROM notices WHERE key >= ? AND key < ?", [prefix, prefix + "\uffff"]
    )
    return f"{sub.channel}\n{sub.topic}\n{returns.fetchone()[0]}"


def told(db: sqlite_utils.Database, key: str) -> bool:
    return db.execute("SELECT 1 FROM notices WHERE key = ?", [key]).fetchone() is not None


def gone_text(sub: SubscriptionRow, held: int, moved: int) -> str:
    t, back = sub.topic, f"ask whoever runs wirewatch to put `{sub.topic}` back in its config"
    went_on = (
        f" {counted(moved, 'alert')} waiting for it went on through another topic this "
        "channel follows."
        if moved
        else ""
    )
    rest = (
        f" {counted(held, 'alert')} waiting for it {'is' if held == 1 else 'are'} held, not "
        f"posted: to get them, {back} (those still recent then go out); to drop them, "
        if held
        else f" To follow it again, {back}; to stop following it, "
    )
    return (
        f"wirewatch: topic `{t}` was removed from wirewatch's config, so this channel gets "
        f"no more `{t}` alerts.{went_on}{rest}`/wirewatch unsubscribe {t}`."
    )


def back_text(
    sub: SubscriptionRow, back: int, dropped: tuple[int, int], age: float, how: str
) -> str:
    """`dropped`: (older than `max_age`, no longer taken by the topic as it now reads)."""
    old, refused = dropped
    gone = "".join(
        f"; {counted(n, 'alert')} {why} {'was' if n == 1 else 'were'} dropped"
        for n, why in (
            (old, f"older than {format_duration(age)}"),
            (refused, "its query no longer takes"),
        )
        if n
    )
    one = back == 1
    if sub.paused_reason:
        going = f"{'waits' if one else 'wait'} with the channel's paused alerts"
    elif sub.muted_until and sub.muted_until > iso(utcnow()):  # the outbox skips them
        until = minute_utc(parse_stored(sub.muted_until, utcnow()))
        going = f"{'is' if one else 'are'} skipped: this channel is muted until {until}"
    elif sub.mode == "digest":
        going = f"{'goes' if one else 'go'} in this channel's next digest"
    else:
        going = f"{'goes' if one else 'go'} out now"
    return (
        f"wirewatch: topic `{sub.topic}` is back {how}: "
        f"{counted(back, 'alert')} held for it {going}{gone}."
    )
