"""Discord end to end: the real discord.py client against tests/discordstub.py on 127.0.0.1.

The stand-in speaks the gateway (zlib-stream) and REST wire formats, checks messages against
Discord's limits and builds each interaction from the command the bot synced, so these tests
fail when the adapter would fail against Discord.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import discord
import pytest

from adapters.discord_bot import PERMISSIONS, DiscordAdapter, discord_from_env, invite_url
from adapters.discord_commands import POSTING
from bot.clock import utcnow
from bot.commands import Commands
from bot.demo.server import serve_demo
from bot.digest import send_digests
from bot.errors import ConfigError, DeliveryError
from bot.feed_store import add_feed, list_feeds
from bot.model import Alert, Source
from bot.notice_outbox import deliver_notices
from bot.poll_cycle import poll_once
from bot.readiness import broken
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import list_topics, subscriptions
from bot.web import build_app, serve
from tests.discordstub import MANAGE_CHANNELS, DiscordStub
from tests.runtime import free_port

pytestmark = pytest.mark.slow
LIVE_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>")


def adapter_for(stub: DiscordStub, **kw: Any) -> DiscordAdapter:
    return DiscordAdapter(
        stub.token,
        api_url=stub.api_url,
        gateway_url=stub.gateway_url,
        ready_timeout=15,
        guild_ready_timeout=0.1,
        **kw,
    )


@asynccontextmanager
async def discord_runtime(
    stub: DiscordStub, settings: Settings, *, bound: bool = True, **kw: Any
) -> AsyncIterator[tuple[Runtime, DiscordAdapter]]:
    """A real runtime whose only chat is Discord, with the core's commands wired in the way
    the command line does (`Commands(rt).handle`), or as the Commands object itself."""
    adapter = adapter_for(stub, **kw)
    async with open_runtime(settings, {"discord": adapter}) as rt:
        await adapter.start(Commands(rt).handle if bound else Commands(rt))
        try:
            yield rt, adapter
        finally:
            await adapter.stop()


def settings_for(tmp_path, **extra: Any) -> Settings:
    data = {
        "database": str(tmp_path / "w.db"),
        "network": {"allow_private_addresses": True},
        "articles": {"fetch": False},
        **extra,
    }
    return Settings.model_validate(data)


def alert(delivery_id: int = 1, **changes: Any) -> Alert:
    base = Alert(
        delivery_id,
        "new",
        7,
        "troop-deployments",
        "discord:1",
        "North Korea sends troops",
        "https://news.example/a",
        "Yonhap",
        datetime(2025, 2, 27, tzinfo=UTC),
        "More troops were sent.",
        ("North Korea", "Russia"),
        ("troops",),
        "matched: troops; entities: North Korea",
        (Source("Yonhap", "North Korea sends troops", "https://news.example/a"),),
    )
    return Alert(**{**base.__dict__, **changes})


def text_of(log) -> str:
    return "\n".join(r.get("content", "") for r in log.replies())


def assert_nothing_pings(stub: DiscordStub) -> None:
    """Every body that carries text says allowed_mentions {"parse": []}; none has a live ping."""
    bodies = [c.body.get("data", c.body) if "/callback" in c.path else c.body for c in stub.posts()]
    shown = [b for b in bodies if b and (b.get("content") or b.get("embeds"))]
    assert shown
    for body in shown:
        assert body.get("allowed_mentions") == {"parse": []}, body
        assert not LIVE_MENTION.search(json.dumps(body, ensure_ascii=False)), body


# -- connecting ------------------------------------------------------------------------------


SUPPRESS_EMBEDS = 1 << 2  # a message flag: its links are not previewed


async def test_connects_over_zlib_stream_gateway_and_sees_the_guild(stub):
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        session = stub.sessions[0]
        assert session.compress == "zlib-stream"
        assert session.identify["token"] == stub.token
        assert [str(g.id) for g in adapter.client.guilds] == [stub.guild_id]
        assert not stub.commands  # no command layer given: nothing synced
    finally:
        await adapter.stop()


async def test_a_start_logs_no_warning_about_voice_the_bot_never_uses(stub, caplog, monkeypatch):
    """discord.py warns once a process that voice needs PyNaCl and davey; wirewatch never
    joins voice, and an operator reading the start's log should not have to look it up."""
    import discord

    for flag in ("warn_nacl", "warn_dave"):  # as in a fresh process without either library
        monkeypatch.setattr(discord.VoiceClient, flag, True)
    caplog.set_level(logging.INFO)
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        assert adapter.client.guilds
    finally:
        await adapter.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "voice" in w], warnings


