"""The event loop's time, taken in turns by what a poll does on it (`Turns`): deciding a
feed's new entries, asking the encoder's opinions, storing a wave's items, each a section
of small units that gives the loop back every SLICE seconds.

What the units are, and how many a chunk holds, is the pipeline's (bot.pipeline,
bot.revisions, bot.opinions); nothing here knows of feeds, items or the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

# Seconds of work a poll does on the event loop in one turn (`Turns`), before the loop runs
# what else is ready (a heartbeat, a chat command's ack, /healthz, other feeds' fetches).
# The units are an entry decided (its identity settled, the encoder's opinions it wants
# found, its topics matched) and a chunk of items stored. Entries 50 at a time, and feeds
# deciding in the same iteration, held the loop 0.4-1.1 s at a time during a poll of 200
# new items (bench.loop_stall).
SLICE = 0.005


class Turns:
    """The event loop's time, taken in turns by what a poll does on it.

    Deciding entries and storing items are sections of small units (an entry, an item);
    one section works at a time, `every` seconds per turn. A turn ends between two units,
    and the next one begins after what became ready meanwhile (a heartbeat, a chat
    command's acknowledgement, /healthz, a fetch) has run. Sections
    waiting take their turns in order; a section awaits nothing but its turns (no fetch,
    no worker) and holds no other section. Without turns, every feed deciding at once took
    its slice in the same iteration: 16 feeds polled together, 16 slices in a row.
    """

    def __init__(self, every: float = SLICE) -> None:
        self.every = every
        self._busy = False
        self._holder: asyncio.Task | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._since = 0.0

    @property
    def held(self) -> bool:
        """Whether a section holds or is being given the turn (for tests and metrics)."""
        return self._busy

    @asynccontextmanager
    async def section(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Hold a turn for a section; it awaits the function it is given between units."""
        await self._take()
        try:
            yield self._pace
        finally:
            self._give()

    async def _pace(self) -> None:
        if time.monotonic() - self._since >= self.every:
            self._give()
            await self._take()

    async def _take(self) -> None:
        if self._holder is asyncio.current_task():
            raise RuntimeError("a section inside a section would wait for itself")
        if self._busy:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # given as it was cancelled
                    self._pass()
                raise
        self._busy = True
        self._holder = asyncio.current_task()
        self._since = time.monotonic()

    def _give(self) -> None:
        if self._holder is asyncio.current_task():  # not when cancelled waiting for a turn
            self._holder = None
            self._pass()

    def _pass(self) -> None:
        # Two iterations later: a task woken by a timer or a socket meanwhile takes two (its
        # handle sets its future, then the task runs), and runs before the next turn.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._next)

    def _next(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a cancelled section's turn is skipped
                turn.set_result(None)
                return
        self._busy = False
