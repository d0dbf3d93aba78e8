"""The command line's `poll` and `run` once bot.cli has built their chat adapters: one
cycle (or the demo's two) and its one line of report, stoppable by a signal as `run` is;
the bot itself, with /healthz served first and the runtime opened behind it.

bot.cli parses the arguments, loads the config and builds the adapters (the one place that
names a platform), then calls in here. What a poll does is bot.poll_cycle's (or bot.loop's)
and bot.pipeline's; nothing here fetches, matches or sends by itself, and nothing here names
a platform.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.wording import counted

if TYPE_CHECKING:
    from bot.chat import ChatAdapter
    from bot.indexfile import Loading
    from bot.runtime import Runtime

log = logging.getLogger("wirewatch")


async def _stoppable(work: Coroutine[None, None, int]) -> int:
    """A one-shot `poll` that SIGTERM (a cron's timeout, `docker stop`) or Ctrl-C ends the way
    `run` ends: the poll stops, the database and the chat adapters are closed, and it says
    so, where it died at once in silence. What it stored is kept; an alert cut short in its
    send is looked up on the platform before anything is sent again (as after a kill)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    heard: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        heard.append(sig)
        task.cancel()
        for each in signals:  # a second signal is the default's again: a close can be forced
            loop.remove_signal_handler(each)

    # Signals reach the main thread only (a test calls `main` from another: no handlers).
    main_thread = threading.current_thread() is threading.main_thread()
    signals = [signal.SIGTERM, signal.SIGINT] if main_thread else []
    for sig in signals:
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if not heard:
            raise
        print(
            f"poll stopped ({heard[0].name}): what it stored is kept; alerts not yet sent go "
            "out at the next poll",
            file=sys.stderr,
        )
        return 128 + heard[0].value  # as a shell reports a command a signal ended
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _poll(settings: Settings, adapters: dict[str, ChatAdapter], cycles: int = 1) -> int:
    """`cycles` polls of every feed not backing off after failures (`poll_plan`), each
    followed by delivery (the demo runs two). Recorded as `run` records itself
    (bot.runstate), so that `wirewatch status` tells a cron deployment's polls too."""
    from bot.loop import stop_adapters
    from bot.poll_cycle import poll_once, poll_plan
    from bot.runstate import POLL
    from bot.startup import open_runtime
    from bot.workers import pool_trouble

    async with open_runtime(settings, adapters, command=POLL) as rt:
        for adapter in adapters.values():
            await adapter.start(None)  # deliver only: no chat commands in a one-shot poll
        try:
            for _ in range(cycles):
                feeds, waiting = poll_plan(rt.db)
                results, stats = await poll_once(rt, feeds)
                rt.record.cycle_ended(rt.db, pool_trouble())
                _report(results, stats, waiting, await _due_digests(rt))
        finally:
            await stop_adapters(list(adapters.values()))
    return 0


async def _due_digests(rt: Runtime) -> int:
    """The digests due by now, as `run` sends them every `digest_every`: without this, a
    cron's `poll` queued the stories of `mode: digest` subscriptions and never sent them."""
    from bot.clock import utcnow
    from bot.digest import next_digest_at, send_digests

    now = utcnow()
    if next_digest_at(rt.db, rt.settings.digest_every, now, rt.adapters) > now:
        return 0
    return await send_digests(rt.db, rt.adapters, rt.settings.digest_every)


def _report(results: list, stats, waiting: list, digests: int = 0) -> None:
    """One line: what was polled, found and delivered, and the failing feeds left to their
    backoff (each failure is already logged by the pipeline, once)."""
    failed = sum(1 for r in results if not r.ok)
    new = sum(r.new_items for r in results)
    print(
        f"polled {counted(len(results), 'feed')} ({failed} failed), {counted(new, 'new item')}, "
        f"{counted(stats.sent, 'alert')} delivered"
        + (f", {stats.retried} to retry" if stats.retried else "")
        + (f", {counted(digests, 'digest message')} posted" if digests else "")
        + _backing_off(waiting)
        + _unparsed(),
        file=sys.stderr,
    )


def _unparsed() -> str:
    """ "; the worker processes cannot work (...): feeds wait unparsed, ...": the failed
    feeds were not counted failing, and this poll's next run parses them."""
    from bot.workers import pool_trouble

    return f"; {trouble}" if (trouble := pool_trouble()) else ""


def _broken(chat: str) -> str:
    """What /healthz says needs an operator: a chat connection ended for good, or worker
    processes that cannot work (each feed waits for them, unparsed: someone must look)."""
    from bot.workers import pool_trouble

    return "; ".join(why for why in (chat, pool_trouble()) if why)


def _backing_off(waiting: list) -> str:
    """ "; 2 feeds backing off after failures, next try 14:05 UTC": in UTC, as everything
    else wirewatch prints (the host's zone made it disagree with `wirewatch feeds`)."""
    if not waiting:
        return ""
    from bot.clock import parse_stored, utcnow

    now = utcnow()
    soonest = min(parse_stored(f.next_poll, now) for f in waiting)  # UTC
    when = f"{soonest:%H:%M} UTC" if soonest.date() == now.date() else f"{soonest:%b %d %H:%M} UTC"
    return (
        f"; {counted(len(waiting), 'feed')} backing off after failures, next try {when} "
        "(`wirewatch feeds` says why)"
    )


async def _run(settings: Settings, adapters: dict[str, ChatAdapter], port: int) -> int:
    from bot.errors import StoreError
    from bot.indexfile import Loading
    from bot.loop import run_forever, stop_adapters
    from bot.onebot import running_bot, taken
    from bot.readiness import broken
    from bot.startup import StartupStopped, check_bulk_in_background, open_runtime
    from bot.web import build_app, serve
    from bot.workers import start_workers

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loading = Loading()
    started: list[Runtime] = []  # the runtime once open: /readyz and /metrics ask it then
    routes = [r for a in adapters.values() for r in getattr(a, "routes", list)()]
    ready, depth, failed = _health(started, loading)
    app = build_app(ready, routes, depth, failed, broken=lambda: _broken(broken(adapters)))
    if (other := running_bot(settings.database)) is not None:
        # Before the port: a second bot on one host is refused by the database's lock, and
        # the first one's port, in use, read as "another program": its advice, another
        # WIREWATCH_HTTP_PORT, only led to the lock's refusal.
        raise StoreError(taken(settings.database, other))
    runner = await serve(app, port)  # first: /healthz answers while the rest starts
    warming = asyncio.create_task(start_workers())  # beside the index's loading
    try:
        async with open_runtime(
            settings, adapters, loading=loading, stop=stop, check_bulk=False, command="run"
        ) as rt:
            started.append(rt)
            checking = asyncio.create_task(check_bulk_in_background(rt, stop))
            try:
                await _start_adapters(rt, stop)
                await run_forever(rt, stop)
            finally:
                checking.cancel()
                await stop_adapters(list(adapters.values()))
                await runner.cleanup()  # before the database closes: /readyz reads it
    except StartupStopped:
        log.info("run.stopped while starting")
    finally:
        warming.cancel()
        if not started:
            await runner.cleanup()
    if started and started[0].fatal:
        print(f"error: {started[0].fatal}", file=sys.stderr)
        return 1
    return 0


def _health(started: list[Runtime], loading: Loading):
    """/readyz and the outbox gauges of /metrics, before and after the runtime is open."""
    from bot.delivery_rows import failed_count, pending_count
    from bot.readiness import readiness

    def ready() -> tuple[bool, str]:
        return readiness(started[0]) if started else (False, loading.describe())

    def depth() -> int:
        return pending_count(started[0].db) if started else 0

    def failed() -> int:
        return failed_count(started[0].db) if started else 0

    return ready, depth, failed


async def _start_adapters(rt: Runtime, stop: asyncio.Event) -> None:
    """Start each adapter; a SIGTERM meanwhile ends the start at once. One waiting on its
    platform (Slack's app-token check when Slack never answers: its 15 s API timeout)
    held the stop past the 10 s docker gives before its SIGKILL."""
    from bot.commands import Commands

    stopped = asyncio.ensure_future(stop.wait())
    try:
        for adapter in rt.adapters.values():
            starting = asyncio.ensure_future(adapter.start(Commands(rt).handle))
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # stopped first: stop_adapters closes what it opened
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                log.info("run.stopped while starting platform=%s", adapter.platform)
                return
            starting.result()  # its refusal (a ConfigError) ends the run, as before
    finally:
        stopped.cancel()
