"""`/wirewatch digest`: a channel's waiting digest posted now, once, and `digest SINCE`, a recap
of what the channel was told (and what it was not). Real SQLite, feeds on 127.0.0.1, the
console adapter or Slack's stand-in through the real slack_sdk and slack-bolt."""

from __future__ import annotations

import asyncio
import random
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.commands import Commands, Invocation, Reply
from bot.commands.recap import RECAP_STORIES
from bot.demo.server import serve_demo
from bot.digest import send_digests
from bot.feed_store import add_feed
from bot.ingest import store_new_items
from bot.outbox import deliver_pending
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.startup import open_runtime
from bot.stories.index import StoryIndex
from tests.discordstub import DiscordStub
from tests.feedserver import FeedServer
from tests.runtime import Console, console_runtime, make_settings
from tests.test_digest import LITHUANIA, NK_REPORTS, _outlet_feed
from tests.test_digest_feedback import ESTONIA, _config, _refs, _serve
from tests.test_discord import discord_runtime, text_of
from tests.test_discord import settings_for as discord_settings
from tests.test_feedback import _settings
from tests.test_outbox import _item
from tests.test_slack import ADMIN, MEMBER, NEWS, slack_env

NK = NK_REPORTS[0][0]


async def _run(cmds: Commands, text: str) -> Reply:
    return await cmds.handle(Invocation("console", "console", "operator", text))


def _statuses(db) -> list[tuple[str, int]]:
    return db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()


async def test_digest_posts_the_waiting_digest_into_the_channel_and_the_job_sends_it_no_more(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Through Slack: the moderator's `digest` posts the digest the job would have, in the
    channel; the job then finds nothing; a member may not post one but may read the recap,
    whose numbers are the digest's own."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        assert env.stub.top_level(NEWS) == []  # a digest channel waits for its digest

        refused = await env.command("digest", user=MEMBER)
        assert "`digest`: only moderators may use it" in refused
        assert "digest SINCE" in refused  # what a member may do instead
        assert env.stub.top_level(NEWS) == []

        said = await env.command("digest", user=ADMIN)
        assert said == "digest sent: 2 stories"
        [posted] = env.stub.top_level(NEWS)
        assert posted["text"].startswith("wirewatch digest · troop-deployments · 2 stories")
        assert await send_digests(env.rt.db, env.rt.adapters) == 0  # the job: nothing left
        assert len(env.stub.top_level(NEWS)) == 1

        again = await env.command("digest", user=ADMIN)
        assert again.startswith("no digest waiting here: nothing new since the last one (")
        assert "The next is due " in again and len(env.stub.top_level(NEWS)) == 1

        recap = (await env.command("digest 2h", user=MEMBER)).splitlines()
        assert "2 stories told" in recap[0]
        refs = _refs(posted["text"])
        shown = {m.group(2): int(m.group(1)) for m in map(_RECAP_LINE.match, recap) if m}
        assert shown == {NK: refs[NK], LITHUANIA[0]: refs[LITHUANIA[0]]}
        assert f"ref {refs[NK]} · {NK} (2 outlets) https://" in "\n".join(recap)
        assert len(env.stub.top_level(NEWS)) == 1  # a recap posts nothing


# A recap's story line: "• 2026-12-07 09:14 UTC · ref 12 · Headline (2 outlets) https://..."
_RECAP_LINE = re.compile(r"^[-•] \S+ \S+ UTC · ref (\d+) · (.*?) \(\d+ outlets?\)")


async def test_a_recap_counts_the_outlets_its_channel_was_told_of_as_the_alert_did(
    tmp_path: Path,
) -> None:
    """The demo's Red Sea story: Al Jazeera's report was alerted, "1 outlet: Al Jazeera";
    The Moscow Times' report of Moscow condemning the deployment joined the story without
    matching the topic, and was never posted. The recap read "(2 outlets)" for it."""
    async with serve_demo() as feeds:
        settings = make_settings(tmp_path / "w.db", [(f.name, f.url) for f in feeds])
        async with console_runtime(settings) as (rt, console):
            await poll_once(rt)
            recap = (await _run(Commands(rt), "digest 12h")).text
            alerts = console.alerts()
            [red_sea] = [a for a in alerts if "Red Sea" in a["title"]]
            held = rt.db.execute(
                "SELECT count(DISTINCT feed_id) FROM items WHERE story_id = ?",
                [red_sea["story_id"]],
            ).fetchone()[0]
    assert red_sea["outlets"] == ["Al Jazeera"] and held == 2  # the story has two outlets' items
    [nk] = [a for a in alerts if a["kind"] == "new" and "Korea" in a["title"]]
    lines = {m.group(1): m.group(0) for m in re.finditer(r"ref (\d+) · .*", recap)}
    assert f"{red_sea['title']} (1 outlet) http" in lines[str(red_sea["delivery_id"])]
    assert f"{nk['title']} (3 outlets) http" in lines[str(nk["delivery_id"])]


async def test_two_moderators_asking_at_once_post_the_digest_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The second waits for the first: seen while the first one's post waited its turn
    (Slack's pace of one message a second in a channel), its stories looked in doubt, were
    not found in the channel yet, and went out twice."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config), pace=1.0) as env:
        await poll_once(env.rt)
        assert await env.command("digest", user=ADMIN) == "digest sent: 2 stories"
        later = datetime.now(UTC) - timedelta(minutes=1)
        feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))
        await poll_once(env.rt)
        said = await asyncio.gather(*(env.command("digest", user=ADMIN) for _ in range(2)))
        assert sorted(s.split(":")[0] for s in said) == ["digest sent", "no digest waiting here"]
        first, second = env.stub.top_level(NEWS)
        assert ESTONIA[0] in second["text"] and "1 story" in second["text"]
        assert _statuses(env.rt.db) == [("sent", 4)]


