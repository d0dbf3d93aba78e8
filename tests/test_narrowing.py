"""Desk filters: `subscribe TOPIC --only QUERY --except QUERY` and the config's `only`/`except`.

The bundled demo feeds are served on 127.0.0.1 and added from chat in a fixed order (Yonhap,
Al Jazeera, The Moscow Times), so the North Korea story's first item is Yonhap's and the
others arrive as updates; the Red Sea story is the other troop-deployments story. What a
channel receives is checked where it arrives: the console's JSON lines, the Slack stand-in's
channel and threads, the Discord stand-in's channel and threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.commands import Commands, Invocation
from bot.demo.server import serve_demo
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import subscriptions
from tests.discordstub import DiscordStub
from tests.runtime import console_runtime
from tests.test_commands import make_settings, rss, run, snapshot
from tests.test_discord import discord_runtime, settings_for, text_of
from tests.test_slack import NEWS, slack_env

NK = 'entity:"North Korea"'
NOT_AL_JAZEERA = 'title:"South Korea says"'  # only Al Jazeera's North Korea title says it
YONHAP_NIS = "title:NIS"  # Yonhap's "(LEAD) N. Korea has sent ...: NIS" (its "(LEAD)" is no word)


async def add_demo_feeds(rt: Runtime, demo, channel: str = "console") -> None:
    cmds = Commands(rt)
    for feed in demo:
        reply = await cmds.handle(
            Invocation("console", channel, "ops", f"feeds add {feed.url} {feed.name}")
        )
        assert reply.ok, reply.text


# -- console and the config keys ------------------------------------------------------------


async def test_config_only_and_except_narrow_alerts_and_updates_on_the_console(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "articles": {"fetch": False},
            "network": {"allow_private_addresses": True},
            "subscriptions": [
                {
                    "topic": "troop-deployments",
                    "channel": "console",
                    "only": NK,
                    "except": NOT_AL_JAZEERA,
                }
            ],
        }
    )
    async with serve_demo() as demo, console_runtime(settings) as (rt, console):
        await add_demo_feeds(rt, demo)
        await poll_once(rt)
        listed = await Commands(rt).handle(Invocation("console", "console", "ops", "list"))
    alerts = [a for a in console.alerts() if a["kind"] != "corroborated"]  # a story's mark
    got = [(a["kind"], a["outlet"], a["title"]) for a in alerts]
    assert [(kind, outlet) for kind, outlet, _ in got] == [
        ("new", "Yonhap News Agency"),
        ("update", "The Moscow Times"),
    ], got
    assert all("Korea" in title for _, _, title in got)  # the Red Sea story stays out
    assert f"`topic:troop-deployments AND ({NK}) AND NOT ({NOT_AL_JAZEERA})`" in listed.text, (
        listed.text
    )


async def test_a_channel_hears_an_item_through_another_subscription_its_filter_allows(
    tmp_path: Path, feed_server
) -> None:
    feed_server.serve(
        "/feed",
        rss(
            [
                ("Poland sends soldiers to the border", "Warsaw moved a brigade east."),
                ("Navy frigate sails to the Baltic", "A frigate left port."),
            ]
        ),
    )
    async with console_runtime(
        make_settings(tmp_path).model_copy(update={"subscriptions": []})
    ) as (rt, console):
        for text in (
            "topic add army soldiers OR troops",
            "topic add sea border OR frigate",
            "subscribe army --except entity:Poland",
            "subscribe sea",
        ):
            assert (await run(Commands(rt), text, channel="console")).ok, text
        added = await run(Commands(rt), f"feeds add {feed_server.url('/feed')}", channel="console")
        assert added.ok, added.text
        await poll_once(rt)
    titles = sorted(a["title"] for a in console.alerts())
    # The Polish item matches both topics: `army` (listed first) refuses it, `sea` lets it in.
    assert titles == ["Navy frigate sails to the Baltic", "Poland sends soldiers to the border"]
    assert {a["topic"] for a in console.alerts()} == {"sea"}


# -- the command: parsing, checking, listing --------------------------------------------------


async def test_subscribe_narrowed_lists_the_effective_query_and_resubscribing_clears_it(
    tmp_path: Path,
) -> None:
    from bot.startup import open_runtime

    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        reply = await run(
            cmds, f"subscribe troop-deployments digest --only `{NK}` --except drill* OR parade"
        )
        assert reply.ok, reply.text
        effective = f"topic:troop-deployments AND ({NK}) AND NOT (drill* OR parade)"
        assert f"(digest), narrowed to `{effective}`" in reply.text
        [sub] = subscriptions(rt.db, "slack:C0NEWS")
        assert (sub.mode, sub.only_query, sub.except_query) == ("digest", NK, "drill* OR parade")
        assert f"`{effective}`" in (await run(cmds, "list", user="UMEMBER")).text
        # Smart quotes and a dash that chat apps "correct" are read as typed.
        assert (await run(cmds, "subscribe troop-deployments —only entity:“North Korea”")).ok
        assert subscriptions(rt.db, "slack:C0NEWS")[0].only_query == NK
        plain = await run(cmds, "subscribe troop-deployments")
        assert plain.ok and "narrowed" not in plain.text
        assert subscriptions(rt.db, "slack:C0NEWS")[0].only_query is None
        assert "`topic:troop-deployments`" in (await run(cmds, "list")).text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("subscribe troop-deployments --only entity:Narnia", "--only: the query does not work"),
        ("subscribe troop-deployments --except topic:nope", "unknown topic 'nope'"),
        ("subscribe troop-deployments --only", "--only needs a query"),
        ("subscribe troop-deployments --only a --only b", "--only is given twice"),
        ("subscribe troop-deployments --sort a", "unknown option `--sort`"),
        ("subscribe troop-deployments --only title:topic:from-config", "cannot be inside title:"),
        ("subscribe --only troops", "needs a topic"),
        (  # would drop every alert the subscription sends
            "subscribe troop-deployments --except topic:troop-deployments OR drill*",
            "--except names `topic:troop-deployments`, the topic this subscription follows",
        ),
    ],
)
async def test_bad_narrowing_is_refused_and_changes_nothing(
    tmp_path: Path, text: str, says: str
) -> None:
    from bot.startup import open_runtime

    async with open_runtime(make_settings(tmp_path), {}) as rt:
        before = snapshot(rt)
        reply = await run(Commands(rt), text)
        assert not reply.ok and says in reply.text, reply.text
        assert "usage: `/wirewatch subscribe TOPIC" in reply.text
        assert snapshot(rt) == before


async def test_a_topic_named_in_a_filter_cannot_be_removed(tmp_path: Path) -> None:
    from bot.startup import open_runtime

    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        assert (await run(cmds, "topic add drills drill* OR exercise*")).ok
        assert (await run(cmds, "subscribe troop-deployments --except topic:drills")).ok
        refused = await run(cmds, "topic remove drills")
        assert not refused.ok and "slack:C0NEWS" in refused.text and "--except" in refused.text
        assert (await run(cmds, "subscribe troop-deployments")).ok
        assert (await run(cmds, "topic remove drills")).ok


def test_config_filters_are_checked(tmp_path: Path) -> None:
    from bot.check import check_settings
    from bot.gazetteer import Gazetteer
    from bot.settings import load_settings

    path = tmp_path / "w.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - {topic: troop-deployments, channel: console, only: 'entity:Narnia'}\n"
        "  - {topic: troop-deployments, channel: 'slack:C1', except: 'topic:nope'}\n"
        "  - {topic: nk-russia, channel: 'slack:C2', only: 'topic:naval-movements OR drill*'}\n"
        "  - {topic: nk-russia, channel: 'slack:C3', except: 'drill* OR topic:nk-russia'}\n",
        encoding="utf-8",
    )
    problems = check_settings(load_settings(path), Gazetteer.load())
    assert len(problems) == 3, problems
    assert "subscriptions[0].only: unknown entity 'Narnia'" in problems[0]
    assert "subscriptions[1].except: unknown topic 'nope'" in problems[1]
    assert "subscriptions[3].except: names topic:nk-russia, the subscription's own" in problems[2]


def test_filters_are_checked_when_the_file_has_shape_problems_too(tmp_path: Path) -> None:
    """`wirewatch check` names every problem at once: a bad channel or a misspelled key does
    not hide a filter or a topic reference that does not work."""
    from bot.check import load_checked
    from bot.errors import ConfigError
    from bot.gazetteer import Gazetteer

    path = tmp_path / "w.yaml"
    path.write_text(
        "topics:\n"
        "  nk: {query: 'topic:troop-deployment AND entity:\"North Korea\"'}\n"
        "  empty: {description: no query}\n"
        "  uses-empty: {query: 'topic:empty'}\n"
        "subscriptions:\n"
        "  - {topic: troop-deployments, channel: irc, only: 'entity:Narnia'}\n"
        "  - {topic: troop-deployments, channel: console, exept: drill*}\n"
        "  - {topic: nk-russia, channel: console, except: 'topic:nope'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_checked(path, Gazetteer.load())
    text = "\n".join(err.value.problems)
    for expected in (
        "subscriptions[0].channel: must be console",
        "subscriptions[1].exept: unknown key: did you mean 'except'?",
        "topics.empty.query: missing: a topic needs `query`",
        "topics.nk.query: unknown topic 'troop-deployment' (did you mean troop-deployments",
        "topics.uses-empty.query: refers to topic 'empty', which does not work",
        "subscriptions[0].only: unknown entity 'Narnia'",
        "subscriptions[2].except: unknown topic 'nope'",
    ):
        assert expected in text, text
    assert "topics.empty.query: empty" not in text  # named once, as the shape problem it is


# -- Slack and Discord through their real clients ----------------------------------------------


async def test_slack_narrowed_subscription_keeps_other_items_out_of_channel_and_thread(
    tmp_path: Path,
) -> None:
    async with serve_demo() as demo, slack_env(tmp_path) as env:
        reply = await env.command(
            f"subscribe troop-deployments --only {NK} --except {NOT_AL_JAZEERA}"
        )
        assert "narrowed to `topic:troop-deployments AND" in reply, reply
        for feed in demo:
            assert "added" in await env.command(f"feeds add {feed.url} {feed.name}")
        await poll_once(env.rt)
        listed = await env.command("list")
        helped = await env.command("help", user="U0MEMBER")
        top = env.stub.top_level(NEWS)
        thread = env.stub.replies(NEWS, top[0]["ts"]) if top else []
    assert [m["text"][:40] for m in top] == ["[troop-deployments] (LEAD) N. Korea has "]
    # Al Jazeera's item is not posted; the story's source list still names every outlet.
    outlets = [m["blocks"][0]["text"]["text"].split(":*")[0] for m in thread]
    assert outlets == ["*Update from The Moscow Times"]
    assert f"AND NOT ({NOT_AL_JAZEERA})`" in listed, listed
    assert "subscribe TOPIC [instant|digest] [--only QUERY] [--except QUERY]`" in helped
    assert "topic:troop-deployments AND NOT drill*" in helped


@pytest.mark.slow
async def test_discord_narrowing_can_make_a_later_outlet_the_alert(
    stub: DiscordStub,  # noqa: F811
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {"only": NK, "except": YONHAP_NIS}
    async with serve_demo() as demo, discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        done = await stub.command(
            "subscribe",
            user=stub.moderator,
            channel=stub.alerts,
            topic="troop-deployments",
            **options,
        )
        assert "narrowed to `topic:troop-deployments AND" in text_of(done), text_of(done)
        for feed in demo:
            await stub.command(
                "feeds",
                "add",
                user=stub.admin,  # feeds are bot-wide
                channel=stub.alerts,
                url=feed.url,
                name=feed.name,
            )
        await poll_once(rt)
        listed = await stub.command("list", user=stub.member, channel=stub.alerts)
    posted = stub.channel_messages(stub.alerts)
    assert [m["embeds"][0]["author"]["name"] for m in posted] == ["Al Jazeera"], posted
    thread = stub.channel_messages(posted[0]["id"])
    assert [m["embeds"][0]["author"]["name"] for m in thread] == [
        "The Moscow Times · also reporting"
    ]
    assert f"AND NOT ({YONHAP_NIS})" in text_of(listed)
