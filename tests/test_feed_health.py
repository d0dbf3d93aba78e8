"""Feed health in the ops channel: failing, disabled, recovered, silent, each said once.

Feeds are served from 127.0.0.1 with items dated relative to now, so a feed's history (and
its silence) is real data, not a patched clock. Notices are read where the ops channel
receives them: stderr for the console, the Slack and Discord stand-ins' channels.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.clock import iso
from bot.commands import Commands, Invocation
from bot.health import Rhythm, rhythm, silent_after
from bot.poll_cycle import poll_once
from bot.settings import HealthSettings, Settings
from tests.discordstub import DiscordStub
from tests.runtime import console_runtime
from tests.test_discord import discord_runtime
from tests.test_slack import MOD, NEWS, slack_env

NOTICE = "wirewatch notice:"
OPS = "C0OPS"


def dated_feed(ages: list[timedelta], title: str = "Weather report") -> str:
    """An RSS feed with one item per age (how long ago it was published)."""
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{title} {i}</title><guid>{title}-{age.total_seconds():.0f}</guid>"
        f"<link>https://wire.example/{i}-{age.total_seconds():.0f}</link>"
        f"<pubDate>{format_datetime(now - age, usegmt=True)}</pubDate></item>"
        for i, age in enumerate(ages)
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
        f"<link>https://wire.example/</link>{items}</channel></rss>"
    )


def every(minutes: int, n: int, newest: timedelta) -> list[timedelta]:
    return [newest + timedelta(minutes=minutes * i) for i in range(n)]


def watched_for(db: Any, days: int) -> None:
    """The feeds as stored by wirewatch `days` ago: silence counts from then at the earliest."""
    db.execute("UPDATE feeds SET created = ?", [iso(datetime.now(UTC) - timedelta(days=days))])


def settings_with(tmp_path: Path, url: str, **extra: Any) -> Settings:
    return Settings.model_validate(config_with(tmp_path, url, **extra))


def config_with(tmp_path: Path, url: str, **extra: Any) -> dict[str, Any]:
    """The config file's mapping (JSON is YAML: written as is, it is a config file)."""
    data: dict[str, Any] = {
        "database": str(tmp_path / "w.db"),
        "articles": {"fetch": False},
        "network": {"allow_private_addresses": True},
        "feeds": [{"name": "Wire", "url": url}],
        "subscriptions": [],
        "health": {"failures": 2, "silent_floor": "1h"},
        "max_failures": 3,
    }
    return {**data, **extra}


# -- the rhythm of a feed ----------------------------------------------------------------------


NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def at(*minutes_ago: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes_ago]


def test_usual_gap_is_the_median_and_bursts_count_once() -> None:
    r = rhythm(at(0, 30, 60, 60.2, 60.5, 90, 120, 600))  # a burst at 60, one long pause
    assert r.usual_gap == 30 * 60 and r.longest_gap == 480 * 60 and r.last_item == NOW


def test_too_little_history_is_not_a_rhythm() -> None:
    assert rhythm(at(0, 30, 60, 90)) == Rhythm(None, None, NOW)  # three gaps
    assert rhythm([]) == Rhythm()
    assert rhythm(at(5, 5, 5, 5, 5, 5)).usual_gap is None  # one moment, however many items


def test_silent_after_the_largest_of_factor_longest_gap_and_floor() -> None:
    hs = HealthSettings(silent_factor=4, silent_floor="1h")
    busy_by_day = Rhythm(usual_gap=600, longest_gap=8 * 3600)  # quiet at night
    assert silent_after(busy_by_day, hs) == 8 * 3600
    assert silent_after(Rhythm(usual_gap=86400, longest_gap=86400), hs) == 4 * 86400
    assert silent_after(Rhythm(usual_gap=60, longest_gap=120), hs) == 3600
    assert silent_after(Rhythm(), hs) is None


# -- the console ---------------------------------------------------------------------------


