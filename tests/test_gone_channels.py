"""A channel that is gone (deleted, archived): what its notice says, who else is told, and
how an operator ends its subscriptions from the host (`wirewatch subscriptions`).

Discord through tests/discordstub.py and the real discord.py client, Slack through
tests/slackstub.py and slack_sdk, the command line through `wirewatch` itself (`main`);
real SQLite files. Each test here failed before its fix (see the commit that added it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.server import serve_demo
from bot.loop import run_forever
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import subscriptions
from tests.discordstub import DiscordStub, snowflake
from tests.feedserver import FeedServer
from tests.test_commands import NK_TITLE, rss
from tests.test_discord import discord_runtime, settings_for
from tests.test_slack import MOD, NEWS, slack_env
from tests.waiting import until

pytestmark = pytest.mark.slow
OPS = "C0OPS"
TWO_STORIES = rss(
    [
        (NK_TITLE, "Seoul says Pyongyang sent more soldiers to the Kursk front."),
        ("Britain deploys 500 troops to Estonia", "The soldiers join a NATO battlegroup."),
    ]
)


def _text_channel(stub: DiscordStub, name: str) -> str:
    """Another text channel of the stand-in's server (before the bot starts: GUILD_CREATE)."""
    cid = snowflake()
    stub.channels[cid] = {**stub.channels[stub.general], "id": cid, "name": name}
    return cid


@asynccontextmanager
async def _alerts_channel_deleted(
    stub: DiscordStub, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, str]]:
    """The bot started on the demo's first feed, alerting `stub.alerts`, which is then
    deleted: ready once its client has forgotten the channel (CHANNEL_DELETE), as a channel
    deleted under a running bot is. With the id of its ops_channel."""
    ops = _text_channel(stub, "ops")
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": feeds[0].name, "url": feeds[0].url}],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
            ops_channel=f"discord:{ops}",
        )
        async with discord_runtime(stub, settings) as (rt, adapter):
            await stub.delete_channel(stub.alerts)
            await until(lambda: adapter.client.get_channel(int(stub.alerts)) is None, 2.0)
            yield rt, ops


async def test_a_deleted_discord_channel_s_notice_says_how_to_end_it_and_ops_is_told(
    stub: DiscordStub, tmp_path: Path
) -> None:
    # "Fix it, then subscribe again to resume" asked the impossible of a deleted channel,
    # and ops_channel, whose readers run the host, heard nothing of it.
    async with _alerts_channel_deleted(stub, tmp_path) as (rt, ops):
        await poll_once(rt)
        [sub] = subscriptions(rt.db, f"discord:{stub.alerts}")
    assert "Unknown Channel" in (sub.paused_reason or "")
    [server] = stub.channel_messages(stub.general)  # the server's system channel
    [told] = stub.channel_messages(ops)
    for notice in (server["content"], told["content"]):
        notice = notice.replace("\\`", "`")  # a notice is plain text: Discord's escaped
        assert f"paused alerts to discord:{stub.alerts}" in notice
        assert "The channel was deleted, so no one can resume it" in notice
        assert f"`wirewatch subscriptions remove discord:{stub.alerts}` on wirewatch's host" in (
            notice
        )
        assert "Fix it" not in notice


async def test_the_running_bot_tells_ops_of_a_deleted_discord_channel_too(
    stub: DiscordStub, tmp_path: Path
) -> None:
    # The copy for ops_channel is queued by each outbox drain of the running bot
    # (bot.loop), not only by `wirewatch poll`: a bot that runs for weeks is where a
    # channel gets deleted, and its ops_channel must hear of it there.
    async with _alerts_channel_deleted(stub, tmp_path) as (rt, ops):
        stop = asyncio.Event()
        running = asyncio.create_task(run_forever(rt, stop, grace=1.0))
        try:
            # A poll, a drain, the notices' next tick.
            await until(lambda: stub.channel_messages(ops), 8.0)
        finally:
            stop.set()
            await running
    [told] = stub.channel_messages(ops)
    [server] = stub.channel_messages(stub.general)
    for notice in (server["content"], told["content"]):
        assert f"paused alerts to discord:{stub.alerts}" in notice
        assert "The channel was deleted, so no one can resume it" in notice


