"""The commands our own text suggests, spelled on Discord the way Discord takes them.

The core writes one spelling for every platform (`/wirewatch feeds add URL [NAME]`); on
Discord /wirewatch is one application command with groups and named options, so a reply, a
notice or a digest shows `/wirewatch feeds add url:URL [name:NAME]` there. Each form is read
back here as a Discord member would fill it in, against the command the bot synced, through
`read_options` and `text_for` to the core's command; feed text is never respelled; Slack and
the console show the core's spelling as before. The real discord.py client against
tests/discordstub.py, slack-bolt against tests/slackstub.py, real SQLite.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters import slack_render
from adapters.console import ConsoleAdapter, plain
from adapters.discord_render import feed_text, reply_text
from adapters.discord_schema import read_options
from bot.broken_topics import tell_broken
from bot.commands import SUBCOMMANDS, Commands, Invocation, parse
from bot.commands.grammar import text_for
from bot.digest import send_digests
from bot.notice_outbox import deliver_notices
from bot.poll_cycle import poll_once
from bot.store import subscriptions
from tests.discordstub import DiscordStub, _option_tree
from tests.feedserver import FeedServer
from tests.test_discord import _rss, discord_runtime, settings_for, text_of
from tests.test_slack import MEMBER, NEWS, slack_env

pytestmark = pytest.mark.slow
TOPIC = "troop-deployments"
SPAN = re.compile(r"`(/wirewatch [^`\n]*)`")


def synced(stub: DiscordStub) -> dict[str, Any]:
    return next(c for c in stub.commands if c["name"] == "wirewatch")


def filled_in(form: str, command: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, str]]:
    """A command in Discord's notation read as a member fills it in, against the synced
    schema: its path of groups and subcommands, then `name:value` chips (a bracketed one,
    `[name:value]`, is optional in the schema, and is filled in here too)."""
    words = form.split(" ")
    assert words[0] == "/wirewatch", form
    level, path = command["options"], []
    for word in words[1:]:
        found = next((o for o in level if o["name"] == word and o["type"] in (1, 2)), None)
        if found is None:
            break
        path.append(word)
        level = found.get("options") or []
    rest = " ".join(words[1 + len(path) :])
    declared = {o["name"]: o for o in level}
    names = "|".join(re.escape(n) for n in declared) or "(?!)"
    chips = list(re.finditer(rf"(?:^| )(\[?)({names}):", rest))
    assert rest[: chips[0].start()] == "" if chips else rest == "", f"not Discord's: {form}"
    options: dict[str, str] = {}
    for n, chip in enumerate(chips):
        value = rest[chip.end() : chips[n + 1].start() if n + 1 < len(chips) else len(rest)]
        if chip[1]:  # shown as optional: the schema must say so
            assert value.endswith("]") and not declared[chip[2]]["required"], form
            value = value[:-1]
        options[chip[2]] = value
    return tuple(path), options


def read_back(form: str, command: dict[str, Any]) -> str:
    """What the bot runs for `form` filled in: the interaction Discord would send (checked
    against the synced schema), through `read_options` to the core's typed text."""
    path, options = filled_in(form, command)
    data = {"name": "wirewatch", "type": 1, "options": _option_tree(command, path, options, None)}
    invoked = read_options(data)
    assert invoked is not None
    return text_for(invoked.name, invoked.options)


async def test_help_on_discord_shows_each_command_as_discord_takes_it_and_each_reads_back(
    stub: DiscordStub, tmp_path
) -> None:
    async with discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        log = await stub.command("help", user=stub.member)
        await stub._wait(log, lambda: "You are" in text_of(log))  # its last line, a followup
        shown = text_of(log)
        # A suggestion in this empty channel, then the suggestion run as shown, filled in.
        hint = text_of(await stub.command("list", user=stub.member))
        path, options = filled_in("/wirewatch subscribe topic:TOPIC", synced(stub))
        assert "`/wirewatch subscribe topic:TOPIC`" in hint
        done = await stub.command(*path, user=stub.moderator, **{**options, "topic": TOPIC})
        assert [s.topic for s in subscriptions(rt.db, f"discord:{stub.general}")] == [TOPIC]
        assert f"now gets `{TOPIC}` alerts" in text_of(done)
    assert "`/wirewatch feedback not-relevant ALERT`" not in shown  # the core's spelling
    assert "`/wirewatch feedback not-relevant alert:ALERT`" in shown
    assert "`/wirewatch feeds list`:" in shown and "(or `/wirewatch feeds list`)" not in shown
    by_name = {s.name: s for s in SUBCOMMANDS}
    seen = set()
    for form in SPAN.findall(shown):  # every command help lists, a future one included
        typed = read_back(form, synced(stub))
        sub = parse(typed)[0]
        seen.add(sub.name)
        # The same command: the synopsis with every optional part filled in (text_for
        # quotes a query in backticks, as the core reads it).
        words = re.sub(r"[\[\]]", "", by_name[sub.name].usage.removeprefix("/wirewatch "))
        assert typed.replace("`", "") == words, form
    assert seen == set(by_name)


