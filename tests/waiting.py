"""Waiting in a test for what the bot does in the background (a post, a log line, an event
over the gateway), polled rather than slept for a fixed time: fast when it comes early, a
bounded wait when it never comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(done: Callable[[], object], within: float) -> bool:
    """Whether `done()` came true within `within` seconds of the monotonic clock (which a
    test that moves the wall clock with time_machine leaves alone)."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
