"""Text a feed chose, as Slack shows it: a thread update of a hostile item keeps its headline,
and a notice naming a feed shows the name as written. Through slack_sdk against
tests/slackstub.py, which refuses a section past Slack's 3,000 characters.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

from adapters.slack_render import SECTION_MAX
from tests.test_discord import alert
from tests.test_slack import NEWS, slack_env

URL = "https://news.example/" + "a" * 970  # within a link's limit once escaped
HOSTILE = {
    "title": "&" * 600,  # each & is five characters (&amp;) in mrkdwn
    "outlet": "&" * 80,
    "url": URL,
}


async def test_a_thread_update_of_a_hostile_item_keeps_its_linked_headline(
    tmp_path: Path,
) -> None:
    # Unclipped, the update's title pushed its section past 3,000 characters, and `clip`
    # (never halving a link) dropped the whole headline: "*Update from &&&…:* …".
    async with slack_env(tmp_path) as env:
        parent = await env.adapter.post_alert(NEWS, alert(51, channel=f"slack:{NEWS}", **HOSTILE))
        await env.adapter.post_update(parent, alert(52, kind="update", **HOSTILE))
        first, update = (call.args["blocks"][0]["text"]["text"] for call in env.stub.posts(NEWS))
        for head in (first, update):
            assert len(head) <= SECTION_MAX
            assert f"<{URL}|" in head and "&amp;…>" in head  # linked, its title clipped
        assert update.startswith("*Update from " + "&amp;" * 80 + ":* <https://news.example/")


async def test_a_notice_shows_a_feeds_name_as_written_and_keeps_our_code(
    tmp_path: Path,
) -> None:
    # Escaped but not made inline-safe: a feed named "*Breaking* ~Wire~" made the notice
    # bold and struck through.
    text = (
        "wirewatch disabled the feed *Breaking* ~Wire~ (https://wire.example/rss) after 5 "
        "failures in a row. To poll it again: `/wirewatch feeds add https://wire.example/rss`."
    )
    async with slack_env(tmp_path) as env:
        await env.adapter.post_notice(NEWS, text)
        [call] = env.stub.posts(NEWS)
        shown = call.args["text"]
        assert "∗Breaking∗ ∼Wire∼" in shown
        assert "*" not in shown and "~" not in shown
        assert "`/wirewatch feeds add https://wire.example/rss`" in shown
