"""Wiring: settings -> database -> topics -> pipeline -> adapters -> scheduler; start and stop.

The command line builds the adapters and hands them in; this module never imports a
platform. `poll_once` is one cycle for `wirewatch poll --once` and the demo; `run_forever`
is the long-running bot, polling each feed when it is due and draining the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import clockwatch, heap, metrics, storyterms, storyvectors
from bot.catalog import configured_topics
from bot.chat import ChatAdapter
from bot.check import Unserved, unserved
from bot.clock import iso, utcnow
from bot.config_feed_store import sync_config_feeds
from bot.db import BulkCheck, open_database, read_error
from bot.digest import next_digest_at, send_digests
from bot.errors import StoppingError, StoreError
from bot.feed_store import FeedRow, active_feeds, due_feeds
from bot.feeds.fetch import Fetcher
from bot.gazetteer import Gazetteer
from bot.gone_topics import (
    held_items,
    returning,
    settle_gone_topics,
    shown_query,
    tell_replaced,
)
from bot.indexfile import Loading, load_index, save_index
from bot.model import Topic
from bot.narrow import Redecision, filter_error, rematch
from bot.onebot import one_bot
from bot.outbox import OutboxStats, deliver_notices, deliver_pending, reconcile
from bot.pipeline import PollResult, poll_many
from bot.poll_context import Pipeline
from bot.redecide import (
    DECIDE_BATCH,
    NOTHING_CHANGED,
    changed_topics,
    sync_config_subscriptions,
    sync_topics,
    waiting_items,
)
from bot.runstate import Recorder
from bot.settings import Settings
from bot.store import add_notice, list_topics, subscriptions
from bot.store_thread import StoreThread
from bot.topics.match import Matcher
from bot.topics.usable import usable_topics
from bot.workers import after_runtime, pool_trouble

log = logging.getLogger(__name__)

POLL_TICK = 2.0  # how often the scheduler looks for due feeds (each has its own interval)
OUTBOX_TICK = 2.0
INDEX_SAVE_EVERY = 600.0  # a kill -9 costs at most this long's items to re-add at start
RESAVE_AFTER = 1000  # items added to a loaded index that are worth saving it again at once


@dataclass
class Runtime:
    settings: Settings
    db: sqlite_utils.Database
    pipeline: Pipeline
    adapters: dict[str, ChatAdapter]
    busy: set[asyncio.Task] = field(default_factory=set)
    scheduler: AsyncIOScheduler | None = None
    # One drain at a time per platform: then any 'claimed' delivery of that platform seen at
    # its drain's start is a leftover. Each platform has its own, so one that hangs or waits
    # out a rate limit holds up only its own channels (`drain_lock`).
    drain_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    polling: set[asyncio.Task] = field(default_factory=set)
    woken: set[asyncio.Task] = field(default_factory=set)  # drains a poll wave asked for
    fatal: str | None = None  # why the bot stopped itself (a damaged database file)
    index_saved: tuple[int, int] | None = None  # (docs, newest item) at the last save
    # Chat commands' queries run here, off the event loop (None for `:memory:`: a second
    # connection could not see that database).
    store: StoreThread | None = None
    # What `run` records of itself for `wirewatch status` in another process (bot.runstate).
    record: Recorder = field(default_factory=Recorder)

    def drain_lock(self, platform: str) -> asyncio.Lock:
        return self.drain_locks.setdefault(platform, asyncio.Lock())


def build_matcher(db: sqlite_utils.Database, gazetteer: Gazetteer) -> Matcher:
    """All stored topics; one that no longer compiles (or refers to one that does not) is
    skipped loudly, never fatal."""
    good, problems = usable_topics(list_topics(db), gazetteer, stored=True)
    for name, exc in problems.items():
        log.error("topic.invalid name=%s error=%s", name, exc)
    tell_broken(db, {name: str(exc) for name, exc in problems.items()})
    return Matcher(good, gazetteer)


def tell_broken(db: sqlite_utils.Database, topics: Mapping[str, str]) -> None:
    """Tell each channel once that a topic it follows, or its own desk filter, no longer
    compiles (saved under an older version whose query language was looser, or a config
    topic it refers to is gone): skipped quietly, its alerts would simply stop."""
    queries = {t.name: t.query for t in list_topics(db)}
    for sub in subscriptions(db):
        earlier: tuple[str, ...] = ()  # how it was worded before (`_told_broken`)
        if sub.topic in topics:
            part = "topic"
            what, why = f"topic `{sub.topic}`", topics[sub.topic]
            earlier = (f"`/wirewatch topic add {sub.topic} QUERY` with a query that works",)
            # Its own query, to mend where the reason says: as shown it is refused, never
            # saved as a placeholder's word would be (`topic add NAME QUERY` taken verbatim).
            query = shown_query(queries.get(sub.topic, ""))
            fix = (
                f"`/wirewatch topic add {sub.topic} {query}`, its query mended where that "
                f"says (as shown it is refused); to stop following it: `/wirewatch "
                f"unsubscribe {sub.topic}`"
            )
        elif (error := filter_error(sub.only_query, sub.except_query)) is not None:
            part, why = "filter", str(error)
            what = f"the `--only`/`--except` filter of `{sub.topic}` here"
            fix = f"`/wirewatch subscribe {sub.topic}` with filters that work"
        else:
            continue
        said = why.replace("`", "'")  # the stored query quoted: its backticks would pair ours
        texts = [_broken_text(what, w, f) for f in (fix, *earlier) for w in (said, why)]
        # Once per what it tells (this channel, this topic or filter, what is broken), not
        # per wording: reworded, it is not sent again; nor where an earlier wording was sent.
        told = f"{sub.channel}\n{part}\n{sub.topic}\n{why}"
        if not _told_broken(db, sub.channel, texts):
            add_notice(db, f"broken:{_hashed(told)}", texts[0], sub.channel)


def _broken_text(what: str, why: str, fix: str) -> str:
    return (
        f"wirewatch: {what} no longer works ({why}), so it is skipped: this channel "
        f"gets no alerts through it until it is fixed with {fix}."
    )


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _told_broken(db: sqlite_utils.Database, channel: str, texts: list[str]) -> bool:
    """Whether the channel was told, under a key older versions made of the notice's text
    (this one's and its earlier wordings): then not told again."""
    keys = [f"broken:{_hashed(channel + chr(10) + text)}" for text in texts]
    return (
        db.execute(
            f"SELECT 1 FROM notices WHERE key IN ({','.join('?' * len(keys))}) LIMIT 1", keys
        ).fetchone()
        is not None
    )


# What /readyz says while the start decides again the alerts waiting through topics or
# subscriptions the config changed (or a topic back in it), before the story index loads.
REDECIDING = "deciding waiting alerts again (a topic or subscription changed)"


class StartupStopped(Exception):
    """A stop was asked for while the runtime was still starting (loading the story index)."""


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    adapters: dict[str, ChatAdapter],
    *,
    loading: Loading | None = None,
    stop: asyncio.Event | None = None,
    check_bulk: bool = True,
    command: str | None = None,
) -> AsyncIterator[Runtime]:
    """Database, topics, fetcher and story index, ready to poll; the index is saved at exit.

    The slow parts run off the event loop or in steps, so a caller serving /healthz keeps
    answering; StartupStopped when `stop` is set before the index is loaded.
    `check_bulk=False` leaves the check of the bulk tables to `check_bulk_in_background`.
    `command` ("run" or "poll") is recorded (bot.runstate) as soon as the lock is held:
    `wirewatch status` names the process while it loads, not an earlier run's row.
    """
    db = await asyncio.to_thread(open_database, settings.database, check_bulk=check_bulk)
    try:  # locked once the file is known to be ours: one refused is left as it was
        with one_bot(settings.database):
            record = Recorder(command or "run")  # started: since the lock was taken
            if command:
                record.start(db, pool_trouble())
            async with _ready(settings, db, adapters, loading, stop, record) as rt:
                yield rt
    finally:
        db.close()


