"""Deliveries: claim the next one in channel order, send it through its adapter, mark it.

A delivery is claimed before sending and marked sent after; a crash in between leaves it
'claimed', and `reconcile` asks the adapter whether it was posted (Slack metadata, Discord
nonce and embed footer) before sending again. A send whose answer was lost (a timeout, a
reset, a 5xx) is in the same doubt: it is marked `maybe_posted`, and the platform is asked the
same question before the next send. Either way the platform is told when the send in doubt
began (`claimed_at`, kept while in doubt), and looks from then on: however busy the channel
was since, the message is found. Its row's changes are bot.delivery_rows'; what an error
does to it (retried, failed alone, the channel held) is bot.send_errors'; moderator notices
go out through bot.notice_outbox.

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

import sqlite_utils

from bot import metrics
from bot.alerts import build_alert, first_message_alert, parent_ref
from bot.chat import ChatAdapter, split_channel
from bot.clock import later, utcnow
from bot.db import write
from bot.delivery_rows import claim_next, in_doubt_since, mark_not_posted, mark_sent, retry_delay
from bot.errors import DeliveryError
from bot.failpoints import failpoint
from bot.model import Alert, Delivery, MessageRef
from bot.send_errors import REASON_CHARS, retry_fault_or_fail, retry_or_hold, retry_unknown_or_fail
from bot.store import skip_muted

log = logging.getLogger(__name__)

MARK_ATTEMPTS = 5  # a corroboration mark is a nicety: it never holds a channel for long


@dataclass
class OutboxStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


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
            delay = (  # a lookup a rate limit cut short goes on when asked (`retry_or_hold`)
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
        return retry_fault_or_fail(
            db, d, exc, adapter.platform, "build the alert", maybe_posted=False
        )
    try:
        ref = await _found_posted(db, adapter, d, parent) or await _post(adapter, d, alert, parent)
    except DeliveryError as exc:
        if exc.refused:  # this message, not the channel: it fails alone, the channel goes on
            return retry_fault_or_fail(
                db, d, exc, adapter.platform, "send the alert", maybe_posted=False
            )
        if exc.unknown:
            return retry_unknown_or_fail(db, d, exc, adapter.platform)
        return retry_or_hold(db, d, exc, adapter.platform)
    except (TimeoutError, OSError) as exc:  # the request may have got through: ask before resending
        error = DeliveryError(f"{type(exc).__name__}: {exc}", maybe_posted=True)
        return retry_or_hold(db, d, error, adapter.platform)
    except Exception as exc:  # an adapter bug: it may even have posted, so ask before resending
        return retry_fault_or_fail(
            db, d, exc, adapter.platform, "send the alert", maybe_posted=True
        )
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
        return retry_fault_or_fail(
            db, d, exc, adapter.platform, "build the alert", maybe_posted=False
        )
    try:
        await adapter.edit_alert(parent, alert)
    except DeliveryError as exc:
        if exc.permanent or exc.refused or d.attempts >= MARK_ATTEMPTS:
            _give_up_mark(db, d, str(exc))
            return "failed"
        again = DeliveryError(str(exc), retry_after=exc.retry_after)  # never looked for
        return retry_or_hold(db, d, again, adapter.platform)
    except Exception as exc:  # an adapter bug
        return retry_fault_or_fail(
            db, d, exc, adapter.platform, "mark the story", maybe_posted=False
        )
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
