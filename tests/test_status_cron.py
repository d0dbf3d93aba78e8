"""`wirewatch status` tells the truth for a cron deployment: one-off `wirewatch poll`s.

docs/operations.md describes running `poll` from cron. It recorded nothing of itself, so
`status` read `starting` while one ran (it holds the database's lock), said nothing of when
the last one ended, and a cron whose workers could not work read as fine: `POLLING HAS
STOPPED ...; no bot is running` was all, for every cause. Each `poll` here is a real
subprocess against a feed served on 127.0.0.1 (held by the server until the test lets it go,
to be seen mid-poll); WIREWATCH_FAILPOINT=worker_start has every real worker SIGKILL itself
as it starts (bot.failpoints); `status` is the command line's own entry.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from aiohttp import web

from bot import runstate
from bot.clock import iso, utcnow
from bot.db import open_database
from bot.indexfile import index_path
from bot.onebot import one_bot
from tests.feedserver import FeedServer
from tests.test_status_runstate import (
    BROKEN,
    FEED,
    _config,
    _own_environment,  # noqa: F401 (an autouse fixture)
    _status,
    _until,
)

STOPPED = "bot: no `wirewatch run` or `poll` on this database now; the last, a one-off "


async def _poll(config: Path, **env: str) -> asyncio.subprocess.Process:
    """`wirewatch poll` as cron starts it: its own process, its output kept."""
    return await _start(config, "poll", **env)


async def _start(config: Path, command: str, **env: str) -> asyncio.subprocess.Process:
    """`wirewatch COMMAND` in its own process; `run` with /healthz on a free port, and its
    log let go (nothing reads it: a pipe would fill)."""
    base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    base |= {"WIREWATCH_HTTP_PORT": "0"} if command == "run" else {}
    err = asyncio.subprocess.DEVNULL if command == "run" else asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", command, "--config", str(config),
        stderr=err, stdout=asyncio.subprocess.DEVNULL, env={**base, **env},
    )  # fmt: skip


def _cron(tmp_path: Path, url: str) -> Path:
    """The config, and its database as cron's earlier polls left it (here: empty)."""
    config = _config(tmp_path, url)
    open_database(tmp_path / "w.db").close()
    return config


def _held(feed_server: FeedServer) -> asyncio.Event:
    """The feed answers only once the returned event is set: a poll caught mid-cycle."""
    gate = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response(body=FEED.encode(), content_type="application/rss+xml")

    feed_server.handle("/rss", held)
    return gate


async def _polling(
    config: Path, capsys: pytest.CaptureFixture[str], said: Callable[[str], bool] | None = None
) -> tuple[str, dict]:
    return await _until(config, capsys, said or (lambda t: "is polling since" in t), within=40)


async def test_status_says_a_cron_poll_is_polling_then_when_it_ended_and_when_cron_stopped(
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = _held(feed_server)
    config = _cron(tmp_path, feed_server.url("/rss"))
    proc = await _poll(config)
    try:
        text, bot = await _polling(config, capsys)
        # A poll that ends no cycle for longer than STALE is not polling, as a `run` is not.
        with monkeypatch.context() as short:
            short.setattr(runstate, "STALE", 1.0)
            await asyncio.sleep(1.5)
            stuck, _ = _status(config, capsys)
    finally:
        gate.set()
    assert stuck.splitlines()[1].startswith(
        f"bot: NOT POLLING: pid {proc.pid} (a one-off `wirewatch poll`) holds the database since "
    ), stuck
    line = text.splitlines()[1]
    assert line.startswith(f"bot: a one-off `wirewatch poll` (pid {proc.pid}) is polling since "), (
        text
    )
    assert "starting" not in text and "NOT POLLING" not in text, text
    assert bot["state"] == "polling" and bot["command"] == "poll", bot
    assert bot["pid"] == str(proc.pid) and bot["since"], bot
    assert await proc.wait() == 0

    text, bot = _status(config, capsys)  # cron's poll is done: when it ended, and that it read
    line = text.splitlines()[1]
    assert line.startswith(f"{STOPPED}`wirewatch poll`, ended its poll cycle "), text
    assert "NO FEED IS READ" not in text and "POLLING HAS STOPPED" not in text, text
    assert bot["state"] == "stopped" and bot["command"] == "poll" and bot["pid"] is None, bot
    assert bot["last_cycle"] and bot["workers_broken"] is None, bot

    # An hour on and no poll since (cron stopped running it): the feed-freshness warning
    # says so, rather than "no bot is running", which is a cron deployment's usual state.
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=1), tick=True):
        text, _ = _status(config, capsys)
    [late] = [x for x in text.splitlines() if x.startswith("POLLING HAS STOPPED")]
    said = r"; no bot is running, and the last `wirewatch poll` ended 1h(\d+s)? ago: is cron still"
    assert re.search(said + r" running it\?$", late), late


