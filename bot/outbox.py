"""Deliveries: claim the next one in channel order, send it through its adapter, mark it.

A delivery is claimed before sending and marked sent after; a crash in between leaves it
'claimed', and `reconcile` asks the adapter whether it was posted (Slack metadata, Discord
nonce and embed footer) before sending again. A send whose answer was lost (a timeout, a
reset, a 5xx) is in the same doubt: it is marked `maybe_posted`, and the platform is asked the
same question before the next send. Either way the platform is told when the send in doubt
began (`claimed_at`, kept while in doubt), and looks from then on: however busy the channel
was since, the message is found. Retries back off on disk, not in memory, so an outage of
any length only grows the table.

A failure on our side (an alert that cannot be built from its rows, an adapter bug), or a
platform's refusal of that one message (too long, a field it does not take), is that
delivery's alone: it is retried at once a few times, then failed with its reason, and the
channel moves on. Only a platform outage makes a channel wait. An error the adapter does not
know (one the platform added since) may pass or never: retried with the backoff
UNKNOWN_TRIES times and for UNKNOWN_PATIENCE at least, counted on disk, then it fails alone.

Besides a story's items ('new', 'update'), deliveries tell of its events: an 'edit' is a
message in the story's thread like an update; 'corroborated' rewrites the story's first
message with its mark, and a 'rewrite' (queued with each thread message sent) rewrites it with
the sources so far. Both are edits of a message we own, so they are never looked for after
a lost answer (doing one twice is harmless), a refusal only cancels that one (the message may
have been deleted: that is no reason to pause the channel), and each is given up after
MARK_ATTEMPTS tries: a later update shows its sources and mark anyway.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from bot import metrics
from bot.alerts import build_alert, first_message_alert, parent_ref
from bot.chat import ChatAdapter, split_channel
from bot.clock import iso, later, parse_stored, utcnow
from bot.db import write
from bot.errors import DeliveryError
from bot.failpoints import failpoint
from bot.model import Alert, Delivery, MessageRef
from bot.store import add_notice, live_sub, pause_channel, skip_muted

log = logging.getLogger(__name__)

RETRY_CAP = 15 * 60.0
FAULT_ATTEMPTS = 3  # our own errors: a passing one clears, a broken row does not
MARK_ATTEMPTS = 5  # a corroboration mark is a nicety: it never holds a channel for long
REWRITE_EVENT = -1  # deliveries.event_id of a first message's rewrite (after an update)
NOTICE_ATTEMPTS = 10  # some 40 minutes of retries (5 s doubling, capped at 15 min)
# How long a notice in doubt waits for a platform that says "ask later" (Slack's history
# limit for apps outside its Marketplace: a read a minute) before it is sent again unseen.
NOTICE_LOOKUP_PATIENCE = 3600.0
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


@dataclass
class OutboxStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


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


def hold_channel(db: sqlite_utils.Database, channel: str, reason: str) -> None:
    """A permanent error: pause the channel, keep its backlog on hold, tell moderators once.
    An unknown error's bounds start again once resumed (`met_unknown`): counted through the
    pause, an alert past its tries failed at its first try after it, the pause its patience;
    so did a digest's stories, which wait through it as they are (`bot.digest`)."""
    pause_channel(db, channel, reason)
    with write(db):
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
    add_notice(
        db,
        f"paused:{channel}",
        f"wirewatch paused alerts to {channel}: {reason}. Fix it, then subscribe again "
        "to resume; held alerts are kept.",
        channel=channel,
    )


def pending_count(db: sqlite_utils.Database) -> int:
    return db.execute(
        "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'claimed')"
    ).fetchone()[0]


def failed_count(db: sqlite_utils.Database) -> int:
    """Deliveries given up on (a permanent platform error, or one that could not be built)."""
    return db.execute("SELECT count(*) FROM deliveries WHERE status = 'failed'").fetchone()[0]


