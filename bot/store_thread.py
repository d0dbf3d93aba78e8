"""The store thread: a second connection to the bot's database, on one thread of its own,
for chat commands' queries and writes (`StoreThread`), so that they never hold the event
loop that polls, sends and acknowledges.

Opening, checking and migrating the file, and the write lock its writes take (`write`,
`WriteTurns`), are bot.db's; what runs on the thread is the commands' (bot.commands.calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import sqlite_utils

from bot.db import _STOPPING, _connect_again

R = TypeVar("R")


class StoreThread:
    """A second connection to the bot's database, used on one thread of its own, so that
    chat commands' queries never hold the event loop that polls, sends and acknowledges.

    The file was checked and migrated by `open_database` already: the connection is opened
    (in that thread, which alone uses it) without doing either again. Reads see the last
    commit of either connection (WAL) and block nobody; writes take the lock up front
    (`write`), and a writer on the other connection waits for it (`WriteTurns`), so a
    command's long write goes in slices (`bot.redecide`). One thread: commands' writes never
    race each other.
    """

    def __init__(self, path: str | Path):
        if str(path) == ":memory:":
            raise ValueError("a second connection to :memory: is another, empty database")
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="wirewatch-store")
        self._db: sqlite_utils.Database | None = None
        # Set once wirewatch begins to stop (`close`, or the run's stop relayed by
        # `bot.commands`): work that only prepares a write, a command deciding thousands of
        # waiting alerts again before its first (`bot.redecide`), gives up at its next look,
        # with nothing written, rather than hold the stop for seconds.
        self.stopping = threading.Event()
        self._closed = False

    async def run(self, fn: Callable[..., R], *args: object) -> R:
        """`fn(db, *args)` on the store thread with its connection; the loop runs meanwhile.
        Cancelling the caller does not stop it: a write it started still commits whole."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)

    def _call(self, fn: Callable[..., R], args: tuple[object, ...]) -> R:
        if self._db is None:
            self._db = _connect_again(self.path)
        return fn(self._db, *args)

    async def close(self, grace: float = 2.0) -> None:
        """Let the work already asked for finish, then close the connection in its thread.
        Work still running after `grace` seconds (a search of a large archive takes seconds)
        is interrupted, so that a shutdown keeps to compose's 10 s: a read just ends, a write
        is rolled back whole, as when the process is killed (a long write in slices stops
        before its next slice; the next start finishes it, `bot.redecide`). Work that only
        prepares a write gives up at once (`stopping`). A second close does nothing."""
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        self._pool.submit(self._close)
        done = asyncio.ensure_future(asyncio.to_thread(self._pool.shutdown, wait=True))
        try:
            await asyncio.wait_for(asyncio.shield(done), grace)
        except TimeoutError:
            db = self._db
            if db is not None:
                _STOPPING.add(db)  # a long write's next slice is not begun
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                    db.conn.interrupt()
            await done

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