async def test_silence_is_announced_once_across_restarts_and_its_end_too(
    tmp_path: Path, feed_server, capfd
) -> None:
    history = every(30, 10, newest=timedelta(hours=8))
    feed_server.serve("/rss", dated_feed(history))
    settings = settings_with(tmp_path, feed_server.url("/rss"), ops_channel="console")
    capfd.readouterr()
    async with console_runtime(settings) as (rt, _):
        watched_for(rt.db, 3)
        await poll_once(rt)
        first = capfd.readouterr().err
        await poll_once(rt)
        listed = await Commands(rt).handle(Invocation("console", "console", "ops", "feeds"))
    async with console_runtime(settings) as (rt, _):  # a restart
        await poll_once(rt)
        again = capfd.readouterr().err
        feed_server.serve("/rss", dated_feed([timedelta(minutes=1), *history]))
        await poll_once(rt)
        back = capfd.readouterr().err
    assert first.count(NOTICE) == 1, first
    assert "feed Wire (" in first and "has gone silent: nothing new for 8h" in first
    assert "usually publishes every 30m" in first
    assert "usually every 30m" in listed.text and "SILENT: nothing new for 8h" in listed.text
    assert NOTICE not in again
    assert back.count(NOTICE) == 1 and "is publishing again after 8h" in back, back


async def test_without_an_ops_channel_only_disablings_are_announced(
    tmp_path: Path, feed_server, capfd
) -> None:
    feed_server.serve("/rss", dated_feed(every(30, 10, newest=timedelta(hours=8))))
    settings = settings_with(tmp_path, feed_server.url("/rss"))
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)  # silent, but nobody asked to hear it
        feed_server.serve("/rss", "down", status=503)
        for _ in range(3):
            await poll_once(rt)
        notices = rt.db.execute("SELECT channel, text FROM notices").fetchall()
    assert len(notices) == 1 and notices[0][0] is None, notices
    assert "disabled the feed Wire" in notices[0][1] and "HTTP 503" in notices[0][1]
    assert capfd.readouterr().err.count(NOTICE) == 1


async def test_cli_feeds_shows_the_usual_gap_and_state(tmp_path: Path, feed_server, capfd) -> None:
    feed_server.serve("/rss", dated_feed(every(15, 12, newest=timedelta(minutes=2))))
    data = config_with(tmp_path, feed_server.url("/rss"))
    async with console_runtime(Settings.model_validate(data)) as (rt, _):
        await poll_once(rt)
    config = tmp_path / "w.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config)]) == 0
    shown = capfd.readouterr().out
    assert "usually every 15m" in shown and "· ok" in shown, shown
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config), "--json"]) == 0
    [row] = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert row["state"] == "ok" and row["usual_gap"] == 900.0
    assert row["silent_after"] == 3600.0 and 60 < row["quiet_for"] < 600


# -- Slack and Discord ------------------------------------------------------------------------


async def test_slack_ops_channel_hears_failing_disabled_and_recovered_once_each(
    tmp_path: Path, feed_server
) -> None:
    url = feed_server.url("/rss")
    feed_server.serve("/rss", "broken", status=500)
    settings = settings_with(
        tmp_path, url, ops_channel=f"slack:{OPS}", slack={"moderators": [MOD]}, max_failures=4
    )
    async with slack_env(tmp_path, settings=settings) as env:
        env.stub.add_channel(OPS, "ops")
        for _ in range(5):  # failing at 2 (said once), disabled at 4, then left alone
            await poll_once(env.rt)
        feed_server.serve("/rss", dated_feed(every(20, 6, newest=timedelta(minutes=3))))
        reply = await env.command(f"feeds add {url} Wire")
        await poll_once(env.rt)
        listed = await env.command("feeds")
        said = [c.args["text"] for c in env.stub.posts(OPS)]
        elsewhere = env.stub.posts(NEWS) + env.stub.posts(MOD)
    assert "added `Wire`" in reply, reply
    assert len(said) == 3, said
    assert "feed Wire (" in said[0] and "is failing: 2 failures in a row" in said[0]
    assert "HTTP 500" in said[0]
    assert "disabled the feed Wire" in said[1] and "4 failures in a row" in said[1]
    assert "feed Wire (" in said[2] and "has recovered" in said[2]
    assert elsewhere == []
    assert "usually every 20m" in listed and ", ok" in listed, listed


@pytest.mark.slow
async def test_discord_ops_channel_hears_silence_and_its_end(
    stub: DiscordStub,  # noqa: F811
    tmp_path: Path,
    feed_server,
) -> None:
    history = every(60, 8, newest=timedelta(days=2))
    feed_server.serve("/rss", dated_feed(history))
    settings = settings_with(
        tmp_path, feed_server.url("/rss"), ops_channel=f"discord:{stub.general}"
    )
    async with discord_runtime(stub, settings) as (rt, _):
        watched_for(rt.db, 3)
        await poll_once(rt)
        await poll_once(rt)
        listed = await stub.command("feeds", "list", user=stub.moderator, channel=stub.alerts)
        feed_server.serve("/rss", dated_feed([timedelta(minutes=1), *history]))
        await poll_once(rt)
    said = [m["content"] for m in stub.channel_messages(stub.general)]
    assert len(said) == 2, said
    assert "has gone silent: nothing new for 2d" in said[0] and "every 1h" in said[0]
    assert "is publishing again after 2d" in said[1]
    shown = "\n".join(r.get("content", "") for r in listed.replies())
    assert "usually every 1h" in shown and "SILENT: nothing new for 2d" in shown, shown