@pytest.mark.parametrize(
    ("how", "said", "not_said"),
    [
        ("archived", "Unarchive it, then `/wirewatch subscribe TOPIC` there again", "deleted,"),
        ("deleted", "If it is private, invite the app, then", "Unarchive"),
    ],
)
async def test_a_gone_slack_channel_s_notice_says_the_way_out_and_ops_is_told(
    tmp_path: Path, feed_server: FeedServer, how: str, said: str, not_said: str
) -> None:
    # is_archived and channel_not_found said "Fix it, then subscribe again": an archived
    # channel takes no command, a deleted one never will; ops_channel heard nothing.
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "network": {"allow_private_addresses": True},
            "slack": {"moderators": [MOD]},
            "ops_channel": f"slack:{OPS}",
        }
    )
    async with slack_env(tmp_path, settings=settings) as env:
        env.stub.add_channel(OPS, "ops")
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        if how == "archived":
            env.stub.channels[NEWS].archived = True
        else:
            del env.stub.channels[NEWS]  # Slack says channel_not_found
        await poll_once(env.rt)
        [(held,)] = env.rt.db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'held'"
        ).fetchall()
    [dm] = [c.args["text"] for c in env.stub.posts(MOD) if c.ok]  # the channel refuses it
    [ops] = [c.args["text"] for c in env.stub.posts(OPS) if c.ok]
    for notice in (dm, ops):
        assert f"paused alerts to slack:{NEWS}" in notice and said in notice
        assert "(`troop-deployments`) to resume: the held alerts are sent" in notice
        assert f"`wirewatch subscriptions remove slack:{NEWS}` on wirewatch's host" in notice
        assert f"Its alerts are held ({held} alerts so far)" in notice
        assert not_said not in notice and "Fix it" not in notice


def _config(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "wirewatch.yaml"
    text = [f"database: {tmp_path / 'w.db'}", "feeds: []", *lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


async def test_subscriptions_lists_a_paused_channel_and_remove_ends_it_and_its_held_alerts(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A deleted channel's chat subscription and its held alerts stayed for good: chat's
    # `unsubscribe` works only in the channel it is typed in, and the host had no command.
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        del env.stub.channels[NEWS]
        await poll_once(env.rt)
    config = str(_config(tmp_path))
    channel = f"slack:{NEWS}"
    capsys.readouterr()

    assert main(["subscriptions", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == channel
    assert lines[1].startswith("  troop-deployments · instant · from chat · PAUSED: Slack ")
    assert lines[1].endswith(" · 2 alerts held")
    assert "`wirewatch subscriptions remove CHANNEL [TOPIC]`" in lines[-1]
    assert main(["subscriptions", "--json", "--config", config]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["channel"] == channel and row["origin"] == "chat"
    assert row["paused"] and "channel_not_found" in row["paused_reason"] and row["held"] == 2

    assert main(["status", "--json", "--config", config]) == 0
    assert json.loads(capsys.readouterr().out)["alerts"]["slack"]["held"] == 2
    assert main(["subscriptions", "remove", channel, "--config", config]) == 0
    said = capsys.readouterr().out
    assert said == (
        f"{channel} no longer gets `troop-deployments` alerts; 2 alerts it still had waiting "
        "were dropped\n"
    )
    assert main(["status", "--config", config]) == 0
    status = capsys.readouterr().out
    assert "alerts held while a channel is paused" not in status
    assert "alerts waiting to be sent: 0" in status
    assert main(["subscriptions", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("no subscriptions")


def test_remove_refuses_a_config_subscription_and_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "subscriptions:", "  - {topic: troop-deployments, channel: console}")
    assert main(["poll", "--config", str(config)]) == 0  # the config's subscription is stored
    capsys.readouterr()
    assert main(["subscriptions", "remove", "console", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"remove it from the config file {config} and restart wirewatch" in err
    assert main(["subscriptions", "--config", str(config)]) == 0
    assert "troop-deployments · instant · from config" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("C0123ABCD", "did you mean slack:C0123ABCD?"),
        ("123456789012345678", "did you mean discord:123456789012345678?"),
        ("#news", "a channel's id, not its name"),
        ("slack:C0OTHER", "slack:C0OTHER has no subscriptions"),
    ],
)
def test_remove_a_channel_that_is_not_one_says_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, said: str
) -> None:
    config = _config(tmp_path, "subscriptions:", "  - {topic: troop-deployments, channel: console}")
    assert main(["poll", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["subscriptions", "remove", given, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err, err
    if "no subscriptions" in said:
        assert "channels with subscriptions: console" in err
