"""A subscription change's end: an ended one's rest handed on, a narrowed one's channel resumed.

The last slice of `unsubscribe` (and of an ending a start finishes) hands the ended
subscription's edits and story events on and deletes its row (`end_rest`), and logs what
it dropped (`log_ended`); that of `subscribe`, or of a narrowing a start finishes, gives a
paused channel its held backlog back (`resume`).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils

from bot.store import HELD_FOR_GONE, LIVE, LIVE_SUB, live_sub

log = logging.getLogger(__name__)


def resume(db: sqlite_utils.Database, channel: str) -> int:
    """A channel that was paused by a permanent error gets its held backlog back, each
    alert to the way its subscription takes it now (a digest's in the next digest); how
    many. Not those held for a topic that is gone (`bot.gone_topics`). Inside the caller's
    write."""
    db.execute(
        f"UPDATE subscriptions SET paused_reason = NULL WHERE channel = ? AND {LIVE_SUB}",
        [channel],
    )
    return int(
        db.execute(
            "UPDATE deliveries SET status = CASE WHEN (SELECT mode FROM subscriptions s WHERE "
            "s.id = deliveries.subscription_id) = 'digest' AND event_id = 0 THEN 'digest' "
            "ELSE 'pending' END WHERE channel = ? AND status = 'held' AND "
            "coalesce(error, '') NOT LIKE ?",
            [channel, HELD_FOR_GONE],
        ).rowcount
    )


def end_rest(
    db: sqlite_utils.Database, row: dict[str, Any], reason: str, statuses: tuple[str, ...]
) -> None:
    """An ended subscription's alerts decided: its edits and events handed on, and the row
    deleted unless deliveries refer to it. Inside the caller's write."""
    _hand_on_rest(db, row["id"], reason, statuses)
    db.execute(
        "DELETE FROM subscriptions WHERE id = ? AND NOT EXISTS "
        "(SELECT 1 FROM deliveries WHERE subscription_id = ?)",
        [row["id"], row["id"]],
    )


def log_ended(row: dict[str, Any], reason: str, dropped: int) -> None:
    log.log(
        logging.WARNING if dropped else logging.INFO,
        "subscription.ended channel=%s topic=%s reason=%s dropped=%d",
        row["channel"],
        row["topic"],
        reason,
        dropped,
    )


def _hand_on_rest(
    db: sqlite_utils.Database, sub_id: int, reason: str, statuses: tuple[str, ...]
) -> None:
    """An ended subscription's waiting edits and story events: under the subscription its
    story's alerts in the channel go out through now, else cancelled (not counted)."""
    waiting = ",".join("?" * len(statuses))
    live = ",".join("?" * len(LIVE))
    now_through = (
        "FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE d.channel = "
        "deliveries.channel AND d.story_id = deliveries.story_id AND d.event_id = 0 AND "
        f"d.kind IN ('new', 'update') AND d.status IN ({live}) AND d.subscription_id != ? "
        f"AND {live_sub('s')}"
    )
    rest = (
        f"subscription_id = ? AND status IN ({waiting}) AND NOT (event_id = 0 AND kind IN "
        "('new', 'update'))"
    )
    db.execute(
        f"UPDATE deliveries SET subscription_id = (SELECT d.subscription_id {now_through} "
        f"ORDER BY d.id LIMIT 1) WHERE {rest} AND EXISTS (SELECT 1 {now_through})",
        [*LIVE, sub_id, sub_id, *statuses, *LIVE, sub_id],
    )
    db.execute(
        f"UPDATE deliveries SET status = 'cancelled', error = ? WHERE {rest}",
        [reason, sub_id, *statuses],
    )
