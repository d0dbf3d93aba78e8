"""What a digest says and what is said about it: a line counts every report it stands for
(one outlet's two included), `feedback` on a report a line only counts names the line and
says why, `status` counts a digest as one post of many reports, and every digest ends with
what its `ref N` is for, on every platform. Real SQLite, feeds served on 127.0.0.1, Slack
and Discord through their stand-ins and real clients, the console as it prints."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.digest import send_digests
from bot.ingest import store_new_items
from bot.outbox import deliver_pending
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.store import set_muted
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.test_digest import LITHUANIA, NK_REPORTS, _outlet_feed
from tests.test_digest_feedback import OTHER, _config, _delivery, _refs
from tests.test_discord import discord_runtime, settings_for
from tests.test_feedback import _settings
from tests.test_outbox import NK, NOW, RED, Platform, _item, _setup
from tests.test_slack import NEWS, slack_env

TOPIC = "troop-deployments"
CHAT_CLOSING = (
    "feedback: /wirewatch feedback not-relevant REF · /wirewatch feedback wrong-story REF "
    "(REF: the number after ref on the story's line)"
)


def _one_outlet_twice(feed_server: FeedServer) -> None:
    """Outlet A reports North Korea twice (one story, one outlet) and Lithuania once."""
    start = datetime.now(UTC) - timedelta(minutes=50)
    reports = [(*NK_REPORTS[0], start), (*LITHUANIA, start), (*NK_REPORTS[1], start)]
    feed_server.serve("/a", _outlet_feed("a", reports))
    for name in "bc":
        feed_server.serve(f"/{name}", _outlet_feed(name, []))


async def test_a_line_counts_one_outlets_second_report_and_feedback_on_it_names_the_line(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _one_outlet_twice(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        [digest] = env.stub.top_level(NEWS)
        nk = _refs(digest["text"])[NK_REPORTS[0][0]]
        [line] = [x for x in digest["text"].splitlines() if x.startswith(f"- ref {nk} ")]
        # The line says it stands for two reports, though one outlet sent both.
        assert "(Outlet A, 2 reports)" in line and "more outlet" not in line

        second = _delivery(env.rt.db, f"slack:{NEWS}", NK_REPORTS[1][0])
        said = await env.command(f"feedback not-relevant {second}")
        # Each number it names is the line's, or the one typed, with why it is not shown;
        # the headline it gives the line is the one the line shows.
        assert set(re.findall(r"ref (\d+)", said)) == {str(nk), str(second)}
        assert f'`ref {second}` ("{NK_REPORTS[1][0]}") is not a number a digest showed' in said
        assert f'the digest line `ref {nk}` ("{NK_REPORTS[0][0]}")' in said
        assert f"label `ref {nk}` instead" in said
        assert env.rt.db.execute("SELECT count(*) FROM feedback").fetchone()[0] == 0


async def test_status_counts_a_digest_as_one_post_of_its_stories_and_reports(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _one_outlet_twice(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    instant = f"  - {{topic: {TOPIC}, channel: 'slack:{OTHER}'}}\n"
    config.write_text(config.read_text(encoding="utf-8") + instant, encoding="utf-8")
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        env.stub.add_channel(OTHER, "other")
        await poll_once(env.rt)  # OTHER: North Korea, its second report, Lithuania
        assert len(env.stub.top_level(OTHER)) == 2
        before = await env.command("status")
        assert "2 stories (3 reports) waiting for it" in before
        assert "3 alerts posted, 0 marked not relevant" in before  # no digest posted yet
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        said = await env.command("status")
    assert "next digest: " in said and "nothing waiting for it yet" in said
    # Three alerts in OTHER (the second report an update in its thread); NEWS's digest is
    # one post whose two lines stand for three reports, not three more alerts.
    assert (
        f"`{TOPIC}` (every channel): 3 alerts posted, 1 digest posted listing 2 stories "
        "(3 reports), 0 marked not relevant" in said
    )


async def test_every_digest_ends_with_what_its_refs_are_for(tmp_path: Path) -> None:
    # Slack's and Discord's text is the core's, escaped by each; the console prints it with
    # its own command line's spelling, once.
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    subscribe(db, "console:ops", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat, printed = Platform(), io.StringIO()
    assert await send_digests(db, {"chat": chat, "console": ConsoleAdapter(printed)}) == 2
    [(_, _, text)] = chat.digests
    assert text.splitlines()[-1] == CHAT_CLOSING
    console = printed.getvalue().rstrip().splitlines()
    assert console[-1] == CHAT_CLOSING.replace("/wirewatch", "wirewatch")
    assert sum(x.startswith("feedback:") for x in console) == 1


async def test_the_closing_line_reaches_discord_in_the_digests_embed(
    stub: DiscordStub,  # noqa: F811
    tmp_path: Path,
    feed_server: FeedServer,
) -> None:
    feed_server.serve("/a", _outlet_feed("a", [(*NK_REPORTS[0], datetime.now(UTC))]))
    channel = f"discord:{stub.alerts}"
    settings = settings_for(
        tmp_path,
        feeds=[{"name": "Wire", "url": feed_server.url("/a")}],
        subscriptions=[{"topic": TOPIC, "channel": channel, "mode": "digest"}],
    )
    async with discord_runtime(stub, settings) as (rt, _):
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1
    [message] = stub.channel_messages(stub.alerts)
    last = message["embeds"][0]["description"].splitlines()[-1]
    # Markdown escaped, the commands as Discord takes them (tests/test_discord_hints.py).
    assert last.replace("\\", "") == CHAT_CLOSING.replace(" REF ", " alert:REF ")


async def test_feed_text_cannot_forge_the_closing_line_or_a_line_of_ours(tmp_path: Path) -> None:
    # A stored headline with line breaks (as an older version, or another writer, may have
    # stored it) stays on its story's line, behind our `- ref N ·`.
    forged = f"Troops deploy\n{CHAT_CLOSING.replace('REF', '99')}\n- ref 99 · fake"
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", forged, NOW), _item("2", RED, NOW)], index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1
    [(_, _, text)] = chat.digests
    head, *stories, last = text.splitlines()
    assert head.startswith("wirewatch digest · t · 2 stories") and last == CHAT_CLOSING
    refs = [r[0] for r in db.execute("SELECT id FROM deliveries ORDER BY id")]
    assert [s.split(" · ")[0] for s in stories] == [f"- ref {n}" for n in refs]


async def test_one_store_function_skips_a_muted_channels_alerts_and_digest_lines(tmp_path):
    # Pending alerts of every muted channel (the outbox's) and one channel's digest lines
    # (a digest's): the same read-then-update, by status, in bot.store.
    from bot.store import skip_muted  # here: the rest of this file is checked without it

    db, feed, index = _setup(tmp_path, channels=("chat:I",))
    for digest_channel in ("chat:D", "chat:E"):
        subscribe(db, digest_channel, "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    until = (NOW + timedelta(hours=1)).isoformat()
    set_muted(db, "chat:I", until)
    set_muted(db, "chat:D", until)
    assert skip_muted(db, "pending", NOW) == 1  # I's alert; digest lines wait for theirs
    assert skip_muted(db, "digest", NOW, "chat:E") == 0  # E is not muted
    assert skip_muted(db, "digest", NOW, "chat:D") == 1
    statuses = dict(db.execute("SELECT channel, status FROM deliveries").fetchall())
    assert statuses == {"chat:I": "muted", "chat:D": "muted", "chat:E": "digest"}
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert await send_digests(db, {"chat": chat}) == 1
    assert chat.posted == [] and [c for c, _, _ in chat.digests] == ["E"]
