"""`wirewatch poll` under a cron sends the digests that are due, as `run` does."""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import main
from bot.clock import iso
from bot.db import open_database
from tests.feedserver import FeedServer
from tests.test_digest_feedback import _config, _serve


async def _poll(config: Path) -> str:
    """One `wirewatch poll --once`; what it printed on stdout (the feeds are served on this
    loop, so the command runs on a thread)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(config)]) == 0
    return printed.getvalue()


async def test_a_cron_poll_posts_a_digest_once_it_is_due(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A `mode: digest` subscription under a cron's `poll` had its stories queued and never
    posted: only `run`'s scheduler sent digests."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, ["console"])
    assert "== DIGEST" not in await _poll(config)  # queued now: due one digest_every (1h) on

    db = open_database(tmp_path / "w.db")
    two_hours_ago = iso(datetime.now(UTC) - timedelta(hours=2))
    db.execute("UPDATE deliveries SET created = ?", [two_hours_ago])
    db.conn.commit()
    db.close()

    printed = await _poll(config)
    assert printed.startswith("== DIGEST\nwirewatch digest · troop-deployments · 2 stories\n")
    assert "== DIGEST" not in await _poll(config)  # the next is an hour after this one