async def test_a_refused_token_is_a_config_error(stub):
    adapter = DiscordAdapter(
        "wrong", api_url=stub.api_url, gateway_url=stub.gateway_url, ready_timeout=15
    )
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
        await adapter.start(None)


def test_env_builds_the_adapter_only_with_a_token(tmp_path):
    settings = settings_for(tmp_path)
    assert discord_from_env(settings, {}) is None
    made = discord_from_env(
        settings,
        {
            "DISCORD_BOT_TOKEN": "t",
            "DISCORD_API_URL": "http://127.0.0.1:9/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway",
        },
    )
    assert (made.api_url, made.gateway_url) == (
        "http://127.0.0.1:9/api/v10/",
        "ws://127.0.0.1:9/gateway",
    )
    with pytest.raises(ConfigError, match="DISCORD_GATEWAY_URL"):
        discord_from_env(settings, {"DISCORD_BOT_TOKEN": "t", "DISCORD_GATEWAY_URL": "http://x"})


def test_invite_url_asks_for_commands_scope_and_only_needed_permissions():
    url = invite_url(42)
    assert "client_id=42" in url and "scope=bot+applications.commands" in url
    perms = int(re.search(r"permissions=(\d+)", url).group(1))
    assert perms == sum(1 << b for b in (10, 11, 14, 16, 35, 38))  # no admin, no manage


# -- commands --------------------------------------------------------------------------------


async def test_moderator_sets_up_channel_and_seed_story_is_posted_once_with_thread(stub, tmp_path):
    async with serve_demo() as feeds, discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        # Shown to every member (everyone may search, test, status): wirewatch checks rights.
        assert "default_member_permissions" not in stub.commands[0]
        refused = await stub.command(
            "subscribe", user=stub.member, channel=stub.alerts, topic="troop-deployments"
        )
        assert "only moderators" in text_of(refused)
        assert "members who may manage the channel" in text_of(refused)
        assert subscriptions(rt.db, f"discord:{stub.alerts}") == []

        done = await stub.command(
            "subscribe",
            user=stub.moderator,
            channel=stub.alerts,
            topic="troop-deployments",
            mode="instant",
        )
        assert "now gets `troop-deployments`" in text_of(done)
        for feed in feeds:
            added = await stub.command(
                "feeds",
                "add",
                user=stub.admin,
                channel=stub.alerts,
                url=feed.url,
                name=feed.name,
            )
            assert f"added `{feed.name}`" in text_of(added), text_of(added)
        assert {f.name for f in list_feeds(rt.db)} == {f.name for f in feeds}

        await poll_once(rt)
        await poll_once(rt)  # a second cycle posts nothing again

    posted = stub.channel_messages(stub.alerts)
    nk = [m for m in posted if "troops to Russia" in m["embeds"][0]["title"]]
    assert len(nk) == 1, [m["embeds"][0]["title"] for m in posted]
    first = nk[0]["embeds"][0]
    assert first["author"]["name"] == feeds[0].name
    sources = next(f for f in first["fields"] if f["name"].startswith("Sources"))
    assert sources["name"] == "Sources (3)"
    assert all(f.name in sources["value"] for f in feeds)
    # What each outlet reported, as Slack and the console list it.
    assert "): North Korea has sent more troops to Russia, South Korea says" in sources["value"]
    # Why it fired, in the words that fired and the score: no model features.
    why = next(f["value"] for f in first["fields"] if f["name"] == "Why it fired")
    assert re.fullmatch(r'"troops" in the title; .* · relevance 0\.\d\d', why), why
    assert not re.search(r"bar 0\.|encoder|[+-]\d\.\d\b", json.dumps(first))

    thread = next(t for t in stub.threads() if t["id"] == nk[0]["id"])
    in_thread = stub.channel_messages(thread["id"])
    assert sorted(m["embeds"][0]["author"]["name"] for m in in_thread) == sorted(
        f"{f.name} · also reporting" for f in feeds[1:]
    )
    for reply in (refused, done):
        assert all(r["flags"] & 64 for r in reply.replies())  # ephemeral
    assert_nothing_pings(stub)


