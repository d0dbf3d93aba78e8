"""SIGTERM while `topic add` of a changed query decides a backlog again: out in time, nothing
half done, and the same command after the restart does what it would have done.

The command decides every waiting alert's item before it takes the write lock (seconds at
thousands waiting, on the store thread). A stop that waited for that overran the store
thread's grace, and docker's SIGKILL came first; now the deciding notices the stop between
two batches and gives up before anything is written, and the moderator is told that
wirewatch is stopping and that the same command can be run again once it is back. A stop
that comes once the writing has begun (`subscribe --only`'s slices) ends it between two
slices, and the next start finishes the work, as after a kill there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from bot.app import open_runtime, run_forever, stop_adapters
from bot.commands import Commands, Invocation
from bot.db import StoreThread
from tests.runtime import Console, console_runtime
from tests.test_write_wait import (
    BACKLOG,
    LONG_WRITES,
    TOPIC,
    _backlog,
    _backlog_states,
    _decided_anew,
    _settings,
)

COMMAND = LONG_WRITES["topic add"]
# The store thread's grace at a stop (`StoreThread.close`): the deciding of 10,000 waiting
# alerts takes longer than that alone (3-4 s here), a batch of it milliseconds.
GRACE = 2.0
DECIDING = 0.5  # how far into the command the stop comes: well inside its deciding


def _as_before(db: Path) -> None:
    """Nothing of the command written: the old query, every alert waiting as it was."""
    conn = sqlite3.connect(db)
    try:
        query = conn.execute("SELECT query FROM topics WHERE name = ?", [TOPIC]).fetchone()[0]
        marks = conn.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    finally:
        conn.close()
    assert (query, marks) == ("backlog", 0)
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    kinds = {item: ("new" if (item - 1) % 3 == 0 else "update") for item in states}
    assert states == {item: ("digest", kinds[item], None) for item in states}


async def _locked(db: Path) -> bool:
    """Whether another connection holds the write lock now (the command's write began)."""
    probe = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


async def test_a_stop_while_topic_add_decides_a_backlog_ends_it_in_time_with_nothing_written(
    tmp_path: Path,
) -> None:
    db = _backlog(tmp_path / "w.db")
    stop = asyncio.Event()
    console = Console()
    async with open_runtime(_settings(db), {"console": console}) as rt:  # as `wirewatch run`
        runner = asyncio.create_task(run_forever(rt, stop))
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))  # its thread is up
        answer = asyncio.create_task(cmds.handle(Invocation("console", "console", "ed", COMMAND)))
        await asyncio.sleep(DECIDING)
        assert not answer.done() and not await _locked(db), "the stop must come while deciding"
        started = time.monotonic()
        stop.set()  # SIGTERM
        await runner
        await stop_adapters([console])
        reply = await answer
    took = time.monotonic() - started  # the store thread closed with the runtime

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    assert "run the same command again" in reply.text, reply.text
    _as_before(db)

    async with console_runtime(_settings(db)) as (rt, _):  # the restart
        again = await Commands(rt).handle(Invocation("console", "console", "ed", COMMAND))
    assert again.ok and f"{BACKLOG // 2} alerts waiting" in again.text, again.text
    _decided_anew(_backlog_states(db))  # as an uninterrupted run decides them


async def test_a_store_thread_closed_while_a_command_decides_closes_within_its_grace(
    tmp_path: Path,
) -> None:
    """Without a run's stop first (the store thread closing is all it is told), the same."""
    db = _backlog(tmp_path / "w.db")
    async with console_runtime(_settings(db)) as (rt, _):
        store = StoreThread(db)  # closed here: the runtime closes its own as it ends
        cmds = Commands(replace(rt, store=store))
        await cmds.handle(Invocation("console", "console", "ed", "list"))
        answer = asyncio.create_task(cmds.handle(Invocation("console", "console", "ed", COMMAND)))
        await asyncio.sleep(DECIDING)
        assert not answer.done() and not await _locked(db), "the close must come while deciding"
        started = time.monotonic()
        await store.close(grace=GRACE)
        took = time.monotonic() - started
        reply = await answer
    assert took < GRACE, f"the close took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    _as_before(db)


async def test_a_stop_while_subscribe_writes_its_slices_ends_them_and_the_start_finishes(
    tmp_path: Path,
) -> None:
    """`subscribe --only` decides the channel's waiting alerts again in 25 ms slices, a poll's
    writes between them: seconds at 10,000 waiting. A stop then ran it to its end, past the
    grace (and a SIGKILL may have cut it anywhere); now it ends at the next slice."""
    db = _backlog(tmp_path / "w.db")
    stop = asyncio.Event()
    console = Console()
    async with open_runtime(_settings(db), {"console": console}) as rt:
        runner = asyncio.create_task(run_forever(rt, stop))
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))
        answer = asyncio.create_task(
            cmds.handle(Invocation("console", "console", "ed", LONG_WRITES["subscribe --only"]))
        )
        while not await _marked(db):  # its first slice is written: the slices run
            assert not answer.done(), (await answer).text
            await asyncio.sleep(0.005)
        started = time.monotonic()
        stop.set()  # SIGTERM
        await runner
        await stop_adapters([console])
        reply = await answer
    took = time.monotonic() - started

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    assert "the change is saved" in reply.text, reply.text
    half = _backlog_states(db)
    assert len(half) == BACKLOG, "an alert was lost"
    assert any(s == "digest" and i % 2 == 0 for i, (s, _, _) in half.items()), (
        "the command ran to its end: the stop did not end it"
    )

    async with console_runtime(_settings(db)) as (rt, _):  # the restart finishes it
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
        only = rt.db.execute("SELECT only_query FROM subscriptions WHERE id = 1").fetchone()[0]
    assert (left, only) == (0, "NOT said")
    _decided_anew(_backlog_states(db))  # as an uninterrupted run decides them


async def _marked(db: Path) -> bool:
    """Whether the command's first slice is in: its row saying the work is unfinished."""
    conn = sqlite3.connect(db)
    try:
        return bool(conn.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0])
    except sqlite3.OperationalError:  # locked for a moment by the slice itself
        return False
    finally:
        conn.close()
