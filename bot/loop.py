"""The running bot: each feed polled when it is due, the outbox drained, digests sent and
the story index saved, on a scheduler, until a stop; then work in flight finishes within
docker's budget and the adapters are stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from contextlib import suppress
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import clockwatch, storyterms, storyvectors
from bot.chat import ChatAdapter
from bot.clock import utcnow
from bot.digest import next_digest_at, send_digests
from bot.errors import StoppingError, StoreError
from bot.feed_store import active_feeds, due_feeds
from bot.gone_channels import copy_to_ops
from bot.indexfile import save_index
from bot.notice_outbox import deliver_notices
from bot.outbox import deliver_pending, reconcile
from bot.pipeline import poll_many
from bot.runtime import Runtime
from bot.workers import pool_trouble

log = logging.getLogger(__name__)

POLL_TICK = 2.0  # how often the scheduler looks for due feeds (each has its own interval)
OUTBOX_TICK = 2.0
INDEX_SAVE_EVERY = 600.0  # a kill -9 costs at most this long's items to re-add at start


# A stop's budget: docker sends SIGKILL 10 s after SIGTERM (compose here waits 15 s). The run
# lets work in flight finish for GRACE seconds (a send cut short stays claimed and is
# reconciled at the next start, never lost), then every adapter gets ADAPTERS_STOP together.
GRACE = 5.0
ADAPTERS_STOP = 3.0


async def stop_adapters(adapters: Collection[ChatAdapter], budget: float = ADAPTERS_STOP) -> None:
    """Stop every adapter at once, within `budget`: one slow to let go (a command still
    running, a gateway closing) must not push the exit past docker's SIGKILL."""
    tasks = {asyncio.ensure_future(a.stop()): a for a in adapters}
    if not tasks:
        return
    done, late = await asyncio.wait(tasks, timeout=budget)
    for task in late:
        task.cancel()
        log.warning("run.adapter_stop_late platform=%s after=%.0fs", tasks[task].platform, budget)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("run.adapter_stop_failed platform=%s error=%s", tasks[task].platform, error)
    if late:  # a stop that ignores its cancellation is left behind, not waited for
        await asyncio.wait(late, timeout=0.5)
        for task in late:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def run_forever(rt: Runtime, stop: asyncio.Event, grace: float = GRACE) -> None:
    """Poll feeds when due and drain the outbox until `stop` is set; then finish in-flight work."""
    clockwatch.catch_up(rt.db)  # the clock stepped back while the bot was stopped
    scheduler = AsyncIOScheduler()
    jobs = (  # (job, every so many seconds); polling starts at once, the others after a tick
        (_poll_due, POLL_TICK),
        *((_platform_drain(name), OUTBOX_TICK) for name in rt.adapters),
        (_digest, rt.settings.digest_every),
        (_save_index, INDEX_SAVE_EVERY),
        (_forget_terms, INDEX_SAVE_EVERY),
    )
    first = {  # the others a tick after the start
        _poll_due: utcnow(),
        _digest: next_digest_at(rt.db, rt.settings.digest_every, utcnow(), rt.adapters),
    }
    for job, every in jobs:
        scheduler.add_job(
            _tracked(rt, job),
            clockwatch.Every(every),  # a step forward does not hold the loop
            id=job.__name__.lstrip("_"),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late (the loop was busy, the host slept): run it now
            **({"next_run_time": first[job]} if job in first else {}),
        )
    scheduler.start()
    rt.scheduler = scheduler
    # A wall-clock step would move every next run and stored due time (bot.clockwatch).
    watch = asyncio.ensure_future(
        clockwatch.watch_clock(lambda by: clockwatch.after_step(rt.db, scheduler, by))
    )
    rt.pipeline.on_queued = lambda: _wake_outbox(rt)
    # Recorded at the lock by `wirewatch run` (open_runtime's `command`); again now, with the
    # workers' state, and first for a runtime opened without one: never an earlier run's row.
    rt.record.start(rt.db, pool_trouble())
    log.info("run.started feeds=%d adapters=%s", len(active_feeds(rt.db)), ",".join(rt.adapters))
    try:
        await stop.wait()
    finally:
        rt.stopping.set()
        watch.cancel()
        scheduler.pause()
        for task in set(rt.polling):
            task.cancel()
        if rt.busy:
            _, late = await asyncio.wait(set(rt.busy), timeout=grace)
            for task in late:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        scheduler.shutdown(wait=False)
        await asyncio.gather(watch, return_exceptions=True)
        log.info("run.stopped")


