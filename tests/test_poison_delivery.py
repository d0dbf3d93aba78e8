"""One delivery that cannot be built fails alone: the others, in every channel, still go out.

Real SQLite, the real pipeline over a feed on 127.0.0.1, the real outbox, the console adapter
and the Slack adapter against tests/slackstub.py. The poison is a stored row that no longer
reads (a match's terms holding truncated JSON, as a bad hand edit or a damaged write leaves
it): building that alert raises, for the same reason, every time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.commands import Commands, Invocation
from bot.delivery_rows import failed_count, pending_count
from bot.feed_store import active_feeds
from bot.pipeline import poll_many
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.send_errors import FAULT_ATTEMPTS
from bot.settings import Settings
from bot.startup import open_runtime
from bot.web import build_app
from tests.feedserver import FeedServer
from tests.runtime import Console
from tests.slackstub import TOKEN, SlackStub

NEWS = "C0NEWS"
CHANNELS = ("console", f"slack:{NEWS}")
REPORTS = [  # oldest first: the first one is the one whose row gets damaged
    "Poland deploys 2,000 troops to the Belarus border",
    "Japan dispatches destroyers to the Gulf of Aden",
    "Britain deploys 500 troops to Estonia",
]


def _feed() -> str:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{title}</title><guid>r{i}</guid><link>https://wire.example/{i}</link>"
        f"<description>{title}.</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=30 - i))}</pubDate></item>"
        for i, title in enumerate(REPORTS)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>"


@asynccontextmanager
async def _runtime(
    tmp_path: Path, feeds: FeedServer, slack: SlackStub
) -> AsyncIterator[tuple[Runtime, Console]]:
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "feeds": [{"name": "Wire", "url": feeds.url("/wire")}],
            "subscriptions": [{"topic": "troop-deployments", "channel": c} for c in CHANNELS],
            "articles": {"fetch": False},
        }
    )
    console = Console()
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    adapter = SlackAdapter(client, signing_secret="s", pace=0)
    await adapter.start(None)
    try:
        async with open_runtime(settings, {"console": console, "slack": adapter}) as rt:
            yield rt, console
    finally:
        await adapter.stop()


async def _metrics(rt: Runtime) -> str:
    app = build_app(
        lambda: (True, "ok"), (), lambda: pending_count(rt.db), lambda: failed_count(rt.db)
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return await response.text()
    finally:
        await runner.cleanup()


async def test_an_alert_that_cannot_be_built_fails_alone_and_says_why(tmp_path, feed_server):
    feed_server.serve("/wire", _feed())
    async with SlackStub() as slack:
        slack.add_channel(NEWS)
        async with _runtime(tmp_path, feed_server, slack) as (rt, console):
            await poll_many(rt.pipeline, active_feeds(rt.db))  # stored, not yet sent
            poison = rt.db.execute("SELECT min(id) FROM items").fetchone()[0]
            rt.db.execute("UPDATE matches SET matched = '[\"deploy' WHERE item_id = ?", [poison])

            _, stats = await poll_once(rt)

            assert stats.sent == 2 * len(CHANNELS)  # every other alert, in every channel
            assert [a["title"] for a in console.alerts()] == REPORTS[1:]
            slack_stories = [p.args["metadata"]["event_payload"]["story_id"] for p in slack.posts()]
            assert slack_stories == [a["story_id"] for a in console.alerts()]
            failed = list(
                rt.db.query(
                    "SELECT channel, status, faults, error FROM deliveries WHERE item_id = ?",
                    [poison],
                )
            )
            assert {f["channel"] for f in failed} == set(CHANNELS)
            for f in failed:
                assert f["status"] == "failed" and f["faults"] == FAULT_ATTEMPTS
                assert f["error"].startswith("could not build the alert: JSONDecodeError")
            assert pending_count(rt.db) == 0  # nothing stays claimed or waiting

            reply = await Commands(rt).handle(Invocation("console", "console", "u", "status"))
            assert "alerts given up on: 2 (this channel: 1)" in reply.text
            assert "could not build the alert: JSONDecodeError" in reply.text
            page = await _metrics(rt)
            assert "wirewatch_deliveries_failed 2.0" in page
            assert "wirewatch_outbox_depth 0.0" in page

        async with _runtime(tmp_path, feed_server, slack) as (rt, console):  # a restart
            _, stats = await poll_once(rt)
            assert (stats.sent, stats.retried, stats.failed) == (0, 0, 0)
            assert console.alerts() == [] and len(slack.posts(NEWS)) == 2
