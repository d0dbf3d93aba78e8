"""Feedback buttons on Slack: the real bolt app, clicks POSTed as Slack signs them (HTTP mode)
or sent over the socket (Socket Mode), answered through the click's response_url, with
tests/slackstub.py standing in for Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from adapters.slack_commands import EVENTS_PATH
from bot.commands import Commands
from bot.demo.server import serve_demo
from bot.maintenance import prune
from bot.poll_cycle import poll_once
from bot.settings import Settings
from bot.startup import open_runtime
from tests.feedserver import FeedServer
from tests.slackstub import APP_TOKEN, TOKEN, SlackStub, signed_action
from tests.test_commands import NK_FEED
from tests.test_slack import ADMIN, MEMBER, NEWS, ROOT, Env, slack_env

NOT_RELEVANT, WRONG_STORY = "wirewatch_feedback:not-relevant", "wirewatch_feedback:wrong-story"


def settings(tmp_path: Path, feeds: list[tuple[str, str]]) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "network": {"allow_private_addresses": True},
            "feeds": [{"name": n, "url": u} for n, u in feeds],
            "subscriptions": [{"topic": "troop-deployments", "channel": f"slack:{NEWS}"}],
        }
    )


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id -> value of the message's buttons."""
    return {
        e["action_id"]: e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


async def answered(stub: SlackStub, user: str, count: int) -> str:
    """The `count`-th text Slack showed `user` alone (their clicks' answers)."""
    for _ in range(200):
        shown = stub.ephemeral_to(user)
        if len(shown) >= count:
            return shown[count - 1]
        await asyncio.sleep(0.025)
    raise AssertionError(f"no answer to {user}'s click #{count}; responses: {stub.responses}")


async def click(env: Env, ts: str, action: str, user: str, **sign: Any) -> int:
    """Click like Slack: the signed POST to the request URL; its HTTP status (ack in 3 s)."""
    payload = env.stub.block_actions(NEWS, ts, action, user=user, key=f"k{time.monotonic_ns()}")
    started = time.monotonic()
    response = await env.post(*signed_action(payload, **sign))
    assert time.monotonic() - started < 3.0
    return response.status


def visible(env: Env) -> list[dict[str, Any]]:
    return copy.deepcopy(env.stub.channels[NEWS].messages)


async def test_a_click_is_recorded_and_answered_to_the_clicker_alone(tmp_path: Path) -> None:
    async with serve_demo() as demo:
        feeds = [(f.name, f.url) for f in demo]
        async with slack_env(tmp_path, settings=settings(tmp_path, feeds)) as env:
            await poll_once(env.rt)
            db = env.rt.db
            [parent] = [m for m in env.stub.top_level(NEWS) if "troops to Russia" in m["text"]]
            first = db.execute(
                "SELECT id FROM deliveries WHERE message_id = ?", [parent["ts"]]
            ).fetchone()[0]
            updates = env.stub.replies(NEWS, parent["ts"])
            assert len(updates) == 2 and len(env.stub.calls_to("chat.update")) >= 2
            # Edited to list every source, the first message still labels its own alert.
            assert buttons(parent) == {NOT_RELEVANT: str(first), WRONG_STORY: str(first)}
            assert "ref " + str(first) in str(parent["blocks"][1])
            before, calls = visible(env), len(env.stub.calls)

            assert await click(env, parent["ts"], NOT_RELEVANT, MEMBER) == 200
            said = await answered(env.stub, MEMBER, 1)
            assert f"Recorded (alert {first})" in said and "only you see this" in said
            [update] = [u for u in updates if buttons(u)[WRONG_STORY] != str(first)][:1]
            assert await click(env, update["ts"], WRONG_STORY, ADMIN) == 200
            assert "does not belong to the story" in await answered(env.stub, ADMIN, 1)
            assert await click(env, parent["ts"], NOT_RELEVANT, MEMBER) == 200
            assert "already marked" in await answered(env.stub, MEMBER, 2)

            rows = db.execute("SELECT delivery_id, kind, platform, user, channel FROM feedback")
            assert rows.fetchall() == [
                (first, "not-relevant", "slack", MEMBER, f"slack:{NEWS}"),
                (int(buttons(update)[WRONG_STORY]), "wrong-story", "slack", ADMIN, f"slack:{NEWS}"),
            ]
            # Nobody else saw a thing: no message posted, changed or deleted, nothing in_channel.
            assert visible(env) == before
            since = {c.method for c in env.stub.calls[calls:]}
            assert not since & {"chat.postMessage", "chat.update", "chat.delete"}, since
            for _, payload in env.stub.responses:
                assert payload["response_type"] == "ephemeral"
                assert payload["replace_original"] is False


async def test_a_forged_click_is_refused_and_an_old_alert_answers_clearly(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    async with slack_env(
        tmp_path, settings=settings(tmp_path, [("Wire", feed_server.url("/feed"))])
    ) as env:
        await poll_once(env.rt)
        [alert] = env.stub.top_level(NEWS)
        payload = env.stub.block_actions(NEWS, alert["ts"], NOT_RELEVANT, user=MEMBER, key="x")
        for sign in ({"secret": "not-the-secret"}, {"timestamp": int(time.time()) - 301}):
            assert (await env.post(*signed_action(payload, **sign))).status == 401
        unsigned = signed_action(payload)[0]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert (await env.post(unsigned, form)).status == 401
        await asyncio.sleep(0.2)
        assert env.stub.responses == []
        assert env.rt.db.execute("SELECT count(*) FROM feedback").fetchone() == (0,)

        # The alert is pruned from the database; its message, and buttons, stay in Slack.
        assert prune(env.rt.db, older_than=1.0, story_window=0.0, vacuum=False).deliveries == 1
        assert await click(env, alert["ts"], WRONG_STORY, MEMBER) == 200
        said = await answered(env.stub, MEMBER, 1)
        assert "wirewatch does not know alert" in said and "Nothing was recorded" in said
        assert env.rt.db.execute("SELECT count(*) FROM feedback").fetchone() == (0,)


async def test_socket_mode_clicks_are_recorded_too(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/feed", NK_FEED)
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
        adapter = SlackAdapter(client, app_token=APP_TOKEN, pace=0)
        config = settings(tmp_path, [("Wire", feed_server.url("/feed"))])
        async with open_runtime(config, {"slack": adapter}) as rt:
            await adapter.start(Commands(rt).handle)
            try:
                await poll_once(rt)
                [alert] = stub.top_level(NEWS)
                before = copy.deepcopy(stub.channels[NEWS].messages)
                payload = stub.block_actions(NEWS, alert["ts"], NOT_RELEVANT, user=MEMBER, key="s")
                assert await stub.socket_action(payload) == {}  # acked, empty
                said = await answered(stub, MEMBER, 1)
            finally:
                await adapter.stop()
            assert "Recorded (alert 1)" in said
            assert rt.db.execute("SELECT user, kind FROM feedback").fetchall() == [
                (MEMBER, "not-relevant")
            ]
            assert stub.channels[NEWS].messages == before


def test_the_manifest_sends_clicks_where_wirewatch_listens() -> None:
    manifest = yaml.safe_load((ROOT / "config/slack-manifest.yml").read_text())
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith(EVENTS_PATH)
