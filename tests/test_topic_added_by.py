"""`topics NAME` says who added a chat topic and when: a topic every channel's alerts may go
through needs someone to ask about it. Through the real adapters (slack-bolt and discord.py
against the local stand-ins, which send the user's name as the platforms do) and on a
database an older wirewatch left (its chat topics say that nobody recorded it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils
import time_machine

from bot.commands import Commands
from bot.db import APPLICATION_ID, open_database
from bot.migrations import MIGRATIONS
from bot.startup import open_runtime
from tests.discordstub import DiscordStub
from tests.test_commands import MEMBER, make_settings, run
from tests.test_discord import discord_runtime, text_of
from tests.test_discord import settings_for as discord_settings
from tests.test_slack import MEMBER as SLACK_MEMBER
from tests.test_slack import MOD as SLACK_MOD
from tests.test_slack import slack_env

ADDED = datetime(2026, 12, 5, 9, 12, 30, tzinfo=UTC)
CHANGED = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def _first_line(text: str) -> str:
    return text.splitlines()[0]


async def test_slack_topics_name_says_who_added_it_and_when(tmp_path: Path) -> None:
    """Added by one moderator, its query changed by another: still the first one's."""
    async with slack_env(tmp_path) as env:
        with time_machine.travel(ADDED, tick=False):
            added = await env.command("topic add nk-army army", user=SLACK_MOD)
        with time_machine.travel(CHANGED, tick=False):
            changed = await env.command("topic add nk-army army AND troops")
        shown = await env.replies("topics nk-army", user=SLACK_MEMBER)
        config = await env.replies("topics troop-deployments", user=SLACK_MEMBER)
    assert "added topic `nk-army`" in added and "changed topic `nk-army`" in changed
    said = _first_line(shown[0])
    assert said == "`nk-army`: from chat (`topic add`), added by @u0mod on 2026-12-05 09:12 UTC"
    assert "added by" not in _first_line(config[0])  # built-in: where it comes from is enough


async def test_discord_topics_name_says_who_added_it_and_when(
    stub: DiscordStub,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with discord_runtime(stub, discord_settings(tmp_path), bound=False) as _:
        with time_machine.travel(ADDED, tick=False):
            added = await stub.command("topic", "add", user=stub.admin, name="nk", query="army")
        assert "added topic `nk`" in text_of(added)
        shown = await stub.command("topics", user=stub.member, topic="nk")
    said = _first_line(text_of(shown))
    assert said == "`nk`: from chat (`topic add`), added by @admin on 2026-12-05 09:12 UTC"


async def test_a_config_topic_says_from_config_and_a_nameless_user_is_their_id(
    tmp_path: Path,
) -> None:
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        with time_machine.travel(ADDED, tick=False):
            assert (await run(cmds, "topic add nk-army army")).ok
        nameless = await run(cmds, "topics nk-army", user=MEMBER)
        config = await run(cmds, "topics from-config", user=MEMBER)
    assert _first_line(nameless.text).endswith(", added by slack:UMOD on 2026-12-05 09:12 UTC")
    assert _first_line(config.text).startswith("`from-config`: from config (")


async def test_a_topic_added_before_the_upgrade_says_so(tmp_path: Path) -> None:
    """A database of the schema before this one (20 steps), with a chat topic in it: the
    start migrates it, and nobody's name is made up for that topic."""
    path = tmp_path / "w.db"
    plain = sqlite_utils.Database(path)
    for step in MIGRATIONS[:20]:
        step(plain)
    plain.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    plain.execute("PRAGMA user_version = 20")
    plain.execute("INSERT INTO topics (name, query, origin) VALUES ('old-army', 'army', 'chat')")
    plain.conn.commit()
    plain.close()
    open_database(path).close()  # migrated as a start migrates it
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        before = await run(cmds, "topics old-army", user=MEMBER)
        with time_machine.travel(CHANGED, tick=False):
            assert (await run(cmds, "topic add old-army army AND troops")).ok
        after = await run(cmds, "topics old-army", user=MEMBER)
    said = "`old-army`: from chat (`topic add`), added before this was recorded"
    assert _first_line(before.text) == said
    assert _first_line(after.text) == said  # a new query is not who added it
