"""A delivery's row: claimed in channel order, marked sent, put back to retry, failed; counts.

A delivery is claimed before sending and marked sent after; a crash in between leaves it
'claimed' (`bot.outbox.reconcile` asks the platform). One sent in doubt keeps when its send
in doubt began (`claimed_at`), so the platform is asked from then on. Retries back off on
disk, not in memory, so an outage of any length only grows the table.
"""

from __future__ import annotations

import random
from datetime import datetime

import sqlite_utils

from bot.clock import iso, later, parse_stored, utcnow
from bot.db import write
from bot.model import Delivery, MessageRef
from bot.store import live_sub

RETRY_CAP = 15 * 60.0
REWRITE_EVENT = -1  # deliveries.event_id of a first message's rewrite (after an update)


def retry_delay(attempts: int, retry_after: float | None) -> float:
    """Exponential from 5 s to 15 min with jitter; never sooner than the platform asked."""
    delay = min(RETRY_CAP, 5.0 * 2 ** max(attempts - 1, 0)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def claim_next(db: sqlite_utils.Database, platforms: list[str], now: datetime) -> Delivery | None:
    """The oldest pending delivery whose channel has nothing older still waiting."""
    if not platforms:
        return None
    like = " OR ".join("d.channel = ? OR d.channel LIKE ?" for _ in platforms)
    args: list[str] = []
    for p in platforms:
        args += [p, f"{p}:%"]
    with write(db):
        row = db.execute(
            "SELECT d.id, d.subscription_id, d.channel, d.story_id, d.item_id, d.kind, "
            "d.attempts, d.maybe_posted, d.faults, d.event_id "
            f"FROM deliveries d WHERE d.status = 'pending' AND d.next_attempt <= ? AND ({like}) "
            "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.channel = d.channel "
            "AND e.id < d.id AND e.status IN ('pending', 'claimed')) ORDER BY d.id LIMIT 1",
            [iso(now), *args],
        ).fetchone()
        if row is None:
            return None
        db.execute(  # one in doubt keeps when its send in doubt began (`in_doubt_since`)
            "UPDATE deliveries SET status = 'claimed', claimed_at = CASE WHEN maybe_posted = 1 "
            "AND claimed_at IS NOT NULL THEN claimed_at ELSE ? END, "
            "attempts = attempts + 1 WHERE id = ?",
            [iso(now), row[0]],
        )
    did, sub, channel, story, item, kind, tries, posted, faults, event = row
    return Delivery(
        did, sub, channel, story, item, kind, tries + 1, bool(posted), faults, event_id=event
    )


def mark_sent(
    db: sqlite_utils.Database,
    delivery_id: int,
    ref: MessageRef,
    *,
    rewrite: Delivery | None = None,
) -> int | None:
    """Sent; with `rewrite` (a thread message just posted), the story's first message is
    queued in the same write to be rewritten with the new source, so that neither a failed
    edit nor a crash before it leaves the first message short of a source. Returns the
    rewrite's delivery id."""
    with write(db):
        db.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, message_id = ?, "
            "thread_id = ?, error = NULL, maybe_posted = 0 WHERE id = ?",
            [iso(utcnow()), ref.message_id, ref.thread_id, delivery_id],
        )
        if rewrite is None:
            return None
        cursor = db.execute(
            "INSERT OR IGNORE INTO deliveries (subscription_id, channel, story_id, item_id, "
            "kind, status, next_attempt, created, event_id) "
            "VALUES (?, ?, ?, ?, 'rewrite', 'pending', ?, ?, ?)",
            [
                rewrite.subscription_id,
                rewrite.channel,
                rewrite.story_id,
                rewrite.item_id,
                iso(utcnow()),
                iso(utcnow()),
                REWRITE_EVENT - rewrite.event_id,  # an edit's rewrite is not its item's
            ],
        )
        return cursor.lastrowid if cursor.rowcount else None


def mark_retry(
    db: sqlite_utils.Database,
    d: Delivery,
    error: str,
    delay: float,
    *,
    maybe_posted: bool = False,
    faults: int | None = None,
) -> None:
    """Back to pending after `delay`; once in doubt, in doubt until the platform answers.
    A subscription ended while it was in flight (`unsubscribe` between two awaits) takes it
    with it, as it took everything else waiting for it."""
    with write(db):
        db.execute(
            "UPDATE deliveries SET status = CASE WHEN EXISTS (SELECT 1 FROM subscriptions s "
            f"WHERE s.id = deliveries.subscription_id AND NOT {live_sub('s')}) THEN 'cancelled' "
            "ELSE 'pending' END, next_attempt = ?, error = ?, "
            "maybe_posted = max(maybe_posted, ?), faults = ? WHERE id = ?",
            [later(delay), error, int(maybe_posted), d.faults if faults is None else faults, d.id],
        )


def mark_failed(
    db: sqlite_utils.Database, d: Delivery, error: str, faults: int | None = None
) -> None:
    with write(db):
        db.execute(
            "UPDATE deliveries SET status = 'failed', error = ?, faults = ? WHERE id = ?",
            [error, d.faults if faults is None else faults, d.id],
        )


def mark_not_posted(db: sqlite_utils.Database, delivery_id: int) -> None:
    """The platform says it does not have it: the next send is a first send, and begins now."""
    with write(db):
        db.execute(
            "UPDATE deliveries SET maybe_posted = 0, claimed_at = ? WHERE id = ?",
            [iso(utcnow()), delivery_id],
        )


def in_doubt_since(db: sqlite_utils.Database, delivery_id: int) -> datetime | None:
    """When the send that may have posted it began: its claim, or for one in doubt since an
    earlier try (a lost answer), that try's claim, which `claim_next` keeps. The platform is
    asked from then on, so a busy channel's later messages cannot hide ours."""
    row = db.execute("SELECT claimed_at FROM deliveries WHERE id = ?", [delivery_id]).fetchone()
    return parse_stored(row[0] if row else None, None)


def pending_count(db: sqlite_utils.Database) -> int:
    return db.execute(
        "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'claimed')"
    ).fetchone()[0]


def failed_count(db: sqlite_utils.Database) -> int:
    """Deliveries given up on (a permanent platform error, or one that could not be built)."""
    return db.execute("SELECT count(*) FROM deliveries WHERE status = 'failed'").fetchone()[0]
