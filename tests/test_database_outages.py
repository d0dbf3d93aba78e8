"""The database held by another process while the bot runs: each step fails with one clear
line, nothing is lost, and once the lock is gone every alert goes out once.

`sqlite3 w.db 'begin exclusive'` held for longer than the busy timeout (a backup tool, a
long prune, a person poking at the file) made every outbox tick log `job.crashed` with a
traceback, as if wirewatch had a bug, burying the reason in the middle of it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from bot import db as dbmod
from bot.feed_store import active_feeds
from bot.loop import OUTBOX_TICK, run_forever
from bot.pipeline import poll_many
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, make_settings, recent
from tests.waiting import until

pytestmark = pytest.mark.slow
TITLES = (
    "Britain deploys 500 troops to Estonia",
    "Japan dispatches destroyers to the Gulf of Aden",
)


def _rss() -> str:
    items = "".join(
        f"<item><title>{t}</title><guid>g{i}</guid><link>https://x.example/{i}</link>"
        f"<description>{t}.</description><pubDate>{recent(3)}</pubDate></item>"
        for i, t in enumerate(TITLES)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{items}</channel></rss>"
    )


async def test_a_database_locked_by_another_process_is_said_in_one_line_and_loses_nothing(
    tmp_path, feed_server: FeedServer, caplog, monkeypatch
) -> None:
    caplog.set_level(logging.INFO)
    # A write waits 0.5 s for the lock, not the bot's 5 s: the ticks meet it sooner, alike.
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 500)
    feed_server.serve("/wire", _rss())
    settings = make_settings(tmp_path / "w.db", [("Wire", feed_server.url("/wire"))])
    async with console_runtime(settings) as (rt, console):
        await poll_many(rt.pipeline, active_feeds(rt.db))  # stored, waiting to be sent
        other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop, grace=0.5))
        try:
            # A few ticks meet the lock.
            assert await until(lambda: len(_failed(caplog, crashed=True)) >= 3, 30)
            assert console.alerts() == []
            other.execute("COMMIT")
            assert await until(lambda: len(console.alerts()) >= len(TITLES), 20)
            await asyncio.sleep(OUTBOX_TICK + 1.0)  # the tick after the one that sent
        finally:
            stop.set()
            await asyncio.wait_for(runner, timeout=10)
            other.close()
    assert sorted(a["title"] for a in console.alerts()) == sorted(TITLES)
    failed = _failed(caplog)
    assert failed and all("is locked" in r.getMessage() for r in failed)
    assert all(r.exc_info is None for r in failed)
    assert not [r for r in caplog.records if "job.crashed" in r.getMessage()]


def _failed(caplog: pytest.LogCaptureFixture, *, crashed: bool = False) -> list[logging.LogRecord]:
    """The jobs' failures logged (with `crashed`, their crashes as well)."""
    said = ("job.failed", "job.crashed") if crashed else ("job.failed",)
    return [r for r in caplog.records if r.getMessage().startswith(said)]