async def test_a_new_feed_with_old_items_is_not_silent_until_watched_that_long(
    tmp_path: Path, feed_server, capfd
) -> None:
    """A feed added today whose newest item is a year old was "gone silent" at its first
    poll: news of nothing wirewatch had watched. Silence counts from when it was stored."""
    feed_server.serve("/rss", dated_feed(every(60, 10, newest=timedelta(days=365))))
    settings = settings_with(tmp_path, feed_server.url("/rss"), ops_channel="console")
    capfd.readouterr()
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        first = capfd.readouterr().err
        listed = await Commands(rt).handle(Invocation("console", "console", "ops", "feeds"))
        watched_for(rt.db, 1)  # a day later, nothing new: now that is news
        await poll_once(rt)
        later = capfd.readouterr().err
    assert NOTICE not in first, first
    assert "SILENT" not in listed.text and "usually every 1h" in listed.text, listed.text
    assert later.count(NOTICE) == 1 and "has gone silent: nothing new for 365d" in later, later


async def test_a_feed_announced_silent_at_its_first_poll_stays_silent_until_it_publishes(
    tmp_path: Path, feed_server, capfd
) -> None:
    """The version before silence counted from `feeds.created` announced a feed added an
    hour before "gone silent" at its first poll. After the upgrade, its next poll found it
    not silent yet (watched for an hour): "publishing again after 365d of silence" of a feed
    that had published nothing, and later "gone silent" a second time."""
    feed_server.serve("/rss", dated_feed(every(60, 10, newest=timedelta(days=365))))
    settings = settings_with(tmp_path, feed_server.url("/rss"), ops_channel="console")
    capfd.readouterr()
    async with console_runtime(settings) as (rt, _):
        watched_for(rt.db, 3)  # as the earlier version saw it: its first poll said silent
        await poll_once(rt)
        announced = capfd.readouterr().err
        rt.db.execute("UPDATE feeds SET created = ?", [iso(datetime.now(UTC) - timedelta(hours=1))])
        rt.db.execute("UPDATE feeds SET next_poll = ?", [iso(datetime.now(UTC))])
        await poll_once(rt)  # upgraded: the same feed, an hour after it was added
        upgraded = capfd.readouterr().err
        listed = await Commands(rt).handle(Invocation("console", "console", "ops", "feeds"))
    assert announced.count(NOTICE) == 1 and "has gone silent" in announced, announced
    assert NOTICE not in upgraded, upgraded
    assert "SILENT: nothing new for 365d" in listed.text, listed.text


async def test_a_removed_feed_added_again_is_watched_afresh(
    tmp_path: Path, feed_server, capfd
) -> None:
    """A feed removed and added again kept its first `feeds.created`: a year-dead feed
    re-added was "gone silent" at its first poll, as a new one was before. From chat and
    from the config file alike."""
    feed_server.serve("/rss", dated_feed(every(60, 10, newest=timedelta(days=365))))
    url = feed_server.url("/rss")
    chat = settings_with(tmp_path, url, ops_channel="console", feeds=[])
    capfd.readouterr()
    async with console_runtime(chat) as (rt, _):
        cmds = Commands(rt)
        assert (await cmds.handle(Invocation("console", "console", "ops", f"feeds add {url}"))).ok
        assert (
            await cmds.handle(Invocation("console", "console", "ops", f"feeds remove {url}"))
        ).ok
        watched_for(rt.db, 400)  # first stored 400 days ago
        assert (await cmds.handle(Invocation("console", "console", "ops", f"feeds add {url}"))).ok
        await poll_once(rt)
    assert NOTICE not in capfd.readouterr().err

    config = settings_with(tmp_path / "c", url, ops_channel="console")
    (tmp_path / "c").mkdir()
    async with console_runtime(config) as (rt, _):
        await poll_once(rt)
    async with console_runtime(settings_with(tmp_path / "c", url, feeds=[])) as (rt, _):
        watched_for(rt.db, 400)  # taken out of the config, for long
    async with console_runtime(config) as (rt, _):  # and put back
        await poll_once(rt)
    assert NOTICE not in capfd.readouterr().err
