"""The start: settings -> database -> topics -> pipeline -> story index, ready to poll.

The command line builds the adapters and hands them in; this module never imports a
platform. What changed in the config since the last start (topics, subscriptions, topics
gone or back) is settled here, off the event loop and in slices, so that a stop is heard
and /healthz keeps answering; the story index is saved at exit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import sqlite_utils

from bot import heap, metrics
from bot.broken_topics import build_matcher
from bot.catalog import configured_topics
from bot.chat import ChatAdapter
from bot.config_feed_store import sync_config_feeds
from bot.db import BulkCheck, open_database, read_error
from bot.errors import StoppingError
from bot.feeds.fetch import Fetcher
from bot.gazetteer import Gazetteer
from bot.gone_topics import (
    held_items,
    returning,
    settle_gone_topics,
    tell_replaced,
)
from bot.indexfile import Loading, load_index, save_index
from bot.model import Topic
from bot.narrow import Redecision, rematch
from bot.onebot import one_bot
from bot.poll_context import Pipeline
from bot.readiness import unserved_channels
from bot.redecide import (
    DECIDE_BATCH,
    NOTHING_CHANGED,
    changed_topics,
    sync_config_subscriptions,
    sync_topics,
    waiting_items,
)
from bot.runstate import Recorder
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store_thread import StoreThread
from bot.workers import after_runtime, pool_trouble

log = logging.getLogger(__name__)

RESAVE_AFTER = 1000  # items added to a loaded index that are worth saving it again at once


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
    `wirewatch status` names the process while it loads (its story index, for seconds at a
    big one), not an earlier run's row, and says it polls only once it is ready to.
    """
    db = await asyncio.to_thread(open_database, settings.database, check_bulk=check_bulk)
    try:  # locked once the file is known to be ours: one refused is left as it was
        with one_bot(settings.database):
            record = Recorder(command or "run")  # started: since the lock was taken
            if command:
                record.start(db, pool_trouble())
            async with _ready(settings, db, adapters, loading, stop, record) as rt:
                record.began(db, pool_trouble())  # loaded: `status` says it polls
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