async def reconcile(db: sqlite_utils.Database, adapters: dict[str, ChatAdapter]) -> int:
    """Deliveries left 'claimed' by a crash: mark sent if the platform has them, else retry.

    Only those of `adapters`' platforms: another platform's may be in flight in its own
    drain (and one whose platform is not running stays claimed for when it is). One the
    platform cannot tell about yet goes back to waiting in doubt, as after a lost answer:
    asked again after the outbox's backoff, not at every tick while the platform is down."""
    rows = [
        row
        for row in db.query(
            "SELECT id, channel, story_id, kind, attempts FROM deliveries "
            "WHERE status = 'claimed' AND digest_of IS NULL"
        )  # a digest's are bot.digest's: back to 'pending' they would go out one alert each
        if split_channel(row["channel"])[0] in adapters
    ]
    for row in rows:
        platform, ident = split_channel(row["channel"])
        adapter = adapters[platform]
        story = _thread_parent(db, row["channel"], row["story_id"], row["kind"])
        try:
            since = in_doubt_since(db, row["id"])
            ref = await adapter.find_posted(ident, row["id"], story, since=since)
        except Exception as exc:  # cannot tell yet: in doubt, asked again after a backoff
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            delay = (  # a lookup a rate limit cut short goes on when asked, as in `_failed`
                retry_after * random.uniform(1.0, 1.1)
                if retry_after is not None
                else retry_delay(row["attempts"], None)
            )
            log.warning(
                "outbox.reconcile_deferred delivery=%d in=%.0fs error=%s", row["id"], delay, exc
            )
            with write(db):
                db.execute(
                    "UPDATE deliveries SET status = 'pending', maybe_posted = 1, "
                    "next_attempt = ?, error = ? WHERE id = ? AND status = 'claimed'",
                    [later(delay), str(exc)[:REASON_CHARS], row["id"]],
                )
            continue
        if ref:
            mark_sent(db, row["id"], ref)
        else:
            with write(db):
                db.execute(
                    "UPDATE deliveries SET status = 'pending', maybe_posted = 0 WHERE id = ?",
                    [row["id"]],
                )
    if rows:
        log.info("outbox.reconciled claimed=%d", len(rows))
    return len(rows)


async def deliver_pending(
    db: sqlite_utils.Database,
    adapters: dict[str, ChatAdapter],
    *,
    limit: int = 1000,
    on_sent=None,
    stop: asyncio.Event | None = None,
) -> OutboxStats:
    """Send what is due, oldest first per channel, until nothing is due, `limit` is reached
    or `stop` is set (checked before each claim, so a stop never strands a claimed one)."""
    stats = OutboxStats()
    skip_muted(db, "pending", utcnow())  # queued before a mute too: bot.store.skip_muted
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        d = claim_next(db, list(adapters), utcnow())
        if d is None:
            break
        outcome = await _send_one(db, adapters[split_channel(d.channel)[0]], d)
        await asyncio.sleep(0)  # let chat commands in between sends during a backlog
        setattr(stats, outcome, getattr(stats, outcome) + 1)
        if outcome == "sent" and on_sent:
            on_sent(d)
    return stats


async def _send_one(db: sqlite_utils.Database, adapter: ChatAdapter, d: Delivery) -> str:
    failpoint("after_claim")
    if d.kind in ("corroborated", "rewrite"):
        return await _send_mark(db, adapter, d)
    try:
        alert = build_alert(db, d)
        parent = _thread_parent(db, d.channel, d.story_id, d.kind)
    except Exception as exc:  # a row that cannot be read fails this delivery, not the channel
        return _fault(db, d, exc, adapter.platform, "build the alert", maybe_posted=False)
    try:
        ref = await _found_posted(db, adapter, d, parent) or await _post(adapter, d, alert, parent)
    except DeliveryError as exc:
        if exc.refused:  # this message, not the channel: it fails alone, the channel goes on
            return _fault(db, d, exc, adapter.platform, "send the alert", maybe_posted=False)
        if exc.unknown:
            return _unknown(db, d, exc, adapter.platform)
        return _failed(db, d, exc, adapter.platform)
    except (TimeoutError, OSError) as exc:  # the request may have got through: ask before resending
        error = DeliveryError(f"{type(exc).__name__}: {exc}", maybe_posted=True)
        return _failed(db, d, error, adapter.platform)
    except Exception as exc:  # an adapter bug: it may even have posted, so ask before resending
        return _fault(db, d, exc, adapter.platform, "send the alert", maybe_posted=True)
    failpoint("after_send")
    rewrite = mark_sent(db, d.id, ref, rewrite=d if parent else None)
    metrics.DELIVERED.labels(adapter.platform).inc()
    if d.kind != "edit":  # an edit comes whenever the outlet makes it: not alert latency
        metrics.LATENCY.observe(max(0.0, (utcnow() - alert.published).total_seconds()))
    if parent and rewrite is not None:
        # Building the first message again costs what building the alert did (its sources,
        # corroboration): the loop runs in between, as it would while a platform answers.
        await asyncio.sleep(0)
        await _rewrite_parent(db, adapter, parent, d, rewrite)
    log.info(
        "outbox.sent delivery=%d channel=%s kind=%s story=%d", d.id, d.channel, d.kind, d.story_id
    )
    return "sent"


