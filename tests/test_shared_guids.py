"""Feeds that give one guid (or one link) to every report: each report is its own item and
alert, a correction of one is an edit of it, and polling the same body again changes nothing.

Through the real pipeline: feeds served on 127.0.0.1, a real SQLite file, the console
adapter writing JSON lines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.feeds.parse import parse_feed
from bot.poll_cycle import poll_once
from bot.settings import Settings
from tests.feedserver import FeedServer
from tests.runtime import console_runtime

HOME = "https://latest.example/"
SHIPS = (
    "US sends two warships to the Red Sea",
    "The destroyers will join a carrier group off Yemen, the Pentagon said.",
)
HORMUZ = (
    "Japan dispatches a destroyer to the Strait of Hormuz",
    "The Japanese navy ship left Yokosuka on Monday to escort tankers through the strait.",
)
HORMUZ_REWORDED = (
    "Japan dispatches a second destroyer to the Strait of Hormuz",
    HORMUZ[1],
)
BALTIC = (
    "German frigate and Dutch warships exercise in the Baltic",
    "Naval drills near Gotland tested mine clearance and air defence over three days.",
)


def settings(tmp_path: Path, url: str) -> Settings:
    data: dict[str, Any] = {
        "database": str(tmp_path / "w.db"),
        "feeds": [{"name": "Latest", "url": url}],
        "topics": {"naval": {"query": "warship* OR destroyer* OR frigate*"}},
        "subscriptions": [{"topic": "naval", "channel": "console"}],
        "articles": {"fetch": False},
        "network": {"allow_private_addresses": True},
    }
    return Settings.model_validate(data)


def rss(*reports: tuple[str, str], guid: str | None, link: str | None) -> str:
    """RSS of (title, summary) reports, all with `guid` and `link` (None: left out; "each":
    one of their own, made of the summary's first words), published 10, 20, 30... minutes
    ago."""
    items = []
    for i, (title, summary) in enumerate(reports):
        when = format_datetime(datetime.now(UTC) - timedelta(minutes=10 * (i + 1)), usegmt=True)
        own = HOME + "story/" + "-".join(summary.lower().split()[:5])
        parts = [f"<title>{title}</title><description>{summary}</description>"]
        if guid is not None:
            parts.append(f"<guid isPermaLink='false'>{own if guid == 'each' else guid}</guid>")
        if link is not None:
            parts.append(f"<link>{own if link == 'each' else link}</link>")
        items.append(f"<item>{''.join(parts)}<pubDate>{when}</pubDate></item>")
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Latest</title>'
    return f"{head}{''.join(items)}</channel></rss>"


# One guid for all, with each report's own link or the home page's; or no guid and one link.
SHARED = pytest.mark.parametrize(
    ("guid", "link"),
    [("latest-headline", "each"), (HOME, HOME), (None, HOME)],
    ids=["one-guid", "one-guid-one-link", "one-link"],
)


def kinds(console: Any) -> list[str]:
    return [a["kind"] for a in console.alerts()]


@SHARED
async def test_a_new_report_under_the_same_guid_is_a_new_alert_and_its_correction_an_edit(
    tmp_path: Path, feed_server: FeedServer, guid: str | None, link: str | None
) -> None:
    feed_server.serve("/rss", rss(SHIPS, guid=guid, link=link))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/rss", rss(HORMUZ, guid=guid, link=link))
        await poll_once(rt)
        await poll_once(rt)  # the same body again: nothing more
        feed_server.serve("/rss", rss(HORMUZ_REWORDED, guid=guid, link=link))
        await poll_once(rt)
        await poll_once(rt)
        alerts = console.alerts()
        titles = [r[0] for r in rt.db.execute("SELECT title FROM items ORDER BY id")]
    assert [a["kind"] for a in alerts] == ["new", "new", "edit"], alerts
    assert [a["title"] for a in alerts[:2]] == [SHIPS[0], HORMUZ[0]]
    assert alerts[1]["story_id"] != alerts[0]["story_id"]
    assert alerts[2]["story_id"] == alerts[1]["story_id"]  # in the Hormuz story's thread
    assert alerts[2]["edit"]["title"][1] == {"op": "inserted", "text": "second"}
    assert titles == [SHIPS[0], HORMUZ_REWORDED[0]]  # the first report stays as it was


@SHARED
async def test_three_reports_sharing_one_guid_in_one_body_are_three_items_once(
    tmp_path: Path, feed_server: FeedServer, guid: str | None, link: str | None
) -> None:
    body = rss(HORMUZ, SHIPS, BALTIC, guid=guid, link=link)
    feed_server.serve("/rss", body)
    config = settings(tmp_path, feed_server.url("/rss"))
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        await poll_once(rt)
        first = kinds(console)
        count = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    # After a restart, the same body (even listed in another order) is nothing new either.
    feed_server.serve("/rss", rss(BALTIC, HORMUZ, SHIPS, guid=guid, link=link))
    async with console_runtime(config) as (rt, console):
        await poll_once(rt)
        after = kinds(console)
        again = rt.db.execute("SELECT count(*), count(DISTINCT identity) FROM items").fetchone()
    assert first == ["new", "new", "new"] and count == 3
    assert after == [] and tuple(again) == (3, 3)


async def test_a_report_listed_twice_under_one_guid_is_one_item(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", rss(HORMUZ_REWORDED, HORMUZ, guid="g", link=None))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        titles = [r[0] for r in rt.db.execute("SELECT title FROM items")]
    assert kinds(console) == ["new"] and titles == [HORMUZ_REWORDED[0]]  # as first listed


async def test_a_new_report_beside_an_old_one_under_one_guid_alerts_alone(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A single-item feed that starts listing two: the old report stays its item, the new
    one is new, whichever the feed lists first."""
    feed_server.serve("/rss", rss(SHIPS, guid="g", link=HOME))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/rss", rss(HORMUZ, SHIPS, guid="g", link=HOME))
        await poll_once(rt)
        await poll_once(rt)
        alerts = console.alerts()
        count = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert [(a["kind"], a["title"]) for a in alerts] == [("new", SHIPS[0]), ("new", HORMUZ[0])]
    assert count == 2


async def test_an_ordinary_guid_rewritten_into_its_story_is_still_an_edit(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A flash ("Breaking news") says too little to tell it from its story: completed, it is
    an edit of itself, as ever; a reworded headline too."""
    flash = ("Breaking: warship incident", "More to follow.")
    feed_server.serve("/rss", rss(flash, guid="g1", link="each"))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/rss", rss(SHIPS, guid="g1", link="each"))
        await poll_once(rt)
        count = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert kinds(console) == ["new", "edit"] and count == 1


def test_parse_keeps_each_report_of_one_guid_under_its_own_identity() -> None:
    body = rss(HORMUZ, SHIPS, HORMUZ_REWORDED, BALTIC, guid="g", link=None).encode()
    entries = parse_feed(body, feed_url="https://latest.example/rss").entries
    identities = [e.identity for e in entries]
    # The reworded Hormuz report is kept here; the pipeline reads it as the first one's
    # version (test_a_report_listed_twice_under_one_guid_is_one_item).
    assert [e.title for e in entries] == [HORMUZ[0], SHIPS[0], HORMUZ_REWORDED[0], BALTIC[0]]
    assert identities[0] == "guid:g" and len(set(identities)) == 4
    assert all(i.startswith("guid:g ~") for i in identities[1:])
    again = parse_feed(body, feed_url="https://moved.example/feed").entries
    assert [e.identity for e in again] == identities  # stable, whatever the feed's URL


@pytest.mark.parametrize(("guid", "link"), [(HOME, HOME), (None, HOME)], ids=["guid", "link"])
async def test_a_daily_briefing_under_one_title_guid_and_link_is_news_every_day(
    tmp_path: Path, feed_server: FeedServer, guid: str | None, link: str | None
) -> None:
    """Same headline, same guid, same link, another text: another report."""
    monday = ("Naval briefing", SHIPS[1] + " " + HORMUZ[1])
    tuesday = ("Naval briefing", BALTIC[1] + " A Dutch frigate led the exercise.")
    feed_server.serve("/rss", rss(monday, guid=guid, link=link))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/rss", rss(tuesday, guid=guid, link=link))
        await poll_once(rt)
        await poll_once(rt)
        summaries = [r[0] for r in rt.db.execute("SELECT summary FROM items ORDER BY id")]
    assert kinds(console) == ["new", "new"] and summaries == [monday[1], tuesday[1]]


async def test_a_report_like_one_of_long_ago_under_one_guid_is_new_not_its_edit(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """An edit is of a report the feed gave lately: a single-item feed's report that reads
    like one it gave several reports ago (a recurring exercise) is news of its own."""
    drill = ("Warships exercise off Sardinia", "Italian and Spanish crews drilled for a week.")
    again = ("Warships exercise off Sardinia", "Italian and Greek crews drilled for a week.")
    between = [
        SHIPS,
        HORMUZ,
        BALTIC,
        ("India commissions a stealth frigate in Mumbai", "The INS Tamal joins the western fleet."),
        ("Chilean destroyer rescues fishermen off Valparaiso", "Nine crew were pulled aboard."),
    ]
    feed_server.serve("/rss", rss(drill, guid="g", link=HOME))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        for report in [*between, again]:
            feed_server.serve("/rss", rss(report, guid="g", link=HOME))
            await poll_once(rt)
        count = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    # Its own item (an update of the first drill's story, by its words), not an edit of it.
    assert kinds(console)[-1] != "edit" and count == 7


async def test_the_feeds_own_article_under_a_new_guid_is_not_posted_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A CMS that gives an article a new guid when it is updated (same link, headline
    reworded): the same report, filed in its story without a post, as another feed's copy
    of the article is; a feed's other report under its one link still alerts."""
    link = "https://news.example/2026/hormuz-destroyer"
    updated = (
        "Japan sends destroyer to Strait of Hormuz to escort tankers",
        HORMUZ[1] + " Officials confirmed the departure.",
    )
    feed_server.serve("/rss", rss(HORMUZ, guid="cms-1001", link=link))
    async with console_runtime(settings(tmp_path, feed_server.url("/rss"))) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/rss", rss(updated, guid="cms-1001-v2", link=link))
        await poll_once(rt)
        await poll_once(rt)
        stories = {r[0] for r in rt.db.execute("SELECT story_id FROM items")}
        assert kinds(console) == ["new"] and len(stories) == 1
        feed_server.serve("/rss", rss(SHIPS, guid="cms-2002", link=link))
        await poll_once(rt)
    assert kinds(console) == ["new", "new"]