@asynccontextmanager
async def _ready(
    settings: Settings,
    db: sqlite_utils.Database,
    adapters: dict[str, ChatAdapter],
    loading: Loading | None,
    stop: asyncio.Event | None,
    record: Recorder,
) -> AsyncIterator[Runtime]:
    gazetteer = Gazetteer.load()
    topics = configured_topics(settings)
    changed, after = changed_topics(db, topics)
    again = rematch(changed, after, gazetteer) if changed else None
    back = returning(db, topics, after, gazetteer)  # config topics back: as they read now
    tell_replaced(db, topics)  # a config topic replaces a chat one of its name: told
    loading = loading or Loading()
    loading.doing = REDECIDING  # /readyz says so (seconds at thousands waiting)
    dropped = await _topics_at_start(db, topics, after, again, stop, back)
    sync_config_feeds(db, [(f.name, f.url, f.interval) for f in settings.feeds])
    dropped += await _subscriptions_at_start(
        db, [(s.channel, s.topic, s.mode, s.only, s.except_) for s in settings.subscriptions], stop
    )
    await _gone_at_start(db, settings.max_age, back, stop)  # chat's subscriptions: topic gone, back
    loading.doing = ""
    metrics.DROPPED.labels("config changed").inc(dropped)
    if dropped:
        log.warning(
            "config.dropped alerts=%d (subscriptions removed or narrowed, topics changed)",
            dropped,
        )
    for u in unserved_channels(db, settings, adapters):
        log.warning("run.no_adapter %s", u)
    net = settings.network
    fetcher = Fetcher(
        allow_private=net.allow_private_addresses,
        timeout=net.timeout,
        max_bytes=net.max_feed_bytes,
        user_agent=net.user_agent,
    )
    pipeline: Pipeline | None = None
    try:
        window = timedelta(seconds=settings.story_window)
        try:
            index = await load_index(db, settings.database, window, loading=loading, stop=stop)
        except sqlite3.DatabaseError as exc:  # damage in the items: said, not a traceback
            raise read_error(exc, db) from None
        if index is None:
            raise StartupStopped
        if loading.total >= RESAVE_AFTER:  # so that a kill -9 soon after costs no rebuild
            save_index(index, settings.database)
        heap.give_back()  # what building the index freed (bot.heap)
        async with fetcher:
            pipeline = Pipeline(
                db,
                settings,
                fetcher,
                build_matcher(db, gazetteer),
                gazetteer,
                index,
                asyncio.Semaphore(settings.articles.concurrency),
            )
            store = None if settings.database == ":memory:" else StoreThread(settings.database)
            try:
                yield Runtime(settings, db, pipeline, adapters, store=store, record=record)
            finally:
                if store is not None:
                    await store.close()
    finally:
        after_runtime()
        if pipeline is not None:
            save_index(pipeline.index, settings.database)