def _thread_parent(
    db: sqlite_utils.Database, channel: str, story_id: int, kind: str
) -> MessageRef | None:
    """The story's first message in the channel, for a delivery that goes in its thread."""
    return parent_ref(db, channel, story_id) if kind in ("update", "edit") else None


async def _send_mark(db: sqlite_utils.Database, adapter: ChatAdapter, d: Delivery) -> str:
    """Rewrite the story's first message in the channel: its sources so far, and its
    corroboration mark."""
    parent = parent_ref(db, d.channel, d.story_id)
    if parent is None:  # its first message was never sent (failed, cancelled): nothing to mark
        _give_up_mark(db, d, "the story's first message in this channel was never sent")
        return "failed"
    try:
        alert = first_message_alert(db, d)
    except Exception as exc:
        return _fault(db, d, exc, adapter.platform, "build the alert", maybe_posted=False)
    try:
        await adapter.edit_alert(parent, alert)
    except DeliveryError as exc:
        if exc.permanent or exc.refused or d.attempts >= MARK_ATTEMPTS:
            _give_up_mark(db, d, str(exc))
            return "failed"
        again = DeliveryError(str(exc), retry_after=exc.retry_after)  # never looked for
        return _failed(db, d, again, adapter.platform)
    except Exception as exc:  # an adapter bug
        return _fault(db, d, exc, adapter.platform, "mark the story", maybe_posted=False)
    if d.kind == "rewrite":
        _done_rewrite(db, d.id)
    else:
        mark_sent(db, d.id, parent)
    log.info(
        "outbox.marked delivery=%d channel=%s story=%d kind=%s", d.id, d.channel, d.story_id, d.kind
    )
    return "sent"


def _give_up_mark(db: sqlite_utils.Database, d: Delivery, reason: str) -> None:
    """A mark is not an alert: given up, it is cancelled with its reason, not counted failed."""
    log.warning("outbox.mark_given_up delivery=%d channel=%s reason=%s", d.id, d.channel, reason)
    with write(db):
        db.execute(
            "UPDATE deliveries SET status = 'cancelled', error = ? WHERE id = ?",
            [reason[:REASON_CHARS], d.id],
        )


async def _post(
    adapter: ChatAdapter, d: Delivery, alert: Alert, parent: MessageRef | None
) -> MessageRef:
    if parent:
        return await adapter.post_update(parent, alert)
    return await adapter.post_alert(split_channel(d.channel)[1], alert)


async def _found_posted(
    db: sqlite_utils.Database, adapter: ChatAdapter, d: Delivery, parent: MessageRef | None
) -> MessageRef | None:
    """After a lost answer, what the platform already has, as `reconcile` asks after a crash.

    A platform that cannot tell raises DeliveryError: the delivery waits, still in doubt."""
    if not d.maybe_posted:
        return None
    since = in_doubt_since(db, d.id)
    ref = await adapter.find_posted(split_channel(d.channel)[1], d.id, parent, since=since)
    if ref is None:
        mark_not_posted(db, d.id)
    else:
        log.info("outbox.found_posted delivery=%d channel=%s", d.id, d.channel)
    return ref


