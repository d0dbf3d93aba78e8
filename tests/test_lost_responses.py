"""Posted, answer lost: after a 5xx, a dropped connection or a timeout (or, on Slack, an
`internal_error` or `fatal_error`, which Slack says may come after the work was done), the
alert exists once.

The platform did the work and the answer never arrived, so a plain retry would post the alert
a second time. Through the real slack_sdk and discord.py clients against the stand-ins
(tests/slackstub.py, tests/discordstub.py), the real pipeline and outbox over SQLite: after the
fault and the recovery, the channel holds the alert exactly once, the delivery records that
message, and nothing was resent before the platform was asked. Discord's nonce would hide a
resend for a few minutes; the stand-in's nonce window is closed here, as it is for any retry
that comes later than that, so only asking the platform can prevent the duplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord_bot import DiscordAdapter
from adapters.slack_app import SlackAdapter
from bot.clock import iso, utcnow
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.slackstub import AFTER_THE_WORK, TOKEN, SlackStub

NEWS = "C0NEWS"
TITLE = "Poland deploys 2,000 troops to the Belarus border"
pytestmark = pytest.mark.slow  # each test starts a runtime and a platform stand-in: 2-4 s
CLIENT_TIMEOUT = 0.5  # the stand-ins stay silent for 1.5 s on a "timeout"
LOSSES = ["503", "reset", "timeout"]


def _feed() -> str:
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>W</title><item>"
        f"<title>{TITLE}</title><guid>r1</guid><link>https://wire.example/1</link>"
        f"<description>{TITLE}.</description><pubDate>{format_datetime(datetime.now(UTC))}"
        "</pubDate></item></channel></rss>"
    )


def _settings(tmp_path: Path, feeds: FeedServer, channel: str) -> Settings:
    feeds.serve("/wire", _feed())
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "feeds": [{"name": "Wire", "url": feeds.url("/wire")}],
            "subscriptions": [{"topic": "troop-deployments", "channel": channel}],
            "articles": {"fetch": False},
        }
    )


def _delivery(rt: Runtime) -> dict:
    return next(rt.db.query("SELECT status, maybe_posted, message_id FROM deliveries"))


def _due_now(rt: Runtime) -> None:
    """The retry's wait is over (as the clock moving on would make it)."""
    rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])


# -- Slack -------------------------------------------------------------------------------------


@asynccontextmanager
async def _slack(tmp_path: Path, feeds: FeedServer) -> AsyncIterator[tuple[Runtime, SlackStub]]:
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.hang = 1.5
        client = AsyncWebClient(
            token=TOKEN, base_url=stub.api_url, timeout=CLIENT_TIMEOUT, retry_handlers=[]
        )
        adapter = SlackAdapter(client, signing_secret="s", pace=0)
        await adapter.start(None)
        try:
            settings = _settings(tmp_path, feeds, f"slack:{NEWS}")
            async with open_runtime(settings, {"slack": adapter}) as rt:
                yield rt, stub
        finally:
            await adapter.stop()


@pytest.mark.parametrize("how", [*LOSSES, *AFTER_THE_WORK])
async def test_slack_post_whose_answer_was_lost_exists_once(tmp_path, feed_server, how):
    async with _slack(tmp_path, feed_server) as (rt, slack):
        slack.lose_response("chat.postMessage", how)
        _, stats = await poll_once(rt)
        assert (stats.sent, stats.retried) == (0, 1)
        assert len(slack.channels[NEWS].messages) == 1  # Slack has it; we did not hear
        assert _delivery(rt)["maybe_posted"] == 1

        slack.fail("conversations.history", status=503)  # cannot tell yet: nothing is sent
        _due_now(rt)
        _, stats = await poll_once(rt)
        assert (stats.sent, stats.retried) == (0, 1)
        assert _delivery(rt)["maybe_posted"] == 1

        _due_now(rt)
        _, stats = await poll_once(rt)
        assert stats.sent == 1
        [message] = slack.channels[NEWS].messages
        assert len(slack.calls_to("chat.postMessage")) == 1, "sent again without asking"
        assert _delivery(rt) == {"status": "sent", "maybe_posted": 0, "message_id": message["ts"]}


