"""Read-only answers for the `status` chat command: feed health and what waits to be sent.

Only counts and timestamps from the database; nothing here writes, fetches or formats text
for a person (bot.commands does that). Queries the rest of wirewatch needs live in bot/*_store.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, parse_stored
from bot.feed_store import FeedRow
from bot.store import HELD_FOR_GONE


@dataclass(frozen=True)
class FeedCounts:
    """The feeds at a glance, for chat's `status` and the command line's."""

    active: int
    failing: int
    disabled: int  # disabled after repeated failures; removed feeds are not counted
    last_poll: str | None


@dataclass(frozen=True)
class Health:
    """How wirewatch is doing overall, and for one channel."""

    feeds: FeedCounts
    waiting: int  # deliveries pending or in flight, every channel
    channel_waiting: int
    channel_held: int  # kept while the channel is paused by a permanent error
    failed: int  # deliveries given up on, every channel
    channel_failed: int
    last_failure: str | None  # the reason of this channel's latest, else of anyone's


RECENT_ITEMS = 500  # `without_vectors` looks at this many of the newest stored items


def without_vectors(db: sqlite_utils.Database, open_since: datetime) -> tuple[int, int]:
    """(of the newest RECENT_ITEMS stored items, how many that should have a sentence vector
    have none; how many should have one). Such items were grouped by their words alone
    (bot.sentencevectors): the encoder's weights missing, a worker failing, or
    `sentence_vectors: false`. Items published before `open_since` (the story window) and
    title-less items never get one, or lose it when they leave the window: not counted."""
    row = db.execute(  # the newest RECENT_ITEMS first: never a scan of the whole archive
        "SELECT count(*), count(v.item_id) FROM (SELECT id, published, title FROM items "
        "ORDER BY id DESC LIMIT ?) i LEFT JOIN story_vectors v ON v.item_id = i.id "
        "WHERE i.published >= ? AND trim(i.title) != ''",
        [RECENT_ITEMS, iso(open_since)],
    ).fetchone()
    return row[0] - row[1], row[0]


def _count(db: sqlite_utils.Database, sql: str, args: list[object] | None = None) -> int:
    return int(db.execute(sql, args or []).fetchone()[0])


def held_count(db: sqlite_utils.Database, channel: str) -> int:
    """Held while the channel is paused; not those held for a topic removed from the config,
    which `status` lists under that topic (`bot.gone_topics`)."""
    return _count(
        db,
        "SELECT count(*) FROM deliveries WHERE channel = ? AND status = 'held' AND "
        "coalesce(error, '') NOT LIKE ?",
        [channel, HELD_FOR_GONE],
    )


def digest_waiting(db: sqlite_utils.Database, channel: str) -> tuple[int, int]:
    """(stories, reports) waiting for the channel's next digest: no alert waits for them,
    so `alerts waiting` leaves them out."""
    return digests_waiting(db, channel).get(channel, (0, 0))


def digests_waiting(
    db: sqlite_utils.Database, channel: str | None = None
) -> dict[str, tuple[int, int]]:
    """`digest_waiting` of every channel with a digest waiting (or of `channel` only)."""
    rows = db.execute(
        "SELECT channel, count(DISTINCT story_id), count(*) FROM deliveries WHERE "
        "status = 'digest' AND digest_of IS NULL AND coalesce(?, channel) = channel "
        "GROUP BY channel ORDER BY channel",
        [channel],
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def last_failure(db: sqlite_utils.Database, channel: str) -> str | None:
    row = db.execute(
        "SELECT error FROM deliveries WHERE status = 'failed' ORDER BY channel = ? DESC, id DESC "
        "LIMIT 1",
        [channel],
    ).fetchone()
    return row[0] if row else None


def feed_counts(db: sqlite_utils.Database) -> FeedCounts:
    feeds = db.execute(
        "SELECT sum(disabled = 0), sum(disabled = 0 AND failures > 0), "
        "sum(disabled = 1 AND coalesce(disabled_reason, '') != 'removed'), max(last_polled) "
        "FROM feeds"
    ).fetchone()
    return FeedCounts(feeds[0] or 0, feeds[1] or 0, feeds[2] or 0, feeds[3])


_WAITING = "status IN ('pending', 'claimed')"


def channel_waiting(db: sqlite_utils.Database, channel: str) -> int:
    """The channel's deliveries pending or in flight, as `status` counts them: one read of
    the open deliveries' index, for a recap, which needs this alone of `health`."""
    return _count(
        db, f"SELECT count(*) FROM deliveries WHERE {_WAITING} AND channel = ?", [channel]
    )


