"""Item links to private addresses: a chat-added feed's are not posted (a click reaches the
reader's own network); ops' feeds keep them, and so does `allow_private_addresses`."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.console import alert_text as console_text
from adapters.discord_render import alert_embed
from adapters.slack_render import alert_blocks
from bot.feed_store import add_feed
from bot.feeds.fetch import Fetcher
from bot.model import Alert, Source
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from tests.feedserver import FeedServer
from tests.runtime import Console, console_runtime, make_settings

# Each a frigate in a harbour (the topic): one story, whose sources list them all.
PRIVATE = {
    "Frigate in Haifa harbour": "http://192.168.1.1/admin?reboot=1",
    "Frigate in Busan harbour": "http://127.0.0.1:8080/",
    "Frigate in Oslo harbour": "http://[::1]/",
    "Frigate in Sydney harbour": "http://169.254.169.254/latest/meta-data/",
    "Frigate in Naples harbour": "http://localhost/x",
}
PUBLIC = ("Frigate in Halifax harbour", "https://news.example/halifax")


def _rss(now: datetime) -> str:
    """Every item with a guid but Busan's, whose identity is its link."""
    items = []
    for title, link in [*PRIVATE.items(), PUBLIC]:
        guid = "" if "Busan" in title else f"<guid>{title}</guid>"
        items.append(
            f"<item><title>{title}</title><link>{link}</link>{guid}"
            f"<description>{title}.</description><pubDate>{format_datetime(now)}</pubDate></item>"
        )
    body = "".join(items)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'
    )


def _settings(db: Path, feeds: list[tuple[str, str]], **more: Any):
    return make_settings(
        db,
        feeds,
        topics={"ships": {"query": "frigate AND harbour"}},
        subscriptions=[{"topic": "ships", "channel": "console"}],
        articles={"fetch": False},
        **more,
    )


@asynccontextmanager
async def _chat_feed(settings, server: FeedServer) -> AsyncIterator[tuple[Runtime, Console]]:
    """A runtime polling one feed added from chat (guarded) on the test's server.

    The server is on 127.0.0.1, which the guard refuses: this fetcher's guard takes that one
    address for public, as a chat feed's real host would be. The links are judged as ever.
    """
    served = ipaddress.ip_address("127.0.0.1")
    async with (
        console_runtime(settings) as (rt, console),
        Fetcher(address_policy=served.__eq__) as fetcher,
    ):
        rt.pipeline.fetcher = fetcher
        add_feed(rt.db, server.url("/rss"), "Wire", origin="chat")
        yield rt, console


def _links(rt: Runtime) -> dict[str, str | None]:
    return dict(rt.db.execute("SELECT title, url FROM items").fetchall())


async def test_a_chat_feed_s_private_links_are_dropped_and_its_items_still_alerted(
    tmp_path, feed_server, caplog
):
    feed_server.serve("/rss", _rss(datetime.now(UTC)))
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    async with _chat_feed(_settings(tmp_path / "w.db", []), feed_server) as (rt, console):
        [result], _ = await poll_once(rt)
        assert result.ok, result
        stored = _links(rt)
        matched = {r[0] for r in rt.db.execute("SELECT topic FROM matches")}
        identities = sorted(r[0] for r in rt.db.execute("SELECT identity FROM items"))
        # A second poll of the same feed: nothing new, nothing alerted again.
        rt.db.execute("UPDATE feeds SET next_poll = '2000-01-01T00:00:00Z'")
        rt.db.conn.commit()
        [again], _ = await poll_once(rt)
        items_after = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert again.ok and again.new_items == 0 and items_after == len(PRIVATE) + 1
    assert stored == {**dict.fromkeys(PRIVATE), PUBLIC[0]: PUBLIC[1]}
    assert matched == {"ships"}
    # Busan's identity is still its link: dropping the shown link changed no identity.
    assert any("127.0.0.1:8080" in i for i in identities), identities
    # Alerted (one story: frigates in harbours), each headline shown with no link.
    alerts = {a["title"]: a["url"] for a in console.alerts()}
    shown = {s["title"]: s["url"] for a in console.alerts() for s in a["sources"]}
    assert set(alerts) | set(shown) == {*PRIVATE, PUBLIC[0]}
    assert {**alerts, **shown} == stored
    assert "item.link_dropped" in caplog.text and "localhost" in caplog.text


