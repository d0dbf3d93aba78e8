"""The demo's bundled feeds and pages, served on 127.0.0.1 and read back as a poller would."""

from __future__ import annotations

import calendar
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import feedparser
import pytest

import bot.demo
from bot.demo.server import DEMO_OUTLETS, render, serve_demo

PINNED = datetime(2025, 2, 27, 12, 0, tzinfo=UTC)
EXPECTED_ITEMS = {"yonhap.xml": 6, "aljazeera.xml": 6, "moscowtimes.xml": 5}
FEED_TYPES = {
    "yonhap.xml": "application/rss+xml",
    "aljazeera.xml": "application/rss+xml",
    "moscowtimes.xml": "application/atom+xml",
}
PLACEHOLDER = re.compile(r"\{(?:NOW|BASE)|\{[A-Z]+[-+:}]")
DATA = Path(bot.demo.__file__).parent


async def fetch(session: aiohttp.ClientSession, url: str, **headers: str):
    async with session.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


async def served_feeds(now: datetime | None = None) -> dict[str, tuple[str, dict, bytes]]:
    """Every demo feed as fetched: file name -> (outlet, headers, body)."""
    out = {}
    async with serve_demo(now=now) as feeds, aiohttp.ClientSession() as session:
        for feed in feeds:
            status, headers, body = await fetch(session, feed.url)
            assert status == 200, feed.url
            out[feed.url.rsplit("/", 1)[1]] = (feed.name, dict(headers), body)
    return out


def parse(body: bytes) -> feedparser.FeedParserDict:
    return feedparser.parse(io.BytesIO(body))


async def test_every_feed_is_served_and_parses_with_all_its_items():
    feeds = await served_feeds(PINNED)
    assert set(feeds) == set(DEMO_OUTLETS) == set(EXPECTED_ITEMS)
    for name, (outlet, headers, body) in feeds.items():
        parsed = parse(body)
        assert outlet == DEMO_OUTLETS[name]
        assert headers["Content-Type"] == FEED_TYPES[name]
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert len(parsed.entries) == EXPECTED_ITEMS[name]
        assert all(e.title and e.id and e.get("summary") for e in parsed.entries)


@pytest.mark.parametrize("now", [None, PINNED], ids=["now", "pinned"])
async def test_every_item_is_recent_whatever_the_clock(now):
    anchor = now or datetime.now(UTC)
    for name, (_, _, body) in (await served_feeds(now)).items():
        for entry in parse(body).entries:
            published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
            age = anchor - published
            assert timedelta(0) < age < timedelta(hours=24), (name, entry.title, published)


async def test_links_lead_to_served_article_pages_except_the_hostile_one():
    async with serve_demo(now=PINNED) as feeds, aiohttp.ClientSession() as session:
        base = feeds[0].url.split("/feeds/")[0]
        entries = []
        for feed in feeds:
            entries += parse((await fetch(session, feed.url))[2]).entries
        inert = [e for e in entries if not e.link.startswith("http")]
        for entry in entries:
            if entry in inert:
                continue
            assert entry.link.startswith(f"{base}/articles/"), entry.link
            status, headers, page = await fetch(session, entry.link)
            assert status == 200, entry.link
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"<article" in page and page.count(b"<p>") >= 4
    assert len(inert) == 1
    assert inert[0].link.startswith("javascript:")
    assert "<!channel>" in inert[0].title and "@everyone" in inert[0].title


async def test_the_north_korea_story_is_in_every_outlet_and_the_warships_in_two():
    feeds = await served_feeds(PINNED)
    titles = {name: [e.title for e in parse(body).entries] for name, (_, _, body) in feeds.items()}
    for name, outlet_titles in titles.items():
        nk = [t for t in outlet_titles if "Korea" in t and "troops" in t.lower() and "Russia" in t]
        assert len(nk) == 1, (name, outlet_titles)
    warships = [t for ts in titles.values() for t in ts if "warship" in t.lower()]
    assert len(warships) == 2 and all("Red Sea" in t for t in warships)


async def test_conditional_requests_get_304_without_a_body():
    async with serve_demo(now=PINNED) as feeds, aiohttp.ClientSession() as session:
        article = feeds[0].url.replace("/feeds/yonhap.xml", "/articles/yonhap-nk-troops.html")
        for url in (feeds[0].url, feeds[2].url, article):
            status, headers, body = await fetch(session, url)
            etag, modified = headers["ETag"], headers["Last-Modified"]
            status, _, body = await fetch(session, url, **{"If-None-Match": etag})
            assert (status, body) == (304, b"")
            status, _, body = await fetch(session, url, **{"If-Modified-Since": modified})
            assert (status, body) == (304, b"")
            status, _, body = await fetch(session, url, **{"If-None-Match": '"stale"'})
            assert status == 200 and body


async def test_no_placeholder_survives_in_any_served_file():
    files = sorted(DATA.glob("feeds/*.xml")) + sorted(DATA.glob("articles/*.html"))
    assert len(files) >= 3 + 4
    async with serve_demo() as feeds, aiohttp.ClientSession() as session:
        base = feeds[0].url.split("/feeds/")[0]
        for path in files:
            status, _, body = await fetch(session, f"{base}/{path.parent.name}/{path.name}")
            assert status == 200, path.name
            assert not PLACEHOLDER.search(body.decode("utf-8")), path.name
            assert base.encode() in body, path.name


async def test_unknown_paths_are_404_and_the_port_is_closed_after():
    async with serve_demo() as feeds, aiohttp.ClientSession() as session:
        base = feeds[0].url.split("/feeds/")[0]
        for path in ("/feeds/nope.xml", "/feeds/..%2Fserver.py", "/articles/../server.py", "/"):
            assert (await fetch(session, base + path))[0] == 404, path
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(session, feeds[0].url)


async def test_it_binds_the_port_asked_for_on_loopback_only():
    async with serve_demo() as feeds:
        taken = int(feeds[0].url.split(":")[2].split("/")[0])
    async with serve_demo(port=taken) as feeds:
        assert all(f.url.startswith(f"http://127.0.0.1:{taken}/feeds/") for f in feeds)


def test_relative_dates_render_in_each_documents_own_format():
    text = "{NOW-1h35m} {NOW+2d:rfc3339} {NOW-3h:weekday} {NOW:ap} {BASE}/x"
    assert render(text, "http://127.0.0.1:9", PINNED, "rfc822") == (
        "Thu, 27 Feb 2025 10:25:00 GMT 2025-03-01T12:00:00Z Thursday Feb. 27 http://127.0.0.1:9/x"
    )


@pytest.mark.parametrize("bad", ["{NOW-2x}", "{NOW:nope}", "{THEN-2h}", "{BASE:rfc822}", "{NOW-"])
def test_a_mistyped_placeholder_stops_the_server_instead_of_serving_it(bad):
    with pytest.raises(ValueError, match="placeholder"):
        render(f"<title>{bad}</title>", "http://127.0.0.1:9", PINNED, "rfc3339")