async def test_role_listed_in_config_is_a_moderator_and_admin_overrides(stub, tmp_path):
    settings = settings_for(tmp_path, discord={"moderators": [int(stub.editor_role)]})
    async with discord_runtime(stub, settings, bound=False) as (rt, _):
        ok = await stub.command("subscribe", user=stub.editor, topic="troop-deployments")
        assert "now gets" in text_of(ok)
        muted = await stub.command("mute", user=stub.admin, duration="2h")
        assert "muted until" in text_of(muted)
        nope = await stub.command("unmute", user=stub.member)
        assert "only moderators" in text_of(nope)
        listed = await stub.command("list", user=stub.member)  # reading is for everyone
        assert "muted until" in text_of(listed)


async def test_bot_wide_commands_need_server_wide_rights_not_one_channels(stub, tmp_path):
    """Manage Channels (a role's, or one channel's overwrite) covers that channel's commands;
    feeds and topics are every channel's, so they need Manage Server or Administrator
    server-wide, or a config moderator id."""
    settings = settings_for(tmp_path, discord={"moderators": [int(stub.editor)]})
    async with discord_runtime(stub, settings, bound=False) as (rt, _):
        add_feed(rt.db, "https://www.aljazeera.com/xml/rss/all.xml", "Al Jazeera", origin="chat")
        stub.overwrite(stub.general, stub.member, allow=MANAGE_CHANNELS)  # #general only
        sub = await stub.command("subscribe", user=stub.member, topic="troop-deployments")
        assert "now gets" in text_of(sub)  # the channel it manages: its own commands
        for who in (stub.member, stub.moderator):  # one channel's right, a role's right
            removed = await stub.command("feeds", "remove", user=who, feed="Al Jazeera")
            assert "changes wirewatch for every channel" in text_of(removed)
            assert "Manage Server or Administrator" in text_of(removed)
            changed = await stub.command("topic", "add", user=who, name="nk", query="blackpink")
            assert "changes wirewatch for every channel" in text_of(changed)
        assert not list_feeds(rt.db)[0].disabled and "nk" not in names(rt)
        other = await stub.command("unsubscribe", user=stub.member, channel=stub.alerts, topic="x")
        assert "only moderators may use it" in text_of(other)  # no right in #alerts
        listed = await stub.command("topic", "add", user=stub.editor, name="nk", query="troops")
        assert "added topic `nk`" in text_of(listed)  # a config moderator id
        owner = await stub.command("topic", "remove", user=stub.admin, name="nk")
        assert "removed topic `nk`" in text_of(owner)  # the server's owner / an admin


async def test_subscribe_where_the_bot_cannot_post_is_refused_with_what_is_missing(stub, tmp_path):
    """#locked denies the bot Send Messages (the interaction's app_permissions say so): a
    subscription there would pause at its first alert, with nobody told who asked."""
    async with discord_runtime(stub, settings_for(tmp_path), bound=False) as (rt, _):
        said = await stub.command(
            "subscribe", user=stub.moderator, channel=stub.locked, topic="troop-deployments"
        )
        assert "cannot post in this channel" in text_of(said)
        assert "Send Messages, Create Public Threads, Send Messages in Threads" in text_of(said)
        assert "Embed Links" not in text_of(said)
        assert subscriptions(rt.db, f"discord:{stub.locked}") == []
        ok = await stub.command("subscribe", user=stub.moderator, topic="troop-deployments")
        assert "now gets" in text_of(ok)


def test_the_posting_check_asks_for_what_the_invite_grants():
    wanted = discord.Permissions(**dict.fromkeys(POSTING, True))
    assert wanted == PERMISSIONS


