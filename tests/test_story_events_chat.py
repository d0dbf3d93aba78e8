"""Corroboration and edits on Slack and Discord: the real slack-bolt/slack_sdk and discord.py
clients against tests/slackstub.py and tests/discordstub.py, a real SQLite file, the demo's
feeds (with Al Jazeera's report edited after its first request) and hostile edits served on
127.0.0.1 (issue 13, points 1 and 2)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.commands import SUBCOMMANDS
from bot.demo.server import serve_demo
from bot.poll_cycle import poll_once
from bot.settings import Settings
from bot.store import subscriptions
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.test_discord import assert_nothing_pings, discord_runtime, text_of
from tests.test_discord_feedback import NOT_RELEVANT as DISCORD_NOT_RELEVANT
from tests.test_discord_feedback import WRONG_STORY as DISCORD_WRONG_STORY
from tests.test_discord_feedback import buttons as discord_buttons
from tests.test_discord_feedback import delivery_of
from tests.test_slack import MEMBER, MOD, NEWS, PINGS, slack_env
from tests.test_slack_feedback import NOT_RELEVANT, WRONG_STORY, answered, buttons, click

pytestmark = pytest.mark.slow
OUTLETS = "3 outlets: Yonhap News Agency, via AFP (The Moscow Times), Al Jazeera"
HOSTILE = "<!channel> @everyone <@&1> *bold* ~strike~ `code` [x](https://evil.example) <!here>"


def demo_settings(tmp_path: Path, demo, channel: str, **extra: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "feeds": [{"name": f.name, "url": f.url} for f in demo],
            "subscriptions": [{"topic": "troop-deployments", "channel": channel}],
            "network": {"allow_private_addresses": True},
            "slack": {"moderators": [MOD]},
            **extra,
        }
    )


def hostile_settings(tmp_path: Path, server: FeedServer, channel: str) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "feeds": [{"name": "Wire <!here> @everyone", "url": server.url("/rss")}],
            "topics": {"naval": {"query": "warship*"}},
            "subscriptions": [{"topic": "naval", "channel": channel}],
            "articles": {"fetch": False},
            "network": {"allow_private_addresses": True},
        }
    )


def ships(title: str) -> str:
    when = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title><item><guid>g1</guid>'
        f"<title>{escaped}</title><link>https://wire.example/1</link><description>Two "
        f"destroyers sailed.</description><pubDate>{when}</pubDate></item></channel></rss>"
    )


# -- Slack -------------------------------------------------------------------------------------


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks"), ensure_ascii=False)


async def test_slack_marks_the_story_once_and_posts_the_edit_in_its_thread(tmp_path: Path) -> None:
    async with serve_demo(edits=True) as demo:
        config = demo_settings(tmp_path, demo, f"slack:{NEWS}")
        async with slack_env(tmp_path, settings=config) as env:
            await poll_once(env.rt)
            [parent] = [m for m in env.stub.top_level(NEWS) if "troops to Russia" in m["text"]]
            marked = _text(parent)
            await poll_once(env.rt)  # Al Jazeera has edited its report since
            thread = env.stub.replies(NEWS, parent["ts"])
            first, edited = (
                env.rt.db.execute(f"SELECT id FROM deliveries WHERE {where}", args).fetchone()[0]
                for where, args in (("message_id = ?", [parent["ts"]]), ("kind = 'edit'", []))
            )
            assert await click(env, thread[-1]["ts"], NOT_RELEVANT, MEMBER) == 200
            said = await answered(env.stub, MEMBER, 1)
            labels = env.rt.db.execute("SELECT delivery_id, title FROM feedback").fetchall()
            off = await env.command("edits off")
            helped = await env.command("help")
            marks = env.rt.db.execute(
                "SELECT count(*), min(status) FROM deliveries WHERE kind = 'corroborated'"
            ).fetchone()
    assert ":white_check_mark: *Corroborated*" in marked and OUTLETS in marked
    # Rewritten with its mark, the first message's buttons still label its own alert.
    assert buttons(parent) == {NOT_RELEVANT: str(first), WRONG_STORY: str(first)}
    assert f"ref {first}" in marked
    # An edit's buttons label the edited item as it now reads.
    assert buttons(thread[-1]) == {NOT_RELEVANT: str(edited), WRONG_STORY: str(edited)}
    assert f"Recorded (alert {edited})" in said
    assert [(d, "3,000" in t) for d, t in labels] == [(edited, True)]
    assert tuple(marks) == (1, "sent")
    updates, edits = thread[:-1], thread[-1:]
    assert [OUTLETS in _text(m) for m in updates] == [False, True]  # the second update is the third
    [edit] = edits
    body = _text(edit)
    assert body.count("Al Jazeera edited") == 1
    assert "~redeployed~ *sent at least 3,000 more*" in body
    assert "North Korea has sent *3,000* more troops" in body
    assert edit["metadata"]["event_payload"]["story_id"]  # found again after a crash
    assert "edits are off here" in off and "/wirewatch edits [on|off]" in helped


async def test_slack_a_mark_refused_is_given_up_and_the_channel_goes_on(tmp_path: Path) -> None:
    """The first message was deleted before its mark: the mark is cancelled with its reason,
    the channel is not paused, and the alerts that come after the mark still go out."""
    async with serve_demo(edits=True) as demo:
        config = demo_settings(tmp_path, demo, f"slack:{NEWS}")
        async with slack_env(tmp_path, settings=config) as env:
            env.stub.fail("chat.update", error="message_not_found", times=20)
            _, stats = await poll_once(env.rt)
            mark = env.rt.db.execute(
                "SELECT status, error, attempts FROM deliveries WHERE kind = 'corroborated'"
            ).fetchone()
            paused = [s.paused_reason for s in subscriptions(env.rt.db)]
            before = len(env.stub.channels[NEWS].messages)
            await poll_once(env.rt)  # the demo's second cycle: an outlet edits its report
            after = [m["text"] for m in env.stub.channels[NEWS].messages[before:]]
    assert tuple(mark) == ("cancelled", "Slack chat_update failed: message_not_found", 1)
    assert paused == [None] and stats.retried == 0
    assert any(t.startswith("Edited: North Korea has sent") for t in after), after  # went out


async def test_slack_edit_text_is_escaped_and_cannot_break_its_markup(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", ships("US sends two warships to the Red Sea"))
    async with slack_env(
        tmp_path, settings=hostile_settings(tmp_path, feed_server, f"slack:{NEWS}")
    ) as env:
        await poll_once(env.rt)
        feed_server.serve("/rss", ships(f"US sends {HOSTILE} warships to the Red Sea"))
        _, stats = await poll_once(env.rt)
        [parent] = env.stub.top_level(NEWS)
        [edit] = env.stub.replies(NEWS, parent["ts"])
    assert stats.sent == 1
    sent = json.dumps([c.args for c in env.stub.posts()], ensure_ascii=False)
    for ping in PINGS:
        assert ping not in sent
    inserted = re.search(r" \*([^*]*)\* ", edit["blocks"][1]["text"]["text"]).group(1)
    assert "&lt;!channel&gt;" in inserted and "∗bold∗ ∼strike∼ ˋcodeˋ" in inserted
    assert "~two~" in edit["blocks"][1]["text"]["text"]


# -- Discord -----------------------------------------------------------------------------------


def _embed(message: dict[str, Any]) -> dict[str, Any]:
    return message["embeds"][0]


async def test_discord_marks_the_story_once_and_posts_the_edit_in_its_thread(
    tmp_path: Path,
) -> None:
    async with serve_demo(edits=True) as demo, DiscordStub() as stub:
        config = demo_settings(tmp_path, demo, f"discord:{stub.alerts}")
        async with discord_runtime(stub, config) as (rt, _):
            await poll_once(rt)
            await poll_once(rt)
            [parent] = [
                m
                for m in stub.channel_messages(stub.alerts)
                if "troops to Russia" in _embed(m)["title"]
            ]
            *updates, edit = stub.channel_messages(parent["id"])
            first, edited = delivery_of(rt, parent["id"]), delivery_of(rt, edit["id"])
            said = await stub.click(edit["id"], f"{DISCORD_NOT_RELEVANT}{edited}", user=stub.member)
            labels = rt.db.execute("SELECT delivery_id, kind FROM feedback").fetchall()
            refused = await stub.command(
                "edits", user=stub.member, channel=stub.alerts, state="off"
            )
            off = await stub.command("edits", user=stub.moderator, channel=stub.alerts, state="off")
            asked = await stub.command("edits", user=stub.moderator, channel=stub.alerts)
    fields = {f["name"]: f["value"] for f in _embed(parent)["fields"]}
    assert fields["✅ Corroborated · 3 outlets"] == OUTLETS.split(": ", 1)[1]
    # Rewritten with its mark, the first message keeps its own ref and buttons.
    assert _embed(parent)["footer"]["text"].endswith(f" · ref {first}")
    assert [c for _, c in discord_buttons(parent)] == [
        f"{DISCORD_NOT_RELEVANT}{first}",
        f"{DISCORD_WRONG_STORY}{first}",
    ]
    assert [c for _, c in discord_buttons(edit)] == [
        f"{DISCORD_NOT_RELEVANT}{edited}",
        f"{DISCORD_WRONG_STORY}{edited}",
    ]
    assert f"Recorded (alert {edited})" in text_of(said)
    assert labels == [(edited, "not-relevant")]
    assert [_embed(m)["author"]["name"] for m in updates] == [
        "The Moscow Times · also reporting",
        "Al Jazeera · also reporting",
    ]
    assert any(f["name"] == "✅ Corroborated · 3 outlets" for f in _embed(updates[-1])["fields"])
    assert _embed(edit)["author"]["name"] == "Al Jazeera · edited"
    assert "~~redeployed~~ **sent at least 3,000 more**" in _embed(edit)["description"]
    assert "ref " in _embed(edit)["footer"]["text"]  # found again after a crash
    assert "only moderators" in text_of(refused)
    assert "edits are off here" in text_of(off) and "edits are off here" in text_of(asked)
    assert_nothing_pings(stub)


async def test_discord_names_the_outlets_field_by_its_count_as_slack_says_it(
    tmp_path: Path,
) -> None:
    """The field under the outlet read "Independent 1 outlet" over "Yonhap News Agency":
    it is named by the count as Slack's line says it ("1 outlet: Yonhap News Agency"),
    "2 outlets" on the update, the mark once corroborated; a restart still finds the first
    message (by its footer's ref)."""
    async with serve_demo() as demo, DiscordStub() as stub:
        config = demo_settings(tmp_path, demo, f"discord:{stub.alerts}")
        async with discord_runtime(stub, config) as (rt, _):
            await poll_once(rt)
            [parent] = [
                m
                for m in stub.channel_messages(stub.alerts)
                if "troops to Russia" in _embed(m)["title"]
            ]
            first = delivery_of(rt, parent["id"])
        async with discord_runtime(stub, config) as (rt, adapter):  # a restart
            found = await adapter.find_posted(stub.alerts, first)
    [posted] = [
        c.body["embeds"][0]
        for c in stub.posts()
        if c.method == "POST"
        and c.path.endswith(f"/channels/{stub.alerts}/messages")
        and "troops to Russia" in c.body["embeds"][0]["title"]
    ]
    updates = stub.channel_messages(parent["id"])

    def outlets(embed: dict[str, Any]) -> tuple[str, str]:
        return next((f["name"], f["value"]) for f in embed["fields"] if "outlet" in f["name"])

    assert outlets(posted) == ("1 outlet", "Yonhap News Agency")
    assert outlets(_embed(updates[0])) == (
        "2 outlets",
        "Yonhap News Agency, via AFP (The Moscow Times)",
    )
    assert outlets(_embed(parent)) == ("✅ Corroborated · 3 outlets", OUTLETS.split(": ", 1)[1])
    assert found is not None and found.message_id == parent["id"]


async def test_discord_edit_text_is_escaped_and_never_pings(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss", ships("US sends two warships to the Red Sea"))
    async with DiscordStub() as stub:
        config = hostile_settings(tmp_path, feed_server, f"discord:{stub.alerts}")
        async with discord_runtime(stub, config) as (rt, _):
            await poll_once(rt)
            feed_server.serve("/rss", ships(f"US sends {HOSTILE} warships to the Red Sea"))
            _, stats = await poll_once(rt)
    [parent] = stub.channel_messages(stub.alerts)
    [edit] = stub.channel_messages(parent["id"])
    description = _embed(edit)["description"]
    assert stats.sent == 1 and "~~two~~" in description
    assert "\\*bold\\*" in description and "\\~strike\\~" in description
    assert "\\[x\\]" in description and "@\u200beveryone" in description
    assert_nothing_pings(stub)


def test_help_lists_the_edits_command() -> None:
    assert any(s.name == "edits" and s.moderator_only for s in SUBCOMMANDS)