async def test_a_refused_digest_pauses_the_channel_as_the_scheduled_one_would(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.fail("chat.postMessage", error="channel_not_found")
        said = await env.command("digest", user=ADMIN)
        assert said.startswith("the digest was refused: ") and "Alerts here are paused" in said
        assert env.stub.top_level(NEWS) == []
        assert _statuses(env.rt.db) == [("digest", 3)]  # kept for when it is resumed
        paused = await env.command("digest", user=ADMIN)
        assert paused.startswith("nothing was posted: alerts here are paused (")


async def test_a_recap_lists_what_was_told_and_marks_what_a_mute_skipped(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Newest first: the story skipped while muted is marked as not told, with no number
    (`feedback` takes none for it); nothing is marked or posted by the recap."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, ["console"])
    console = Console()
    async with open_runtime(_settings(config), {"console": console}) as rt:
        cmds = Commands(rt)
        await poll_once(rt)
        assert (await _run(cmds, "digest")).text == "digest sent: 2 stories"
        assert (await _run(cmds, "mute 1h")).ok
        later = datetime.now(UTC) - timedelta(minutes=1)
        feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))
        await poll_once(rt)
        before = _statuses(rt.db)
        printed = len(console.alerts())

        reply = await _run(cmds, "digest 1d")
        lines = reply.text.splitlines()
        assert reply.ok
        assert lines[0].startswith("this channel over the last 1d (since ")
        assert lines[0].endswith("2 stories told, 1 not told: skipped while muted")
        assert " · NOT TOLD: skipped while muted · " + ESTONIA[0] + " (1 outlet)" in lines[1]
        assert "ref" not in lines[1]
        told = {m.group(2) for m in map(_RECAP_LINE.match, lines[2:4]) if m}
        assert told == {NK, LITHUANIA[0]}  # one digest: the same time
        assert lines[-1].startswith("to mark one: `/wirewatch feedback not-relevant ALERT`")
        assert _statuses(rt.db) == before and len(console.alerts()) == printed

        unmuted = await _run(cmds, "digest")
        assert unmuted.text.startswith("nothing was posted: this channel is muted until ")


async def test_a_recap_says_a_story_told_before_its_window_was_not_missed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A story told two days ago, a later report of it skipped while muted today: the
    recap of the last day says the story was told before and only that report was not; it
    read "NOT TOLD", as if the channel had missed the story."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, ["console"])
    async with open_runtime(_settings(config), {"console": Console()}) as rt:
        cmds = Commands(rt)
        await poll_once(rt)
        assert (await _run(cmds, "digest")).text == "digest sent: 2 stories"
        two_days = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        rt.db.execute("UPDATE deliveries SET sent_at = ? WHERE status = 'sent'", [two_days])
        assert (await _run(cmds, "mute 1h")).ok
        later = datetime.now(UTC) - timedelta(minutes=1)
        feed_server.serve("/c", _outlet_feed("c", [(*NK_REPORTS[2], later)]))
        await poll_once(rt)

        reply = await _run(cmds, "digest 1d")
        lines = reply.text.splitlines()
        assert lines[0].endswith("0 stories told, 1 not told: skipped while muted"), lines[0]
        assert " · told before; a later report skipped while muted · " in lines[1], lines[1]
        assert NK_REPORTS[2][0] in lines[1] and "NOT TOLD" not in reply.text