async def test_a_stale_command_is_answered_and_logged_not_dropped(stub, tmp_path, caplog):
    """A client still showing another version's /wirewatch (a renamed subcommand, a removed
    option): without an answer the member sees only "The application did not respond"."""
    async with discord_runtime(stub, settings_for(tmp_path), bound=False) as (rt, _):
        gone = await stub.stale_command("subscriptions", user=stub.moderator)
        assert "`/wirewatch subscriptions`" in text_of(gone) and "out of date" in text_of(gone)
        assert "Reload Discord" in text_of(gone) and gone.replies()[0]["flags"] & 64
        extra = await stub.stale_command(
            "subscribe", user=stub.moderator, topic="troop-deployments", sort="new"
        )
        assert "`sort`" in text_of(extra) and "out of date" in text_of(extra)
        assert subscriptions(rt.db) == []  # not run without the option it was given
    assert caplog.text.count("discord.unknown_command") == 2


async def test_commands_in_a_story_thread_act_on_its_channel(stub, tmp_path):
    """Typed in a story's thread, /wirewatch means the channel the thread hangs from: its
    subscriptions (what unsubscribe offers too), its mute, its alerts (the story's first
    one included)."""
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": f.name, "url": f.url} for f in feeds],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
        )
        async with discord_runtime(stub, settings, bound=False) as (rt, _):
            await poll_once(rt)
            thread = stub.threads()[0]["id"]
            sql = "SELECT min(id) FROM deliveries WHERE message_id = ?"
            [(first,)] = rt.db.execute(sql, [thread]).fetchall()
            listed = await stub.command("list", user=stub.member, channel=thread)
            assert "subscribed to 1:\n- `troop-deployments`" in text_of(listed)
            offered = await stub.autocomplete(
                "unsubscribe", focused="topic", value="", user=stub.moderator, channel=thread
            )
            assert [c["value"] for c in offered] == ["troop-deployments"]
            muted = await stub.command("mute", user=stub.moderator, channel=thread, duration="1h")
            assert "muted until" in text_of(muted)
            [sub] = subscriptions(rt.db, f"discord:{stub.alerts}")
            assert sub.muted_until
            said = await stub.command(
                "feedback", "not-relevant", user=stub.member, channel=thread, alert=str(first)
            )
            assert "not posted in this channel" not in text_of(said), text_of(said)


def names(rt: Runtime) -> set[str]:
    return {t.name for t in list_topics(rt.db)}


async def test_autocomplete_offers_topic_names(stub, tmp_path):
    async with discord_runtime(stub, settings_for(tmp_path)):
        choices = await stub.autocomplete(
            "subscribe", focused="topic", value="troop", user=stub.member
        )
    assert {"name": "troop-deployments", "value": "troop-deployments"} in choices
    assert all(c["value"].startswith("troop") for c in choices)


def offered(choices: list[dict[str, Any]]) -> list[str]:
    return [c["value"] for c in choices]


async def test_unsubscribe_offers_only_this_channels_subscriptions(stub, tmp_path):
    # Found by the moderator audit: every topic was offered, and all but the channel's own
    # were then refused with "this channel is not subscribed to".
    subs = [
        {"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"},
        {"topic": "naval-movements", "channel": f"discord:{stub.alerts}"},
        {"topic": "peacekeeping", "channel": f"discord:{stub.general}"},
    ]
    async with discord_runtime(stub, settings_for(tmp_path, subscriptions=subs)):
        here = await stub.autocomplete(
            "unsubscribe", focused="topic", value="", user=stub.moderator, channel=stub.alerts
        )
        typed = await stub.autocomplete(
            "unsubscribe", focused="topic", value="na", user=stub.moderator, channel=stub.alerts
        )
        general = await stub.autocomplete(
            "unsubscribe", focused="topic", value="", user=stub.moderator
        )
        gone = await stub.command(
            "unsubscribe", user=stub.moderator, channel=stub.alerts, topic="troop-deployments"
        )
        after = await stub.autocomplete(
            "unsubscribe", focused="topic", value="", user=stub.moderator, channel=stub.alerts
        )
        subscribe = await stub.autocomplete(
            "subscribe", focused="topic", value="", user=stub.moderator, channel=stub.alerts
        )
    assert offered(here) == ["naval-movements", "troop-deployments"]
    assert offered(typed) == ["naval-movements"]
    assert offered(general) == ["peacekeeping"]
    assert "no longer gets" in text_of(gone) and offered(after) == ["naval-movements"]
    # Subscribing still offers every topic, those already subscribed here included.
    assert offered(subscribe) == [
        "naval-movements",
        "nk-russia",
        "peacekeeping",
        "troop-deployments",
    ]


