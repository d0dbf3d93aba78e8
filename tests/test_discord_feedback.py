"""Feedback buttons on Discord: the real discord.py client, component interactions (type 3)
sent over tests/discordstub.py's gateway for buttons the bot really put on its messages, and
answered through the real interaction callback route."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.demo.server import serve_demo
from bot.maintenance import prune
from bot.poll_cycle import poll_once
from tests.discordstub import EPHEMERAL, DiscordStub
from tests.test_discord import discord_runtime, settings_for, text_of

pytestmark = pytest.mark.slow
NOT_RELEVANT, WRONG_STORY = "wirewatch:feedback:not-relevant:", "wirewatch:feedback:wrong-story:"


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (c["label"], c["custom_id"])
        for row in message["components"]
        for c in row["components"]
        if row["type"] == 1
    ]


def delivery_of(rt, message_id: str) -> int:
    found = rt.db.execute("SELECT id FROM deliveries WHERE message_id = ?", [message_id])
    return found.fetchone()[0]


async def test_a_click_is_recorded_and_answered_to_the_clicker_alone(
    stub: DiscordStub, tmp_path
) -> None:
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": f.name, "url": f.url} for f in feeds],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
        )
        async with discord_runtime(stub, settings) as (rt, _):
            await poll_once(rt)
            [parent] = [
                m
                for m in stub.channel_messages(stub.alerts)
                if "troops to Russia" in m["embeds"][0]["title"]
            ]
            first = delivery_of(rt, parent["id"])
            thread = stub.channel_messages(parent["id"])  # the story's thread
            assert len(thread) == 2 and parent["edited_timestamp"]  # edited: every source
            # The edit kept the buttons, and they still label the first message's own alert.
            assert buttons(parent) == [
                ("Not relevant", f"{NOT_RELEVANT}{first}"),
                ("Wrong story", f"{WRONG_STORY}{first}"),
            ]
            assert parent["embeds"][0]["footer"]["text"].endswith(f" · ref {first}")
            update = thread[0]
            later = delivery_of(rt, update["id"])
            before, patches = copy.deepcopy(stub.messages), len(stub.calls)

            said = await stub.click(parent["id"], f"{NOT_RELEVANT}{first}", user=stub.member)
            wrong = await stub.click(update["id"], f"{WRONG_STORY}{later}", user=stub.editor)
            again = await stub.click(parent["id"], f"{NOT_RELEVANT}{first}", user=stub.member)

            assert f"Recorded (alert {first})" in text_of(said)
            assert "does not belong to the story" in text_of(wrong)  # clicked inside the thread
            assert "already marked" in text_of(again)
            for log in (said, wrong, again):
                assert [c["type"] for c in log.callbacks] == [4]
                assert all(r["flags"] & EPHEMERAL for r in log.replies())
            rows = rt.db.execute("SELECT delivery_id, kind, platform, user, channel FROM feedback")
            assert rows.fetchall() == [
                (first, "not-relevant", "discord", stub.member, f"discord:{stub.alerts}"),
                (later, "wrong-story", "discord", stub.editor, f"discord:{stub.alerts}"),
            ]
            # Nobody else saw a thing: no message posted or edited in any channel.
            assert stub.messages == before
            since = [c for c in stub.calls[patches:] if "/callback" not in c.path]
            assert not [c for c in since if c.method in ("POST", "PATCH", "DELETE")]


async def test_a_click_on_an_old_alert_answers_clearly(stub: DiscordStub, tmp_path) -> None:
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": f.name, "url": f.url} for f in feeds[:1]],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
        )
        async with discord_runtime(stub, settings) as (rt, _):
            await poll_once(rt)
            message = stub.channel_messages(stub.alerts)[0]
            alert = delivery_of(rt, message["id"])
            assert prune(rt.db, older_than=1.0, story_window=0.0, vacuum=False).deliveries
            log = await stub.click(message["id"], f"{WRONG_STORY}{alert}", user=stub.member)
            assert rt.db.execute("SELECT count(*) FROM feedback").fetchone() == (0,)
    assert f"wirewatch does not know alert {alert}" in text_of(log)
    assert log.replies()[0]["flags"] & EPHEMERAL
