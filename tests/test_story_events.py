"""Corroboration and edits through the real pipeline: feeds served on 127.0.0.1, a real
SQLite file, the console adapter writing JSON lines (issue 13, points 1 and 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.commands import Commands, Invocation
from bot.db import APPLICATION_ID, open_database
from bot.demo.server import serve_demo
from bot.maintenance import prune
from bot.migrations import MIGRATIONS
from bot.outbox import OutboxStats
from bot.pipeline import PollResult
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.search_store import search_items
from bot.settings import Settings
from tests.feedserver import FeedServer
from tests.runtime import console_runtime

NOW = datetime.now(UTC)


def settings(tmp_path: Path, feeds: list[tuple[str, str]], **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "database": str(tmp_path / "w.db"),
        "feeds": [{"name": n, "url": u} for n, u in feeds],
        "topics": {"naval": {"query": "warship* OR destroyer*"}},
        "subscriptions": [{"topic": "naval", "channel": "console"}],
        "articles": {"fetch": False},
        "network": {"allow_private_addresses": True},
    }
    return Settings.model_validate({**data, **extra})


def feed(*items: tuple[str, str, str], title: str = "Wire") -> str:
    """RSS of (guid, title, summary) items, published 10, 20, 30... minutes ago."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{t}</title><link>https://wire.example/{guid}</link>"
        f"<description>{s}</description><pubDate>"
        f"{format_datetime(NOW - timedelta(minutes=10 * (i + 1)), usegmt=True)}</pubDate></item>"
        for i, (guid, t, s) in enumerate(items)
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
    return f"{head}{body}</channel></rss>"


SHIPS = ("g1", "US sends two warships to the Red Sea", "The destroyers will join a carrier group.")
BANK = ("g2", "Central bank holds its key rate", "The bank kept rates unchanged.")


async def republish(
    rt: Runtime, server: FeedServer, *items: tuple[str, str, str], path: str = "/rss"
) -> tuple[list[PollResult], OutboxStats]:
    """The feed now says this, and one poll reads it: each scenario's step between checks."""
    server.serve(path, feed(*items))
    return await poll_once(rt)


def kinds(console) -> list[str]:
    return [a["kind"] for a in console.alerts()]


async def test_an_edited_item_is_updated_and_its_word_diff_goes_to_the_thread(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", feed(SHIPS, BANK))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        assert kinds(console) == ["new"]
        edited = ("g1", "US sends three warships to the Red Sea", "The destroyers will join.")
        _, stats = await republish(rt, feed_server, edited, BANK)
        await poll_once(rt)  # the same version again: nothing more
        alerts = console.alerts()
        found = search_items(rt.db, "three")
    assert kinds(console) == ["new", "edit"] and stats.sent == 1
    edit = alerts[1]
    assert edit["story_id"] == alerts[0]["story_id"] and edit["outlet"] == "Wire"
    assert edit["title"] == "US sends three warships to the Red Sea"
    assert edit["edit"]["title"] == [
        {"op": "same", "text": "US sends"},
        {"op": "deleted", "text": "two"},
        {"op": "inserted", "text": "three"},
        {"op": "same", "text": "warships to the Red Sea"},
    ]
    assert edit["edit"]["summary"] == [  # words shown as the new text writes them
        {"op": "same", "text": "The destroyers will join."},
        {"op": "deleted", "text": "a carrier group."},
    ]
    assert edit["edit"]["started"] == edit["edit"]["stopped"] == []
    assert [r["title"] for r in found] == ["US sends three warships to the Red Sea"]


async def test_cosmetic_changes_are_neither_stored_nor_told(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", feed(SHIPS))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        cosmetic = (
            "g1",
            "US sends two WARSHIPS to the Red Sea!",
            "The destroyers  will join a carrier group",
        )
        await republish(rt, feed_server, cosmetic)
        events = rt.db.execute("SELECT count(*) FROM story_events").fetchone()[0]
    assert kinds(console) == ["new"] and events == 0


async def test_edits_off_stores_the_edit_quietly_and_on_tells_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", feed(SHIPS))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, console):
        cmds = Commands(rt)
        await poll_once(rt)
        off = await cmds.handle(Invocation("console", "console", "ops", "edits off"))
        listed = await cmds.handle(Invocation("console", "console", "ops", "list"))
        await republish(rt, feed_server, ("g1", "US sends three warships to the Red Sea", SHIPS[2]))
        stored = rt.db.execute("SELECT title FROM items").fetchone()[0]
        on = await cmds.handle(Invocation("console", "console", "ops", "edits on"))
        await republish(rt, feed_server, ("g1", "US sends four warships to the Red Sea", SHIPS[2]))
        bad = await cmds.handle(Invocation("console", "console", "ops", "edits maybe"))
    assert "edits are off" in off.text and "edits of stories: off" in listed.text
    assert stored == "US sends three warships to the Red Sea"
    assert "edits are on" in on.text and not bad.ok and "on or off" in bad.text
    assert kinds(console) == ["new", "edit"]
    assert console.alerts()[1]["edit"]["title"][1:3] == [
        {"op": "deleted", "text": "three"},
        {"op": "inserted", "text": "four"},
    ]


async def test_a_feed_flapping_between_two_versions_is_told_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    two = feed(SHIPS)
    three = feed(("g1", "US sends three warships to the Red Sea", SHIPS[2]))
    feed_server.serve("/rss", two)
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, console):
        for body in (two, three, two, three, two):
            feed_server.serve("/rss", body)
            await poll_once(rt)
        events = rt.db.execute(
            "SELECT count(*), sum(reported) FROM story_events WHERE kind = 'edit'"
        ).fetchone()
        title = rt.db.execute("SELECT title FROM items").fetchone()[0]
    assert kinds(console) == ["new", "edit"]
    assert tuple(events) == (4, 1) and title == SHIPS[1]  # stored as the feed has it now