async def test_topic_remove_offers_only_topics_added_from_chat(stub, tmp_path):
    # Found by the moderator audit: builtin and config topics were offered, then refused
    # ("only topics added from chat can be removed here").
    settings = settings_for(tmp_path, topics={"from-config": {"query": "budget"}})
    async with discord_runtime(stub, settings):
        added = await stub.command(
            "topic", "add", user=stub.admin, name="nk-troops", query="troops AND Korea"
        )
        remove = await stub.autocomplete(
            "topic", "remove", focused="name", value="", user=stub.admin
        )
        typed = await stub.autocomplete(
            "topic", "remove", focused="name", value="tro", user=stub.admin
        )
        subscribe = await stub.autocomplete("subscribe", focused="topic", value="", user=stub.admin)
    assert "nk-troops" in text_of(added), text_of(added)
    assert offered(remove) == ["nk-troops"]
    assert offered(typed) == []
    everything = ["from-config", "naval-movements", "nk-russia", "nk-troops", "peacekeeping"]
    assert offered(subscribe) == [*everything, "troop-deployments"]


async def test_test_command_takes_a_topic_or_a_query_without_backticks(stub, tmp_path):
    text = "North Korea has sent more troops to Russia, Seoul says"
    async with discord_runtime(stub, settings_for(tmp_path)):
        by_topic = await stub.command(
            "test", user=stub.member, query="troop-deployments", text=text
        )
        by_query = await stub.command(
            "test", user=stub.member, query="troops NEAR/3 Russia", text=text
        )
        no = await stub.command(
            "test",
            user=stub.member,
            query="troop-deployments",
            text="Blackpink announces a world tour",
        )
    assert text_of(by_topic).startswith("MATCH") and text_of(by_query).startswith("MATCH")
    assert text_of(no).startswith("no match")


async def test_options_that_cannot_be_passed_on_as_typed_are_refused_not_misread(stub, tmp_path):
    async with discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        spaced = await stub.command(
            "topic", "add", user=stub.admin, name="nk troops", query="entity:Russia"
        )
        ticked = await stub.command(
            "test", user=stub.member, query="Kim`s troops", text="Kim sends troops"
        )
        names = [t.name for t in list_topics(rt.db)]
    assert "one word" in text_of(spaced) and "nk" not in names
    assert "backtick" in text_of(ticked) and not text_of(ticked).startswith("MATCH")


async def test_slow_command_is_deferred_then_answered_by_follow_up(stub, tmp_path, feed_server):
    feed_server.serve("/slow.xml", _rss("North Korea sends troops"), drip=(200, 0.2))
    async with discord_runtime(stub, settings_for(tmp_path), defer_after=0.3):
        log = await stub.command("feeds", "add", user=stub.admin, url=feed_server.url("/slow.xml"))
    assert log.deferred() and log.callbacks[0]["data"]["flags"] & 64
    assert "added" in text_of(log) and all(r["flags"] & 64 for r in log.followups)


async def test_feed_text_in_a_reply_cannot_ping_or_link(stub, tmp_path, feed_server):
    hostile = _rss("North Korea sends troops @everyone <@&1> [login](https://evil.example)")
    feed_server.serve("/hostile.xml", hostile)
    async with discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        await stub.command(
            "feeds",
            "add",
            user=stub.admin,
            url=feed_server.url("/hostile.xml"),
            name="Hostile @here",
        )
        found = await stub.command("search", user=stub.member, words="troops")
    assert "@\u200beveryone" in text_of(found) and "\\[login\\]" in text_of(found)
    assert_nothing_pings(stub)
    # The feed's links in the answer are not previewed (a page it chose, shown under us).
    assert found.replies() and all(r["flags"] & SUPPRESS_EMBEDS for r in found.replies())