async def test_allow_private_addresses_keeps_a_chat_feed_s_private_links(tmp_path, feed_server):
    feed_server.serve("/rss", _rss(datetime.now(UTC)))
    settings = _settings(tmp_path / "w.db", [], network={"allow_private_addresses": True})
    async with _chat_feed(settings, feed_server) as (rt, _):
        await poll_once(rt)
        stored = _links(rt)
    assert stored == {**PRIVATE, PUBLIC[0]: PUBLIC[1]}


async def test_a_config_feed_s_private_links_are_kept(tmp_path, feed_server):
    """Ops' feeds may link an intranet: their links are posted as written."""
    feed_server.serve("/rss", _rss(datetime.now(UTC)))
    settings = _settings(tmp_path / "w.db", [("Intranet", feed_server.url("/rss"))])
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        stored = _links(rt)
    assert stored == {**PRIVATE, PUBLIC[0]: PUBLIC[1]}


def test_every_adapter_renders_an_alert_without_a_link():
    """What a dropped link leaves: the headline as text, on Slack, Discord and the console."""
    alert = Alert(
        3,
        "new",
        9,
        "ships",
        "x:1",
        "Frigate in Haifa harbour",
        None,
        "Wire",
        datetime(2026, 12, 7, tzinfo=UTC),
        "Summary.",
        (),
        ("frigate",),
        "matched frigate",
        (Source("Wire", "Frigate in Haifa harbour", None), Source("Other", "Frigates", None)),
    )
    slack = [b["text"]["text"] for b in alert_blocks(alert) if b["type"] == "section"]
    discord = alert_embed(alert).to_dict()
    console = console_text(alert)
    assert slack[0] == "*Frigate in Haifa harbour*"
    assert "• Wire: Frigate in Haifa harbour" in slack[-1] and "<" not in "".join(slack)
    assert discord["title"].startswith("Frigate in Haifa harbour") and "url" not in discord
    assert "](" not in str(discord["fields"])
    assert "Frigate in Haifa harbour" in console and "http" not in console


async def test_a_chat_feed_minting_guids_for_a_private_link_adds_its_item_once(
    tmp_path, feed_server
):
    """No summary, a private link (stored as none) and a new guid every poll: only the title
    is left to know the item by, as for an item with no link of its own."""
    polls: list[int] = []
    published = format_datetime(datetime.now(UTC))

    async def minting(_: web.Request) -> web.Response:
        polls.append(1)
        item = (
            "<item><title>Frigate in Haifa harbour</title><link>http://192.168.1.1/a</link>"
            f"<guid isPermaLink='false'>poll-{len(polls)}</guid><pubDate>{published}</pubDate>"
            "</item>"
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{item}'
        return web.Response(text=body + "</channel></rss>", content_type="application/rss+xml")

    feed_server.handle("/rss", minting)
    async with _chat_feed(_settings(tmp_path / "w.db", []), feed_server) as (rt, console):
        [first], _ = await poll_once(rt)
        rt.db.execute("UPDATE feeds SET next_poll = '2000-01-01T00:00:00Z'")
        rt.db.conn.commit()
        [second], _ = await poll_once(rt)
        stored = _links(rt)
    assert len(polls) == 2
    assert first.ok and first.new_items == 1, first
    assert second.ok and second.new_items == 0, second
    assert stored == {"Frigate in Haifa harbour": None}  # the private link never stored
    assert len(console.alerts()) == 1
