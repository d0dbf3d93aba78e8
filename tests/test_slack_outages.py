"""Slack failures a running bot meets, against tests/slackstub.py through slack_sdk: a
message Slack refuses for itself, a story's thread that takes no more replies.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.clock import iso, utcnow
from bot.errors import DeliveryError
from bot.outbox import deliver_pending, reconcile
from bot.poll_cycle import poll_once
from bot.readiness import broken
from bot.send_errors import FAULT_ATTEMPTS
from bot.store import subscriptions
from tests.feedserver import FeedServer
from tests.slackstub import signed_event
from tests.test_commands import NK_TITLE, rss
from tests.test_discord import alert
from tests.test_slack import MOD, NEWS, slack_env

TWO_STORIES = rss(
    [
        (NK_TITLE, "Seoul says Pyongyang sent more soldiers to the Kursk front."),
        ("Britain deploys 500 troops to Estonia", "The soldiers join a NATO battlegroup."),
    ]
)


async def test_a_message_slack_refuses_fails_alone_and_the_channel_goes_on(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # msg_too_long (ok:false, HTTP 200) was retried as an outage, every 15 minutes for
    # good, and every later alert of the channel waited behind it.
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", error="msg_too_long", times=FAULT_ATTEMPTS)
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        for _ in range(3):  # what a few outbox ticks would do, waits over
            env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
            await poll_once(env.rt)
        rows = env.rt.db.execute("SELECT status, error FROM deliveries ORDER BY id").fetchall()
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert [status for status, _ in rows] == ["failed", "sent"]
        assert "msg_too_long" in rows[0][1] and sub.paused_reason is None
        assert len([c for c in env.stub.posts(NEWS) if c.ok]) == 1


@pytest.mark.parametrize(
    "error",
    ["cannot_reply_to_message", "thread_locked", "restricted_action_non_threadable_channel"],
)
async def test_an_update_for_a_thread_that_takes_no_replies_goes_into_the_channel(
    tmp_path: Path, error: str
) -> None:
    # Retried as an outage, the refusal held every later alert of the channel for good.
    async with slack_env(tmp_path) as env:
        parent = await env.adapter.post_alert(NEWS, alert(51, channel=f"slack:{NEWS}"))
        env.stub.fail("chat.postMessage", error=error)
        update = await env.adapter.post_update(parent, alert(52, kind="update"))
        assert update.thread_id is None and update.channel == NEWS
        assert [m["ts"] for m in env.stub.top_level(NEWS)] == [parent.message_id, update.message_id]


async def test_a_send_in_doubt_slack_cannot_look_up_is_asked_after_a_backoff_not_every_tick(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Left claimed by a crash (or by a database locked when it was to be marked sent) while
    # Slack is down: every outbox tick (2 s) asked conversations.history again, for as long
    # as the outage lasted, and the log said so each time.
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        assert len(env.stub.posts(NEWS)) == 2
        env.rt.db.execute("UPDATE deliveries SET status = 'claimed' WHERE id = 2")
        env.stub.fail("conversations.history", status=503, times=100)
        adapters = env.rt.adapters
        for _ in range(5):  # five outbox ticks of the running bot
            await reconcile(env.rt.db, adapters)
            await deliver_pending(env.rt.db, adapters)
        assert len(env.stub.calls_to("conversations.history")) == 1
        status, doubt = env.rt.db.execute(
            "SELECT status, maybe_posted FROM deliveries WHERE id = 2"
        ).fetchone()
        assert (status, doubt) == ("pending", 1)  # waits in doubt, with the outbox's backoff
        env.stub.recover("conversations.history")  # Slack is back
        env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        await reconcile(env.rt.db, adapters)
        await deliver_pending(env.rt.db, adapters)
        assert (
            env.rt.db.execute("SELECT status FROM deliveries WHERE id = 2").fetchone()[0] == "sent"
        )
        assert len(env.stub.posts(NEWS)) == 2  # found, not posted again


async def test_a_token_revoked_mid_run_pauses_no_channel_and_turns_health_red(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # token_revoked paused each channel its alerts met, as if the channel were at fault:
    # with the token fixed and wirewatch restarted, every channel still had to be subscribed
    # again by hand, and /healthz stayed green meanwhile.
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        env.stub.token = "xoxb-revoked"  # every call now answers invalid_auth
        await env.command(f"feeds add {feed_server.url('/feed')}", user=MOD)  # no lookup
        for _ in range(2):
            env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
            await poll_once(env.rt)
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        statuses = [r[0] for r in env.rt.db.execute("SELECT status FROM deliveries")]
        assert sub.paused_reason is None and statuses == ["pending", "pending"]
        assert "invalid_auth" in broken(env.rt.adapters)  # /healthz: 503 with the reason
        # /readyz: "not connected: slack (Slack invalid_auth: ...)"
        assert not env.adapter.connected and "invalid_auth" in env.adapter.down_reason
    async with slack_env(tmp_path) as env:  # restarted with a working token
        env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        await poll_once(env.rt)
        statuses = [r[0] for r in env.rt.db.execute("SELECT status FROM deliveries")]
        assert statuses == ["sent", "sent"] and len(env.stub.posts(NEWS)) == 2
        assert broken(env.rt.adapters) == ""


async def test_an_expired_token_is_the_token_s_fault_not_the_channel_s(tmp_path: Path) -> None:
    # With token rotation on, Slack answers token_expired: it was retried as an outage
    # with no sign on /healthz of what to fix.
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", error="token_expired")
        with pytest.raises(DeliveryError) as expired:
            await env.adapter.post_alert(NEWS, alert(61, channel=f"slack:{NEWS}"))
        assert not expired.value.permanent and expired.value.retry_after
        assert "token_expired" in broken(env.rt.adapters)


async def test_a_token_slack_refused_once_then_takes_again_turns_health_green_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # One invalid_auth (Slack has answered so during its own incidents) set /healthz and
    # /readyz to 503 "stopped for good ... restart" until a restart, though the alert was
    # sent at its next try a minute later and every one after it went out.
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        env.stub.fail("chat.postMessage", error="invalid_auth")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        assert "invalid_auth" in broken(env.rt.adapters)
        env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        await poll_once(env.rt)
        statuses = [r[0] for r in env.rt.db.execute("SELECT status FROM deliveries")]
        assert statuses == ["sent", "sent"]
        assert broken(env.rt.adapters) == "" and env.adapter.connected


async def test_the_app_uninstalled_turns_health_red_at_once(tmp_path: Path) -> None:
    # Slack tells the app it was removed (app_uninstalled, or tokens_revoked naming the bot):
    # that was logged only, and /healthz and /readyz said ok until an alert next met the
    # refusal, which on a quiet topic could be days later.
    async with slack_env(tmp_path) as env:
        user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ADMIN"], "bot": []}}
        assert (await env.post(*signed_event(user_only))).status == 200
        await asyncio.sleep(0.3)  # its listener has run
        assert broken(env.rt.adapters) == "" and env.adapter.connected
        assert (await env.post(*signed_event({"type": "app_uninstalled"}))).status == 200
        await _handled(env)
        assert "app_uninstalled" in broken(env.rt.adapters)
        assert not env.adapter.connected and "reinstall" in env.adapter.down_reason
    async with slack_env(tmp_path) as env:
        bot = {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}}
        assert (await env.post(*signed_event(bot))).status == 200
        await _handled(env)
        assert "tokens_revoked" in broken(env.rt.adapters)


async def _handled(env) -> None:
    """bolt runs an event's listener after the ack: until it sets a reason, or 2 s."""
    for _ in range(40):
        if env.adapter.stopped_by:
            return
        await asyncio.sleep(0.05)
