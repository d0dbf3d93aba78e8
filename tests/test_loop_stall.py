"""Chat commands do not hold the event loop: while one searches a large archive, the bot
keeps serving (other commands answered, polls and alerts going on), and the answer is right.

The measure is what a user sees, not a timer: before commands' queries left the loop, a
slow search answered first and everything else waited behind it. bench/loop_stall.py
measures the stalls themselves.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.commands import Commands, Invocation
from bot.db import open_database
from tests.runtime import console_runtime, make_settings

ITEMS = 60_000  # every one says "harbour": a search walks them all (a few tenths of a second)


def _archive(path: Path, count: int) -> Path:
    """`count` items of one feed, five days old (out of the story window: nothing to load),
    ten a second, all with the word "harbour"; written in bulk through the real schema."""
    open_database(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    fts = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'items_a_'"
    ).fetchall()
    for name, _ in fts:  # the full-text index is built once at the end: faster than per row
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute(
        "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
        "VALUES (1, 'https://port.example/rss', 'Port News', 'chat', '9999', '2020')"
    )
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO items (id, feed_id, identity, url, title, summary, published, first_seen) "
        "SELECT i, 1, 'guid:' || i, 'https://port.example/' || i, 'Harbour report ' || i, "
        "'The harbour authority counted ' || i || ' ships.', "
        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days', '+' || (i / 10) || ' seconds'), "
        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days', '+' || (i / 10) || ' seconds') "
        "FROM n",
        [count],
    )
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    for _, sql in fts:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()
    return path


async def test_a_slow_search_leaves_the_bot_serving_and_answers_right(tmp_path: Path) -> None:
    db = _archive(tmp_path / "w.db", ITEMS)
    async with console_runtime(make_settings(db, [])) as (rt, _):
        cmds = Commands(rt)
        beats: list[float] = []
        searching = asyncio.Event()

        async def heartbeat() -> None:  # what polls, sends and acknowledgements need
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                if searching.is_set():
                    beats.append(time.perf_counter() - before)

        async def search() -> tuple[float, object]:
            searching.set()
            started = time.perf_counter()
            reply = await cmds.handle(Invocation("console", "console", "ed", "search harbour"))
            searching.clear()
            done.append("search")
            return time.perf_counter() - started, reply

        ticker = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.01)
        done: list[str] = []
        slow = asyncio.create_task(search())
        await asyncio.sleep(0)  # the search has started
        helped = await cmds.handle(Invocation("console", "console", "someone", "help"))
        done.append("help")
        took, reply = await slow
        ticker.cancel()

    # Another user's command was answered while the search was still running ...
    assert helped.ok and done == ["help", "search"]
    # ... and the loop went on waking its other tasks all along: no wait near the search's own.
    assert len(beats) >= 10, beats
    assert max(beats) < took / 3, (max(beats), took)
    # The answer is the archive's ten newest matches, newest first (no story holds them: a
    # line each).
    assert reply.ok, reply.text  # type: ignore[attr-defined]
    lines = reply.text.splitlines()  # type: ignore[attr-defined]
    assert lines[0] == "more than 1000 stories; 1-10, newest first:"
    assert lines[-1] == "older: `/wirewatch search harbour page:2`"
    assert [line.split(" (")[0] for line in lines[1:-1]] == [
        f"- Harbour report {ITEMS - k}" for k in range(10)
    ]


async def test_shutdown_does_not_wait_out_a_long_command_query(tmp_path):
    """A command's query still running at shutdown (its caller cancelled) is interrupted
    after a grace period: compose kills the bot 10 s after SIGTERM."""
    from bot.store_thread import StoreThread

    open_database(tmp_path / "w.db").close()
    store = StoreThread(tmp_path / "w.db")
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) "
        "SELECT count(*) FROM c"
    )
    query = asyncio.ensure_future(store.run(lambda db: db.execute(endless).fetchone()))
    await asyncio.sleep(0.3)  # running on the store thread
    query.cancel()
    began = time.monotonic()
    await asyncio.wait_for(store.close(grace=0.5), 30)
    assert time.monotonic() - began < 5
