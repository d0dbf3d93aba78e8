"""A digest the platform refuses for itself (too long, Invalid Form Body): the channel is
neither held nor paused for it; the message goes out smaller, a story the platform will not
take is failed alone with its reason (counted by `status`, shown by the recap), and the
channel's next digest goes on. Real SQLite, feeds on 127.0.0.1, Slack's and Discord's
stand-ins through the real slack_sdk/slack-bolt and discord.py.

Each test here failed before the fix: a refused digest was put back to wait (Slack), so
the same oldest stories were refused again at every digest and nothing after them went
out; or it paused the channel (Discord), and on resuming the same digest paused it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.digest import send_digests
from bot.poll_cycle import poll_once
from bot.send_errors import FAULT_ATTEMPTS
from bot.store import subscriptions
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.test_digest import LITHUANIA, NK_REPORTS, _outlet_feed
from tests.test_digest_feedback import ESTONIA, _config, _serve
from tests.test_discord import discord_runtime, settings_for
from tests.test_feedback import _settings
from tests.test_slack import ADMIN, NEWS, slack_env

NK = NK_REPORTS[0][0]
MESSAGES = r"^/channels/\d+/messages$"


def _statuses(db) -> dict[str, str]:
    """Each item's headline -> its delivery's status here (one digest channel)."""
    return dict(
        db.execute(
            "SELECT i.title, d.status FROM deliveries d JOIN items i ON i.id = d.item_id "
            "WHERE i.title != ? ORDER BY d.id",
            [NK_REPORTS[1][0]],
        ).fetchall()
    )


async def test_a_digest_slack_refuses_once_goes_out_smaller_in_the_same_turn(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.fail("chat.postMessage", error="msg_too_long")
        assert await send_digests(env.rt.db, env.rt.adapters) == 2  # a story a message
        posted = [m["text"] for m in env.stub.top_level(NEWS)]
        assert [NK in posted[0], LITHUANIA[0] in posted[1]] == [True, True]
        assert set(_statuses(env.rt.db).values()) == {"sent"}
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.paused_reason is None


async def test_a_story_slack_always_refuses_is_failed_with_its_reason_and_the_rest_go_on(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The moderator's `digest`: the two stories together refused, the first alone refused
    FAULT_ATTEMPTS times and failed, the second posted; the answer, `status` and the recap
    say so; the next digest is not held by it."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.fail("chat.postMessage", error="msg_too_long", times=1 + FAULT_ATTEMPTS)
        said = await env.command("digest", user=ADMIN)
        assert said.startswith("digest sent: 1 story; 1 story was refused by the platform")
        assert "msg_too_long" in said
        [posted] = [m["text"] for m in env.stub.top_level(NEWS)]
        assert LITHUANIA[0] in posted and NK not in posted
        assert _statuses(env.rt.db) == {NK: "failed", LITHUANIA[0]: "sent"}
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.paused_reason is None

        status = await env.command("status", user=ADMIN)
        assert "msg_too_long" in status
        recap = await env.command("digest 2h", user=ADMIN)
        assert f"NOT TOLD: given up on (`status` says why) · {NK}" in recap

        later = datetime.now(UTC) - timedelta(minutes=1)
        feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))
        await poll_once(env.rt)
        assert await send_digests(env.rt.db, env.rt.adapters) == 1  # the next goes on
        assert ESTONIA[0] in env.stub.top_level(NEWS)[-1]["text"]


async def test_a_story_given_up_on_keeps_its_reason_when_slack_then_fails_the_rest(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """One story refused until given up on, then Slack down for the other: the answer names
    the refusal as the story's reason and the outage as why the rest waits (it named the
    outage for both, and the refusal nowhere)."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.fail("chat.postMessage", error="msg_too_long", times=1 + FAULT_ATTEMPTS)
        env.stub.fail("chat.postMessage", error="service_unavailable")
        said = await env.command("digest", user=ADMIN)
        given_up, _, rest = said.partition("; the rest could not be posted now: ")
        assert given_up.startswith("nothing was posted; 1 story was refused by the platform")
        assert "msg_too_long" in given_up and "service_unavailable" not in given_up, said
        assert "service_unavailable" in rest and "next digest" in rest, said
        assert _statuses(env.rt.db) == {NK: "failed", LITHUANIA[0]: "digest"}


async def test_a_digest_discord_refuses_does_not_pause_the_channel(
    stub: DiscordStub,  # noqa: F811 (the fixture)
    tmp_path: Path,
    feed_server: FeedServer,
) -> None:
    _serve(feed_server)
    channel = f"discord:{stub.alerts}"
    feeds = [{"name": f"Outlet {n.upper()}", "url": feed_server.url(f"/{n}")} for n in "ab"]
    subs = [{"topic": "troop-deployments", "channel": channel, "mode": "digest"}]
    settings = settings_for(tmp_path, feeds=feeds, subscriptions=subs)
    async with discord_runtime(stub, settings) as (rt, _):
        await poll_once(rt)
        stub.fail("POST", MESSAGES, 400, code=50035)
        assert await send_digests(rt.db, rt.adapters) == 2
        [sub] = subscriptions(rt.db, channel)
        assert sub.paused_reason is None
        assert set(_statuses(rt.db).values()) == {"sent"}
        embeds = [m["embeds"][0]["description"] for m in stub.channel_messages(stub.alerts)]
        assert len(embeds) == 2 and NK in embeds[0] and LITHUANIA[0] in embeds[1]
