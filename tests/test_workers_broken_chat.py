"""Chat says so when wirewatch's worker processes cannot start, in words a moderator can act on.

/healthz, `poll` and the log already told the operator (tests/test_pool_canary.py); chat's
`feeds add` answered "something went wrong on wirewatch's side" and `status` read as all
well. WIREWATCH_FAILPOINT=worker_start has every real worker process SIGKILL itself as it
starts (bot.failpoints), as a broken install or a memory limit would; the commands, the
runtime, SQLite and the feed server on 127.0.0.1 are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from bot.commands import Commands, Invocation, Reply
from bot.feed_store import list_feeds
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from bot.workers import shutdown_workers
from tests.feedserver import FeedServer
from tests.runtime import recent

MOD, CHANNEL = "UMOD", "slack:C0NEWS"
FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item>"
    "<title>Poland deploys 2,000 troops to the Belarus border</title><guid>w1</guid>"
    f"<link>https://w.example/1</link><pubDate>{recent()}</pubDate></item></channel></rss>"
)


@contextmanager
def workers_die(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every worker started within dies as it starts; the ones started after it work."""
    monkeypatch.setenv("WIREWATCH_FAILPOINT", "worker_start")
    shutdown_workers()  # workers read the environment when they start
    try:
        yield
    finally:
        monkeypatch.delenv("WIREWATCH_FAILPOINT")
        shutdown_workers()  # and the pool's verdict goes with them: the host is mended


@pytest_asyncio.fixture
async def rt(tmp_path: Path, feed_server: FeedServer) -> AsyncIterator[Runtime]:
    feed_server.serve("/rss", FEED)
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "network": {"allow_private_addresses": True},
            "articles": {"fetch": False},
            "slack": {"moderators": [MOD]},
        }
    )
    async with open_runtime(settings, {}) as runtime:
        yield runtime


async def _run(rt: Runtime, text: str) -> Reply:
    return await Commands(rt).handle(Invocation("slack", CHANNEL, MOD, text))


async def test_feeds_add_while_no_worker_can_start_says_so_and_adds_nothing(
    rt: Runtime, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.url("/rss")
    with workers_die(monkeypatch):
        reply = await _run(rt, f"feeds add {url}")
    assert not reply.ok
    assert "something went wrong" not in reply.text, reply.text
    assert f"{url} was not added" in reply.text, reply.text
    assert "worker processes cannot start" in reply.text
    assert "Tell whoever runs wirewatch" in reply.text
    assert list_feeds(rt.db) == []  # only a feed that was read is added
    again = await _run(rt, f"feeds add {url}")  # as the answer says, once they work
    assert again.ok and "added `Wire`" in again.text, again.text
    assert [f.name for f in list_feeds(rt.db)] == ["Wire"]


async def test_status_in_chat_says_no_feed_is_read_while_no_worker_can_start(
    rt: Runtime, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await _run(rt, f"feeds add {feed_server.url('/rss')}")).ok
    calm = await _run(rt, "status")
    assert "NO FEED IS READ" not in calm.text, calm.text
    with workers_die(monkeypatch):
        results, _ = await poll_once(rt)  # the poll finds no worker that can parse
        said = await _run(rt, "status")
    assert [r.ok for r in results] == [False]
    [line] = [ln for ln in said.text.splitlines() if "NO FEED IS READ" in ln]
    assert "the worker processes cannot work" in line, said.text
    assert "none counted failing" in line and "tell whoever runs wirewatch" in line
    assert "0 failing" in said.text  # the feed is not blamed
    after = await _run(rt, "status")  # the host mended (a restart forgets the verdict)
    assert "NO FEED IS READ" not in after.text, after.text
