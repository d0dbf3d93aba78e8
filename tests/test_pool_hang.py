"""Worker processes that hang as they start are the bot's failure, never a feed's.

A pool whose workers never answer (an import stuck on a dead network share) timed every
parse out, and each feed read "parse took longer than 30 s": counted failing, then
disabled, as crashing workers once were (tests/test_pool_canary.py). The canary now runs
after a timeout too, with a short wait of its own. WIREWATCH_FAILPOINT=worker_start_hang
has each real worker process hang as it starts (bot.failpoints); the spawned workers read
it from the environment they inherit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot import workers
from bot.errors import WorkerError
from bot.workers import (
    WorkersBroken,
    in_worker,
    parse_feed_async,
    pool_trouble,
    shutdown_workers,
)
from tests.test_pool_canary import FEED, TITLE


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    shutdown_workers()  # workers spawned from here on read this test's environment
    yield
    shutdown_workers()


@pytest.mark.slow
async def test_a_pool_whose_workers_hang_at_start_is_the_bot_s_failure_not_the_feed_s(
    fresh_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_FAILPOINT", "worker_start_hang")
    # The canary's own wait, shortened: a hung pool is a hung pool whether it is asked for
    # 15 s or 4 (CI's time); how long a healthy pool takes to answer is not what is tested.
    monkeypatch.setattr(workers, "CANARY_QUICK", 4.0)
    began = time.monotonic()
    with pytest.raises(WorkersBroken, match="no known-good feed parsed within"):
        await parse_feed_async(FEED.encode(), feed_url="http://w.example/rss", timeout=2)
    assert time.monotonic() - began < 2 + workers.CANARY_QUICK + 10  # not a crash's minute
    assert "the worker processes cannot work" in pool_trouble()
    # Found broken: the next feed is told so at once, not after its own timeout.
    began = time.monotonic()
    with pytest.raises(WorkersBroken):
        await parse_feed_async(FEED.encode(), feed_url="http://w.example/rss", timeout=2)
    assert time.monotonic() - began < 2

    monkeypatch.delenv("WIREWATCH_FAILPOINT")
    shutdown_workers()  # mended (a restart, or the next canary): feeds parse again
    parsed = await parse_feed_async(FEED.encode(), feed_url="http://w.example/rss")
    assert [e.title for e in parsed.entries] == [TITLE]


async def test_a_call_that_runs_out_of_time_in_a_working_pool_is_still_its_input_s_failure(
    fresh_pool: None,
) -> None:
    """The canary passes: the input is blamed, and the next call works."""
    with pytest.raises(WorkerError, match="took longer than 1 s") as raised:
        await in_worker(1, "slow", time.sleep, 30)
    assert not isinstance(raised.value, WorkersBroken)
    assert pool_trouble() == ""
    assert await in_worker(60, "next", bytes, 3) == bytes(3)
