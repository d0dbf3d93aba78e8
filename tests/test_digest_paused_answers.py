"""What `status` and `digest` say of a digest that will not go out: the channel paused (a
refusal, maybe one met halfway through a digest) or muted past the next digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.commands import Commands, Invocation
from bot.feed_store import add_feed
from bot.ingest import store_new_items
from bot.redecide import subscribe
from bot.store import pause_channel
from bot.stories.index import StoryIndex
from tests.runtime import console_runtime, make_settings
from tests.test_digest_command import _unrelated
from tests.test_outbox import _item
from tests.test_slack import ADMIN, NEWS, slack_env


async def _status(rt: Any) -> list[str]:
    reply = await Commands(rt).handle(Invocation("console", "console", "operator", "status"))
    return reply.text.splitlines()


def _digest_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "digest:" in line and line.startswith("- this channel")]


def _waiting_digest(db: Any, channel: str, stories: int) -> None:
    """A digest subscription with `stories` stories waiting for its digest, each its own."""
    feed = add_feed(db, "https://x.example/rss", "X", origin="config")
    db["topics"].insert({"name": "t", "query": "troops", "origin": "config"}, pk="name")
    subscribe(db, channel, "t", "digest")
    start = datetime.now(UTC) - timedelta(minutes=30)
    items = [_item(str(n), _unrelated(n), start + timedelta(seconds=n)) for n in range(stories)]
    store_new_items(db, feed, items, StoryIndex(), start)


async def test_status_says_a_paused_channel_s_digest_waits_not_when_it_is_due(
    tmp_path: Path,
) -> None:
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        _waiting_digest(rt.db, "console", 2)
        [due] = _digest_lines(await _status(rt))
        assert due.startswith("- this channel's next digest: ")
        pause_channel(rt.db, "console", "Slack channel_not_found: the channel does not exist")
        [paused] = _digest_lines(await _status(rt))
    assert paused == (
        "- this channel's digest: PAUSED (Slack channel_not_found: the channel does not exist):"
        " none goes out until a moderator fixes that and subscribes again; 2 stories (2 reports)"
        " waiting for it"
    )


async def test_status_says_a_mute_past_the_next_digest_skips_it(tmp_path: Path) -> None:
    """A mute that ends before the digest is due leaves it as it was."""
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        _waiting_digest(rt.db, "console", 2)
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "operator", "mute 1m"))
        [short] = _digest_lines(await _status(rt))
        await cmds.handle(Invocation("console", "console", "operator", "mute 2d"))
        [long] = _digest_lines(await _status(rt))
    assert short.startswith("- this channel's next digest: ")
    assert long.startswith("- this channel's digest: muted until ")
    assert "posts nothing and skips the 2 stories waiting. `/wirewatch unmute` ends it" in long
    assert "next digest" not in long


async def test_a_digest_refused_after_its_first_message_says_the_channel_is_now_paused(
    tmp_path: Path,
) -> None:
    """Through Slack: the first message of a long digest is posted, the channel is archived
    before the second; the answer says what the pause notice says, not only "refused"."""
    async with slack_env(tmp_path) as env:
        _waiting_digest(env.rt.db, f"slack:{NEWS}", 40)  # more than one message holds
        post = env.stub._m_chat_postMessage

        def then_archived(args: dict[str, Any]) -> dict[str, Any]:
            answer = post(args)
            env.stub.channels[NEWS].archived = True
            return answer

        env.stub._m_chat_postMessage = then_archived  # type: ignore[method-assign]
        said = await env.command("digest", user=ADMIN)
        assert len(env.stub.top_level(NEWS)) == 1
        left = env.rt.db.execute("SELECT count(*) FROM deliveries WHERE status = 'digest'")
        assert left.fetchone()[0] > 0  # kept for when it is resumed
    assert said.startswith("digest sent: ") and "; the rest was refused: Slack is_archived" in said
    assert said.endswith(
        "Alerts here are now paused and moderators told; the stories not posted are kept. "
        "Fix that, then subscribe again to resume"
    )
