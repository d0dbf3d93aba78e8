"""A story's outlets are counted one way wherever they are shown: its alert, its digest line
and the recap (`digest 12h`) fold wire copy alike ("via Reuters (CNA, Yahoo News)" is one
outlet). Slack's stand-in through the real slack_sdk and slack-bolt, feeds on 127.0.0.1,
real SQLite; the one count is `bot.corroboration_store.outlets_of`."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.digest import send_digests
from bot.poll_cycle import poll_once
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.test_digest import NK_REPORTS, _outlet_feed
from tests.test_discord import discord_runtime, text_of
from tests.test_feedback import _settings
from tests.test_slack import MEMBER, NEWS, Env, slack_env

DIGESTS = "C0DIGEST"
# Two sites run Reuters copy (the dateline says so, in other words each), a third its own.
OUTLETS = {
    "CNA": (NK_REPORTS[0][0], f"SEOUL (Reuters) - {NK_REPORTS[0][1]}"),
    "Yahoo News": (NK_REPORTS[1][0], f"SEOUL, Dec 7 (Reuters) - {NK_REPORTS[1][1]}"),
    "Al Jazeera": NK_REPORTS[2],
}
FOLDED = "2 outlets (3 reports): via Reuters (CNA, Yahoo News), Al Jazeera"


def _config(
    tmp_path: Path, feed_server: FeedServer, channels: tuple[str, ...] = (NEWS, DIGESTS)
) -> Path:
    """The three outlets; the topic followed at once in NEWS and in a digest in DIGESTS (or
    at once in the one channel given, `discord:ID`)."""
    start = datetime.now(UTC) - timedelta(minutes=50)
    feeds = ""
    for n, (outlet, report) in enumerate(OUTLETS.items()):
        path = f"/{n}"
        feed_server.serve(path, _outlet_feed(str(n), [(*report, start + timedelta(minutes=n))]))
        feeds += f"  - {{name: '{outlet}', url: '{feed_server.url(path)}'}}\n"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        "network: {allow_private_addresses: true}\nslack: {moderators: [U0MOD]}\n"
        f"feeds:\n{feeds}subscriptions:\n{_subscriptions(channels)}",
        encoding="utf-8",
    )
    return config


def _subscriptions(channels: tuple[str, ...]) -> str:
    if channels == (NEWS, DIGESTS):
        return (
            f"  - {{topic: troop-deployments, channel: 'slack:{NEWS}'}}\n"
            f"  - {{topic: troop-deployments, channel: 'slack:{DIGESTS}', mode: digest}}\n"
        )
    return "".join(f"  - {{topic: troop-deployments, channel: '{c}'}}\n" for c in channels)


def _contexts(message: dict[str, Any]) -> list[str]:
    """A Slack message's context lines (where the outlets line is), as a reader sees them."""
    return [
        html.unescape(e["text"])
        for b in message["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
    ]


@asynccontextmanager
async def _story_told(tmp_path: Path, feed_server: FeedServer) -> AsyncIterator[Env]:
    """The three reports polled: NEWS alerted them (CNA's alert, two updates under it), its
    outlets line folding the Reuters copy; DIGESTS' digest sent."""
    config = _config(tmp_path, feed_server)
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        env.stub.add_channel(DIGESTS, "digests")
        await poll_once(env.rt)
        [first] = env.stub.top_level(NEWS)
        updates = env.stub.replies(NEWS, first["ts"])
        assert len(updates) == 2
        assert FOLDED in _contexts(first)  # rewritten with each update
        assert any(FOLDED in line for line in _contexts(updates[-1]))
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        yield env


async def test_a_digest_line_counts_wire_copy_on_two_sites_as_one_outlet_as_the_alert_does(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The alert said "2 outlets (3 reports)"; the digest line of the same story read "(CNA
    +2 more outlets)": it counted feeds."""
    async with _story_told(tmp_path, feed_server) as env:
        [digest] = env.stub.top_level(DIGESTS)
    [line] = [s for s in html.unescape(digest["text"]).splitlines() if s.startswith("- ref")]
    assert f"{NK_REPORTS[0][0]} (CNA via Reuters +1 more outlet, 3 reports) https://" in line


async def test_a_recap_counts_wire_copy_on_two_sites_as_one_outlet_as_the_alert_does(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The recap read "(3 outlets)" for the story, in the channel that got its alerts and in
    the one that got its digest line; then "(2 outlets)", without the "3 reports" that the
    alert and the digest line say beside it."""
    async with _story_told(tmp_path, feed_server) as env:
        for channel in (NEWS, DIGESTS):
            recap = await env.command("digest 2h", user=MEMBER, channel=channel)
            [told] = re.findall(r"· ref \d+ · .*", recap)
            assert f"{NK_REPORTS[0][0]} (2 outlets, 3 reports) https://" in told


async def test_discord_counts_the_story_as_slack_does_in_its_alert_and_its_recap(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Through discord.py against the stand-in: the first message's outlets field is named
    by the count as Slack says it ("2 outlets (3 reports)", it read "Independent 2 outlets
    (3 reports)"), and the recap says "(2 outlets, 3 reports)" (it said "(2 outlets)")."""
    async with DiscordStub() as stub:
        config = _config(tmp_path, feed_server, (f"discord:{stub.alerts}",))
        async with discord_runtime(stub, _settings(config)) as (rt, _):
            await poll_once(rt)
            [first] = stub.channel_messages(stub.alerts)
            said = await stub.command("digest", user=stub.member, channel=stub.alerts, since="2h")
    fields = {f["name"]: f["value"] for f in first["embeds"][0]["fields"]}
    count, names = FOLDED.split(": ", 1)
    assert fields[count] == names
    [told] = re.findall(r"· ref \d+ · .*", text_of(said))
    assert f"{NK_REPORTS[0][0]} (2 outlets, 3 reports) " in told, told


async def test_a_search_line_names_the_outlets_its_alert_names(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The search line listed feeds ("CNA, Yahoo News and Al Jazeera"): the alert's
    outlets, wire copy folded, are what it names now."""
    async with _story_told(tmp_path, feed_server) as env:
        found = await env.command("search Kursk", user=MEMBER)
    [line] = [s for s in html.unescape(found).splitlines() if s.startswith(("- ", "• "))]
    assert "(via Reuters (CNA, Yahoo News) and Al Jazeera; 3 reports, " in line, line