async def test_a_cron_poll_killed_mid_cycle_is_said_to_have_ended_no_cycle(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = _held(feed_server)
    config = _cron(tmp_path, feed_server.url("/rss"))
    proc = await _poll(config)
    try:
        await _polling(config, capsys)
        proc.kill()  # cron's `timeout -s KILL`, the OOM killer
        await proc.wait()
    finally:
        gate.set()
    text, bot = _status(config, capsys)
    line = text.splitlines()[1]
    assert line.startswith(f"{STOPPED}`wirewatch poll` started "), text
    assert line.endswith("ended no poll cycle (stopped, killed or failed: its output says which)")
    assert bot["state"] == "stopped" and bot["command"] == "poll", bot
    assert bot["last_cycle"] is None and bot["since"], bot


@pytest.mark.slow
async def test_cron_polls_whose_workers_cannot_work_are_said_to_read_no_feed_since_the_first(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, feed_server.url("/rss"))
    since = None
    for _ in range(2):  # two of cron's polls, each with fresh workers that die as they start
        proc = await _poll(config, WIREWATCH_FAILPOINT="worker_start")
        _, err = await proc.communicate()
        assert proc.returncode == 0 and b"workers.broken" in err, err
        text, bot = _status(config, capsys)
        since = since or bot["workers_broken_since"]
    lines = text.splitlines()
    assert lines[1].startswith(f"{STOPPED}`wirewatch poll`, ended its poll cycle "), text
    [broken] = [x for x in lines if x.startswith("NO FEED IS READ since ")]
    assert BROKEN in broken and "the last `wirewatch poll` read none" in broken, text
    assert bot["state"] == "stopped" and BROKEN in bot["workers_broken"], bot
    assert bot["workers_broken_since"] == since, bot  # since the first poll that could not read
    assert "0 failing" in text  # the feed is not blamed

    # The feed waits unparsed, due: past 15 minutes `status` says why it is not polled.
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=20), tick=True):
        text, _ = _status(config, capsys)
    [late] = [x for x in text.splitlines() if x.startswith("POLLING HAS STOPPED")]
    assert late.endswith("; no feed is read (above)"), late

    # The workers mended: the next poll is not said to read no feed, neither while it polls
    # (the earlier polls' verdict is not its own) nor once it ended.
    gate = _held(feed_server)
    proc = await _poll(config)
    try:
        text, bot = await _polling(config, capsys)
    finally:
        gate.set()
    assert "is polling since" in text and "NO FEED IS READ" not in text, text
    assert bot["workers_broken"] is None and bot["workers_broken_since"] is None, bot
    assert await proc.wait() == 0
    text, bot = _status(config, capsys)
    assert "NO FEED IS READ" not in text and bot["workers_broken"] is None, text


def _let_go(held: int) -> None:
    """The process waiting at its story index gets a file no wirewatch wrote, and rebuilds
    the index: its start goes on."""
    try:
        os.write(held, b"not a story index\n")
    finally:
        os.close(held)


def _slow_index(tmp_path: Path) -> Path:
    """The story index a pipe that nothing is written to until the test lets it go: a slow
    start (a big index read from a slow volume), held for as long as the test looks."""
    pipe = index_path(str(tmp_path / "w.db"))
    assert pipe is not None
    pipe.unlink(missing_ok=True)
    os.mkfifo(pipe)
    return pipe


