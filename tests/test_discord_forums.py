"""/wirewatch typed in a forum's post, through discord.py against tests/discordstub.py: a
forum takes no message of its own, its posts do.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.discord_bot import DiscordAdapter
from bot.demo.server import serve_demo
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.store import subscriptions
from tests.discordstub import DiscordStub, InteractionLog
from tests.test_discord import discord_runtime, settings_for, text_of
from tests.waiting import until

pytestmark = pytest.mark.slow


@asynccontextmanager
async def _subscribed_in(
    post: str, stub: DiscordStub, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, DiscordAdapter, InteractionLog]]:
    """The bot started on the demo's feeds, once a moderator has typed `/wirewatch subscribe
    troop-deployments` in the forum's `post`; with what the bot answered."""
    async with serve_demo() as feeds:
        settings = settings_for(tmp_path, feeds=[{"name": f.name, "url": f.url} for f in feeds])
        async with discord_runtime(stub, settings) as (rt, adapter):
            said = await stub.command(
                "subscribe", user=stub.moderator, channel=post, topic="troop-deployments"
            )
            yield rt, adapter, said


async def test_subscribe_in_a_forum_post_alerts_that_post(stub, tmp_path) -> None:
    # Taken for a story's thread, a post meant its forum: "this channel now gets ..." was
    # answered, then Discord refused the first alert (50008, a forum takes no message) and
    # the subscription was paused before it had posted anything.
    forum, post = stub.add_forum_post()
    async with _subscribed_in(post, stub, tmp_path) as (rt, _, said):
        _, stats = await poll_once(rt)
        listed = await stub.command("list", user=stub.member, channel=post)
        [sub] = subscriptions(rt.db)
    assert "now gets `troop-deployments`" in text_of(said)
    assert sub.channel == f"discord:{post}" and sub.paused_reason is None
    assert stats.failed == 0 and stats.sent >= 1
    assert "`troop-deployments`" in text_of(listed)
    assert not stub.channel_messages(forum)
    posted = stub.channel_messages(post)
    titles = [m["embeds"][0]["author"]["name"] for m in posted]
    # A story's later outlets follow in the same post: a post cannot start threads.
    assert any(t.endswith("· also reporting") for t in titles), titles
    assert not stub.threads()[1:], stub.threads()  # the post alone: no thread started


async def test_a_deleted_forum_post_is_paused_and_its_server_told_in_the_system_channel(
    stub, tmp_path
) -> None:
    # Discord says a deleted post with THREAD_DELETE, not CHANNEL_DELETE: the server of a
    # subscribed post was not remembered, and the notice that its alerts stopped reached
    # nobody (ten tries over some 40 minutes, then given up in the log).
    _, post = stub.add_forum_post()
    async with _subscribed_in(post, stub, tmp_path) as (rt, adapter, _):
        await stub.delete_channel(post)
        await until(lambda: int(post) in adapter._deleted, 2.0)
        _, stats = await poll_once(rt)
        [sub] = subscriptions(rt.db)
        [(sent_at,)] = rt.db.execute("SELECT sent_at FROM notices").fetchall()
    assert stats.failed == 1 and "Unknown Channel" in (sub.paused_reason or "")
    [notice] = stub.channel_messages(stub.general)  # the server's system channel
    assert f"paused alerts to discord:{post}" in notice["content"] and sent_at


async def test_subscribe_in_a_post_of_a_forum_where_only_staff_start_posts(stub, tmp_path) -> None:
    # In a post the bot sends into the post: Send Messages in Threads is what it needs. The
    # forum's Send Messages ("Create Posts") and Create Public Threads were asked for too,
    # and subscribe refused: "wirewatch cannot post in this channel" where it could.
    forum, post = stub.add_forum_post(staff_posts=True)
    async with _subscribed_in(post, stub, tmp_path) as (rt, _, said):
        _, stats = await poll_once(rt)
    assert "now gets `troop-deployments`" in text_of(said), text_of(said)
    assert stats.failed == 0 and stats.sent >= 1 and stub.channel_messages(post)
