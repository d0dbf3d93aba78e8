"""Store an item's edit and tell the channels it concerns, in one transaction.

The item is updated in place (the full-text index follows by trigger) with its matches, and
the edit is kept as a story event: text before and after, digests, and the topics the item
started or stopped matching. Then, through the outbox (exactly once, retried like any
delivery), per channel with edits on (`/wirewatch edits on|off`, on by default) and an
instant subscription:

- a channel that was told of the story hears of the edit in the story's thread when the item
  was shown there, or when the edit makes it start or stop matching the channel's topic;
- a channel that was never told of the story, whose topic the edited item now matches (and
  passes its --only/--except), gets the item as a new alert, if the item is recent.

Nobody is told of an edit that is part of a rewrite of the whole feed, that brings back a
version of the item seen before (a feed flapping between two versions), or past an item's
MAX_TOLD edits. Deciding what changed is `bot.revisions`' job, the diff `bot.edits`'.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlite_utils

from bot import storyterms, storyvectors
from bot.clock import iso
from bot.db import inserted_id, write
from bot.errors import WirewatchError, one_line
from bot.ingest import LIVE, NewItem, delivery_status, insert_delivery, insert_matches
from bot.narrow import narrow_subscriptions
from bot.revisions import Revision
from bot.store import HELD_FOR_GONE, SubscriptionRow, dumps, subscriptions

log = logging.getLogger(__name__)

MAX_TOLD = 5  # edits of one item told to channels; later ones are stored quietly


def edits_enabled(db: sqlite_utils.Database, channel: str) -> bool:
    row = db.execute("SELECT edits FROM channel_settings WHERE channel = ?", [channel]).fetchone()
    return True if row is None else bool(row[0])


def set_edits(db: sqlite_utils.Database, channel: str, on: bool) -> int:
    """Turn the channel's edits on or off; off also drops the edits already waiting there
    (what "not posted" means to whoever turned them off). Returns how many were dropped."""
    with write(db):
        db.execute(
            "INSERT INTO channel_settings (channel, edits) VALUES (?, ?) "
            "ON CONFLICT (channel) DO UPDATE SET edits = excluded.edits",
            [channel, int(on)],
        )
        if on:
            return 0
        return db.execute(
            "UPDATE deliveries SET status = 'cancelled', error = 'edits turned off' "
            "WHERE channel = ? AND kind = 'edit' AND status IN ('pending', 'held')",
            [channel],
        ).rowcount


def store_edits(db: sqlite_utils.Database, revisions: list[Revision], now: datetime) -> int:
    """Apply every revision and queue what channels should hear, in one transaction; returns
    deliveries queued. A database failure raises (the poll fails like any); a bug here rolls
    the edits back and costs only them."""
    if not revisions:
        return 0
    queued = 0
    try:
        with write(db):
            subs = [s for s in subscriptions(db) if s.paused_reason != "unsubscribed"]
            for rev in revisions:
                queued += _store_one(db, rev, subs, now)
    except WirewatchError:
        raise
    except Exception as exc:
        log.error("edits.store_failed edits=%d error=%s", len(revisions), one_line(exc))
        return 0
    return queued


def _store_one(
    db: sqlite_utils.Database, rev: Revision, subs: list[SubscriptionRow], now: datetime
) -> int:
    old = db.execute(
        "SELECT title, summary, digest, story_id, url, identity FROM items WHERE id = ?",
        [rev.item_id],
    ).fetchone()
    if old is None:  # pruned since the poll read it
        return 0
    before = {
        r[0] for r in db.execute("SELECT topic FROM matches WHERE item_id = ?", [rev.item_id])
    }
    after = {m.topic for m in rev.matches if m.strict}
    told = not rev.quiet and _worth_telling(db, rev, old[2])
    _update_item(db, rev)
    cur = db.execute(
        "INSERT INTO story_events (story_id, item_id, kind, created, old_title, old_summary, "
        "new_title, new_summary, old_digest, new_digest, started, stopped, reported) "
        "VALUES (?, ?, 'edit', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            old[3], rev.item_id, iso(now), old[0], old[1], rev.entry.title, rev.entry.summary,
            old[2], rev.digest, dumps(sorted(after - before)), dumps(sorted(before - after)),
            int(told),
        ],
    )  # fmt: skip
    log.info(
        "item.edited item=%d story=%d told=%d started=%s stopped=%s",
        rev.item_id,
        old[3],
        told,
        ",".join(sorted(after - before)),
        ",".join(sorted(before - after)),
    )
    if not told:
        return 0
    event = _Event(inserted_id(cur), old[3], rev, before, after)
    return _tell(db, event, subs, now)


def _worth_telling(db: sqlite_utils.Database, rev: Revision, old_digest: str | None) -> bool:
    """Not a version seen before (flapping), and not past the item's MAX_TOLD edits."""
    rows = db.execute(
        "SELECT old_digest, new_digest, reported FROM story_events "
        "WHERE item_id = ? AND kind = 'edit'",
        [rev.item_id],
    ).fetchall()
    seen = {d for row in rows for d in row[:2]} - {old_digest}
    return rev.digest not in seen and sum(row[2] for row in rows) < MAX_TOLD