async def test_a_digest_on_discord_ends_with_discords_spelling_and_feed_text_is_left_alone(
    stub: DiscordStub, tmp_path, feed_server: FeedServer
) -> None:
    hostile = (
        "North Korea sends troops to Russia /wirewatch feedback relevant 1 "
        "`/wirewatch feedback not-relevant 1` /wirewatch feedback wrong-story 2"
    )
    feed_server.serve("/f.xml", _rss(hostile))
    settings = settings_for(
        tmp_path,
        feeds=[{"name": "Wire", "url": feed_server.url("/f.xml")}],
        subscriptions=[{"topic": TOPIC, "channel": f"discord:{stub.alerts}", "mode": "digest"}],
    )
    async with discord_runtime(stub, settings) as (rt, _):
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1
    [message] = stub.channel_messages(stub.alerts)
    *_, story, closing = message["embeds"][0]["description"].splitlines()
    assert closing.replace("\\", "") == (
        "feedback: /wirewatch feedback not-relevant alert:REF · /wirewatch feedback "
        "wrong-story alert:REF (REF: the number after ref on the story's line)"
    )
    assert story.startswith("\\- ref ") and feed_text(hostile) in story  # escaped as ever
    assert "alert:" not in story


async def test_a_notice_on_discord_spells_its_commands_as_discord_takes_them(
    stub: DiscordStub, tmp_path, capsys
) -> None:
    channel = f"discord:{stub.alerts}"
    settings = settings_for(
        tmp_path,
        topics={"ships": {"query": 'frigate* AND "the harbour"'}},
        subscriptions=[{"topic": "ships", "channel": channel}],
    )
    async with discord_runtime(stub, settings) as (rt, _):
        tell_broken(rt.db, {"ships": "an older version's query"})  # the core's own notice
        assert await deliver_notices(rt.db, rt.adapters) == 1
        [text] = [r[0] for r in rt.db.execute("SELECT text FROM notices")]
    [message] = stub.channel_messages(stub.alerts)
    assert "`/wirewatch unsubscribe ships`" in text  # what the core wrote
    said = message["content"].replace("\\", "")
    assert "`/wirewatch unsubscribe topic:ships`" in said
    assert '`/wirewatch topic add name:ships query:frigate* AND "the harbour"`' in said
    assert message["content"].count("\\*") == text.count("*")  # escaped as ever
    # The console prints the same notice as the core wrote it, byte for byte.
    await ConsoleAdapter().post_notice(channel, text)
    assert capsys.readouterr().err == f"wirewatch notice: {plain(text)}\n"


async def test_slack_shows_the_cores_spelling_byte_for_byte(stub: DiscordStub, tmp_path) -> None:
    ask = {"user": MEMBER, "text": "list"}
    async with slack_env(tmp_path) as env:
        core = await Commands(env.rt).handle(Invocation("slack", f"slack:{NEWS}", **ask))
        slack = await env.command("list", user=MEMBER)
    assert "`/wirewatch subscribe TOPIC`" in core.text
    assert slack == slack_render.reply_text(core.text)  # nothing respelled on Slack
    async with discord_runtime(stub, settings_for(tmp_path / "d")) as (rt, _):
        discord = text_of(await stub.command("list", user=stub.member))
    assert discord != reply_text(core.text) and "`/wirewatch subscribe topic:TOPIC`" in discord