async def test_a_recap_s_window_is_read_as_mute_reads_a_duration(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\nsubscriptions:\n"
        "  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    async with open_runtime(_settings(config), {"console": Console()}) as rt:
        cmds = Commands(rt)
        spelled = await _run(cmds, "digest 2 hours")
        assert not spelled.ok and "`2 hours` is not a duration: did you mean `2h`?" in spelled.text
        assert spelled.text.endswith("usage: `/wirewatch digest [SINCE]`")
        too_long = await _run(cmds, "digest 30d")
        assert not too_long.ok and "at most 7d" in too_long.text
        nothing = await _run(cmds, "digest 12h")
        assert nothing.ok and nothing.text.startswith("nothing here in the last 12h (since ")
        instant = await _run(cmds, "digest")
        assert not instant.ok and "this channel has no digest subscription" in instant.text


async def test_a_long_recap_arrives_whole_in_several_slack_messages_and_pages_on(
    tmp_path: Path,
) -> None:
    """More stories than a message holds: every line whole, in one message or the next,
    the newest first; more than a page holds: how many in all, and what to type for the
    older ones (it showed the 50 latest and nothing could reach the others)."""
    async with slack_env(tmp_path) as env:
        db = env.rt.db
        feed = add_feed(db, "https://x.example/rss", "X", origin="config")
        db["topics"].insert({"name": "t", "query": "troops", "origin": "config"}, pk="name")
        subscribe(db, f"slack:{NEWS}", "t", "instant")
        start = datetime.now(UTC) - timedelta(hours=2)
        titles = [_unrelated(n) for n in range(RECAP_STORIES + 5)]
        items = [_item(str(n), t, start + timedelta(minutes=n)) for n, t in enumerate(titles)]
        store_new_items(db, feed, items, StoryIndex(), start)
        await deliver_pending(db, env.rt.adapters)
        assert len(env.stub.top_level(NEWS)) == len(titles)

        replies = await env.replies("digest 1d", user=MEMBER)
        assert len(replies) > 1  # Slack's 12,000 characters a message
        lines = "\n".join(replies).splitlines()
        total = len(titles)
        assert lines[0].endswith(f"newest first: {total} stories told; 1-{RECAP_STORIES}")
        shown = [line.split(" · ", 2)[2].split(" (1 outlet) ")[0] for line in lines[1:-2]]
        assert shown == titles[::-1][:RECAP_STORIES]  # newest first, each whole
        assert lines[-2] == "5 older: `/wirewatch digest 1d page:2`"
        assert lines[-1].startswith("to mark one: ")

        # What it says to type gives the rest, the oldest last, and says where it ends.
        lines = (await env.command("digest 1d page:2", user=MEMBER)).splitlines()
        assert lines[0].endswith(f"{total} stories told; {RECAP_STORIES + 1}-{total}")
        shown = [line.split(" · ", 2)[2].split(" (1 outlet) ")[0] for line in lines[1:-1]]
        assert shown == titles[::-1][RECAP_STORIES:]
        assert lines[-1].startswith("to mark one: ")
        past = await env.command("digest 1d page:3", user=MEMBER)
        assert past.startswith("page 3 of the recap of the last 1d (since ")
        assert past.endswith(f": {total} stories, 2 pages")
        assert "go as far as page:20" in await env.command("digest 1d page:21", user=MEMBER)


def _unrelated(n: int) -> str:
    """A long headline sharing no word with another's: a story of its own."""
    pick = random.Random(n)
    words = ["".join(pick.choices(string.ascii_lowercase, k=6)) for _ in range(27)]
    return f"{' '.join(words)} troops"


async def test_on_discord_a_member_may_ask_for_a_recap_but_not_post_the_digest(
    stub: DiscordStub,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    """The synced command's `since:` option reaches the same parser: a spelled-out window is
    answered with the short form, a member's bare `digest` refused."""
    async with discord_runtime(stub, discord_settings(tmp_path), bound=False):
        bare = await stub.command("digest", user=stub.member)
        assert "`digest`: only moderators may use it" in text_of(bare)
        spelled = await stub.command("digest", user=stub.member, since="2 hours")
        assert "did you mean `2h`?" in text_of(spelled)
        recap = await stub.command("digest", user=stub.member, since="12h")
        assert text_of(recap).startswith("nothing here in the last 12h (since ")
