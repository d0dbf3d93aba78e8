"""Where a command's queries run: on the store thread, the event loop serving others meanwhile.

The loop polls feeds, sends alerts and acknowledges the next command, so a command's queries
never run on it: a command that only reads and writes the database runs whole on the
runtime's store thread (`bot.store_thread.StoreThread`) with that thread's connection; one that also
fetches, polls or rebuilds the matcher runs on the loop and hands its queries over one by
one (`StoreCalls.run`). `inline=True` (and a `:memory:` database, which a second connection
cannot see) keeps them on the loop, as the benchmark's baseline.

Deliberately not here: what the queries are (the handler modules, bot/*_store.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bot.runtime import Runtime

R = TypeVar("R")


class StoreCalls:
    """The runtime, and the way to its database, that every command handler is given."""

    def __init__(self, rt: Runtime, *, inline: bool = False) -> None:
        self.rt = rt
        self._thread = None if inline else rt.store

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(db, *args)` on the store thread with its connection, the loop serving others
        meanwhile; on the loop with the bot's own connection where there is no such thread."""
        if self._thread is None:
            return fn(self.rt.db, *args)
        return await self._thread.run(fn, *args)

    async def until_stop(self, fn: Callable[..., R], *args: Any) -> R:
        """`run(fn, *args, stop)`, `stop` set once wirewatch begins to stop (the run's
        `Runtime.stopping`, or the store thread closing): work that only prepares a write,
        deciding waiting alerts again, gives up at its next look (`bot.redecide`), so that
        the moderator is told while the chat connection is still up and the stop keeps to
        its grace."""
        thread = self._thread
        if thread is None:
            return fn(self.rt.db, *args, None)

        def stopped(waited: asyncio.Future[Any]) -> None:
            if not waited.cancelled():
                thread.stopping.set()

        relay = asyncio.ensure_future(self.rt.stopping.wait())
        relay.add_done_callback(stopped)
        try:
            return await thread.run(fn, *args, thread.stopping)
        finally:
            relay.cancel()