# -- delivering ------------------------------------------------------------------------------


async def test_hostile_feed_item_is_posted_without_pings_or_bad_links(stub, tmp_path, feed_server):
    feed_server.serve(
        "/f.xml",
        _rss("North Korea sends troops to Russia @everyone <@&5>", link="javascript:alert(1)"),
    )
    settings = settings_for(
        tmp_path,
        feeds=[{"name": "Wire", "url": feed_server.url("/f.xml")}],
        subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
    )
    async with discord_runtime(stub, settings) as (rt, _):
        _, stats = await poll_once(rt)
    assert stats.sent == 1
    embed = stub.channel_messages(stub.alerts)[0]["embeds"][0]
    assert "url" not in embed and "@\u200beveryone" in embed["title"]
    assert_nothing_pings(stub)


async def test_a_digest_is_one_embed_that_cannot_ping_and_is_never_posted_twice(
    stub, tmp_path, feed_server
):
    feed_server.serve("/f.xml", _rss("North Korea sends troops to Russia @everyone <@&5>"))
    channel = f"discord:{stub.alerts}"
    settings = settings_for(
        tmp_path,
        feeds=[{"name": "Wire", "url": feed_server.url("/f.xml")}],
        subscriptions=[{"topic": "troop-deployments", "channel": channel, "mode": "digest"}],
    )
    async with discord_runtime(stub, settings) as (rt, _):
        _, stats = await poll_once(rt)
        assert stats.sent == 0 and stub.channel_messages(stub.alerts) == []
        # Discord takes it but the answer is lost: discord.py sends it again, same nonce.
        stub.fail("POST", r"^/channels/\d+/messages$", 500, commit=True)
        assert await send_digests(rt.db, rt.adapters) == 1
        [message] = stub.channel_messages(stub.alerts)
        key = rt.db.execute("SELECT min(id) FROM deliveries").fetchone()[0]
        embed = message["embeds"][0]
        assert embed["title"].startswith("wirewatch digest") and "· 1 story" in embed["title"]
        assert "@\u200beveryone" in embed["description"]
        assert embed["footer"]["text"].endswith(f"ref {key}")
        assert_nothing_pings(stub)
        # Left claimed by a crash before the mark: found by its ref, not posted again.
        rt.db.execute("UPDATE deliveries SET status = 'claimed'")
        assert await send_digests(rt.db, rt.adapters) == 0
        assert len(stub.channel_messages(stub.alerts)) == 1
        assert rt.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]


async def test_500_and_429_are_waited_out_by_discord_py(stub):
    stub.fail("POST", r"^/channels/\d+/messages$", 500)
    stub.fail("POST", r"^/channels/\d+/messages$", 429, retry_after=0.2)
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        ref = await adapter.post_alert(stub.alerts, alert())
    finally:
        await adapter.stop()
    assert [m["id"] for m in stub.channel_messages(stub.alerts)] == [ref.message_id]


async def test_a_long_rate_limit_comes_back_to_the_outbox_with_its_wait(stub):
    # Slept through inside the request, a long wait ran past the send deadline and was taken
    # for a lost answer, tried again 5 s later, before Discord's retry_after.
    stub.fail("POST", r"^/channels/\d+/messages$", 429, retry_after=50.0)
    adapter = adapter_for(stub)
    await adapter.start(None)
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(DeliveryError) as raised:
            await adapter.post_alert(stub.alerts, alert())
    finally:
        await adapter.stop()
    assert asyncio.get_running_loop().time() - started < 10
    assert raised.value.retry_after is not None and raised.value.retry_after >= 49
    assert not raised.value.maybe_posted and stub.channel_messages(stub.alerts) == []


async def test_forbidden_channel_stops_pauses_and_tells_moderators_once(stub, tmp_path):
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": feeds[0].name, "url": feeds[0].url}],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.locked}"}],
        )
        async with discord_runtime(stub, settings) as (rt, _):
            _, stats = await poll_once(rt)
            assert stats.failed == 1
            sub = subscriptions(rt.db, f"discord:{stub.locked}")[0]
            assert "Missing Permissions" in sub.paused_reason
            assert await deliver_notices(rt.db, rt.adapters) == 0  # already sent once
    notices = stub.channel_messages(stub.general)  # the locked channel refuses us too
    assert len(notices) == 1 and "paused alerts" in notices[0]["content"]
    assert notices[0]["flags"] & SUPPRESS_EMBEDS  # no preview of the URLs a notice names


