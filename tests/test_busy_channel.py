"""A busy channel: after a crash or a lost answer, an alert is found however many messages
followed it, and is not posted twice.

The lookup used to read only the newest messages (Discord 50, Slack 200): when more followed
our alert before the restart, it was not seen and was posted again. Now the outbox tells the
platform when the send in doubt began, and the adapter reads the channel from just before
then. Through the real discord.py and slack_sdk clients against the stand-ins
(tests/discordstub.py, tests/slackstub.py), which page history as the real APIs do; the
crash is a real `kill -9` of `wirewatch poll --once` right after the post (the failpoint), and
the restart runs the real runtime on the same SQLite file. Discord's nonce would hide a
resend for a few minutes: the stand-in's nonce window is closed, as it is for a restart that
comes later than that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord_bot import DiscordAdapter
from adapters.discord_lookups import LOOKUP_MESSAGES
from adapters.slack_app import SlackAdapter
from adapters.slack_history import HISTORY_LIMIT, LOOKUP_PAGES
from bot.clock import iso, utcnow
from bot.delivery_rows import claim_next, in_doubt_since, mark_not_posted, mark_retry
from bot.digest import send_digests
from bot.ingest import store_new_items
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.startup import open_runtime
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.slackstub import TOKEN, SlackStub
from tests.test_crash import _processes_marked
from tests.test_outbox import NK, NOW, _item, _setup

pytestmark = pytest.mark.slow  # each test starts a platform stand-in and a runtime
NEWS = "C0NEWS"
TITLE = "Poland deploys 2,000 troops to the Belarus border"
CHATTER = 250  # messages after ours: past Discord's old 50 and Slack's old 200


def _feed() -> str:
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>W</title><item>"
        f"<title>{TITLE}</title><guid>r1</guid><link>https://wire.example/1</link>"
        f"<description>{TITLE}.</description><pubDate>{format_datetime(datetime.now(UTC))}"
        "</pubDate></item></channel></rss>"
    )


def _config(tmp_path: Path, feeds: FeedServer, channel: str) -> Path:
    feeds.serve("/wire", _feed())
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{feeds.url('/wire')}'}}\n"
        f"subscriptions:\n  - {{topic: troop-deployments, channel: '{channel}'}}\n",
        encoding="utf-8",
    )
    return path


async def _killed_after_posting(config: Path, env: dict[str, str]) -> None:
    """`wirewatch poll --once`, killed (SIGKILL) right after its first post, before it
    records it: the delivery is left claimed."""
    mark = str(uuid.uuid4())
    env = {"PATH": "/usr/bin:/bin", "WIREWATCH_TEST_RUN": mark, **env}
    env["WIREWATCH_FAILPOINT"] = "after_send"
    argv = ["-m", "bot.cli", "poll", "--once", "--config", str(config)]
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, env=env, stdout=pipe, stderr=pipe
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        for pid in _processes_marked(mark):
            os.kill(pid, signal.SIGKILL)  # only ever processes this test started
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]


def _delivery(rt: Runtime) -> dict:
    return next(rt.db.query("SELECT status, maybe_posted, message_id FROM deliveries"))


def _due_now(rt: Runtime) -> None:
    rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])


# -- Discord -----------------------------------------------------------------------------------


def _discord_adapter(stub: DiscordStub, **kw) -> DiscordAdapter:
    return DiscordAdapter(
        stub.token,
        api_url=stub.api_url,
        gateway_url=stub.gateway_url,
        ready_timeout=15,
        guild_ready_timeout=0.1,
        **kw,
    )


@asynccontextmanager
async def _discord_runtime(stub: DiscordStub, config: Path) -> AsyncIterator[Runtime]:
    adapter = _discord_adapter(stub)
    await adapter.start(None)
    try:
        async with open_runtime(load_settings(config), {"discord": adapter}) as rt:
            yield rt
    finally:
        await adapter.stop()


def _discord_alerts(stub: DiscordStub) -> list[dict]:
    return [
        m
        for m in stub.channel_messages(stub.alerts)
        if m["author"]["id"] == stub.bot_id and TITLE in str(m["embeds"])
    ]


async def test_discord_alert_posted_then_killed_is_found_past_a_busy_channel(tmp_path, feed_server):
    async with DiscordStub() as stub:
        stub.nonce_window = 0.0
        config = _config(tmp_path, feed_server, f"discord:{stub.alerts}")
        env = {
            "DISCORD_BOT_TOKEN": stub.token,
            "DISCORD_API_URL": stub.api_url,
            "DISCORD_GATEWAY_URL": stub.gateway_url,
        }
        await _killed_after_posting(config, env)
        [posted] = _discord_alerts(stub)
        stub.chatter(stub.alerts, CHATTER)  # the newsroom talks on before the restart
        async with _discord_runtime(stub, config) as rt:  # the restart
            _, stats = await poll_once(rt)
            assert stats.sent == 0
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["id"],
            }
    assert _discord_alerts(stub) == [posted], "posted a second time"


async def test_discord_lost_answer_is_found_past_a_busy_channel(tmp_path, feed_server):
    async with DiscordStub() as stub:
        stub.nonce_window = 0.0
        config = _config(tmp_path, feed_server, f"discord:{stub.alerts}")
        async with _discord_runtime(stub, config) as rt:
            stub.lose_response("POST", r"^/channels/\d+/messages$", "503")
            _, stats = await poll_once(rt)
            assert (stats.sent, stats.retried) == (0, 1)
            [posted] = _discord_alerts(stub)
            stub.chatter(stub.alerts, CHATTER)
            _due_now(rt)
            _, stats = await poll_once(rt)
            assert stats.sent == 1
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["id"],
            }
    assert _discord_alerts(stub) == [posted], "posted a second time"


async def test_discord_lookup_stops_at_its_cap_and_says_so(stub_discord, caplog):
    stub = stub_discord
    stub.chatter(stub.alerts, LOOKUP_MESSAGES + 50)
    adapter = _discord_adapter(stub)
    await adapter.start(None)
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.discord_bot"):
            since = utcnow() - timedelta(minutes=1)
            assert await adapter.find_posted(stub.alerts, 77, since=since) is None
    finally:
        await adapter.stop()
    reads = [c for c in stub.calls if c.method == "GET" and c.path.endswith("/messages")]
    assert len(reads) == LOOKUP_MESSAGES // 100  # pages of 100, never more than the cap
    assert all("after" in c.query for c in reads)
    assert "discord.find_posted_capped" in caplog.text


@pytest.fixture
async def stub_discord() -> AsyncIterator[DiscordStub]:
    async with DiscordStub() as stub:
        yield stub


# -- Slack -------------------------------------------------------------------------------------


def _slack_adapter(stub: SlackStub) -> SlackAdapter:
    client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, timeout=5, retry_handlers=[])
    return SlackAdapter(client, signing_secret="s", pace=0)


@asynccontextmanager
async def _slack_runtime(stub: SlackStub, config: Path) -> AsyncIterator[Runtime]:
    adapter = _slack_adapter(stub)
    await adapter.start(None)
    try:
        async with open_runtime(load_settings(config), {"slack": adapter}) as rt:
            yield rt
    finally:
        await adapter.stop()


def _slack_alerts(stub: SlackStub) -> list[dict]:
    return [m for m in stub.top_level(NEWS) if m["user"] != "U0PERSON" and TITLE in m["text"]]


async def test_slack_alert_posted_then_killed_is_found_past_a_busy_channel(tmp_path, feed_server):
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": stub.api_url, "SLACK_SIGNING_SECRET": "s"}
        await _killed_after_posting(config, env)
        [posted] = _slack_alerts(stub)
        stub.chatter(NEWS, CHATTER)
        async with _slack_runtime(stub, config) as rt:  # the restart
            _, stats = await poll_once(rt)
            assert stats.sent == 0
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["ts"],
            }
    assert _slack_alerts(stub) == [posted], "posted a second time"
    reads = stub.calls_to("conversations.history")
    assert reads and all("oldest" in c.args for c in reads)


async def test_slack_lost_answer_is_found_past_a_busy_channel(tmp_path, feed_server):
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            stub.lose_response("chat.postMessage", "503")
            _, stats = await poll_once(rt)
            assert (stats.sent, stats.retried) == (0, 1)
            [posted] = _slack_alerts(stub)
            stub.chatter(NEWS, CHATTER)
            _due_now(rt)
            _, stats = await poll_once(rt)
            assert stats.sent == 1
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["ts"],
            }
    assert _slack_alerts(stub) == [posted], "posted a second time"


async def test_slack_lookup_stops_at_its_cap_and_says_so(caplog):
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.chatter(NEWS, LOOKUP_PAGES * HISTORY_LIMIT + 50)
        adapter = _slack_adapter(stub)
        await adapter.start(None)
        try:
            with caplog.at_level(logging.WARNING, logger="adapters.slack_app"):
                since = utcnow() - timedelta(minutes=1)
                assert await adapter.find_posted(NEWS, 77, since=since) is None
        finally:
            await adapter.stop()
    assert len(stub.calls_to("conversations.history")) == LOOKUP_PAGES
    assert "slack.find_posted_capped" in caplog.text


async def test_slack_finds_ours_before_more_chatter_than_its_cap_reads():
    """Slack pages newest first: with only `oldest`, more messages after ours than the cap
    reads hid it, and it was posted again. The lookup ends a little after the send began."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        adapter = _slack_adapter(stub)
        await adapter.start(None)
        try:
            since = utcnow()
            ref = await adapter.post_digest(NEWS, "digest text", 77)
            stub.chatter(NEWS, LOOKUP_PAGES * HISTORY_LIMIT + 50, later=3600)  # an hour on
            found = await adapter.find_posted(NEWS, 77, since=since)
        finally:
            await adapter.stop()
    assert found is not None and found.message_id == ref.message_id