async def _rewrite_parent(
    db: sqlite_utils.Database,
    adapter: ChatAdapter,
    parent: MessageRef,
    d: Delivery,
    rewrite_id: int,
) -> None:
    """The first message lists every source so far. Done at once when the platform lets us;
    otherwise its queued rewrite is retried like a mark (and, like a mark, given up on
    after MARK_ATTEMPTS: it loses no alert)."""
    try:
        await adapter.edit_alert(parent, first_message_alert(db, d))
    except Exception as exc:
        log.warning("outbox.edit_failed delivery=%d error=%s", d.id, exc)
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        if permanent:
            _give_up_mark(db, _rewrite_of(d, rewrite_id), str(exc))
        else:
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            with write(db):
                db.execute(
                    "UPDATE deliveries SET attempts = 1, next_attempt = ?, error = ? WHERE id = ?",
                    [later(retry_delay(1, retry_after)), str(exc)[:REASON_CHARS], rewrite_id],
                )
        return
    _done_rewrite(db, rewrite_id)


def _done_rewrite(db: sqlite_utils.Database, rewrite_id: int) -> None:
    """A rewrite done leaves no row: it was a promise to edit, not a message of its own."""
    with write(db):
        db.execute("DELETE FROM deliveries WHERE id = ? AND kind = 'rewrite'", [rewrite_id])


def _rewrite_of(d: Delivery, rewrite_id: int) -> Delivery:
    return Delivery(
        rewrite_id, d.subscription_id, d.channel, d.story_id, d.item_id, "rewrite", 1, False, 0
    )


def _failed(db: sqlite_utils.Database, d: Delivery, exc: DeliveryError, platform: str) -> str:
    """The platform failed: stop the channel on a permanent error, else back off on disk."""
    (metrics.FAILED if exc.permanent else metrics.RETRIED).labels(platform).inc()
    if exc.permanent:  # this alert waits with the channel's backlog, resent on resuming
        mark_retry(db, d, str(exc), 0.0, maybe_posted=exc.maybe_posted)
        hold_channel(db, d.channel, str(exc))
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


def _unknown(db: sqlite_utils.Database, d: Delivery, exc: DeliveryError, platform: str) -> str:
    """An error the adapter does not know: retried with the backoff until it has been met
    UNKNOWN_TRIES times over UNKNOWN_PATIENCE (`met_unknown`), then this delivery fails alone
    with it and the channel goes on."""
    past = met_unknown(db, [d.id], utcnow())
    if past is None:
        return _failed(db, d, exc, platform)
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
    db: sqlite_utils.Database, ids: list[int], now: datetime
) -> tuple[int, float] | None:
    """These deliveries (an alert, or the stories of a digest: `bot.digest`) met an error the
    adapter does not know: counted on disk from each one's first such error. None while each
    is within UNKNOWN_TRIES or UNKNOWN_PATIENCE, else the tries and seconds of one past both.
    Counted in memory, a bot restarted more often than the bounds take (a crash loop, deploys)
    met it at every start as if for the first time, and retried it forever."""
    marks = ",".join("?" * len(ids))
    with write(db):
        db.execute(
            "UPDATE deliveries SET unknown_since = coalesce(unknown_since, ?), "
            f"unknown_tries = unknown_tries + 1 WHERE id IN ({marks})",
            [iso(now), *ids],
        )
        rows = db.execute(
            f"SELECT unknown_since, unknown_tries FROM deliveries WHERE id IN ({marks})", ids
        ).fetchall()
    for since, tries in rows:
        waited = max(0.0, (now - parse_stored(since, now)).total_seconds())
        if tries >= UNKNOWN_TRIES and waited >= UNKNOWN_PATIENCE:
            return tries, waited
    return None


def _fault(
    db: sqlite_utils.Database,
    d: Delivery,
    exc: Exception,
    platform: str,
    doing: str,
    *,
    maybe_posted: bool,
) -> str:
    """Our side failed: retry at once (a passing error clears), give up after FAULT_ATTEMPTS.

    The channel is not paused and waits for nothing: its next delivery goes out next."""
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