def _update_item(db: sqlite_utils.Database, rev: Revision) -> None:
    e = rev.entry
    # A quiet rewrite keeps the item's vector and story terms (its change is the feed's
    # template, and computing every open item's anew would hold up the poll; the running
    # index keeps the terms too, and a restart's rebuild reads them back, not tokenising
    # the rewritten window again); a told edit's changed headline has a new vector, or none
    # (the trigger drops the old), and new terms.
    kept = storyvectors.read(db, [rev.item_id]).get(rev.item_id) if rev.quiet else None
    terms = storyterms.kept(db, rev.item_id) if rev.quiet else None
    db.execute(
        "UPDATE items SET title = ?, summary = ?, digest = ?, entities = ?, "
        "alert_summary = coalesce(?, alert_summary) WHERE id = ?",
        [e.title, e.summary, rev.digest, dumps(list(rev.entities)), rev.alert_summary, rev.item_id],
    )
    db.execute("DELETE FROM matches WHERE item_id = ?", [rev.item_id])
    db.execute("DELETE FROM relaxed_matches WHERE item_id = ?", [rev.item_id])
    insert_matches(db, rev.item_id, rev.matches)
    storyvectors.save(db, rev.item_id, rev.vector or kept)
    if rev.doc is not None:  # the trigger dropped the terms stored with the old words
        storyterms.save(db, [rev.doc])
    storyterms.put_back(db, terms)


class _Event:
    """One told edit and what it changed, for deciding channel by channel."""

    def __init__(self, event_id: int, story_id: int, rev: Revision, before: set, after: set):
        self.id, self.story_id, self.rev = event_id, story_id, rev
        self.before, self.after = before, after

    def flipped(self, topic: str) -> bool:
        return (topic in self.before) != (topic in self.after)


def _tell(
    db: sqlite_utils.Database, event: _Event, subs: list[SubscriptionRow], now: datetime
) -> int:
    told = _told_channels(db, event.story_id)
    shown = _shown_channels(db, event.rev.item_id)
    queued = 0
    by_channel: dict[str, list[SubscriptionRow]] = {}
    for sub in subs:
        if sub.mode == "instant":
            by_channel.setdefault(sub.channel, []).append(sub)
    for channel, channel_subs in by_channel.items():
        if not edits_enabled(db, channel):
            continue
        if channel in told:
            if channel in shown or any(event.flipped(s.topic) for s in channel_subs):
                sub = next((s for s in channel_subs if s.id == told[channel]), channel_subs[0])
                queued += _queue_edit(db, event, sub, now)
        elif alerting := _newly_alerting(event, channel_subs, now):
            insert_delivery(db, alerting, channel, event.story_id, event.rev.item_id, now)
            queued += 1
    return queued


def _newly_alerting(
    event: _Event, subs: list[SubscriptionRow], now: datetime
) -> SubscriptionRow | None:
    """The subscription through which the edited item now alerts a channel never told."""
    started = [s for s in subs if s.topic in event.after and s.topic not in event.before]
    if not event.rev.recent or not started:
        return None
    rev = event.rev
    item = NewItem(rev.entry, now, None, "", rev.entities, rev.matches, True)
    passing = narrow_subscriptions(started, item)
    return passing[0] if passing else None


def _told_channels(db: sqlite_utils.Database, story_id: int) -> dict[str, int]:
    """channel -> the subscription of its first delivery, for channels told the story (not
    by an alert held for a topic that is gone: that may never go out, `bot.gone_topics`)."""
    marks = ",".join("?" * len(LIVE))
    rows = db.execute(
        "SELECT channel, subscription_id FROM deliveries WHERE story_id = ? "
        f"AND status IN ({marks}) AND status != 'digest' AND digest_of IS NULL AND NOT "
        "(status = 'held' AND coalesce(error, '') LIKE ?) ORDER BY id",
        [story_id, *LIVE, HELD_FOR_GONE],
    ).fetchall()
    out: dict[str, int] = {}
    for channel, sub_id in rows:
        out.setdefault(channel, sub_id)
    return out


def _shown_channels(db: sqlite_utils.Database, item_id: int) -> set[str]:
    rows = db.execute(
        "SELECT channel FROM deliveries WHERE item_id = ? AND event_id = 0 "
        "AND status IN ('pending', 'claimed', 'sent', 'held') AND digest_of IS NULL",
        [item_id],
    )
    return {r[0] for r in rows}


def _queue_edit(
    db: sqlite_utils.Database, event: _Event, sub: SubscriptionRow, now: datetime
) -> int:
    cur = db.execute(
        "INSERT OR IGNORE INTO deliveries (subscription_id, channel, story_id, item_id, kind, "
        "status, next_attempt, created, event_id) VALUES (?, ?, ?, ?, 'edit', ?, ?, ?, ?)",
        [sub.id, sub.channel, event.story_id, event.rev.item_id, delivery_status(sub, now),
         iso(now), iso(now), event.id],
    )  # fmt: skip
    return cur.rowcount