async def _at_index(pipe: Path, proc: asyncio.subprocess.Process) -> int:
    """Once `proc` waits at its story index (it opened the pipe to read: only then does a
    writer get in), the pipe's end it waits on, held open: it reads nothing until
    `_let_go`. 30 s at most."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.returncode is None:
        try:
            return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            await asyncio.sleep(0.1)
    raise AssertionError("the process did not reach its story index")


LOADING_LINE = {
    "poll": "bot: starting (pid {pid}, a one-off `wirewatch poll`) since ",
    "run": "bot: starting (pid {pid}) since ",
}
# Once its first poll began (held mid-cycle by the feed): the line's start and end.
POLLING_LINE = {
    "poll": ("bot: a one-off `wirewatch poll` (pid {pid}) is polling since ", " UTC"),
    "run": ("bot: starting (pid {pid}) since ", ": no poll cycle of it has ended yet"),
}


@pytest.mark.parametrize("command", ["poll", "run"])
async def test_status_says_a_process_loading_its_story_index_is_starting_then_that_it_polls(
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """A slow start over an earlier poll's row: from the moment it holds the database the
    process is named, and said to load its story index, until its first poll begins. It
    read `is polling` (a `poll`) or `no poll cycle of it has ended yet` (a `run`) while
    nothing was polled, and `--json` said `polling` for a poll; feeds overdue meanwhile
    were left to "the log", and a load past STALE was "stuck" or "still starting"."""
    feed_server.serve("/rss", FEED)
    config = _cron(tmp_path, feed_server.url("/rss"))
    earlier = await _poll(config)
    assert await earlier.wait() == 0
    db = open_database(tmp_path / "w.db")
    with db.conn:  # due again: `run` polls only feeds due, the next one 45 s after this poll
        db.execute("UPDATE feeds SET next_poll = ?", [iso(utcnow())])
    db.close()
    gate = _held(feed_server)  # its first poll, once begun, is caught mid-cycle
    pipe = _slow_index(tmp_path)
    proc = await _start(config, command)
    first, last = (x.format(pid=proc.pid) for x in POLLING_LINE[command])
    try:
        held = await _at_index(pipe, proc)
        loading, at_load = _status(config, capsys)  # it loads its index until let go
        # Its feed 20 minutes overdue meanwhile: why, rather than "the log says why".
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=20), tick=True):
            late, _ = _status(config, capsys)
        with monkeypatch.context() as short:  # loading for longer than STALE: not polling
            short.setattr(runstate, "STALE", 1.0)
            await asyncio.sleep(1.5)
            stuck, _ = _status(config, capsys)
        _let_go(held)
        polling, at_poll = await _until(
            config, capsys, lambda t: t.splitlines()[1].startswith(first), within=30
        )
        gate.set()
        if command == "run":
            running, at_run = await _until(config, capsys, lambda t: "bot: running" in t, within=30)
            proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        gate.set()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    line = loading.splitlines()[1]
    assert line.startswith(LOADING_LINE[command].format(pid=proc.pid)), loading
    assert line.endswith(": loading its story index"), loading
    assert at_load["state"] == "starting" and at_load["phase"] == "loading", at_load
    assert at_load["command"] == command and at_load["pid"] == str(proc.pid), at_load
    [why] = [x for x in late.splitlines() if x.startswith("POLLING HAS STOPPED")]
    assert why.endswith("; it is loading its story index (above)"), late
    told = "its output" if command == "poll" else "its log"
    assert stuck.splitlines()[1].startswith(f"bot: NOT POLLING: pid {proc.pid}"), stuck
    assert stuck.splitlines()[1].endswith(
        f"(still loading its story index, or stuck; {told} says which)"
    ), stuck
    line = polling.splitlines()[1]
    assert line.startswith(first) and line.endswith(last), polling
    assert at_poll["state"] == ("polling" if command == "poll" else "starting"), at_poll
    assert at_poll["phase"] == "first_cycle", at_poll
    if command == "run":
        assert running.splitlines()[1].startswith(f"bot: running (pid {proc.pid}) since "), running
        assert at_run["state"] == "running" and at_run["phase"] == "cycled", at_run


@pytest.mark.parametrize("command", ["poll", "run"])
async def test_a_process_that_dies_while_it_starts_leaves_when_a_poll_cycle_last_ended(
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """An earlier poll ended its cycle; the next process is killed while it loads its story
    index. Its row replaced the earlier one's, and `status` no longer said when a poll cycle
    last ended (`--json`'s `last_cycle` null), though feeds were polled minutes before."""
    feed_server.serve("/rss", FEED)
    config = _cron(tmp_path, feed_server.url("/rss"))
    earlier = await _poll(config)
    assert await earlier.wait() == 0
    before, polled = _status(config, capsys)
    ended = re.search(r"ended its poll cycle (\S+ \S+ UTC)", before)
    assert ended and polled["last_cycle"], before
    pipe = _slow_index(tmp_path)
    proc = await _start(config, command)
    try:
        held = await _at_index(pipe, proc)
        _, loading = _status(config, capsys)
    finally:
        proc.kill()  # the OOM killer, a host's reboot: mid-start
        await proc.wait()
    os.close(held)
    text, bot = _status(config, capsys)
    line = text.splitlines()[1]
    if command == "run":
        assert line == (
            f"bot: no `wirewatch run` on this database now; the last poll cycle recorded "
            f"ended {ended[1]}"
        ), text
    else:  # its own end is not claimed: it ended none
        assert line.startswith(f"{STOPPED}`wirewatch poll` started "), text
        assert line.endswith(
            "ended no poll cycle (stopped, killed or failed: its output says which); "
            f"the last poll cycle recorded ended {ended[1]}"
        ), text
    assert bot["state"] == "stopped" and bot["command"] == command, bot
    assert bot["last_cycle"] == polled["last_cycle"] and bot["phase"] == "loading", bot
    assert loading["last_cycle"] == polled["last_cycle"], loading  # while it loaded, too


def test_status_says_the_command_is_not_known_until_the_holder_recorded_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The moment between a process taking the database and recording itself (or a wirewatch
    that never records, before schema 22), over an earlier poll's row: `starting`, `command`
    null, never the earlier poll's command or its workers' verdict."""
    config = _config(tmp_path, None)
    database = str(tmp_path / "w.db")
    db = open_database(database)
    with time_machine.travel(datetime.now(UTC) - timedelta(hours=1)):
        runstate.Recorder(runstate.POLL).start(db, BROKEN)
    db.close()
    with one_bot(database):  # this process holds the database and has recorded nothing
        text, bot = _status(config, capsys)
    line = text.splitlines()[1]
    assert line.startswith(f"bot: starting (pid {os.getpid()}) since "), text
    assert "wirewatch poll" not in line and "NO FEED IS READ" not in text, text
    assert bot["state"] == "starting" and bot["pid"] == str(os.getpid()), bot
    assert bot["command"] is None and bot["workers_broken"] is None, bot