async def deliver_notices(
    db: sqlite_utils.Database, adapters: dict[str, ChatAdapter], *, only: str | None = None
) -> int:
    """Send queued moderator notices once each, through the platform they concern (the
    console when that one is not running); `only`: those that go through that platform.
    One the platform refuses is tried again, backing off as alerts do, NOTICE_ATTEMPTS
    times in all; then it is given up, loudly in the log. A try that began before (cut by a
    shutdown, its answer lost) may have posted it: the platform is asked first."""
    sent = 0
    due = db.query(
        "SELECT id, channel, text, attempts, next_attempt, created FROM notices "
        "WHERE sent_at IS NULL AND (next_attempt IS NULL OR next_attempt <= ?)",
        [iso(utcnow())],
    )
    for row in list(due):
        platform, ident = split_channel(row["channel"] or "console")
        through = platform if platform in adapters else "console"
        adapter = adapters.get(through)
        if adapter is None or (only is not None and through != only):
            continue
        if row["next_attempt"] is not None:
            found = await _notice_found(adapter, ident, row)
            if isinstance(found, float):  # the platform says: ask again then
                with write(db):
                    db.execute(
                        "UPDATE notices SET next_attempt = ? WHERE id = ?",
                        [later(found), row["id"]],
                    )
                continue
            if found:
                _notice_sent(db, row["id"])
                sent += 1
                continue
        _notice_begun(db, row["id"])
        try:
            await adapter.post_notice(ident, row["text"], key=row["id"])
        except Exception as exc:
            attempts = row["attempts"] + 1
            if attempts < NOTICE_ATTEMPTS:
                log.warning("notice.failed id=%d attempt=%d error=%s", row["id"], attempts, exc)
                with write(db):
                    db.execute(
                        "UPDATE notices SET attempts = ?, next_attempt = ? WHERE id = ?",
                        [attempts, later(retry_delay(attempts, None)), row["id"]],
                    )
                continue
            log.error("notice.given_up id=%d error=%s text=%s", row["id"], exc, row["text"])
        _notice_sent(db, row["id"])
        sent += 1
    return sent


def _notice_begun(db: sqlite_utils.Database, notice_id: int) -> None:
    """A try begins: from now on the notice may be on the platform (`next_attempt` set is
    the mark; a retry's wait sets it later), so a restart asks before sending it again."""
    with write(db):
        db.execute("UPDATE notices SET next_attempt = ? WHERE id = ?", [iso(utcnow()), notice_id])


def _notice_sent(db: sqlite_utils.Database, notice_id: int) -> None:
    with write(db):
        db.execute("UPDATE notices SET sent_at = ? WHERE id = ?", [iso(utcnow()), notice_id])


async def _notice_found(adapter: ChatAdapter, ident: str, row: dict) -> bool | float:
    """An earlier try's notice, already on the platform? When it cannot tell, it is sent
    again: a notice twice is better than one that says why alerts stopped, lost. When it can
    tell later (a rate limit's Retry-After), the seconds to wait: for up to
    NOTICE_LOOKUP_PATIENCE after the notice was queued, then it is sent again unseen."""
    since = parse_stored(row["created"], None)  # never posted before it was queued
    try:
        found = await adapter.find_notice(ident, row["id"], since=since)
    except DeliveryError as exc:
        age = (utcnow() - since).total_seconds() if since is not None else 0.0
        if exc.retry_after is not None and age + exc.retry_after <= NOTICE_LOOKUP_PATIENCE:
            log.info("notice.lookup_later id=%d retry_in=%gs", row["id"], exc.retry_after)
            return float(max(exc.retry_after, 1.0))
        log.warning("notice.in_doubt id=%d error=%s: sending it again", row["id"], exc)
        return False
    except Exception as exc:
        log.warning("notice.in_doubt id=%d error=%s: sending it again", row["id"], exc)
        return False
    if found:
        log.info("notice.found_posted id=%d", row["id"])
    return found
