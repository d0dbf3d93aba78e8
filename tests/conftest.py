"""Shared fixtures: real HTTP servers on 127.0.0.1 (tests/feedserver.py), a stand-in for
Discord (tests/discordstub.py), a runtime factory, and the shipped gazetteer and built-in
topics (loaded once per session: both are read-only)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import workers
from bot.gazetteer import Gazetteer
from bot.labelled import load_labelled
from bot.replay import ReplayInput
from bot.topics.load import load_topics
from bot.topics.match import Matcher

pytest_plugins = ["tests.discordstub", "tests.feedserver", "tests.runtime"]

# The files whose tests take longest, started first: pytest-xdist hands tests out in
# collection order, and met last (most of these sort late) one worker ran them while the
# other idled: the suite's last 4% took 80 s of an 8-minute CI run. The last eight tests
# held 22 s of test_workers*.py; the files after test_status_cron.py each hold a test of
# 10-40 s (stop 63's durations).
SLOW_FIRST = (
    "test_frozen_split.py",
    "test_stop_while_deciding.py",
    "test_hostile_feeds.py",
    "test_run_discord.py",
    "test_run_slack.py",
    "test_clock_steps.py",
    "test_write_wait.py",
    "test_start_leftovers.py",
    "test_database_outages.py",
    "test_flood_memory.py",
    "test_status_cron.py",
    "test_stories.py",
    "test_pool_canary.py",
    "test_startup_old_items.py",
    "test_opinion_turns.py",
    "test_startup.py",
    "test_workers.py",
    "test_workers_broken_chat.py",
)
# How many tests pytest-xdist sends a worker at a time. Its default first sends each worker
# a quarter of its share in one go (285 tests each of 2,280): the first worker got every
# file of SLOW_FIRST, near half the suite's time, and when the other tests are quick it was
# still at them after the other worker ran out (simulated with stop 63's durations: 0.3 s
# over an even split with 8 at a time, up to 56 s over with the default).
SCHEDULE_CHUNK = 8


def pytest_configure(config: pytest.Config) -> None:
    """SCHEDULE_CHUNK, unless `--maxschedchunk` was given (or xdist is not installed)."""
    if getattr(config.option, "maxschedchunk", "") is None:
        config.option.maxschedchunk = SCHEDULE_CHUNK


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each file of SLOW_FIRST ahead of the rest, its tests in their order (a stable sort)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# One thread of linear algebra per test process, as bot.workers sets for the bot's workers:
# the suite runs two processes on two cores, and one's OpenBLAS threads spinning against the
# other's made each encoder pass (an eval replay, a test's wirewatch run) two to three times
# slower. Set here, before anything has loaded numpy (nothing imported above does).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# A runtime's end leaves the worker processes to the next test's runtime: starting two for
# each of the suite's hundreds of runtimes was most of its time. A test that changes what
# workers read as they start (a failpoint, the encoder's folder, the memory bound) gets new
# ones (`bot.workers._get_pool`); one that needs them stopped stops them.
workers.KEEP_AFTER_RUNTIME = True


@pytest.fixture(scope="session", autouse=True)
def _workers_stopped_at_the_end() -> Iterator[None]:
    yield
    workers.shutdown_workers()


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """The encoder's weights not installed (an empty folder where they would be), in this
    process and in the workers, whose problems are said anew."""
    from bot import opinions, sentencevectors
    from bot.encoder import base, for_head
    from bot.workers import shutdown_workers

    monkeypatch.setenv("WIREWATCH_ENCODER_DIR", str(tmp_path / "empty"))
    for_head.cache_clear()
    base.cache_clear()
    monkeypatch.setattr(opinions, "_said", set())
    monkeypatch.setattr(sentencevectors, "_said", set())
    shutdown_workers()  # workers read the environment when they start
    yield
    for_head.cache_clear()
    base.cache_clear()
    shutdown_workers()


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


@pytest.fixture(scope="session")
def matcher(gazetteer: Gazetteer) -> Matcher:
    """A matcher of the built-in topics (config/topics.yaml)."""
    return Matcher(load_topics(), gazetteer)


# When `background` items were published; tests replay their items from then on.
T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


@pytest.fixture(scope="session")
def background() -> list[ReplayInput]:
    """300 unrelated real headlines of the corpus, an hour before T0: replayed first, they give
    the story index the word rarities of a working index rather than of an empty one."""
    train = Path(__file__).resolve().parents[1] / "eval" / "corpus" / "train.jsonl"
    others = [i for i in load_labelled(train) if i.label == "other"][:300]
    return [
        ReplayInput(f"bg{n}", i.title, "", T0 - timedelta(hours=1), "Background")
        for n, i in enumerate(others)
    ]


@pytest.fixture
def own_heap() -> Iterator[None]:
    """The test's process as the bot's would be: what earlier tests left on the heap set
    aside (`gc.freeze`), so that a bound on the event loop's lag measures the bot, not a
    sweep of the whole suite's leftovers by the collector (0.1-0.4 s late in a full run:
    seen failing a 0.3 s bound). What the test itself makes is collected as usual."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
