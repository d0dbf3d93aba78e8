"""The worker processes: killing them (a timeout, a stop) never leaves the bot waiting forever.

A worker killed while it sends a large result (story terms, a big parsed feed) leaves half a
message in the pool's pipe. Without care, the pool's manager thread then waits for the rest
forever: later calls never complete and the interpreter never exits (a `docker stop` ending
in SIGKILL). Tested in a subprocess, which is what would hang.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, contextlib
from bot.errors import WorkerError
from bot.workers import in_worker, shutdown_workers

async def main():
    await in_worker(30, "warm", bytes, 1)
    for i in range(5):
        calls = [asyncio.ensure_future(in_worker(30, "big", bytes, 50_000_000)) for _ in range(2)]
        await asyncio.sleep(0.05 + 0.05 * i)  # some kills land while a result is on its way
        shutdown_workers()
        for call in calls:
            with contextlib.suppress(WorkerError):
                await call
    assert await in_worker(30, "after", bytes, 3) == bytes(3)
    print("done", flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
def test_workers_killed_while_sending_a_result_never_hang_the_bot():
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("calls or the exit hung after workers were killed mid-result")
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]


EXIT_SCRIPT = """
import asyncio, contextlib, threading
from bot.errors import WorkerError
from bot.workers import in_worker, shutdown_workers

async def main():
    await in_worker(30, "warm", bytes, 1)
    calls = [asyncio.ensure_future(in_worker(30, "big", bytes, 50_000_000)) for _ in range(2)]
    await asyncio.sleep(0.1)
    shutdown_workers()  # what `wirewatch run` does on SIGTERM, just before it exits
    managing = [t for t in threading.enumerate() if type(t).__name__ == "_ExecutorManagerThread"]
    print("managing", len(managing), flush=True)
    for call in calls:
        with contextlib.suppress(WorkerError):
            await call

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_stop_leaves_no_pool_thread_for_the_exit_to_race():
    # A manager thread still closing its pipes at exit races concurrent.futures' exit hook,
    # which then prints a "Bad file descriptor" traceback after the bot said it stopped.
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "managing 0"
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


CANCEL_SCRIPT = """
import threading, time
from bot import workers

died = []
threading.excepthook = lambda args: died.append(repr(args.exc_value))
pool = workers._get_pool()
calls = [pool.submit(time.sleep, 2) for _ in range(8)]  # two run, the rest wait in line
time.sleep(1)
assert calls[-1].cancel()  # its caller gave up while it waited
workers._recycle(pool)  # then a stuck call's workers are killed
workers.shutdown_workers()
print("died", died, flush=True)
"""


@pytest.mark.slow
def test_killing_workers_with_a_cancelled_call_in_line_leaves_no_traceback():
    # CPython 3.11's pool manager, failing the calls of a killed pool, dies on a call already
    # cancelled, printing a traceback to the bot's stderr and leaving its pipes open.
    done = subprocess.run(
        [sys.executable, "-c", CANCEL_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "died []", done.stdout


async def test_a_worker_that_needs_too_much_memory_fails_clearly_and_the_next_call_works():
    """RELIABILITY.md: a parse is bounded in memory as well as time (WORKER_MEMORY)."""
    from bot.errors import WorkerError
    from bot.workers import WORKER_MEMORY, in_worker

    with pytest.raises(WorkerError, match=f"needed more than {WORKER_MEMORY // 2**20} MB"):
        await in_worker(60, "a huge feed", bytes, WORKER_MEMORY + 200 * 2**20)
    assert await in_worker(60, "a small one", bytes, 3) == bytes(3)


CTRL_C_SCRIPT = """
import asyncio, signal
from bot import workers
from bot.workers import in_worker, shutdown_workers, start_workers

signal.signal(signal.SIGINT, lambda *_: print("interrupted", flush=True))  # as `run` does

async def main():
    await start_workers()
    print("answer", await in_worker(30, "after", bytes, 3) == bytes(3), flush=True)
    print(*sorted(workers._pool._processes), flush=True)  # the workers that answered

asyncio.run(main())
shutdown_workers()
"""


def _workers_of(pid: int) -> list[int]:
    """The worker processes `pid` has spawned so far (the resource tracker is not one)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            if b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_while_the_workers_start_prints_no_traceback():
    """A terminal's Ctrl-C signals the whole process group, workers included: one still
    importing wirewatch (about a second) printed a KeyboardInterrupt traceback each."""
    bot = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    deadline = time.monotonic() + 30
    while len(starting := _workers_of(bot.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # into their imports (a second of them), where Python raises
    os.killpg(bot.pid, signal.SIGINT)  # Ctrl-C, while both workers still start
    out, err = bot.communicate(timeout=60)
    assert bot.returncode == 0, err[-2000:]
    said = out.split("\n")
    assert said[:2] == ["interrupted", "answer True"], out
    assert sorted(int(pid) for pid in said[2].split()) == sorted(starting), err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]


async def test_workers_started_under_another_environment_are_replaced(monkeypatch):
    """Workers read the environment (a failpoint, the encoder's folder) and their memory
    bound once, as they start. The suite keeps them from one runtime to the next
    (`KEEP_AFTER_RUNTIME`): a pool started before a test set a failpoint would have ignored
    it. The same environment keeps the same workers."""
    from bot import workers

    async def pids() -> set[int]:
        await workers.in_worker(30.0, "a test", os.getpid)
        assert workers._pool is not None
        return set(workers._pool._processes)

    first = await pids()
    kept = await pids()
    assert first <= kept  # nothing changed: the same workers (a second may have started)
    monkeypatch.setenv("WIREWATCH_SOMETHING", "1")
    second = await pids()
    assert second and not second & kept
    second |= await pids()
    monkeypatch.setattr(workers, "WORKER_MEMORY", workers.WORKER_MEMORY + 2**20)
    assert not (await pids()) & second
