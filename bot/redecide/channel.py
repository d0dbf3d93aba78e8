"""One channel's queued alerts decided again, as `bot.ingest` would queue them now.

Each goes on through a subscription of its channel that still takes it (`taker`), else is
cancelled with the reason; the stories they started there start with their next alert that
may (`_restart`). A story at a time (`redecide_story`), inside the caller's write: the
units `bot.redecide.slices.sliced` runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.clock import parse_stored
from bot.model import Entry, TopicMatch
from bot.narrow import StoredItem, narrow_subscriptions
from bot.store import HELD_FOR_GONE, SubscriptionRow, subscriptions, told_story
from bot.text.versions import digest

# What a subscription that ends takes with it: everything not sent yet.
WAITING = ("pending", "digest", "held", "muted")
# Alerts still to go out that a changed filter or topic query decides again (a muted one
# never goes out; a claimed one is in flight).
QUEUED = ("pending", "digest", "held")
# A queued alert's item decided again by a changed topic (`bot.narrow.rematch`).
Rematch = Callable[[StoredItem], StoredItem]


def queued_stories(
    db: sqlite_utils.Database, sub_ids: list[int], statuses: tuple[str, ...]
) -> list[tuple[str, int]]:
    """(channel, story) of the alerts waiting (`statuses`) through these subscriptions,
    the story with the oldest such alert first."""
    if not sub_ids:
        return []
    rows = db.execute(
        "SELECT channel, story_id FROM deliveries WHERE subscription_id IN "
        f"({','.join('?' * len(sub_ids))}) AND status IN ({','.join('?' * len(statuses))}) "
        "AND event_id = 0 AND kind IN ('new', 'update') GROUP BY channel, story_id "
        "ORDER BY min(id)",
        [*sub_ids, *statuses],
    )
    return [(channel, story) for channel, story in rows]


def redecide_story(
    db: sqlite_utils.Database,
    channel: str,
    story_id: int,
    sub_ids: list[int],
    statuses: tuple[str, ...],
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """`_redecide` of one story's alerts in the channel still waiting through these
    subscriptions, as they are now (some may have been sent since the plan was made)."""
    waiting = list(
        db.query(
            "SELECT id, subscription_id, channel, story_id, item_id, kind, status, error, "
            "digest_of FROM deliveries WHERE channel = ? AND story_id = ? AND subscription_id IN "
            f"({','.join('?' * len(sub_ids))}) AND status IN ({','.join('?' * len(statuses))}) "
            "AND event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [channel, story_id, *sub_ids, *statuses],
        )
    )
    return _redecide(db, channel, waiting, reason, rematch) if waiting else 0


def _redecide(
    db: sqlite_utils.Database,
    channel: str,
    queued: list[dict[str, Any]],
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """Decide queued alerts of `channel` again as `bot.ingest` would decide them now (after
    a filter or a topic's query changed): each goes on through a subscription of the
    channel that still takes its item (its own first), else it is cancelled with `reason`,
    and the stories it started here start with their next alert that may. Inside the
    caller's write; returns how many were cancelled."""
    subs = subscriptions(db, channel)
    # A subscription to a topic removed from the config keeps what it holds, and takes
    # nothing more: an alert handed to it would be posted under a topic that is gone.
    gone = {s.id for s in subs if not topic_exists(db, s.topic)}
    stories: set[int] = set()
    cancelled = 0
    for d in queued:
        item = stored_item(db, d["item_id"])
        mine = [s for s in subs if s.id not in gone or s.id == d["subscription_id"]]
        if d.get("digest_of") is not None:  # a digest's in doubt (it may be out): stays one
            mine = [s for s in mine if s.mode == "digest" or s.id == d["subscription_id"]]
        sub = taker(mine, rematch(item) if rematch else item, d)
        if sub is None:
            cancelled += _cancel(db, d["id"], _held_reason(d, reason))
        elif sub.id != d["subscription_id"]:
            # Held stays held only where its new subscription is paused too (the channel
            # is): `unsubscribe` holds its alerts while it decides them, not the channel's.
            # Held for a topic that is gone, it is not for that reason under its new one.
            held = d["status"] == "held" and sub.paused_reason is None
            status = d["status"] if d["status"] in _KEPT and not held else _mode_status(sub)
            db.execute(
                "UPDATE deliveries SET subscription_id = ?, status = ?, error = CASE WHEN "
                "error LIKE ? THEN NULL ELSE error END WHERE id = ?",
                [sub.id, status, HELD_FOR_GONE, d["id"]],
            )
        if sub is None or sub.id != d["subscription_id"]:
            stories.add(d["story_id"])
    return cancelled + sum(_restart(db, channel, s, reason, rematch) for s in sorted(stories))


def taker(
    subs: list[SubscriptionRow], item: StoredItem, d: dict[str, Any]
) -> SubscriptionRow | None:
    """The subscription a queued alert of `item` goes out through now: one whose topic the
    item matches (strictly for a story's first alert, at least at the relaxed bar for an
    update) and whose --only/--except let it through; the one it was queued under first."""
    bar = {m.topic for m in item.matches if m.strict or d["kind"] == "update"}
    taking = [s for s in narrow_subscriptions(subs, item) if s.topic in bar]
    mine = [s for s in taking if s.id == d["subscription_id"]]
    return next(iter(mine or taking), None)


def topic_exists(db: sqlite_utils.Database, topic: str) -> bool:
    """Whether `topic` is in the config or made from chat (not removed from the config)."""
    return db.execute("SELECT 1 FROM topics WHERE name = ?", [topic]).fetchone() is not None


# What an alert moved to another subscription keeps: held (the channel is paused), muted (it
# was skipped), claimed (a claim left by a crash, seen at start only).
_KEPT = ("held", "muted", "claimed")


def _mode_status(sub: SubscriptionRow) -> str:
    return "digest" if sub.mode == "digest" else "pending"


def _cancel(db: sqlite_utils.Database, delivery_id: int, reason: str) -> int:
    """Cancelled, never deleted: the row is the history of what the channel was not sent."""
    return db.execute(
        "UPDATE deliveries SET status = 'cancelled', error = ? WHERE id = ?",
        [reason, delivery_id],
    ).rowcount


def _restart(
    db: sqlite_utils.Database,
    channel: str,
    story_id: int,
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """A story whose queued alerts in the channel changed: each still queued is its first
    alert here unless an older one told of it, as when it was queued; one that only cleared
    the relaxed bar cannot start it (it was let through as an update) and is cancelled, and
    so are the queued edits of a story the channel is no longer told of. Returns how many
    alerts were cancelled (edits not counted)."""
    cancelled = 0
    for d in db.query(
        "SELECT d.id, d.kind, d.status, d.item_id, d.story_id, d.subscription_id, d.error, "
        "s.topic FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE "
        "d.channel = ? AND "
        "d.story_id = ? AND d.event_id = 0 AND d.kind IN ('new', 'update') AND d.status IN "
        f"({','.join('?' * len(QUEUED))}) ORDER BY d.id",
        [channel, story_id, *QUEUED],
    ):
        if told_story(db, channel, story_id, d["status"], before=d["id"]) or _held_with(db, d):
            kind = "update"
        elif _strict(db, d["item_id"], d["topic"], rematch):
            kind = "new"
        else:
            cancelled += _cancel(db, d["id"], _held_reason(d, reason))
            continue
        db.execute("UPDATE deliveries SET kind = ? WHERE id = ?", [kind, d["id"]])
    if not told_story(db, channel, story_id, "pending"):
        db.execute(
            "UPDATE deliveries SET status = 'cancelled', error = ? WHERE channel = ? AND "
            f"story_id = ? AND kind = 'edit' AND status IN ({','.join('?' * len(QUEUED))})",
            [reason, channel, story_id, *QUEUED],
        )
    return cancelled


def _held_reason(d: dict[str, Any], reason: str) -> str:
    """Why an alert is cancelled: for one held for a topic that is gone, that reason first,
    so that the topic's return tells the channel how many its query refused
    (`bot.gone_topics`: `topic add` of its name decides them before they are given back)."""
    held = d["status"] == "held" and _GONE.fullmatch(d.get("error") or "")
    return f"{d['error']}; {reason}" if held else reason


def _held_with(db: sqlite_utils.Database, d: dict[str, Any]) -> bool:
    """Whether an older alert of its story is held with it for a topic that is gone (they
    go out together when it is back, `bot.gone_topics`): that one tells of the story, which
    `told_story` does not count, since it may never go out."""
    if d["status"] != "held" or d["error"] is None or not _GONE.fullmatch(d["error"]):
        return False
    return (
        db.execute(
            "SELECT 1 FROM deliveries WHERE subscription_id = ? AND story_id = ? AND id < ? AND "
            "status = 'held' AND error = ? AND event_id = 0 AND kind IN ('new', 'update') LIMIT 1",
            [d["subscription_id"], d["story_id"], d["id"], d["error"]],
        ).fetchone()
        is not None
    )


_GONE = re.compile(re.escape(HELD_FOR_GONE).replace("%", ".+"))


def _strict(db: sqlite_utils.Database, item_id: int, topic: str, rematch: Rematch | None) -> bool:
    """Whether the item matches `topic` strictly (as stored, or as decided again)."""
    item = stored_item(db, item_id)
    item = rematch(item) if rematch else item
    return any(m.topic == topic and m.strict for m in item.matches)


def stored_item(db: sqlite_utils.Database, item_id: int) -> StoredItem:
    """An item as stored, with the topics it matched (strictly, or at the relaxed bar)."""
    row = db.execute(
        "SELECT identity, url, title, summary, text, published, digest FROM items WHERE id = ?",
        [item_id],
    ).fetchone()
    identity, url, title, summary, text, published, said = row
    matches = tuple(
        TopicMatch(topic, (), (), strict=bool(strict))
        for topic, strict in db.execute(
            "SELECT topic, 1 FROM matches WHERE item_id = ? UNION ALL "
            "SELECT topic, 0 FROM relaxed_matches WHERE item_id = ?",
            [item_id, item_id],
        )
    )
    # Its digest as stored with it (kept with title and summary by edits): made again only
    # for an item stored without one.
    said = said or digest(title, summary or "")
    entry = Entry(identity, url, title, summary or "", parse_stored(published, None), digest=said)
    return StoredItem(entry, text, matches)