# -- the outbox ----------------------------------------------------------------------------


def test_a_send_in_doubt_is_looked_for_from_when_it_began(tmp_path):
    """A lost answer, then a lookup that could not tell (an outage): the next lookup still
    starts from the send in doubt, not from the later claim; once the platform says it does
    not have it, the next send begins anew."""
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    first = utcnow()
    d = claim_next(db, ["chat"], first)
    assert d is not None and in_doubt_since(db, d.id) == first
    mark_retry(db, d, "lost answer", 0.0, maybe_posted=True)
    again = claim_next(db, ["chat"], first + timedelta(hours=1))  # asked; could not tell
    assert again is not None and again.maybe_posted
    assert in_doubt_since(db, d.id) == first
    mark_retry(db, again, "lookup failed", 0.0, maybe_posted=True)
    claim_next(db, ["chat"], first + timedelta(hours=2))
    assert in_doubt_since(db, d.id) == first
    mark_not_posted(db, d.id)
    assert in_doubt_since(db, d.id) > first  # the send about to be made


async def test_discord_digest_left_claimed_is_found_past_more_than_a_lookups_worth(
    tmp_path, feed_server
):
    """A digest is looked for from its claim too: more messages after it than one lookup
    reads from the newest end (the cap) did not hide it."""
    async with DiscordStub() as stub:
        stub.nonce_window = 0.0
        config = _config(tmp_path, feed_server, f"discord:{stub.alerts}")
        channel = f"discord:{stub.alerts}"
        text = config.read_text(encoding="utf-8")
        text = text.replace(f"channel: '{channel}'}}", f"channel: '{channel}', mode: digest}}")
        config.write_text(text, encoding="utf-8")
        async with _discord_runtime(stub, config) as rt:
            await poll_once(rt)
            assert await send_digests(rt.db, rt.adapters) == 1
            [digest] = stub.channel_messages(stub.alerts)
            rt.db.execute("UPDATE deliveries SET status = 'claimed'")  # a crash before the mark
            stub.chatter(stub.alerts, LOOKUP_MESSAGES + 100)
            assert await send_digests(rt.db, rt.adapters) == 0
            assert rt.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]
        ours = [m for m in stub.channel_messages(stub.alerts) if m["author"]["id"] == stub.bot_id]
    assert [m["id"] for m in ours] == [digest["id"]], "the digest was posted a second time"