async def _topics_at_start(
    db: sqlite_utils.Database,
    topics: list[Topic],
    after: list[Topic],
    again: Redecision | None,
    stop: asyncio.Event | None,
    back: Redecision | None = None,
) -> int:
    """`sync_topics`, the alerts waiting through changed topics decided again off the event
    loop (seconds at thousands waiting: on the loop, deaf to SIGTERM, it held the stop past
    its grace); the encoder's opinions asked DECIDE_BATCH items at a time in between, also
    for the alerts still held for topics `back` in the config (`bot.gone_topics.returning`;
    `held_items`: not those a give-back a stop cut short gave back already). A
    stop meanwhile ends the start (StartupStopped) at the next batch or slice: nothing is
    half written, and the next start decides again what still waits (`bot.redecide`)."""
    if again is None and back is None:
        return sync_topics(db, topics)
    readers = ((back, held_items), (again, waiting_items))
    asking = [(r, read) for r, read in readers if r is not None]
    try:
        with _heard(stop) as stopping:
            for asked, read in asking:
                if any(t.relevance for t in after if t.name in asked.affected):
                    items = await asyncio.to_thread(read, db, asked, stopping)
                    for at in range(0, len(items), DECIDE_BATCH):
                        if stopping.is_set():
                            raise StoppingError(NOTHING_CHANGED)
                        await asked.consult(items[at : at + DECIDE_BATCH])
            return await asyncio.to_thread(sync_topics, db, topics, again, stopping)
    except StoppingError:
        names = sorted({n for asked, _ in asking for n in asked.affected})
        log.warning("run.stopped while=deciding_waiting_alerts topics=%s", ",".join(names))
        raise StartupStopped from None


async def _subscriptions_at_start(
    db: sqlite_utils.Database,
    subs: list[tuple[str, str, str, str | None, str | None]],
    stop: asyncio.Event | None,
) -> int:
    """`sync_config_subscriptions` off the event loop, as `_topics_at_start` runs
    `sync_topics`: the alerts waiting through a subscription whose only/except the config
    changed, or that it no longer lists, are decided again in slices (seconds at thousands
    waiting: on the loop, in one transaction, a SIGTERM waited for all of it). A stop
    meanwhile ends the start (StartupStopped) at the next slice; the next start finishes
    the work."""
    try:
        with _heard(stop) as stopping:
            return await asyncio.to_thread(sync_config_subscriptions, db, subs, stopping)
    except StoppingError:
        log.warning("run.stopped while=deciding_waiting_alerts for=config_subscriptions")
        raise StartupStopped from None


