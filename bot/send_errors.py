"""What a send's error does to its delivery: retried, failed alone, or its channel held.

A failure on our side (an alert that cannot be built from its rows, an adapter bug), or a
platform's refusal of that one message (too long, a field it does not take), is that
delivery's alone: it is retried at once a few times, then failed with its reason, and the
channel moves on. Only a platform outage makes a channel wait. An error the adapter does not
know (one the platform added since) may pass or never: retried with the backoff
UNKNOWN_TRIES times and for UNKNOWN_PATIENCE at least, counted on disk, then it fails alone.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection
from datetime import datetime

import sqlite_utils

from bot import metrics
from bot.clock import iso, parse_stored, utcnow
from bot.db import write
from bot.delivery_rows import mark_failed, mark_retry, retry_delay
from bot.errors import DeliveryError, Gone
from bot.gone_channels import OPS_KEY, gone_key, gone_notice
from bot.model import Delivery
from bot.store import LIVE_SUB, queue_notice, set_paused

# Logged as the outbox, as before it was split: operators' filters and greps name bot.outbox.
log = logging.getLogger("bot.outbox")

FAULT_ATTEMPTS = 3  # our own errors: a passing one clears, a broken row does not
REASON_CHARS = 300

# An error the adapter does not know is retried this many times and for this long at least,
# counted from the delivery's first such error (deliveries.unknown_since, unknown_tries: a
# restart goes on counting; a pause of the channel starts them again), then the delivery
# fails alone with it.
UNKNOWN_TRIES = 5
UNKNOWN_PATIENCE = 30 * 60.0

# SET clause that starts an unknown error's bounds again: after a pause, or a hold for a
# removed topic, the time spent waiting is not patience spent (`met_unknown`).
UNKNOWN_AFRESH = "unknown_since = NULL, unknown_tries = 0"


def hold_channel(db: sqlite_utils.Database, channel: str, reason: str, gone: Gone = "") -> None:
    """A permanent error: pause the channel, keep its backlog on hold, tell moderators once a pause.
    An unknown error's bounds start again once resumed (`met_unknown`): counted through the
    pause, an alert past its tries failed at its first try after it, the pause its patience;
    so did a digest's stories, which wait through it as they are (`bot.digest`).
    `gone`: the channel itself is gone; "fix it, then subscribe again" asked the impossible
    of a deleted one, so its notice says the way out (`bot.gone_channels`)."""
    with write(db):
        # A new pause (the channel was not paused) is told anew: the notices of one before it,
        # keyed by channel, are cleared, or `queue_notice` would keep the first for good.
        # A second error in the same pause (a send already under way) tells nothing more;
        # the pause is on disk, so neither does a restart.
        if not paused(db, channel):
            keys = pause_keys(channel)
            db.execute(f"DELETE FROM notices WHERE key IN ({','.join('?' * len(keys))})", keys)
        set_paused(db, channel, reason)
        db.execute(
            f"UPDATE deliveries SET status = 'held', {UNKNOWN_AFRESH} "
            "WHERE channel = ? AND status = 'pending'",
            [channel],
        )
        db.execute(
            f"UPDATE deliveries SET {UNKNOWN_AFRESH} "
            "WHERE channel = ? AND status = 'digest' AND unknown_tries > 0",
            [channel],
        )
        if gone:
            text = gone_notice(db, channel, reason, gone)
            queue_notice(db, gone_key(channel), text, channel)
            return
        queue_notice(
            db,
            f"paused:{channel}",
            f"wirewatch paused alerts to {channel}: {reason}. Fix it, then subscribe again "
            "to resume; held alerts are kept.",
            channel,
        )


def paused(db: sqlite_utils.Database, channel: str) -> bool:
    """Whether a permanent error paused the channel (and no subscribe has resumed it)."""
    return (
        db.execute(
            "SELECT 1 FROM subscriptions WHERE channel = ? AND paused_reason IS NOT NULL "
            f"AND {LIVE_SUB} LIMIT 1",
            [channel],
        ).fetchone()
        is not None
    )


def pause_keys(channel: str) -> list[str]:
    """The keys of a pause's notices: the channel's, a gone channel's and its copy for ops."""
    return [f"paused:{channel}", gone_key(channel), f"{OPS_KEY}{gone_key(channel)}"]


