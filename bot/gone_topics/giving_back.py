"""A topic back: what was held for it given back, a story at a time, and the channel told."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.gone_topics.held import GONE
from bot.gone_topics.notices import back_text, tell
from bot.gone_topics.requery import decide_again, other_takers
from bot.gone_topics.tally import GIVING_BACK, Tally, tally_marks
from bot.narrow import Redecision
from bot.redecide.topic_changes import QUERY_CHANGED
from bot.send_errors import UNKNOWN_AFRESH
from bot.store import HELD_FOR_GONE, SubscriptionRow, subscriptions, told_story

log = logging.getLogger(__name__)

# How the channel is told where the topic came back from.
IN_CONFIG, FROM_CHAT = "in wirewatch's config", "(made again from chat)"


def give_back(
    db: sqlite_utils.Database, topic: str, max_age: float, now: datetime | None = None
) -> int:
    """A chat topic now has the name of a config topic that left: what each channel following
    it had held for it is given back as at a start with the topic back (`giving_back`), in
    one write (on the store thread), and the channel told. How many alerts were given back."""
    since = iso((now or utcnow()) - timedelta(seconds=max_age))
    back = 0
    with write(db):
        marks = {(u["kind"], u["subscription_id"]): u for u in tally_marks(db)}
        for sub in subscriptions(db):
            if sub.topic == topic and sub.paused_reason != "unsubscribed":
                tally = Tally.of(db, marks.get((GIVING_BACK, sub.id)))
                units, last = giving_back(db, sub, since, max_age, FROM_CHAT, None, tally)
                for unit in units:
                    unit()
                last()
                back += tally["back"]
    return back


def giving_back(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    since: str,
    age: float,
    how: str,
    again: Redecision | None,
    tally: Tally,
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """The topic is back: each story's held alerts go out as the subscription takes them
    now (or wait for a paused channel's resume) if one of its items is within `max_age`,
    else are cancelled, as an item that old is never alerted; with `again`, first only
    those the topic as it now reads still takes. A unit per story (`_give_back_story`),
    and the last, which tells the channel what came of them all (`tally`)."""
    reason = GONE.format(sub.topic)
    _adopt_marks(db, sub, reason)
    tally.add("refused", _refused_from_chat(db, sub))
    redecide = again if again is not None and sub.topic in again.affected else None
    others = other_takers(db, sub) if redecide is not None else []
    stories = [
        r[0]
        for r in db.execute(f"{_HELD_STORIES} GROUP BY story_id ORDER BY min(id)", [sub.id, reason])
    ]

    def last() -> None:
        _drop_untold_rest(db, sub, reason)
        _release(db, sub)  # edits and marks of a story the channel is told of otherwise
        back, dropped, refused = tally["back"], tally["dropped"], tally["refused"]
        log.info("topic.back channel=%s topic=%s resumed=%d dropped=%d refused=%d", sub.channel,
                 sub.topic, back, dropped, refused)  # fmt: skip
        tell(db, sub, "back", back_text(sub, back, (dropped, refused), age, how))
        tally.done()

    units: list[Callable[[], int]] = [
        functools.partial(_give_back_story, db, sub, story, since, redecide, others, tally)
        for story in stories
    ]
    return units, last


def _refused_from_chat(db: sqlite_utils.Database, sub: SubscriptionRow) -> int:
    """The alerts held for it that `topic add` of its name refused, deciding them before
    they are given back (`bot.redecide.channel._held_reason`): counted once, for the notice, as the
    config's return counts those it refuses (`decide_again`)."""
    t = sub.topic
    return int(
        db.execute(
            "UPDATE deliveries SET error = ? WHERE subscription_id = ? AND status = 'cancelled' "
            "AND error = ?",
            [
                f"topic {t} came back from chat no longer taking it",
                sub.id,
                f"{GONE.format(t)}; {QUERY_CHANGED.format(t)}",
            ],
        ).rowcount  # fmt: skip
    )


def _give_back_story(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    story: int,
    since: str,
    again: Redecision | None,
    others: list[SubscriptionRow],
    tally: Tally,
) -> int:
    """One story's held alerts (`giving_back`): decided again by `again` (what the topic no
    longer takes counted as refused), then cancelled if none of its held items is within
    `max_age` (counted as dropped), else given back with their edits and marks (counted as
    back) in story order."""
    reason = GONE.format(sub.topic)
    if again is not None:
        tally.add("refused", decide_again(db, sub, again, others, story))
    # Through the index on the story (its few rows), not the subscription's or the status's
    # (thousands held: a story at a time, they made the give-back seven times slower).
    mine = "+subscription_id = ? AND +status = 'held' AND error = ? AND story_id = ?"
    newest = db.execute(
        "SELECT max(i.published) FROM deliveries d JOIN items i ON i.id = d.item_id WHERE "
        "+d.subscription_id = ? AND +d.status = 'held' AND d.error = ? AND d.story_id = ?",
        [sub.id, reason, story],
    ).fetchone()[0]
    alerts = f"{mine} AND event_id = 0 AND kind IN ('new', 'update')"
    if newest is not None and newest < since:
        tally.add(
            "dropped",
            db.execute(
                f"UPDATE deliveries SET status = 'cancelled', error = ? WHERE {alerts}",
                [f"{reason}; older than max_age when it came back", sub.id, reason, story],
            ).rowcount,
        )
        db.execute(  # their edits and marks go with them, not counted
            f"UPDATE deliveries SET status = 'cancelled' WHERE {mine}", [sub.id, reason, story]
        )
        return 0
    back = db.execute(f"SELECT count(*) FROM deliveries WHERE {alerts}", [sub.id, reason, story])
    if n := back.fetchone()[0]:
        tally.add("back", n)
        _release(db, sub, story)
        _in_story_order(db, sub.channel, story)
    return 0


def _release(db: sqlite_utils.Database, sub: SubscriptionRow, story: int | None = None) -> None:
    """What is held for its topic (of `story`, if given) goes out as the subscription takes
    it now, or waits for a paused channel's resume. An unknown error's bounds start again
    (`bot.send_errors.met_unknown`), as after a pause: counted through the hold, an alert met 5
    times before it and given back days later failed at its first try, the hold its patience."""
    which = "+subscription_id = ? AND +status = 'held' AND error = ? AND story_id = ?"
    if story is None:
        which = "subscription_id = ? AND status = 'held' AND error = ?"
    db.execute(
        f"UPDATE deliveries SET error = NULL, {UNKNOWN_AFRESH}, "
        "status = CASE WHEN ? THEN 'held' WHEN ? AND "
        f"event_id = 0 THEN 'digest' ELSE 'pending' END WHERE {which}",
        [bool(sub.paused_reason), sub.mode == "digest", sub.id, GONE.format(sub.topic),
         *([] if story is None else [story])],
    )  # fmt: skip


# A subscription's delivery that is not a story's alert: an edit, a corroboration mark.
_NOT_ALERT = "NOT (event_id = 0 AND kind IN ('new', 'update'))"
# The stories of a subscription's alerts held for its gone topic (parameters: its id, reason).
_HELD_STORIES = (
    "SELECT story_id FROM deliveries WHERE subscription_id = ? AND status = 'held' AND "
    "error = ? AND event_id = 0 AND kind IN ('new', 'update')"
)


def _in_story_order(db: sqlite_utils.Database, channel: str, story: int) -> None:
    """The story's alerts waiting in the channel, those given back among them: each starts
    the story here unless one out already (or maybe out: in doubt) or an older one waiting
    tells of it, then it is an update. They go out by id, and a report held here is older
    than one of its story queued meanwhile through another topic, which started the story
    as nothing told of it then: the held one starts it now, that one is its update. (Told
    by the younger one, the held report went out first as an update of a message the
    channel did not have yet.) One in doubt keeps its kind: it may be out as it is."""
    out = db.execute(
        "SELECT 1 FROM deliveries WHERE channel = ? AND story_id = ? AND digest_of IS NULL AND "
        "(status IN ('sent', 'claimed') OR (maybe_posted = 1 AND status IN ('pending', "
        "'held') AND coalesce(error, '') NOT LIKE ?)) LIMIT 1",
        [channel, story, HELD_FOR_GONE],
    ).fetchone()
    for d_id, status in db.execute(
        "SELECT id, status FROM deliveries WHERE channel = ? AND story_id = ? AND "
        "event_id = 0 AND kind = 'new' AND status IN ('pending', 'digest', 'held') AND "
        "maybe_posted = 0 AND coalesce(error, '') NOT LIKE ? ORDER BY id",
        [channel, story, HELD_FOR_GONE],
    ).fetchall():
        if out or told_story(db, channel, story, status, before=d_id):
            db.execute("UPDATE deliveries SET kind = 'update' WHERE id = ?", [d_id])


def _adopt_marks(db: sqlite_utils.Database, sub: SubscriptionRow, reason: str) -> None:
    """A mark queued while its story's first alert was held (`bot.corroboration_store`
    holds it with that alert, without the reason) is held for the topic too: it goes out
    after that alert, or is dropped with it, and meanwhile tells the channel of nothing."""
    db.execute(
        "UPDATE deliveries SET error = ? WHERE subscription_id = ? AND status = 'held' AND "
        f"error IS NULL AND {_NOT_ALERT} AND story_id IN ({_HELD_STORIES})",
        [reason, sub.id, sub.id, reason],
    )


def _drop_untold_rest(db: sqlite_utils.Database, sub: SubscriptionRow, reason: str) -> None:
    """The held edits and marks of a story none of whose held alerts goes out, and of which
    the channel is not told otherwise: cancelled with it (not counted)."""
    stories = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT story_id FROM deliveries WHERE subscription_id = ? AND "
            f"status = 'held' AND error = ? AND {_NOT_ALERT} AND story_id NOT IN "
            f"({_HELD_STORIES})",
            [sub.id, reason, sub.id, reason],
        )
    ]
    for story in stories:
        if not told_story(db, sub.channel, story, "pending"):
            db.execute(
                "UPDATE deliveries SET status = 'cancelled' WHERE subscription_id = ? AND "
                f"status = 'held' AND error = ? AND story_id = ? AND {_NOT_ALERT}",
                [sub.id, reason, story],
            )
