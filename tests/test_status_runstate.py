"""`wirewatch status` from a shell says what the running bot is doing, from what it records.

An operator's first command: it said `running (pid N)` for any process holding the lock
(also one whose loop no longer polls) and nothing of worker processes that cannot work,
which only the bot's own /healthz, `poll` line, log and chat `status` told. The bot now
records its poll cycles and its workers' state in the database (bot.runstate).
WIREWATCH_FAILPOINT=worker_start has every real worker SIGKILL itself as it starts
(bot.failpoints); `wirewatch run` is a real subprocess, or the real loop in this process;
the feed is served on 127.0.0.1 and `status` is the command line's own entry.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from bot import runstate
from bot.check import load_checked
from bot.cli import main
from bot.gazetteer import Gazetteer
from bot.loop import run_forever
from bot.workers import shutdown_workers
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, read_until, recent

FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item>"
    "<title>Poland deploys 2,000 troops to the Belarus border</title><guid>w1</guid>"
    f"<link>https://w.example/1</link><pubDate>{recent()}</pubDate></item></channel></rss>"
)
BROKEN = "the worker processes cannot work (each worker died before it parsed a known-good feed)"


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WIREWATCH_DB", "WIREWATCH_CONFIG", "SLACK_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, url: str | None) -> Path:
    path = tmp_path / "wirewatch.yaml"
    feeds = f"feeds:\n  - {{name: Wire, url: '{url}'}}\n" if url else "feeds: []\n"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"network: {{allow_private_addresses: true}}\n{feeds}",
        encoding="utf-8",
    )
    return path


def _status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict]:
    """`wirewatch status`, then `--json`: what an operator reads, and a script."""
    assert main(["status", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert main(["status", "--json", "--config", str(config)]) == 0
    return text, json.loads(capsys.readouterr().out).get("bot", {})


async def _until(
    config: Path,
    capsys: pytest.CaptureFixture[str],
    said: Callable[[str], bool],
    within: float = 10,
) -> tuple[str, dict]:
    """`status` until it says what the bot records within the next cycles (`within` s at most)."""
    deadline = time.monotonic() + within
    while True:
        text, bot = _status(config, capsys)
        if said(text) or time.monotonic() > deadline:
            return text, bot
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_status_from_a_shell_says_the_running_bot_reads_no_feed_and_forgets_it_stopped(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, feed_server.url("/rss"))
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config),
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        env={**env, "WIREWATCH_FAILPOINT": "worker_start", "WIREWATCH_HTTP_PORT": "0"},
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        said = await read_until(proc.stderr, "poll.unparsed feed=Wire", within=60)
        assert "workers.broken" in said, said
        text, bot = await _until(config, capsys, lambda t: "NO FEED IS READ" in t)
    finally:
        proc.terminate()
        await proc.wait()
    lines = text.splitlines()
    assert lines[1].startswith(f"bot: running (pid {proc.pid}) since "), text
    assert "last poll cycle ended" in lines[1], text
    [broken] = [x for x in lines if x.startswith("NO FEED IS READ since ")]
    assert BROKEN in broken and "none counted failing" in broken, text
    assert bot.get("state") == "running" and bot["pid"] == str(proc.pid), bot
    assert BROKEN in bot["workers_broken"] and bot["workers_broken_since"], bot
    assert "0 failing" in text  # the feed is not blamed

    text, bot = _status(config, capsys)  # the bot stopped: its record is not a running bot
    assert text.splitlines()[1].startswith("bot: no `wirewatch run` on this database now; the "), (
        text
    )
    assert "NO FEED IS READ" not in text and "running" not in text, text
    assert bot.get("state") == "stopped" and bot["workers_broken"] is None, bot
    assert bot["last_cycle"] is not None  # when it last polled, for the one asking why


async def test_workers_that_work_again_are_no_longer_said_broken(
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, feed_server.url("/rss"))
    settings = load_checked(config, Gazetteer.load())
    monkeypatch.setenv("WIREWATCH_FAILPOINT", "worker_start")
    shutdown_workers()  # workers read the environment as they start
    async with console_runtime(settings) as (rt, _):
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop, grace=0.5))
        try:
            text, _ = await _until(config, capsys, lambda t: "NO FEED IS READ" in t)
            assert f"bot: running (pid {os.getpid()})" in text and BROKEN in text, text
            monkeypatch.delenv("WIREWATCH_FAILPOINT")
            shutdown_workers()  # the host mended (its verdict goes with the old workers)
            text, bot = await _until(config, capsys, lambda t: "NO FEED IS READ" not in t)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
    assert "NO FEED IS READ" not in text and "bot: running (pid" in text, text
    assert bot["workers_broken"] is None and bot["workers_broken_since"] is None, bot


@pytest.mark.parametrize("step", [0, -10, 10], ids=["clock kept", "stepped back", "forward"])
async def test_a_bot_that_holds_the_database_but_no_longer_polls_is_not_shown_running(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    step: int,
) -> None:
    """Also when the wall clock stepped `step` minutes since its last record: stepped back
    10 minutes, a loop that stopped read `running` for 15 more (its record looked newer than
    now); stepped forward, a loop that works read `NOT POLLING` until it wrote again."""
    config = _config(tmp_path, None)
    settings = load_checked(config, Gazetteer.load())
    async with console_runtime(settings) as (rt, _):
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop, grace=0.5))
        try:
            text, bot = await _until(config, capsys, lambda t: "bot: running" in t)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
        assert "bot: running" in text, text
        wall = datetime.now(UTC) + timedelta(minutes=step)
        with time_machine.travel(wall, tick=True):  # a record a moment old is no stopped loop
            fresh, _ = _status(config, capsys)
        # Its loop polls no more (stuck), the database still held, for longer than STALE.
        monkeypatch.setattr(runstate, "STALE", 1.0)
        await asyncio.sleep(1.5)
        with time_machine.travel(wall + timedelta(seconds=1.5), tick=True):
            text, bot = _status(config, capsys)
    assert fresh.splitlines()[1].startswith(f"bot: running (pid {os.getpid()}) since "), fresh
    line = text.splitlines()[1]
    assert line.startswith(f"bot: NOT POLLING: pid {os.getpid()} holds the database since "), text
    assert re.search(r"has ended no poll cycle for (\d+m)?[1-9]\d*s \(stuck", line), line
    assert "running" not in text, text
    assert bot.get("state") == "stalled" and bot["pid"] == str(os.getpid()), bot
    assert bot["command"] == "run" and bot["recorded_ago"] >= 1, bot