def retry_or_hold(db: sqlite_utils.Database, d: Delivery, exc: DeliveryError, platform: str) -> str:
    """The platform failed: stop the channel on a permanent error, else back off on disk.
    Returns the outcome the outbox counts ("failed" or "retried")."""
    (metrics.FAILED if exc.permanent else metrics.RETRIED).labels(platform).inc()
    if exc.permanent:  # this alert waits with the channel's backlog, resent on resuming
        mark_retry(db, d, str(exc), 0.0, maybe_posted=exc.maybe_posted)
        hold_channel(db, d.channel, str(exc), exc.gone)
        log.error("outbox.failed delivery=%d channel=%s error=%s", d.id, d.channel, exc)
        return "failed"
    if exc.retry_after is not None:
        # The platform said when: a rate limit (Slack's pace of a message a second in a
        # channel, on a busy news day), a lookup it cut short (it goes on where it stopped:
        # Slack's limit outside its Marketplace, a page a minute), a token it waits for. Tried
        # again then, not after a backoff grown by the tries before: a 5 s backoff for a
        # 1 s Retry-After made a burst of 13 alerts take 85 s instead of 33.
        delay = max(exc.retry_after, 1.0) * random.uniform(1.0, 1.1)
    else:
        delay = retry_delay(d.attempts, exc.retry_after)
    mark_retry(db, d, str(exc), delay, maybe_posted=exc.maybe_posted)
    log.warning(
        "outbox.retry delivery=%d channel=%s in=%.0fs maybe_posted=%d error=%s",
        d.id,
        d.channel,
        delay,
        exc.maybe_posted,
        exc,
    )
    return "retried"


def retry_unknown_or_fail(
    db: sqlite_utils.Database, d: Delivery, exc: DeliveryError, platform: str
) -> str:
    """An error the adapter does not know: retried with the backoff until it has been met
    UNKNOWN_TRIES times over UNKNOWN_PATIENCE (`met_unknown`), then this delivery fails alone
    with it and the channel goes on. Returns the outcome the outbox counts."""
    past = met_unknown(db, [d.id], utcnow())
    if past is None:
        return retry_or_hold(db, d, exc, platform)
    tries, waited = past
    reason = (
        f"{exc}, an error wirewatch does not know, {tries} times over {waited / 60:.0f} min: "
        "given up"
    )[:REASON_CHARS]
    metrics.FAILED.labels(platform).inc()
    mark_failed(db, d, reason)
    log.error("outbox.unknown_gave_up delivery=%d channel=%s: %s", d.id, d.channel, reason)
    return "failed"


def met_unknown(
    db: sqlite_utils.Database, ids: list[int], now: datetime, *, counted: Collection[int] = ()
) -> tuple[int, float] | None:
    """These deliveries (an alert, or the stories of a digest: `bot.digest`) met an error the
    adapter does not know: counted on disk from each one's first such error. None while each
    is within UNKNOWN_TRIES or UNKNOWN_PATIENCE, else the tries and seconds of one past both.
    Counted in memory, a bot restarted more often than the bounds take (a crash loop, deploys)
    met it at every start as if for the first time, and retried it forever. `counted`: those
    whose try this already was (a digest's halves, a story sent alone, in the same digest),
    checked without counting another."""
    new = [i for i in ids if i not in counted]
    marks = ",".join("?" * len(ids))
    with write(db):
        if new:
            db.execute(
                "UPDATE deliveries SET unknown_since = coalesce(unknown_since, ?), "
                f"unknown_tries = unknown_tries + 1 WHERE id IN ({','.join('?' * len(new))})",
                [iso(now), *new],
            )
        rows = db.execute(
            f"SELECT unknown_since, unknown_tries FROM deliveries WHERE id IN ({marks})", ids
        ).fetchall()
    for since, tries in rows:
        waited = max(0.0, (now - parse_stored(since, now)).total_seconds())
        if tries >= UNKNOWN_TRIES and waited >= UNKNOWN_PATIENCE:
            return tries, waited
    return None


def retry_fault_or_fail(
    db: sqlite_utils.Database,
    d: Delivery,
    exc: Exception,
    platform: str,
    doing: str,
    *,
    maybe_posted: bool,
) -> str:
    """Our side failed: retry at once (a passing error clears), give up after FAULT_ATTEMPTS.

    The channel is not paused and waits for nothing: its next delivery goes out next.
    Returns the outcome the outbox counts."""
    reason = f"could not {doing}: {type(exc).__name__}: {exc}"[:REASON_CHARS]
    faults = d.faults + 1
    if faults < FAULT_ATTEMPTS:
        metrics.RETRIED.labels(platform).inc()
        mark_retry(db, d, reason, 0.0, maybe_posted=maybe_posted, faults=faults)
        log.warning("outbox.fault delivery=%d attempt=%d error=%s", d.id, faults, reason)
        log.debug("outbox.fault_traceback delivery=%d", d.id, exc_info=exc)
        return "retried"
    metrics.FAILED.labels(platform).inc()
    mark_failed(db, d, reason, faults)
    log.error(
        "outbox.gave_up delivery=%d channel=%s after=%d error=%s",
        d.id,
        d.channel,
        faults,
        reason,
        exc_info=exc,
    )
    return "failed"
