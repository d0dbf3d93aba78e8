"""`/wirewatch topics NAME`: a topic's whole query, read in chat through the real adapters.

`topics` cuts a built-in or config query at 200 characters; a moderator in Slack or Discord
has no shell on the bot's host to read the rest. These send the command through slack-bolt
and discord.py against the local stand-ins (tests/slackstub.py, tests/discordstub.py, which
refuse a message over the platform's limit) and rebuild the query from what arrived: every
character of it, in as many messages as it takes, none cut inside a word.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from adapters import slack_render
from bot.commands import Commands
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import list_topics
from tests.discordstub import DiscordStub
from tests.test_commands import MEMBER, make_settings, run
from tests.test_discord import discord_runtime
from tests.test_discord import settings_for as discord_settings
from tests.test_slack import MEMBER as SLACK_MEMBER
from tests.test_slack import slack_env

pytestmark = pytest.mark.slow
TOPIC = "troop-deployments"
_SPAN = re.compile(r"`([^`\n]*)`")
# A config query longer than one Slack message (12,000 characters), within the 20,000 a
# query may have: 19,500.
WIDE = " OR ".join(f"place{n:04}" for n in range(1500))


@pytest_asyncio.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path), {}) as opened:
        yield opened


@pytest_asyncio.fixture
async def cmds(runtime: Runtime) -> Commands:
    return Commands(runtime)


def the_query(rt: Runtime, name: str) -> str:
    """A stored topic's query as one line, as a user reads it."""
    topic = next(t for t in list_topics(rt.db) if t.name == name)
    return " ".join(topic.query.split())


def query_shown(text: str) -> str:
    """The query a reply shows after its "query (...)" line, its lines joined by spaces: a
    message cut inside a line would close and reopen its span there (`place12` `34`), and
    the words would not join back."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("query ("))
    parts = []
    for line in lines[start + 1 :]:
        span = _SPAN.fullmatch(line)
        assert span, f"a query line that is not one whole code span: {line[:80]!r}"
        parts.append(span.group(1))
    return " ".join(parts)


# -- the command itself -----------------------------------------------------------------------


async def test_topics_name_shows_the_whole_query_and_where_the_topic_comes_from(
    runtime: Runtime, cmds: Commands
) -> None:
    assert (await run(cmds, 'topic add nk-army entity:"North Korea" AND army')).ok
    builtin = await run(cmds, f"topics {TOPIC}", user=MEMBER)
    config = await run(cmds, "topics from-config", user=MEMBER)
    chat = await run(cmds, "topics nk-army", user=MEMBER)
    assert builtin.ok and query_shown(builtin.text) == the_query(runtime, TOPIC)
    assert (
        f"`{TOPIC}`: built-in" in builtin.text and "relevance model `deployments`" in builtin.text
    )
    assert "from config (the bot's config file" in config.text
    assert query_shown(config.text) == "budget"
    assert "from chat (`topic add`), added by" in chat.text
    # A quoted phrase is one term: never split over two lines.
    assert query_shown(chat.text) == 'entity:"North Korea" AND army'
    assert '`entity:"North Korea" AND army`' in chat.text.split("\n")


async def test_the_list_points_to_the_command_that_shows_a_cut_query_whole(
    cmds: Commands,
) -> None:
    listed = await run(cmds, "topics", user=MEMBER)
    line = next(x for x in listed.text.splitlines() if x.startswith(f"- `{TOPIC}`"))
    assert line.endswith(f"…` (whole: `/wirewatch topics {TOPIC}`)")
    assert "bot's host" not in listed.text


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (
            "topics troop-deployment",
            "no topic `troop-deployment`: did you mean `troop-deployments`?",
        ),
        ("topics nothing-like-it", "no topic `nothing-like-it` (topics: `from-config`"),
        ("topics troop-deployments naval-movements", "`topics` takes one topic name"),
    ],
)
async def test_a_name_it_does_not_know_is_answered_with_the_names_it_does(
    cmds: Commands,
    typed: str,
    said: str,
) -> None:
    reply = await run(cmds, typed, user=MEMBER)
    assert not reply.ok and reply.text.startswith(said), reply.text
    assert "usage: `/wirewatch topics [TOPIC]`" in reply.text


# -- through the platforms --------------------------------------------------------------------


async def test_slack_gets_the_whole_query_in_as_many_messages_as_it_takes(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {"database": str(tmp_path / "w.db"), "topics": {"wide": {"query": WIDE}}}
    )
    async with slack_env(tmp_path, settings=settings) as env:
        builtin = await env.replies(f"topics {TOPIC}", user=SLACK_MEMBER)
        wide = await env.replies("topics wide", user=SLACK_MEMBER)
        expected = the_query(env.rt, TOPIC)
    assert len(builtin) == 1  # 2,400 characters: one Slack message
    assert query_shown(html.unescape(builtin[0])) == expected
    assert 1 < len(wide) <= slack_render.RESPONSES
    assert all(len(m) <= slack_render.REPLY_MAX for m in wide)
    assert query_shown(html.unescape("\n".join(wide))) == WIDE


async def test_discord_gets_the_whole_query_in_as_many_messages_as_it_takes(
    stub: DiscordStub,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with discord_runtime(stub, discord_settings(tmp_path)) as (rt, _):
        expected = the_query(rt, TOPIC)
        said = await stub.command("topics", user=stub.member, topic=TOPIC)
        async with asyncio.timeout(10):  # the follow-ups come after the first answer
            while not said.replies()[-1]["content"].endswith(")`"):
                said.changed.clear()
                await said.changed.wait()
        offered = await stub.autocomplete(
            "topics", focused="topic", value="troop", user=stub.member
        )
        plain = await stub.command("topics", user=stub.member)
    messages = [r["content"] for r in said.replies()]
    assert len(messages) > 1 and all(len(m) <= 2000 for m in messages)
    assert query_shown("\n".join(messages)) == expected
    assert [c["value"] for c in offered] == [TOPIC]
    listed = "\n".join(r["content"] for r in plain.replies())
    assert listed.startswith("4 topics:")  # no name: the list, each query cut as before
    assert f"(whole: `/wirewatch topics topic:{TOPIC}`)" in listed  # as Discord takes it