@pytest.mark.parametrize("refusal", ["missing_scope", "not_in_channel"])
async def test_slack_lookup_refused_for_want_of_rights_never_resends(
    tmp_path, feed_server, refusal
):
    # `chat:write.public` posts where the app cannot read: "not posted" would be a guess.
    # The channel is paused with the reason instead, and the alert waits with its doubt.
    async with _slack(tmp_path, feed_server) as (rt, slack):
        slack.lose_response("chat.postMessage", "503")
        await poll_once(rt)
        slack.fail("conversations.history", error=refusal)
        _due_now(rt)
        await poll_once(rt)
        alerts = [c for c in slack.calls_to("chat.postMessage") if TITLE in c.args["text"]]
        assert len(alerts) == 1, "sent again on a guess"
        assert _delivery(rt)["maybe_posted"] == 1 and _delivery(rt)["status"] == "held"
        [paused] = rt.db.execute("SELECT paused_reason FROM subscriptions").fetchall()
        assert refusal in paused[0]


async def test_slack_post_refused_by_a_5xx_is_sent_after_asking(tmp_path, feed_server):
    async with _slack(tmp_path, feed_server) as (rt, slack):
        slack.fail("chat.postMessage", status=503)  # refused: nothing was posted
        await poll_once(rt)
        _due_now(rt)
        _, stats = await poll_once(rt)
        assert stats.sent == 1 and len(slack.channels[NEWS].messages) == 1
        history, post = slack.calls_to("conversations.history"), slack.posts(NEWS)
        assert len(history) == 1 and history[0].at < post[0].at  # asked, then sent


# -- Discord -----------------------------------------------------------------------------------


@asynccontextmanager
async def _discord(tmp_path: Path, feeds: FeedServer) -> AsyncIterator[tuple[Runtime, DiscordStub]]:
    async with DiscordStub() as stub:
        stub.hang, stub.nonce_window = 1.5, 0.0
        adapter = DiscordAdapter(
            stub.token,
            api_url=stub.api_url,
            gateway_url=stub.gateway_url,
            ready_timeout=15,
            guild_ready_timeout=0.1,
            send_timeout=CLIENT_TIMEOUT,
        )
        await adapter.start(None)
        try:
            settings = _settings(tmp_path, feeds, f"discord:{stub.alerts}")
            async with open_runtime(settings, {"discord": adapter}) as rt:
                yield rt, stub
        finally:
            await adapter.stop()


def _creates(stub: DiscordStub) -> list:
    return [c for c in stub.calls if c.method == "POST" and c.path.endswith("/messages")]


@pytest.mark.parametrize("how", LOSSES)
async def test_discord_post_whose_answer_was_lost_exists_once(tmp_path, feed_server, how):
    async with _discord(tmp_path, feed_server) as (rt, stub):
        stub.lose_response("POST", r"^/channels/\d+/messages$", how)
        _, stats = await poll_once(rt)
        assert (stats.sent, stats.retried) == (0, 1)
        assert len(stub.channel_messages(stub.alerts)) == 1
        assert _delivery(rt)["maybe_posted"] == 1

        stub.fail("GET", r"^/channels/\d+/messages$", 503)  # cannot tell yet: nothing is sent
        _due_now(rt)
        _, stats = await poll_once(rt)
        assert (stats.sent, stats.retried) == (0, 1)

        _due_now(rt)
        _, stats = await poll_once(rt)
        assert stats.sent == 1
        [message] = stub.channel_messages(stub.alerts)
        assert len(_creates(stub)) == 1, "sent again without asking"
        assert _delivery(rt) == {"status": "sent", "maybe_posted": 0, "message_id": message["id"]}


async def test_discord_lookup_refused_for_want_of_rights_never_resends(tmp_path, feed_server):
    async with _discord(tmp_path, feed_server) as (rt, stub):
        stub.lose_response("POST", r"^/channels/\d+/messages$", "503")
        await poll_once(rt)
        stub.fail("GET", r"^/channels/\d+/messages$", 403)  # no Read Message History
        _due_now(rt)
        await poll_once(rt)
        alerts = [c for c in _creates(stub) if c.body.get("embeds")]  # not the notice
        assert len(alerts) == 1, "sent again on a guess"
        assert _delivery(rt)["maybe_posted"] == 1 and _delivery(rt)["status"] == "held"


async def test_discord_post_refused_by_a_5xx_is_sent_after_asking(tmp_path, feed_server):
    async with _discord(tmp_path, feed_server) as (rt, stub):
        stub.fail("POST", r"^/channels/\d+/messages$", 503)  # refused: nothing was posted
        await poll_once(rt)
        _due_now(rt)
        _, stats = await poll_once(rt)
        assert stats.sent == 1 and len(stub.channel_messages(stub.alerts)) == 1
        first, again = _creates(stub)  # the same nonce: Discord itself dedups a quick resend
        assert first.body["nonce"] == again.body["nonce"] and again.body["enforce_nonce"] is True
