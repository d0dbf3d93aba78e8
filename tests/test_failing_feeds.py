"""Feeds that keep failing: backed off exponentially, disabled, explained, announced once, revived.

A real feed server answers errors; the real pipeline polls it (`poll_once` polls every active
feed whatever its `next_poll`, so each call is one more failure). What a moderator sees is
checked where they see it: `wirewatch feeds` and the console's "wirewatch notice:" line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.cli import main
from bot.clock import parse_iso, utcnow
from bot.feed_store import FeedRow, add_feed, find_feed
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from tests.runtime import console_runtime, recent

TITLE = "Poland deploys 2,000 troops to the Belarus border"
FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item>"
    f"<title>{TITLE}</title><guid>w1</guid><description>Warsaw sent troops.</description>"
    f"<pubDate>{recent()}</pubDate>"
    "</item></channel></rss>"
)
NOTICE = "wirewatch notice:"


def _config(tmp_path: Path, url: str, max_failures: int = 4) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"max_failures: {max_failures}\nfeeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


def _wait(feed: FeedRow) -> float:
    """Seconds between the last poll and the next one the scheduler will make."""
    assert feed.last_polled is not None
    return (parse_iso(feed.next_poll) - parse_iso(feed.last_polled)).total_seconds()


async def test_backoff_doubles_then_the_feed_is_disabled_explained_and_announced_once(
    tmp_path, feed_server, capfd
):
    feed_server.serve("/rss", "oops", status=500, content_type="text/plain")
    config = _config(tmp_path, feed_server.url("/rss"))
    async with console_runtime(load_settings(config)) as (rt, _):
        waits = []
        for _ in range(3):
            await poll_once(rt)
            feed = find_feed(rt.db, "Wire")
            waits.append(_wait(feed))
            assert not feed.disabled and "HTTP 500" in feed.last_error
        capfd.readouterr()
        await poll_once(rt)  # the fourth failure in a row
        disabled = find_feed(rt.db, "Wire")
        first_notice = capfd.readouterr().err
        polled = len(feed_server.requests_to("/rss"))
        await poll_once(rt)  # a disabled feed is left alone and nobody is told twice
        later_notice = capfd.readouterr().err
        notices = rt.db.execute("SELECT count(*) FROM notices").fetchone()[0]
    for n, wait in enumerate(waits):
        assert 300 * 2**n * 0.85 <= wait <= 300 * 2**n * 1.15, waits
    assert disabled.disabled and disabled.failures == 4
    assert disabled.disabled_reason.startswith("4 failures in a row")
    assert "HTTP 500" in disabled.disabled_reason
    assert first_notice.count(NOTICE) == 1 and "Wire" in first_notice
    assert "HTTP 500" in first_notice
    assert NOTICE not in later_notice and notices == 1
    assert len(feed_server.requests_to("/rss")) == polled == 4

    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config)]) == 0
    shown = capfd.readouterr().out
    assert "DISABLED (4 failures in a row; last:" in shown and "HTTP 500" in shown


async def test_retry_after_is_honoured_when_longer_than_the_backoff(tmp_path, feed_server):
    feed_server.serve("/rss", "slow down", status=429, headers={"Retry-After": "7200"})
    async with console_runtime(load_settings(_config(tmp_path, feed_server.url("/rss")))) as (
        rt,
        _,
    ):
        await poll_once(rt)
        feed = find_feed(rt.db, "Wire")
    assert _wait(feed) >= 7200 and "429" in feed.last_error


async def test_a_feed_the_server_says_is_gone_is_disabled_at_once_and_announced(
    tmp_path, feed_server, capfd
):
    feed_server.serve("/rss", "gone", status=410, content_type="text/plain")
    async with console_runtime(load_settings(_config(tmp_path, feed_server.url("/rss")))) as (
        rt,
        _,
    ):
        capfd.readouterr()
        await poll_once(rt)
        feed = find_feed(rt.db, "Wire")
        notice = capfd.readouterr().err
        await poll_once(rt)
    assert feed.disabled and feed.failures == 1 and "410" in feed.disabled_reason
    assert notice.count(NOTICE) == 1 and "gone for good" in notice and "410" in notice
    assert len(feed_server.requests_to("/rss")) == 1  # never asked again


async def test_a_failing_feed_is_never_asked_more_often_than_its_interval(tmp_path, feed_server):
    # A feed polled once a day that starts failing: the backoff's 5 minutes would poll it
    # hundreds of times more often than when it was healthy.
    feed_server.serve("/rss", "oops", status=500, content_type="text/plain")
    config = _config(tmp_path, feed_server.url("/rss"))
    config.write_text(
        config.read_text().replace("name: Wire,", "name: Wire, interval: 1d,"), encoding="utf-8"
    )
    async with console_runtime(load_settings(config)) as (rt, _):
        waits = []
        for _ in range(2):
            await poll_once(rt)
            waits.append(_wait(find_feed(rt.db, "Wire")))
    assert all(wait >= 24 * 3600 for wait in waits), waits


async def test_a_success_in_between_resets_the_count(tmp_path, feed_server):
    config = _config(tmp_path, feed_server.url("/rss"), max_failures=2)
    async with console_runtime(load_settings(config)) as (rt, console):
        feed_server.serve("/rss", "down", status=503)
        await poll_once(rt)
        feed_server.serve("/rss", FEED)
        await poll_once(rt)
        assert find_feed(rt.db, "Wire").failures == 0
        feed_server.serve("/rss", "down", status=503)
        await poll_once(rt)
        feed = find_feed(rt.db, "Wire")
    assert feed.failures == 1 and not feed.disabled
    assert [a["title"] for a in console.alerts()] == [TITLE]


async def test_adding_a_disabled_feed_again_revives_it(tmp_path, feed_server, capfd):
    url = feed_server.url("/rss")
    async with console_runtime(load_settings(_config(tmp_path, url, max_failures=1))) as (
        rt,
        console,
    ):
        feed_server.serve("/rss", "gone wrong", status=502)
        await poll_once(rt)
        assert find_feed(rt.db, "Wire").disabled
        feed_server.serve("/rss", FEED)
        revived = add_feed(rt.db, url, "Wire", origin="chat")  # as `feeds add` revives it
        assert not revived.disabled and revived.failures == 0 and revived.disabled_reason is None
        assert parse_iso(revived.next_poll) <= utcnow()  # due at once: no command polls it here
        await poll_once(rt)
        feed = find_feed(rt.db, "Wire")
    assert feed.last_error is None and not feed.disabled
    assert [a["title"] for a in console.alerts()] == [TITLE]


async def test_a_revived_feed_that_fails_again_is_announced_again(tmp_path, feed_server, capfd):
    url = feed_server.url("/rss")
    feed_server.serve("/rss", "gone wrong", status=502)
    async with console_runtime(load_settings(_config(tmp_path, url, max_failures=1))) as (rt, _):
        capfd.readouterr()
        await poll_once(rt)
        add_feed(rt.db, url, "Wire", origin="chat")
        await poll_once(rt)
        assert find_feed(rt.db, "Wire").disabled
    assert capfd.readouterr().err.count(NOTICE) == 2
