"""SIGTERM: out within 10 s (docker's limit), exit 0, no alert lost or sent twice.

A real `wirewatch run` is stopped while a slow feed is still dripping in; a restart then
delivers what the stopped one had not, and nothing it already had. In-process, with a
slow chat platform, the stop must let the send in flight finish and claim nothing more,
and must not wait for a feed fetch whose result would only be thrown away.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.loop import ADAPTERS_STOP, GRACE, run_forever, stop_adapters
from bot.model import Alert, MessageRef
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.settings import load_settings
from bot.startup import open_runtime
from tests.runtime import console_runtime, free_port, make_settings, read_until

FAST = "Poland deploys 2,000 troops to the Belarus border"
SLOW = "Japan dispatches destroyers to the Gulf of Aden"


def _rss(*titles: str, prefix: str = "") -> str:
    when = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>{t}</title><guid>{prefix}{i}</guid><description>{t}.</description>"
        f"<pubDate>{when}</pubDate></item>"
        for i, t in enumerate(titles)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{items}</channel></rss>"
    )


def _config(tmp_path: Path, feeds: dict[str, str]) -> Path:
    lines = [f"  - {{name: {name}, url: '{url}'}}" for name, url in feeds.items()]
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\nnetwork: {{timeout: 60s}}\n"
        "feeds:\n" + "\n".join(lines) + "\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
async def test_sigterm_with_a_feed_in_flight_exits_0_in_time_and_loses_nothing(
    tmp_path, feed_server
):
    feed_server.serve("/fast", _rss(FAST, prefix="f"))
    feed_server.serve("/slow", _rss(SLOW, prefix="s"), drip=(8, 0.5))  # about a minute
    config = _config(tmp_path, {"Fast": feed_server.url("/fast"), "Slow": feed_server.url("/slow")})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"WIREWATCH_HTTP_PORT": str(free_port()), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        printed = await read_until(proc.stdout, FAST, within=30)
        assert FAST in printed and feed_server.requests_to("/slow"), "the slow feed is in flight"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        took = time.monotonic() - started
        printed += (await proc.stdout.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0 and took < 10, f"exit {code} after {took:.1f} s"
    titles = [line for line in printed.splitlines() if line in (FAST, SLOW)]  # one per alert
    assert titles == [FAST]
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        conn.execute("SELECT count(*) FROM deliveries WHERE status = 'claimed'").fetchone()[0] == 0
    )
    conn.close()

    feed_server.serve("/slow", _rss(SLOW, prefix="s"))  # the restart finds the slow feed well
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    assert [a["title"] for a in console.alerts()] == [SLOW]


@pytest.mark.slow
async def test_sigterm_stops_a_one_shot_poll_cleanly_and_the_next_poll_sends_everything(
    tmp_path, feed_server
):
    """`wirewatch poll` from a cron whose timeout (or `docker stop`) sends SIGTERM: it says it
    stopped and exits 143, the database whole; the next poll sends what it had found, once."""
    from aiohttp import web

    asked = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        asked.set()
        await asyncio.sleep(60)
        return web.Response(text=_rss(SLOW, prefix="s"), content_type="application/rss+xml")

    feed_server.serve("/fast", _rss(FAST, prefix="f"))
    feed_server.handle("/slow", slow)
    config = _config(tmp_path, {"Fast": feed_server.url("/fast"), "Slow": feed_server.url("/slow")})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "poll", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        await asyncio.wait_for(asked.wait(), 30)  # the slow feed is in flight
        await asyncio.sleep(1)  # the fast feed's wave stored meanwhile
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 128 + signal.SIGTERM, (code, err)
    assert "poll stopped (SIGTERM)" in err and "Traceback" not in err, err
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    feed_server.serve("/slow", _rss(SLOW, prefix="s"))
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    assert sorted(a["title"] for a in console.alerts()) == sorted([FAST, SLOW])


class SlowPlatform:
    """A chat platform that takes `delay` seconds per message and records what it got."""

    platform = "chat"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = asyncio.Event()
        self.posted: list[int] = []

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        self.started.set()
        await asyncio.sleep(self.delay)
        self.posted.append(alert.delivery_id)
        return MessageRef("chat", channel, f"m{alert.delivery_id}")

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        return await self.post_alert(parent.channel, alert)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None: ...

    async def find_posted(
        self, channel: str, delivery_id: int, thread: MessageRef | None = None, *, since=None
    ) -> MessageRef | None:
        return (
            MessageRef("chat", channel, f"m{delivery_id}") if delivery_id in self.posted else None
        )

    async def post_notice(self, channel: str, text: str, *, key=None) -> None: ...
    async def start(self, commands) -> None: ...
    async def stop(self) -> None: ...


REPORTS = [
    "Poland deploys 2,000 troops to the Belarus border",
    "Japan dispatches destroyers to the Gulf of Aden",
    "Britain deploys 500 troops to Estonia",
    "Turkey sends troops to northern Syria",
    "India deploys warships to the Arabian Sea",
]


async def _statuses(db) -> dict[str, int]:
    return dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())


@asynccontextmanager
async def _stopped_mid_send(tmp_path, feed_server, platform: SlowPlatform, grace: float):
    """A run subscribed to the REPORTS, stopped once `platform` starts its first send:
    yields the runtime (still open) and how long the stop took."""
    feed_server.serve("/wire", _rss(*REPORTS))
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/wire"))], subscriptions=[],
        articles={"fetch": False},
    )  # fmt: skip
    stop = asyncio.Event()
    async with open_runtime(settings, {"chat": platform}) as rt:
        subscribe(rt.db, "chat:desk", "troop-deployments", "instant")
        runner = asyncio.create_task(run_forever(rt, stop, grace=grace))
        await asyncio.wait_for(platform.started.wait(), timeout=20)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(runner, timeout=10)
        yield rt, time.monotonic() - started


async def test_stop_finishes_the_send_in_flight_and_claims_nothing_more(tmp_path, feed_server):
    platform = SlowPlatform(delay=0.5)
    async with _stopped_mid_send(tmp_path, feed_server, platform, grace=5.0) as (rt, took):
        statuses = await _statuses(rt.db)
    assert platform.posted and len(platform.posted) == 1, platform.posted
    assert took < 2 and "claimed" not in statuses
    assert statuses == {"sent": 1, "pending": len(REPORTS) - 1}


async def test_stop_does_not_wait_for_a_feed_fetch_in_flight(tmp_path, feed_server, caplog):
    """A poll writes nothing before its last transaction: cancelling it loses nothing."""
    caplog.set_level(logging.INFO)
    feed_server.serve("/slow", _rss(SLOW), drip=(8, 0.5))
    config = _config(tmp_path, {"Slow": feed_server.url("/slow")})
    stop = asyncio.Event()
    async with console_runtime(load_settings(config)) as (rt, console):
        runner = asyncio.create_task(run_forever(rt, stop, grace=8.0))
        for _ in range(100):
            if feed_server.requests_to("/slow"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(runner, timeout=15)
        took = time.monotonic() - started
        stored = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert took < 2, f"shutdown waited {took:.1f} s for a feed"
    assert stored == 0 and console.alerts() == []
    # and the fetch stopped with the bot: left running, it would write the feed's state
    # after the stop, and fail on the closed database ("poll.crashed") once it came in.
    polls = [t for t in asyncio.all_tasks() if "poll_many" in t.get_coro().__qualname__]
    assert [t for t in polls if not t.done()] == []
    # A stop is not a failure: no error in the log (APScheduler's "raised an exception").
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("job.stopped job=_poll_due" in r.getMessage() for r in caplog.records)


class LostAnswerPlatform(SlowPlatform):
    """Takes the message at once, then hangs before answering: what a stop meets when a
    platform is slow to reply (the answer never comes back before the grace ends)."""

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        self.posted.append(alert.delivery_id)
        self.started.set()
        await asyncio.sleep(self.delay)
        return MessageRef("chat", channel, f"m{alert.delivery_id}")


async def test_a_send_that_outlasts_the_grace_is_cut_and_found_not_resent(tmp_path, feed_server):
    platform = LostAnswerPlatform(delay=60)
    async with _stopped_mid_send(tmp_path, feed_server, platform, grace=1.0) as (rt, took):
        assert took < 3  # the grace, not the platform, decides
        cut = await _statuses(rt.db)  # the cut send: in doubt, or found already posted
        assert cut.get("claimed", 0) + cut.get("sent", 0) == 1 and "failed" not in cut
        settings = rt.settings
    again = SlowPlatform(delay=0)
    again.posted = list(platform.posted)  # the same platform, answering now
    async with open_runtime(settings, {"chat": again}) as rt:
        await poll_once(rt)
        statuses = await _statuses(rt.db)
    assert sorted(again.posted) == sorted(set(again.posted))  # nothing twice
    assert len(again.posted) == len(REPORTS) and statuses == {"sent": len(REPORTS)}


async def test_adapters_slow_to_stop_are_stopped_together_within_the_budget():
    class Sticky(SlowPlatform):
        async def stop(self) -> None:
            await asyncio.sleep(self.delay)

    started = time.monotonic()
    await stop_adapters([Sticky(delay=30), Sticky(delay=30), SlowPlatform(delay=0)], budget=0.5)
    assert time.monotonic() - started < 2  # not 60 s, nor each in turn
    assert GRACE + ADAPTERS_STOP < 10  # docker's SIGKILL comes 10 s after SIGTERM
