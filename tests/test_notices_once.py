"""A moderator notice goes out once, even when a shutdown or a lost answer cuts its post short.

A notice used to be marked sent only after the platform answered, with nothing written
before: a shutdown in between (the post made, the answer not yet in) left it unsent, and the
next start posted it again; a lost answer (a 5xx, a timeout) was taken for a refusal, so it
was posted again later, and meanwhile sent to the fallback too (Discord's system channel,
Slack's moderator DMs). Now each try is marked before it begins, the notice carries its key
(Slack metadata, Discord's last line and nonce), and a notice whose try may have got through
is looked for first. Through the real discord.py and slack_sdk clients against the stand-ins
(tests/discordstub.py, tests/slackstub.py) and the outbox over SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.discord_bot import DiscordAdapter
from adapters.slack_app import SlackAdapter
from bot.clock import iso, utcnow
from bot.db import open_database
from bot.notice_outbox import NOTICE_LOOKUP_PATIENCE, deliver_notices
from bot.store import add_notice
from tests.discordstub import DiscordStub
from tests.slackstub import TOKEN, SlackStub

pytestmark = pytest.mark.slow  # each test starts a platform stand-in
NEWS = "C0NEWS"
TEXT = "wirewatch disabled the feed Wire after 10 failures"


def _due_now(db) -> None:
    db.execute("UPDATE notices SET next_attempt = ?", [iso(utcnow())])


def _sent(db) -> list:
    return [r[0] for r in db.execute("SELECT sent_at FROM notices")]


async def _until(done: Callable[[], bool], what: str) -> None:
    for _ in range(250):  # 5 s
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"waited in vain for {what}")


async def _cut_short(db, adapters, posted: Callable[[], bool]) -> None:
    """deliver_notices cancelled (a shutdown) once the platform has the notice, before its
    answer arrives."""
    task = asyncio.create_task(deliver_notices(db, adapters))
    await _until(posted, "the platform to store the notice")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- Discord -----------------------------------------------------------------------------------


@asynccontextmanager
async def _discord(stub: DiscordStub) -> AsyncIterator[DiscordAdapter]:
    adapter = DiscordAdapter(
        stub.token,
        api_url=stub.api_url,
        gateway_url=stub.gateway_url,
        ready_timeout=15,
        guild_ready_timeout=0.1,
        send_timeout=10,
    )
    await adapter.start(None)
    try:
        yield adapter
    finally:
        await adapter.stop()


def _notices(stub: DiscordStub, channel: str) -> list[dict]:
    return [m for m in stub.channel_messages(channel) if TEXT in m["content"]]


async def test_discord_notice_cut_short_by_a_shutdown_is_not_posted_again(tmp_path):
    db = open_database(tmp_path / "w.db")
    async with DiscordStub() as stub:
        stub.nonce_window, stub.hang = 0.0, 3.0
        add_notice(db, "disabled:1", TEXT, channel=f"discord:{stub.alerts}")
        stub.lose_response("POST", r"^/channels/\d+/messages$", "timeout")
        async with _discord(stub) as adapter:
            await _cut_short(db, {"discord": adapter}, lambda: bool(_notices(stub, stub.alerts)))
        async with _discord(stub) as adapter:  # the restart
            assert await deliver_notices(db, {"discord": adapter}) == 1
        [notice] = _notices(stub, stub.alerts)
        assert not _notices(stub, stub.general)
    assert notice["content"].endswith("\n-# notice 1") and all(_sent(db))


async def test_discord_notice_whose_answer_was_lost_goes_nowhere_else_and_not_twice(tmp_path):
    db = open_database(tmp_path / "w.db")
    async with DiscordStub() as stub:
        stub.nonce_window = 0.0
        add_notice(db, "disabled:1", TEXT, channel=f"discord:{stub.alerts}")
        stub.lose_response("POST", r"^/channels/\d+/messages$", "503")
        async with _discord(stub) as adapter:
            adapters = {"discord": adapter}
            assert await deliver_notices(db, adapters) == 0  # lost: not a refusal
            assert not _notices(stub, stub.general), "sent to the system channel as well"
            _due_now(db)
            assert await deliver_notices(db, adapters) == 1
        assert len(_notices(stub, stub.alerts)) == 1 and not _notices(stub, stub.general)
    assert all(_sent(db))


# -- Slack -------------------------------------------------------------------------------------


@asynccontextmanager
async def _slack(stub: SlackStub) -> AsyncIterator[SlackAdapter]:
    client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, timeout=10, retry_handlers=[])
    adapter = SlackAdapter(client, signing_secret="s", pace=0, notice_users=("U0MOD",))
    await adapter.start(None)
    try:
        yield adapter
    finally:
        await adapter.stop()


def _slack_notices(stub: SlackStub, channel: str) -> list[dict]:
    if channel not in stub.channels:
        return []
    return [m for m in stub.channels[channel].messages if TEXT in m["text"]]


async def test_slack_notice_cut_short_by_a_shutdown_is_not_posted_again(tmp_path):
    db = open_database(tmp_path / "w.db")
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.add_user("U0MOD", admin=True)
        stub.hang = 3.0
        add_notice(db, "disabled:1", TEXT, channel=f"slack:{NEWS}")
        stub.lose_response("chat.postMessage", "timeout")
        async with _slack(stub) as adapter:
            await _cut_short(db, {"slack": adapter}, lambda: bool(_slack_notices(stub, NEWS)))
        async with _slack(stub) as adapter:  # the restart
            assert await deliver_notices(db, {"slack": adapter}) == 1
        assert len(_slack_notices(stub, NEWS)) == 1 and not _slack_notices(stub, "U0MOD")
    assert all(_sent(db))


async def test_slack_notice_whose_answer_was_lost_is_not_sent_by_dm_nor_twice(tmp_path):
    db = open_database(tmp_path / "w.db")
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.add_user("U0MOD", admin=True)
        add_notice(db, "disabled:1", TEXT, channel=f"slack:{NEWS}")
        stub.lose_response("chat.postMessage", "503")
        async with _slack(stub) as adapter:
            adapters = {"slack": adapter}
            assert await deliver_notices(db, adapters) == 0  # lost: not a refusal
            assert not _slack_notices(stub, "U0MOD"), "sent by DM as well"
            _due_now(db)
            assert await deliver_notices(db, adapters) == 1
        assert len(_slack_notices(stub, NEWS)) == 1 and not _slack_notices(stub, "U0MOD")
    assert all(_sent(db))


async def test_slack_notice_refused_by_the_channel_still_goes_to_moderators(tmp_path):
    db = open_database(tmp_path / "w.db")
    async with SlackStub() as stub:
        stub.add_user("U0MOD", admin=True)
        add_notice(db, "paused:slack:C0GONE", TEXT, channel="slack:C0GONE")  # no such channel
        async with _slack(stub) as adapter:
            assert await deliver_notices(db, {"slack": adapter}) == 1
        assert len(_slack_notices(stub, "U0MOD")) == 1
    assert all(_sent(db))


async def test_slack_notice_in_doubt_waits_out_a_history_rate_limit_rather_than_posting_twice(
    tmp_path,
):
    """Under Slack's limits for apps outside its Marketplace (a history read a minute), the
    lookup of a notice whose answer was lost is refused with a Retry-After: that is "ask
    again then", not "cannot tell", so the notice waits instead of being posted again."""
    db = open_database(tmp_path / "w.db")
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.add_user("U0MOD", admin=True)
        add_notice(db, "disabled:1", TEXT, channel=f"slack:{NEWS}")
        stub.lose_response("chat.postMessage", "503")
        async with _slack(stub) as adapter:
            adapters = {"slack": adapter}
            assert await deliver_notices(db, adapters) == 0  # lost: in doubt
            stub.limit_rate("conversations.history", 0)  # every read refused: 429, Retry-After
            _due_now(db)
            assert await deliver_notices(db, adapters) == 0
            assert len(_slack_notices(stub, NEWS)) == 1, "posted again while Slack said wait"
            [wait_until] = [r[0] for r in db.execute("SELECT next_attempt FROM notices")]
            assert wait_until > iso(utcnow() + timedelta(seconds=30))  # the Retry-After
            assert await deliver_notices(db, adapters) == 0  # not due yet: Slack not asked
        stub.limit_rate("conversations.history", 100)
        _due_now(db)
        async with _slack(stub) as adapter:  # a restart, after the Retry-After
            assert await deliver_notices(db, {"slack": adapter}) == 1  # found, not sent again
        assert len(_slack_notices(stub, NEWS)) == 1 and not _slack_notices(stub, "U0MOD")
    assert all(_sent(db))


async def test_slack_notice_sent_again_once_the_rate_limit_outlasts_our_patience(tmp_path):
    """A notice whose lookup Slack keeps refusing is sent again after NOTICE_LOOKUP_PATIENCE:
    a notice twice is better than one that says why alerts stopped, lost."""
    db = open_database(tmp_path / "w.db")
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.add_user("U0MOD", admin=True)
        add_notice(db, "disabled:1", TEXT, channel=f"slack:{NEWS}")
        stub.lose_response("chat.postMessage", "503")
        async with _slack(stub) as adapter:
            adapters = {"slack": adapter}
            assert await deliver_notices(db, adapters) == 0
            stub.limit_rate("conversations.history", 0)
            queued = utcnow() - timedelta(seconds=NOTICE_LOOKUP_PATIENCE)
            db.execute("UPDATE notices SET created = ?", [iso(queued)])
            _due_now(db)
            assert await deliver_notices(db, adapters) == 1
        assert len(_slack_notices(stub, NEWS)) == 2
    assert all(_sent(db))
