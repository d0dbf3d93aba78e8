"""Items first seen lately but published before the story window (a feed's first poll brings
its archive: the real feeds' 2025 items) are not counted at every start as items "to add" to
the story index: they were added, then pruned at once (the index goes by publication), and
each start's `index.loading` said `to_add=57` after a clean stop, as if the saved index were
behind the store. Two real starts of `wirewatch run` on one database, read from their log.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from datetime import timedelta

import aiohttp
import pytest

from bot.clock import iso, utcnow
from tests.itemsdb import fill
from tests.runtime import free_port
from tests.test_startup import _config, _get, _run

ITEMS, OLD = 600, 57


async def _start_and_stop(config, port: int) -> str:
    """One start, until /readyz answers 200, then SIGTERM: its log."""
    proc = await _run(config, port)
    assert proc.stderr is not None
    began, ready = time.monotonic(), None
    try:
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - began < 60 and (ready is None or ready[0] != 200):
                ready = await _get(http, f"http://127.0.0.1:{port}/readyz")
                await asyncio.sleep(0.05)
        assert ready is not None and ready[0] == 200, ready
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
        return (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow
async def test_old_items_seen_lately_are_not_to_be_added_at_every_start(tmp_path):
    fill(tmp_path / "w.db", ITEMS)
    with sqlite3.connect(tmp_path / "w.db") as conn:  # published a year ago, seen just now
        conn.execute(
            "UPDATE items SET published = ? WHERE id <= ?",
            [iso(utcnow() - timedelta(days=365)), OLD],
        )
    config = _config(tmp_path)
    first = await _start_and_stop(config, free_port())
    second = await _start_and_stop(config, free_port())
    kept = ITEMS - OLD
    assert f"source=file items={kept} to_add=0 dropped=0" in second, second
    assert f"index.loaded docs={kept} source=file" in second
    assert f"source=database items={kept} to_add={kept} dropped=0" in first, first
    assert f"index.loaded docs={kept} source=database" in first  # the same index as before