async def test_unknown_channel_is_permanent(stub):
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        with pytest.raises(DeliveryError) as failed:
            await adapter.post_alert("999", alert())
    finally:
        await adapter.stop()
    assert failed.value.permanent and "gone" in str(failed.value)


async def test_a_token_discord_no_longer_accepts_waits_and_says_so(stub):
    # Retried quietly, a reset token failed every alert every 15 minutes, and nobody was
    # told; taken as the channel's fault, it paused each channel, to be subscribed again one
    # by one once fixed. It waits on disk, named to /readyz and /healthz (`stopped_by`).
    stub.fail("POST", r"^/channels/\d+/messages$", 401)
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        with pytest.raises(DeliveryError) as failed:
            await adapter.post_alert(stub.alerts, alert())
        assert not adapter.connected and "401" in adapter.down_reason
    finally:
        await adapter.stop()
    assert not failed.value.permanent and failed.value.retry_after
    assert "check DISCORD_BOT_TOKEN" in str(failed.value) and "restart" in str(failed.value)
    assert adapter.stopped_by and "token" in adapter.stopped_by


async def test_find_posted_recognises_alerts_and_thread_updates(stub):
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        parent = await adapter.post_alert(stub.alerts, alert(11))
        update = await adapter.post_update(parent, alert(12, kind="update", outlet="AJ"))
        assert update.thread_id == parent.message_id
        assert await adapter.find_posted(stub.alerts, 11) == parent
        assert await adapter.find_posted(stub.alerts, 12) == update
        assert await adapter.find_posted(stub.alerts, 13) is None
        again = await adapter.post_update(parent, alert(14, kind="update"))  # thread reused
    finally:
        await adapter.stop()
    assert again.thread_id == parent.message_id and len(stub.threads()) == 1


async def test_find_posted_looks_in_an_old_storys_thread_first(stub):
    # Only the five newest threads are scanned: a lost update in an older story's thread
    # was not found, and would have been posted twice.
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        old = await adapter.post_alert(stub.alerts, alert(31))
        update = await adapter.post_update(old, alert(32, kind="update"))
        for n in range(6):  # newer stories, each with a thread
            parent = await adapter.post_alert(stub.alerts, alert(100 + 2 * n, story_id=100 + n))
            await adapter.post_update(parent, alert(101 + 2 * n, kind="update", story_id=100 + n))
        assert await adapter.find_posted(stub.alerts, 32) is None  # past the scan
        assert await adapter.find_posted(stub.alerts, 32, old) == update
    finally:
        await adapter.stop()


async def test_update_goes_to_the_channel_when_the_first_message_was_deleted(stub):
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        parent = await adapter.post_alert(stub.alerts, alert(21))
        del stub.messages[parent.message_id]  # a moderator deleted the alert
        update = await adapter.post_update(parent, alert(22, kind="update"))
    finally:
        await adapter.stop()
    assert update.thread_id is None and update.channel == stub.alerts
    assert [m["id"] for m in stub.channel_messages(stub.alerts)] == [update.message_id]


@pytest.mark.parametrize("stage", [False, True])
async def test_in_a_voice_or_stage_chat_updates_go_into_the_channel(stub, stage):
    # A voice/stage channel's text chat cannot hold threads: the first update failed as
    # permanent ("cannot hold threads") and paused the whole subscription.
    voice = stub.add_voice_channel(stage=stage)
    adapter = adapter_for(stub)
    await adapter.start(None)
    try:
        parent = await adapter.post_alert(voice, alert(41))
        update = await adapter.post_update(parent, alert(42, kind="update", outlet="AJ"))
        again = await adapter.post_update(parent, alert(43, kind="update"))
        found = await adapter.find_posted(voice, 42, parent)
    finally:
        await adapter.stop()
    assert update.channel == voice and not stub.threads()
    ids = [m["id"] for m in stub.channel_messages(voice)]
    assert ids == [parent.message_id, update.message_id, again.message_id]
    assert found == update


