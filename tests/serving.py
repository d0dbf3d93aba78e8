"""A poll run while the bot keeps serving: a heartbeat (what sends, Discord's gateway and
acknowledgements need) and a moderator's command every 50 ms, both timed. Shared by the
tests that hold a poll's work on the event loop to short turns."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bot.commands import Commands, Invocation
from bot.poll_cycle import poll_once
from bot.runtime import Runtime


@dataclass
class Served:
    results: list[Any]
    lags: list[float] = field(default_factory=list)  # how late each 5 ms heartbeat woke
    # The loop thread's CPU in each heartbeat's wait: our own stall. The lag also holds the
    # time a loaded machine gave other processes (0.33 s read beside a second test run).
    busy: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # seconds each command took


async def poll_while_serving(rt: Runtime) -> Served:
    cmds = Commands(rt)
    await cmds.handle(Invocation("console", "console", "ed", "list"))  # its thread is up
    polling = asyncio.create_task(poll_once(rt))
    lags: list[float] = []
    busy: list[float] = []
    answered: list[float] = []

    async def heartbeat() -> None:
        while not polling.done():
            before, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)
            busy.append(time.thread_time() - cpu)

    async def moderator() -> None:
        while not polling.done():
            asked = time.perf_counter()
            reply = await cmds.handle(Invocation("console", "console", "ed", "list"))
            assert reply.ok, reply.text
            if not polling.done():
                answered.append(time.perf_counter() - asked)
            await asyncio.sleep(0.05)

    await asyncio.gather(heartbeat(), moderator(), polling)
    results, _ = polling.result()
    return Served(results, lags, busy, answered)
