"""One poll cycle outside the scheduler: `wirewatch poll` (every feed not backing off)
and the demo; the running bot polls each feed when it is due instead (bot.loop)."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.clock import iso, utcnow
from bot.feed_store import FeedRow, active_feeds
from bot.gone_channels import copy_to_ops
from bot.notice_outbox import deliver_notices
from bot.outbox import OutboxStats, deliver_pending, reconcile
from bot.pipeline import PollResult, poll_many
from bot.runtime import Runtime


async def poll_once(
    rt: Runtime, feeds: list[FeedRow] | None = None
) -> tuple[list[PollResult], OutboxStats]:
    """`feeds` (default: every active feed) once, then deliver everything that is due."""
    await reconcile(rt.db, rt.adapters)
    results = await poll_many(rt.pipeline, active_feeds(rt.db) if feeds is None else feeds)
    stats = await deliver_pending(rt.db, rt.adapters)
    copy_to_ops(rt.db, rt.settings.ops_channel)  # a gone channel's notice, for ops too
    await deliver_notices(rt.db, rt.adapters)
    return results, stats


def poll_plan(
    db: sqlite_utils.Database, now: datetime | None = None
) -> tuple[list[FeedRow], list[FeedRow]]:
    """What `wirewatch poll` polls, and the failing feeds it leaves to their backoff.

    A healthy feed is polled on every run (a conditional GET keeps that polite, and a cron
    every minute wants what is new); a failing one only once its backoff is over, as `run`
    would: else a cron running `poll` each minute turns a 10-minute outage into 10 failures
    in a row, and the feed is disabled.
    """
    stamp = iso(now or utcnow())
    feeds = active_feeds(db)
    waiting = [f for f in feeds if f.failures and f.next_poll > stamp]
    return [f for f in feeds if f not in waiting], waiting
