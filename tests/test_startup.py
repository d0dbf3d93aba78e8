"""Start-up is never deaf: `wirewatch run` answers /healthz at once, says it is loading,
stops on SIGTERM while it loads, and starts in a blink once its story index is saved.

A real `wirewatch run` process on a database whose story window holds 15,000 items and no
saved index, so the index must be rebuilt (several seconds on a CI machine).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.itemsdb import fill
from tests.runtime import free_port, read_until
from tests.test_stop_while_deciding import _config_backlog
from tests.test_write_wait import TOPIC

# What /readyz says while the start decides waiting alerts again (`bot.startup._ready`).
REDECIDING = "deciding waiting alerts again (a topic or subscription changed)"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        "feeds:\n  - {name: Bulk, url: 'https://bulk.example/rss'}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict] | None:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
            return r.status, await r.json()
    except (aiohttp.ClientError, TimeoutError):
        return None


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux's /proc), e.g. its parse workers."""
    tasks = Path(f"/proc/{pid}/task")
    found = " ".join(
        (t / "children").read_text() for t in tasks.iterdir() if (t / "children").exists()
    )
    return [int(x) for x in found.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def _alive(pid: int) -> bool:
    """Running, not ended (an ended child waits as a zombie until init reaps it)."""
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


async def _run(config: Path, port: int) -> asyncio.subprocess.Process:
    """`wirewatch run` as ops start it, its HTTP port `port`; its log on stderr."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.mark.slow
async def test_run_answers_while_loading_and_a_sigterm_then_exits_0_at_once(tmp_path):
    fill(tmp_path / "w.db", 15_000)
    port = free_port()
    began = time.monotonic()
    proc = await _run(_config(tmp_path), port)
    try:
        async with aiohttp.ClientSession() as http:
            health = None
            while health is None and time.monotonic() - began < 10:
                health = await _get(http, f"http://127.0.0.1:{port}/healthz")
                await asyncio.sleep(0.05)
            answered = time.monotonic() - began
            ready = await _get(http, f"http://127.0.0.1:{port}/readyz")
            # The start first syncs the config's topics and subscriptions (REDECIDING): on a
            # busy machine /healthz can answer within that step, before the index loads.
            while ready and ready[1].get("reason") == REDECIDING and time.monotonic() - began < 10:
                await asyncio.sleep(0.02)
                ready = await _get(http, f"http://127.0.0.1:{port}/readyz")
        workers: list[int] = []  # the worker processes the rebuild tokenises in
        while not workers and time.monotonic() - began < 10:
            workers = _children(proc.pid)
            await asyncio.sleep(0.05)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        took = time.monotonic() - stopping
        logged = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # Answered while the index still loads (bench/startup.py measures how soon: ~1.5 s).
    assert health == (200, {"status": "ok"}), f"no /healthz after {answered:.1f} s"
    assert ready is not None and ready[0] == 503
    assert ready[1]["reason"].startswith("loading story index"), ready
    assert "index.loading source=database items=15000 to_add=15000" in logged
    assert "index.loading_stopped" in logged and "run.stopped while starting" in logged
    assert code == 0 and took < 5, f"exit {code} {took:.1f} s after SIGTERM"
    assert "Traceback" not in logged
    assert workers
    for _ in range(60):  # multiprocessing's tracker ends once the bot's end closes its pipe
        left = [pid for pid in workers if _alive(pid)]
        if not left:
            break
        await asyncio.sleep(0.05)
    assert not left, "worker processes left behind"


@pytest.mark.slow
async def test_a_restart_loads_the_saved_index_instead_of_rebuilding_it(tmp_path):
    fill(tmp_path / "w.db", 3000)
    config = _config(tmp_path)
    logs, started = [], []
    for _ in range(2):  # the first start rebuilds and saves, the second loads the file
        port = free_port()
        began = time.monotonic()
        proc = await _run(config, port)
        try:
            async with aiohttp.ClientSession() as http:
                ready = None
                while time.monotonic() - began < 60 and (ready is None or ready[0] != 200):
                    ready = await _get(http, f"http://127.0.0.1:{port}/readyz")
                    await asyncio.sleep(0.05)
            assert ready is not None and ready[0] == 200, ready
            # The parse workers were started beside the loading (a saved index needs none,
            # and this feed's host does not resolve: nothing else would have started them),
            # so the first poll's feeds are parsed at once.
            workers: list[int] = []
            while len(workers) < 2 and time.monotonic() - began < 20:
                workers = [p for p in _children(proc.pid) if b"spawn_main" in _cmdline(p)]
                await asyncio.sleep(0.05)
            started.append(len(workers))
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
            logs.append((await proc.stderr.read()).decode())
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert "source=database items=3000 to_add=3000" in logs[0] and "index.saved" in logs[0]
    assert "source=file items=3000 to_add=0 dropped=0" in logs[1]
    assert "index.loaded docs=3000 source=file" in logs[1]
    assert started == [2, 2], "the parse workers were not started at start-up"


def _damage(db: Path, table: str) -> None:
    """Scribble over the first page of `table`, as a failing disk would."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(root - 1) * size : (root - 1) * size + 64] = b"\xde\xad\xbe\xef" * 16
    db.write_bytes(bytes(data))


@pytest.mark.slow
async def test_damage_in_the_bulk_tables_found_after_a_quick_start_stops_the_bot(tmp_path):
    """`run` checks the big tables in the background (seconds per GB), then says it."""
    _damage(fill(tmp_path / "w.db", 3000), "items_fts_data")
    proc = await _run(_config(tmp_path), free_port())
    try:
        code = await asyncio.wait_for(proc.wait(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = (await proc.stderr.read()).decode()
    assert code == 1
    assert "error: " in err and "w.db is corrupt (" in err and "restore a backup" in err
    assert "Traceback" not in err


async def test_a_second_bot_on_one_database_is_refused_and_the_lock_dies_with_the_first(
    tmp_path: Path,
) -> None:
    # Beside a running bot, `poll --once` took its claimed deliveries for a crash's
    # leftovers and posted them again. The lock is the kernel's: a kill -9 releases it.
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\nfeeds: []\n"
        "subscriptions: [{topic: troop-deployments, channel: console}]\n",
        encoding="utf-8",
    )
    first = await _run(config, free_port())
    try:
        assert first.stderr is not None
        await read_until(first.stderr, "run.started", within=60)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "poll", "--once", "--config", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode != 0
        assert f"another wirewatch (pid {first.pid}) is running on" in err.decode()
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    again = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "poll", "--once", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0, err.decode()


@pytest.mark.slow
async def test_readyz_says_the_start_decides_waiting_alerts_again_while_it_does(tmp_path):
    """A config topic's query changed while wirewatch was stopped: the start decides the
    10,000 alerts waiting through it again (seconds) before it loads the story index.
    /readyz said "loading story index" all that time; it says what the start is doing."""
    db = _config_backlog(tmp_path)
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"database: {db}\narticles: {{fetch: false}}\nsentence_vectors: false\n"
        f"topics:\n  {TOPIC}: {{query: 'backlog AND NOT said'}}\n",
        encoding="utf-8",
    )
    port = free_port()
    began = time.monotonic()
    proc = await _run(config, port)
    said: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - began < 60:
                ready = await _get(http, f"http://127.0.0.1:{port}/readyz")
                if ready is not None:
                    said.append(ready[1]["reason"])
                    # "loading story index (n of m items)": past the re-deciding
                    if ready[0] == 200 or said[-1] == REDECIDING or "items)" in said[-1]:
                        break
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        logged = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert said and said[-1] == REDECIDING, said
    assert code == 0 and "run.stopped while=deciding_waiting_alerts" in logged, logged[-2000:]