async def test_a_voice_chat_subscription_is_not_paused_by_its_stories_updates(stub, tmp_path):
    voice = stub.add_voice_channel()
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": f.name, "url": f.url} for f in feeds],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{voice}"}],
        )
        async with discord_runtime(stub, settings) as (rt, _):
            await poll_once(rt)
            [sub] = subscriptions(rt.db, f"discord:{voice}")
            kinds = rt.db.execute("SELECT kind, status FROM deliveries ORDER BY id").fetchall()
    assert sub.paused_reason is None
    assert ("update", "sent") in kinds and all(status == "sent" for _, status in kinds), kinds
    assert len(stub.channel_messages(voice)) == len(kinds) - kinds.count(("corroborated", "sent"))


async def test_a_long_query_in_replies_keeps_its_code_span_in_every_message(stub, tmp_path):
    # `topic add` and `topics` echo a 3,000-character query: cut at 2,000 characters inside
    # its code span, the next message showed the query's `*` and `_` as markdown.
    query = " OR ".join(f"deploy{i}* OR troop_{i}" for i in range(120))
    async with discord_runtime(stub, settings_for(tmp_path)):
        added = await stub.command("topic", "add", user=stub.admin, name="wide", query=query)
        listed = await stub.command("topics", user=stub.member)
    replies = [r["content"] for r in (*added.replies(), *listed.replies())]
    assert len(added.replies()) > 1 and len(listed.replies()) > 1
    assert all(len(re.findall(r"(?<!\\)`", c)) % 2 == 0 for c in replies), replies
    assert not any("\\\n" in c for c in replies)  # no stray "\" ending a list line


def _rss(title: str, link: str = "https://wire.example/a") -> str:
    when = format_datetime(utcnow())
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><item>'
        f"<title>{_xml(title)}</title><link>{_xml(link)}</link><guid>g1</guid>"
        f"<description>{_xml(title)}.</description><pubDate>{when}</pubDate></item>"
        "</channel></rss>"
    )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def test_a_token_refused_mid_run_is_named_to_deliveries_and_readiness(stub) -> None:
    # discord.py stops for good on 4004: deliveries waited as plain "not connected".
    adapter = adapter_for(stub)
    await adapter.start()
    try:
        stub.token = "revoked-in-the-developer-portal"
        for session in list(stub.sessions):
            await session.ws.close(code=4000, message=b"Unknown error.")  # resumable
        for _ in range(300):
            if adapter.stopped_by:
                break
            await asyncio.sleep(0.05)
        assert adapter.stopped_by and "4004" in adapter.stopped_by
        assert not adapter.connected and "4004" in adapter.down_reason
        with pytest.raises(DeliveryError) as waiting:
            await adapter.post_alert(str(stub.alerts), alert())
        assert "closed for good" in str(waiting.value) and "restart" in str(waiting.value)
        assert not waiting.value.permanent  # kept on disk, sent once restarted
    finally:
        await adapter.stop()


async def test_a_token_refused_mid_run_turns_the_healthcheck_red(stub) -> None:
    # /healthz (the image's HEALTHCHECK) stayed 200 while no alert could go out until an
    # operator changed the token and restarted: `docker compose ps` said healthy.
    adapter = adapter_for(stub)
    web_app = build_app(lambda: (True, "ok"), broken=lambda: broken({"discord": adapter}))
    runner = await serve(web_app, port := free_port(), host="127.0.0.1")
    await adapter.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
            stub.token = "revoked-in-the-developer-portal"
            for session in list(stub.sessions):
                await session.ws.close(code=4000, message=b"Unknown error.")  # resumable
            for _ in range(300):
                if adapter.stopped_by:
                    break
                await asyncio.sleep(0.05)
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                body = await r.json()
                assert r.status == 503 and body["status"] == "failed"
        assert "discord stopped for good" in body["reason"] and "4004" in body["reason"]
        assert "restart" in body["reason"]
    finally:
        await adapter.stop()
        await runner.cleanup()