async def _gone_at_start(
    db: sqlite_utils.Database, max_age: float, back: Redecision | None, stop: asyncio.Event | None
) -> None:
    """`settle_gone_topics` off the event loop, in slices, as `_topics_at_start` runs
    `sync_topics`: giving back thousands of held alerts held the loop seconds, and a
    SIGTERM waited for all of it. A stop meanwhile ends the start (StartupStopped) at the
    next slice; the next start finishes the work, and each channel is told once, then."""
    try:
        with _heard(stop) as stopping:
            await asyncio.to_thread(settle_gone_topics, db, max_age, None, back, stopping)
    except StoppingError:
        log.warning("run.stopped while=deciding_waiting_alerts for=gone_topics")
        raise StartupStopped from None


@contextmanager
def _heard(stop: asyncio.Event | None) -> Iterator[threading.Event]:
    """A thread's view of `stop`: set once it is, so that work off the loop (in
    `asyncio.to_thread`) can look at it between slices."""
    stopping = threading.Event()

    def stopped(waited: asyncio.Future[Any]) -> None:
        if not waited.cancelled():
            stopping.set()

    relay = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if relay is not None:
        relay.add_done_callback(stopped)
    try:
        yield stopping
    finally:
        if relay is not None:
            relay.cancel()


async def check_bulk_in_background(rt: Runtime, stop: asyncio.Event) -> None:
    """The check of the bulk tables that a quick start skipped (seconds per GB): on damage
    the bot stops, saying what `open_database` would have said (`rt.fatal`)."""
    if rt.settings.database == ":memory:":
        return
    check = BulkCheck(rt.settings.database)
    try:
        problem = await asyncio.to_thread(check.run)
    except asyncio.CancelledError:
        check.cancel()
        raise
    if problem:
        log.error("db.corrupt error=%s", problem)
        rt.fatal = problem
        stop.set()
    else:
        log.info("db.checked database=%s", rt.settings.database)


def unserved_channels(
    db: sqlite_utils.Database, settings: Settings, adapters: Collection[str]
) -> list[Unserved]:
    """Channels subscribed (from the config or chat; paused ones aside) or named ops_channel
    whose platform has no adapter: its token was not set at start. What waits for them is
    never sent by this process, however long it runs."""
    subscribed = (s.channel for s in subscriptions(db) if not s.paused_reason)
    return unserved(subscribed, settings.ops_channel, adapters)


def readiness(rt: Runtime) -> tuple[bool, str]:
    """Ready when the database takes a write lock, the scheduler runs, adapters are connected
    and every subscribed channel has one (else its alerts wait until a restart)."""
    try:
        rt.db.execute("BEGIN IMMEDIATE")
        rt.db.execute("ROLLBACK")
    except Exception as exc:  # any database failure means not ready, with the reason shown
        return False, f"database not writable: {exc}"
    if rt.scheduler is None or not rt.scheduler.running:
        return False, "scheduler not running"
    down = [
        f"{name} ({why})" if (why := getattr(a, "down_reason", "")) else name
        for name, a in rt.adapters.items()
        if not getattr(a, "connected", True)
    ]
    if down:
        return False, f"not connected: {', '.join(down)}"
    if missing := unserved_channels(rt.db, rt.settings, rt.adapters):
        named = ", ".join(f"{u.channel} ({u.variable} not set)" for u in missing)
        return False, f"no chat adapter for {named}: what waits for them is not sent"
    return True, "ok"


def broken(adapters: Mapping[str, ChatAdapter]) -> str:
    """Chat connections that ended for good (`stopped_by`: discord.py does not come back
    from a token revoked mid-run), for /healthz: "" when none has."""
    ended = [
        f"{name} stopped for good ({why}); fix it and restart wirewatch: alerts wait on disk"
        for name, a in adapters.items()
        if (why := getattr(a, "stopped_by", None))
    ]
    return "; ".join(ended)


async def poll_once(
    rt: Runtime, feeds: list[FeedRow] | None = None
) -> tuple[list[PollResult], OutboxStats]:
    """`feeds` (default: every active feed) once, then deliver everything that is due."""
    await reconcile(rt.db, rt.adapters)
    results = await poll_many(rt.pipeline, active_feeds(rt.db) if feeds is None else feeds)
    stats = await deliver_pending(rt.db, rt.adapters)
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
        await deliver_notices(rt.db, rt.adapters, only=platform)
