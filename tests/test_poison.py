"""Poison in one item or one feed stays there: the bot keeps polling, alerting and starting.

Each case goes through a real poll (feeds served on 127.0.0.1) and a restart (a new runtime
on the same SQLite file, which reloads the story index): an item dated in year 24, dates
in the database that cannot be read, and a real feed cut inside <image> that makes
feedparser itself raise.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from bot import metrics
from bot.cli import main
from bot.clock import parse_iso, utcnow
from bot.feed_store import find_feed
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from tests.runtime import console_runtime

DATA = Path(__file__).parent / "data"
FIRST = "Poland deploys 2,000 troops to the Belarus border"
SECOND = "Japan dispatches destroyers to the Gulf of Aden"


def _rss(*items: tuple[str, str, str]) -> str:
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><pubDate>{date}</pubDate>"
        f"<description>{title}, officials said.</description></item>"
        for guid, title, date in items
    )
    head = "<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>"
    return f"{head}{body}</channel></rss>"


def _config(tmp_path: Path, url: str, max_failures: int = 10) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"max_failures: {max_failures}\nfeeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


def _stored(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT title, published, first_seen FROM items ORDER BY id").fetchall()
    conn.close()
    return rows


async def test_an_item_dated_in_year_24_is_taken_as_undated_and_never_stops_a_restart(
    tmp_path, feed_server, caplog
):
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    ahead = format_datetime(utcnow() + timedelta(days=3))
    opening = ("z", "Markets open", format_datetime(utcnow()))
    feed_server.serve("/rss", _rss(opening))  # first contact: undated items would be old
    config = _config(tmp_path, feed_server.url("/rss"))
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
        feed_server.serve(
            "/rss",
            _rss(
                ("a", FIRST, "Mon, 01 Jan 0024 08:00:00 GMT"),
                ("b", "Markets rally", ahead),
                opening,
            ),
        )
        await poll_once(rt)
        await poll_once(rt)  # the same items again: nothing new, nothing said again
    assert [a["title"] for a in console.alerts()] == [FIRST]
    for title, published, first_seen in _stored(tmp_path / "w.db"):
        assert published[:4].isdigit() and published[4] == "-", published
        # Undated: the time it was fetched, which is when it was first seen.
        seen = parse_iso(published) - parse_iso(first_seen)
        assert abs(seen) < timedelta(seconds=30), (title, published, first_seen)
    ignored = [r.getMessage() for r in caplog.records if "item.date_ignored" in r.getMessage()]
    assert len(ignored) == 2 and "0024-01-01" in ignored[0] and "item=guid:a" in ignored[0]

    # Restart: the story index is loaded back; a follow-up from another outlet joins the story.
    feed_server.serve("/rss", _rss(("c", FIRST + ", officials say", "Tue, 02 Jan 0024")))
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    assert [(a["kind"], a["title"]) for a in console.alerts()] == [
        ("update", FIRST + ", officials say")
    ]


async def test_unreadable_stored_dates_never_stop_a_start_a_poll_or_a_delivery(
    tmp_path, feed_server
):
    now = format_datetime(utcnow())
    feed_server.serve("/rss", _rss(("a", FIRST, now)))
    config = _config(tmp_path, feed_server.url("/rss"))
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    assert len(console.alerts()) == 1
    # What older versions (`24-01-01T...`), hand edits or other tools may have left behind;
    # the story's first item now waits to be delivered again, with a date nobody can read.
    conn = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    conn.execute("UPDATE items SET published = 'last Tuesday'")
    conn.execute("UPDATE deliveries SET status = 'pending', message_id = NULL")
    conn.close()
    _forget_saved_index(tmp_path)  # so that the restart reads every stored date

    feed_server.serve("/rss", _rss(("a", FIRST, now), ("b", FIRST + ", Warsaw says", now)))
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    alerts = console.alerts()
    assert [(a["kind"], a["title"]) for a in alerts] == [
        ("new", FIRST),
        ("update", FIRST + ", Warsaw says"),
    ]
    first_seen = _stored(tmp_path / "w.db")[0][2]
    assert alerts[0]["published"] == first_seen[:19] + "Z"  # the first-seen time stands in

    conn = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    conn.execute("UPDATE items SET published = '24-01-01T08:00:00.000000Z'")  # 0.1's format
    conn.close()
    _forget_saved_index(tmp_path)
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
        assert len(rt.pipeline.index) == 0  # read as year 24: outside the story window


def _forget_saved_index(tmp_path: Path) -> None:
    saved = tmp_path / "w.db.storyindex"
    assert saved.exists()
    saved.unlink()


def _failures(cause: str) -> float:
    value = metrics.REGISTRY.get_sample_value("wirewatch_feed_failures_total", {"cause": cause})
    return value or 0.0


async def test_a_feed_that_makes_feedparser_raise_is_that_feeds_failure(
    tmp_path, feed_server, caplog, capfd
):
    """A real feed cut inside <image>: feedparser raises TypeError in `_end_width`."""
    feed_server.serve("/cut", (DATA / "truncated-image.xml").read_bytes())
    feed_server.serve("/rss", _rss(("a", FIRST, format_datetime(utcnow()))))
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\nmax_failures: 3\n"
        f"feeds:\n  - {{name: Cut, url: '{feed_server.url('/cut')}'}}\n"
        f"  - {{name: Wire, url: '{feed_server.url('/rss')}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    caplog.set_level(logging.INFO)
    before = _failures("parse")
    async with console_runtime(load_settings(config)) as (rt, console):
        results = {r.feed: r for r in (await poll_once(rt))[0]}
        cut = find_feed(rt.db, "Cut")
        for _ in range(2):
            await poll_once(rt)
        disabled = find_feed(rt.db, "Cut")
    assert results["Wire"].ok and [a["title"] for a in console.alerts()] == [FIRST]
    assert not results["Cut"].ok and cut.failures == 1
    assert "TypeError" in cut.last_error and "\n" not in cut.last_error
    wait = parse_iso(cut.next_poll) - parse_iso(cut.last_polled)
    assert wait >= timedelta(minutes=4), "backed off like a fetch error, not polled every tick"
    assert disabled.disabled and disabled.failures == 3
    assert _failures("parse") - before == 3
    lines = [r for r in caplog.records if "Cut" in r.getMessage() and r.levelno >= logging.INFO]
    assert len([r for r in lines if "poll.failed" in r.getMessage()]) == 3
    assert not [r for r in lines if r.exc_info], "a traceback only at debug level"

    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config)]) == 0
    shown = capfd.readouterr().out
    assert "DISABLED (3 failures in a row; last: the parser failed on this feed: TypeError" in (
        shown
    )


def test_every_stored_timestamp_has_a_four_digit_year():
    from bot.clock import iso, iso_short, later

    early = datetime(24, 1, 1, 8, tzinfo=UTC)
    assert iso(early) == "0024-01-01T08:00:00.000000Z"
    assert iso_short(early) == "0024-01-01T08:00:00Z"
    assert parse_iso(iso(early)) == early
    assert parse_iso("24-01-01T08:00:00.000000Z") == early  # as wirewatch 0.1 wrote it
    assert len(later(0)) == len("2025-02-27T08:00:00.000000Z")