def health(db: sqlite_utils.Database, channel: str) -> Health:
    return Health(
        feeds=feed_counts(db),
        waiting=_count(db, f"SELECT count(*) FROM deliveries WHERE {_WAITING}"),
        channel_waiting=channel_waiting(db, channel),
        channel_held=held_count(db, channel),
        failed=_count(db, "SELECT count(*) FROM deliveries WHERE status = 'failed'"),
        channel_failed=_count(
            db, "SELECT count(*) FROM deliveries WHERE status = 'failed' AND channel = ?", [channel]
        ),
        last_failure=last_failure(db, channel),
    )


# A feed this long past its next poll was not polled when due: with every feed's own
# interval, backoff and server-asked delays already in `next_poll`, only a stopped (or
# swamped) poll loop leaves one there.
OVERDUE = 900.0


def overdue_before(now: datetime) -> str:
    """The stored `next_poll` before which an active feed was not polled when due."""
    return iso(now - timedelta(seconds=OVERDUE))


def is_overdue(feed: FeedRow, now: datetime) -> bool:
    """One feed by `overdue_feeds`' rule, for `wirewatch feeds` to mark it."""
    return not feed.disabled and feed.next_poll < overdue_before(now)


def overdue_feeds(db: sqlite_utils.Database, now: datetime) -> tuple[int, datetime] | None:
    """(how many active feeds are more than OVERDUE past their next poll, the earliest such
    due time), or None while polling keeps up. The process answering chat says nothing of
    its polling, and a `last poll` time of last night reads as fine at a glance."""
    row = db.execute(
        "SELECT count(*), min(next_poll) FROM feeds WHERE disabled = 0 AND next_poll < ?",
        [overdue_before(now)],
    ).fetchone()
    due = parse_stored(row[1], None) if row[0] else None
    return None if due is None else (row[0], due)


@dataclass(frozen=True)
class Posted:
    """What one channel was sent since a moment: alerts and updates, digests, the last."""

    alerts: int
    digests: int
    latest: str | None  # when the channel was last sent anything, however long ago


def posted_since(db: sqlite_utils.Database, channel: str, since: datetime) -> Posted:
    """Counted over the sent_at index from `since` on; the last send, when older, by the
    channel's own rows (a channel quiet for a day): never a walk of every channel's."""
    row = db.execute(
        # Items' own alerts (event_id 0): a corroboration mark or an edit is no further alert,
        # as the 7 days' count has it (bot.feedback.last_week).
        "SELECT count(DISTINCT CASE WHEN digest_of IS NULL AND event_id = 0 THEN id END), "
        "count(DISTINCT digest_of), max(sent_at) FROM deliveries INDEXED BY deliveries_sent "
        "WHERE sent_at >= ? AND channel = ? AND status = 'sent'",
        [iso(since), channel],
    ).fetchone()
    latest = (
        row[2]
        or db.execute(
            "SELECT max(sent_at) FROM deliveries WHERE channel = ? AND status = 'sent'", [channel]
        ).fetchone()[0]
    )
    return Posted(row[0], row[1], latest)


@dataclass(frozen=True)
class PlatformDeliveries:
    """One platform's alerts not sent: waiting (pending or in flight), held while a channel
    is paused, given up on."""

    waiting: int
    held: int
    failed: int


def deliveries_by_platform(db: sqlite_utils.Database) -> dict[str, PlatformDeliveries]:
    """Per platform (the channel key's prefix: "slack", "discord", "console"), what waits or
    failed: the host's view of `status`, where chat's is one channel's."""
    rows = db.execute(
        "SELECT CASE WHEN instr(channel, ':') THEN substr(channel, 1, instr(channel, ':') - 1) "
        "ELSE channel END AS platform, sum(status IN ('pending', 'claimed')), "
        "sum(status = 'held' AND coalesce(error, '') NOT LIKE ?), sum(status = 'failed') "
        "FROM deliveries WHERE status IN ('pending', 'claimed', 'held', 'failed') "
        "GROUP BY platform ORDER BY platform",
        [HELD_FOR_GONE],
    )
    return {r[0]: PlatformDeliveries(r[1], r[2], r[3]) for r in rows}