def _tracked(rt: Runtime, job):
    """Wrap a job so that shutdown can wait for it to finish its current step."""

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.set_name(job.__name__)
        rt.busy.add(task)
        try:
            await job(rt)
        except asyncio.CancelledError:
            if not rt.stopping.is_set():
                raise
            # The stop cancelled it (a poll in flight): not a failure to report. Raised on,
            # APScheduler would log every such stop as a job that crashed, with a traceback.
            log.info("job.stopped job=%s", job.__name__)
        except StoppingError:  # a store-thread write cut by the stop: left to the next start
            log.info("job.stopped job=%s", job.__name__)
        except StoreError as exc:  # the database refused (locked, full): not a bug of ours
            # The step wrote nothing and the next tick tries again; a traceback at every
            # tick would read as a crash, and hide what the operator has to fix.
            log.error("job.failed job=%s error=%s", job.__name__, exc)
        except Exception:
            log.exception("job.crashed job=%s", job.__name__)
        finally:
            rt.busy.discard(task)

    run.__name__ = job.__name__
    return run


async def _poll_due(rt: Runtime) -> None:
    """One poll cycle: the due feeds, then the cycle's end and the workers' state recorded
    for `wirewatch status` (bot.runstate: at most one small write, never a failure)."""
    feeds = rt.pipeline.ready(due_feeds(rt.db))
    if feeds:
        task = asyncio.current_task()
        assert task is not None  # a scheduled job runs in a task
        rt.polling.add(task)
        try:
            await poll_many(rt.pipeline, feeds)
        finally:
            rt.polling.discard(task)
        _wake_outbox(rt)  # feed health notices, and any wave's alerts not yet on their way
    rt.record.cycle_ended(rt.db, pool_trouble())


async def _save_index(rt: Runtime) -> None:
    """Save the story index when it changed (a few tenths of a second at 100,000 items)."""
    newest = rt.db.execute("SELECT max(id) FROM items").fetchone()[0] or 0
    mark = (len(rt.pipeline.index), newest)
    if mark != rt.index_saved and save_index(rt.pipeline.index, rt.settings.database):
        rt.index_saved = mark


async def _forget_terms(rt: Runtime) -> None:
    """Stored story terms of items that left the story window go (bot.storyterms); their
    sentence vectors once `keep_vectors` has passed too, kept for `topics backtest`."""
    now, settings = utcnow(), rt.settings
    gone = storyterms.forget_before(rt.db, now - timedelta(seconds=settings.story_window))
    kept = max(settings.story_window, settings.keep_vectors)
    vectors = storyvectors.forget_before(rt.db, now - timedelta(seconds=kept))
    log.debug("index.terms_forgotten items=%d vectors=%d", gone, vectors)


async def _digest(rt: Runtime) -> None:
    async def one(name: str) -> None:
        async with rt.drain_lock(name):
            await send_digests(rt.db, {name: rt.adapters[name]}, rt.settings.digest_every)

    await asyncio.gather(*(one(name) for name in rt.adapters))


def _wake_outbox(rt: Runtime) -> None:
    """Drain now what a poll wave queued, unless the bot is stopping or a woken drain is
    still running; the next outbox tick would, up to 2 s later. A platform whose drain is
    running is left to it (it claims the new rows itself)."""
    if rt.stopping.is_set() or rt.woken:
        return
    task = asyncio.ensure_future(_tracked(rt, _drain)())
    rt.woken.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(rt.woken.discard)


def _platform_drain(platform: str):
    """The outbox job of one platform: its own tick, so a hung one skips only its own."""

    async def drain(rt: Runtime) -> None:
        await _drain_platform(rt, platform)

    drain.__name__ = f"_drain_{platform}"
    return drain


async def _drain(rt: Runtime) -> None:
    """Every platform's outbox, each on its own."""
    await asyncio.gather(*(_drain_platform(rt, name) for name in rt.adapters))


async def _drain_platform(rt: Runtime, platform: str) -> None:
    lock = rt.drain_lock(platform)
    if lock.locked():
        return  # its drain is running: it claims what is due itself
    async with lock:
        one = {platform: rt.adapters[platform]}
        await reconcile(rt.db, one)
        await deliver_pending(rt.db, one, stop=rt.stopping)
        copy_to_ops(rt.db, rt.settings.ops_channel)  # a gone channel's notice, for ops too
        await deliver_notices(rt.db, rt.adapters, only=platform)