async def test_an_edit_says_when_the_item_starts_or_stops_matching(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    navy = ("g3", "Navy holds a ceremony in Norfolk", "Sailors marched past the admiral.")
    feed_server.serve("/rss", feed(SHIPS, navy))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        stopped = ("g1", "US sends two ships to the Red Sea", "They will join a carrier group.")
        started = ("g3", "Navy sends warships from Norfolk", "Sailors marched past the admiral.")
        await republish(rt, feed_server, stopped, started)
        alerts = console.alerts()
    assert [a["kind"] for a in alerts] == ["new", "edit", "new"], alerts
    assert alerts[1]["edit"]["stopped"] == ["naval"] and alerts[1]["edit"]["started"] == []
    # Never told of its story before, the channel gets the item as any new alert.
    assert alerts[2]["title"] == "Navy sends warships from Norfolk"


async def test_a_feed_rewriting_all_its_entries_at_once_is_applied_quietly(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    items = [
        (f"g{i}", f"Navy sends warship number {i} to the Gulf", "It sailed.") for i in range(6)
    ]
    feed_server.serve("/rss", feed(*items))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    terms = "SELECT item_id, version, names, weights FROM story_terms ORDER BY item_id"
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        before, terms_before = len(console.alerts()), rt.db.execute(terms).fetchall()
        await republish(
            rt, feed_server, *[(g, t, "It sailed on Monday, officials said.") for g, t, _ in items]
        )
        told = rt.db.execute("SELECT sum(reported), count(*) FROM story_events").fetchone()
        terms_after = rt.db.execute(terms).fetchall()
    assert len(console.alerts()) == before and tuple(told) == (0, 6)
    # The items keep the story terms they were filed with, in the running index and for a
    # restart's rebuild alike: a rewritten window is not tokenised again at the next start.
    assert len(terms_before) == 6 and terms_after == terms_before


async def test_a_later_report_is_compared_with_what_an_edited_item_says_now(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A flash headline rewritten into the story gathers the story's later reports: the
    running bot's story index holds the edited words, and so do the terms stored for the
    index's rebuild after a restart."""
    flash = ("g1", "Breaking news", "More to follow.")
    feed_server.serve("/rss", feed(flash, BANK))
    feed_server.serve("/other", feed())
    config = settings(
        tmp_path, [("Wire", feed_server.url("/rss")), ("Other", feed_server.url("/other"))]
    )
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        told = (
            "g1",
            "Japan sends two warships to the Strait of Hormuz",
            "Two Japanese destroyers left Yokosuka for the strait on Monday.",
        )
        await republish(rt, feed_server, told, BANK)
        later = (
            "o1",
            "Japanese warships head for Hormuz strait",
            "Tokyo dispatched two destroyers to the Strait of Hormuz.",
        )
        await republish(rt, feed_server, later, path="/other")
        alerts = console.alerts()
        stored = rt.db.execute(
            "SELECT t.names FROM story_terms t JOIN items i ON i.id = t.item_id "
            "WHERE i.url = 'https://wire.example/g1'"
        ).fetchone()
    assert [(a["kind"], a["outlet"]) for a in alerts] == [("new", "Wire"), ("update", "Other")]
    assert alerts[0]["story_id"] == alerts[1]["story_id"]
    assert stored is not None and "hormuz" in stored[0] and "breaking" not in stored[0]


async def test_a_feed_rewrite_is_stored_without_waiting_for_the_rest_of_its_poll(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A rewrite is stored as soon as its feed is decided: a poll of many rewriting feeds
    (after an upgrade) never holds all their new texts at once."""
    import asyncio

    from aiohttp import web

    from bot.feed_store import active_feeds
    from bot.pipeline import WAVE_GRACE, poll_many

    items = [(f"g{i}", f"Navy sends warship number {i} to the Gulf", "Sailed.") for i in range(6)]
    feed_server.serve("/rss", feed(*items))
    slow_started, slow_answered = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if len(feed_server.requests_to("/slow")) > 1:  # the second poll: answers last, but
            slow_started.set()  # inside the wave's grace, so the wave waits for it
            await asyncio.sleep(WAVE_GRACE * 0.9)
            slow_answered.set()
        return web.Response(text=feed(), content_type="application/rss+xml")

    feed_server.handle("/slow", slow)
    config = settings(
        tmp_path, [("Wire", feed_server.url("/rss")), ("Slow", feed_server.url("/slow"))]
    )
    async with console_runtime(config) as (rt, _console):
        await poll_once(rt)
        feed_server.serve("/rss", feed(*[(g, t, "It sailed on Monday.") for g, t, _ in items]))
        poll = asyncio.create_task(poll_many(rt.pipeline, active_feeds(rt.db)))
        await asyncio.wait_for(slow_started.wait(), 5)
        stored = 0
        while not slow_answered.is_set():
            stored = rt.db.execute("SELECT count(*) FROM story_events").fetchone()[0]
            if stored:
                break
            await asyncio.sleep(0.02)
        assert stored == len(items) and not slow_answered.is_set()
        await poll


@pytest.mark.slow
async def test_a_story_is_marked_corroborated_once_across_restarts(tmp_path: Path) -> None:
    """Yonhap, AFP's copy in The Moscow Times and Al Jazeera within the hour: marked once.
    After a restart, one more outlet joining the story marks nothing again."""
    async with serve_demo() as demo, FeedServer() as extra:
        config = settings(
            tmp_path,
            [(f.name, f.url) for f in demo],
            subscriptions=[{"topic": "troop-deployments", "channel": "console"}],
        )
        async with console_runtime(config) as (rt, first):
            await poll_once(rt)
        marks = [a for a in first.alerts() if a["kind"] == "corroborated"]
        assert len(marks) == 1, first.alerts()
        assert marks[0]["outlets"] == [
            "Yonhap News Agency",
            "via AFP (The Moscow Times)",
            "Al Jazeera",
        ]
        # Al Jazeera's copy of its own report, republished by another site a little later.
        extra.serve("/rss", _aj_copy())
        more = config.model_copy(update={"feeds": [*config.feeds, _feed("Yahoo News", extra)]})
        async with console_runtime(more) as (rt, second):
            await poll_once(rt)
            events = rt.db.execute(
                "SELECT count(*) FROM story_events WHERE kind = 'corroborated'"
            ).fetchone()[0]
    assert events == 1
    assert [a["kind"] for a in second.alerts()] == ["update"], second.alerts()
    assert second.alerts()[0]["outlets"][-1] == "Al Jazeera (also Yahoo News)"


async def test_outlets_beyond_the_window_do_not_corroborate(tmp_path: Path) -> None:
    async with serve_demo() as demo:
        config = settings(
            tmp_path,
            [(f.name, f.url) for f in demo],
            subscriptions=[{"topic": "troop-deployments", "channel": "console"}],
            corroboration={"outlets": 3, "window": "30m"},  # the demo's three span 55 minutes
        )
        async with console_runtime(config) as (rt, console):
            await poll_once(rt)
    nk = [a for a in console.alerts() if "Russia" in a["title"] and "troops" in a["title"].lower()]
    assert [a["kind"] for a in nk] == ["new", "update", "update"]
    assert len(nk[-1]["outlets"]) == 3 and not nk[-1]["corroborated"]


async def test_a_report_that_matches_no_topic_does_not_corroborate(tmp_path: Path) -> None:
    # An item that only joined the story (it matches no topic, and so never reaches the
    # channel) counted as a second outlet: "corroborated" rested on a report nobody saw.
    threats = (
        "b1",
        "US and Houthis trade threats over Red Sea",
        "The US sent ships to the Red Sea, the rebels said they would respond.",
    )
    async with FeedServer() as a, FeedServer() as b:
        a.serve("/rss", feed(SHIPS, title="A"))
        b.serve("/rss", feed(threats, title="B"))
        config = settings(
            tmp_path,
            [("Wire A", a.url("/rss")), ("Wire B", b.url("/rss"))],
            corroboration={"outlets": 2, "window": "60m"},
        )
        async with console_runtime(config) as (rt, console):
            await poll_once(rt)
            stories = rt.db.execute("SELECT DISTINCT story_id FROM items").fetchall()
            first = [x["kind"] for x in console.alerts()]
            b.serve(
                "/rss",
                feed(
                    threats,
                    ("b2", "Pentagon sends warships to the Red Sea", "Two destroyers were sent."),
                    title="B",
                ),
            )
            await poll_once(rt)
    assert len(stories) == 1  # the threats joined the warships' story, as the case needs
    assert first == ["new"], first
    kinds = [(x["kind"], sorted(x["outlets"])) for x in console.alerts()]
    listed = {s["title"] for x in console.alerts() for s in x["sources"]}
    assert threats[1] not in listed, listed  # nor is it among the story's sources
    assert kinds[0] == ("new", ["Wire A"]), kinds
    # Wire B's own report of the warships (it matches) corroborates.
    assert kinds[1:] == [("update", ["Wire A", "Wire B"]), ("corroborated", ["Wire A", "Wire B"])]


def _feed(name: str, server: FeedServer):
    from bot.settings import FeedSettings

    return FeedSettings(name=name, url=server.url("/rss"))


def _aj_copy() -> str:
    # Ten minutes after the demo's Al Jazeera report (2h15m before the demo's now): the
    # clock read now, not at import, or a slow run would make the copy the earlier one.
    when = format_datetime(datetime.now(UTC) - timedelta(hours=2, minutes=5), usegmt=True)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Yahoo</title><item>'
        "<guid>yahoo-1</guid><title>North Korea has sent more troops to Russia, South Korea "
        "says</title><link>https://yahoo.example/nk</link><description>Seoul’s intelligence "
        "agency says Pyongyang redeployed troops to the front in Russia’s Kursk region after "
        f"suffering heavy casualties.</description><pubDate>{when}</pubDate></item>"
        "</channel></rss>"
    )


def test_a_database_of_the_previous_schema_keeps_its_deliveries_and_gets_digests(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    old = sqlite_utils.Database(path)
    for step in MIGRATIONS[:7]:
        step(old)
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old.execute("PRAGMA user_version = 7")
    stamp = "2025-02-27T08:00:00.000000Z"
    old.execute(
        "INSERT INTO feeds (url, name, next_poll, created) VALUES ('https://a/', 'A', ?, ?)",
        [stamp, stamp],
    )
    old.execute(
        "INSERT INTO stories (title, first_seen, last_seen) VALUES ('t', ?, ?)", [stamp, stamp]
    )
    old.execute(
        "INSERT INTO items (feed_id, identity, title, summary, published, first_seen, story_id) "
        "VALUES (1, 'g1', 'Troops sent', 'Brigades arrived.', ?, ?, 1)",
        [stamp, stamp],
    )
    old.execute(
        "INSERT INTO subscriptions (channel, topic, created) VALUES ('console', 't', ?)", [stamp]
    )
    old.execute(
        "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
        "next_attempt, created, message_id) VALUES (1, 'console', 1, 1, 'new', 'sent', ?, ?, 'm1')",
        [stamp, stamp],
    )
    old.conn.commit()
    old.close()
    db = open_database(path)
    row = db.execute("SELECT kind, status, message_id, event_id FROM deliveries").fetchone()
    assert tuple(row) == ("new", "sent", "m1", 0)
    assert db.execute("SELECT digest FROM items").fetchone()[0]
    indexes = {
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'deliveries'")
    }
    assert {"deliveries_status", "deliveries_open", "deliveries_story"} <= indexes
    # The item's own alert stays unique; an event of it is another delivery.
    insert = (
        "INSERT OR IGNORE INTO deliveries (subscription_id, channel, story_id, item_id, kind, "
        "status, next_attempt, created, event_id) "
        "VALUES (1, 'console', 1, 1, ?, 'pending', ?, ?, ?)"
    )
    assert db.execute(insert, ["update", stamp, stamp, 0]).rowcount == 0
    assert db.execute(insert, ["edit", stamp, stamp, 7]).rowcount == 1
    db.execute("PRAGMA foreign_key_check").fetchall()


async def test_prune_takes_an_item_edits_with_it(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/rss", feed(SHIPS))
    config = settings(tmp_path, [("Wire", feed_server.url("/rss"))])
    async with console_runtime(config) as (rt, _):
        await poll_once(rt)
        await republish(rt, feed_server, ("g1", "US sends three warships", SHIPS[2]))
        rt.db.execute("UPDATE items SET published = '2020-01-01T00:00:00.000000Z'")
        rt.db.execute("UPDATE stories SET last_seen = '2020-01-01T00:00:00.000000Z'")
        done = prune(rt.db, 86400.0, 3600.0, vacuum=False)
        left = rt.db.execute("SELECT count(*) FROM story_events").fetchone()[0]
    assert done.items == 1 and left == 0
