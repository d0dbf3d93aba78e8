"""Edits and corroboration as Slack and Discord render them: feed text in a word diff can
neither ping nor break the message's markup, every message stays inside the platform's
limits however long the diff (a cut diff says so with "…"), and the outlets line and the
corroboration mark reach both platforms escaped (adapters/slack_render.py,
adapters/discord_render.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import console, discord_render, slack_render
from bot.edits import word_diff
from bot.feeds.parse import SUMMARY_MAX, TITLE_MAX
from bot.model import Alert, Corroboration, Edit, Source
from tests.discordstub import embed_problems
from tests.test_discord import LIVE_MENTION
from tests.test_slack import PINGS

# Feed text made of markup characters, words and would-be pings, joined as they come.
TOKENS = [*"*_~`<>&|[]()@!#:\\ \n", " word ", "troops", "<!channel>", "@everyone", "<@U1>"]
hostile_text = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
DIFF_HEADS = ("*Title:* ", "*Summary:* ")


def edit_alert(old: str, new: str, **changes: Any) -> Alert:
    fields: dict[str, Any] = dict(
        delivery_id=7,
        kind="edit",
        story_id=3,
        topic="naval",
        channel="slack:C1",
        title=new[:200] or "t",
        url="https://wire.example/1",
        outlet="Wire <!here> @everyone",
        published=datetime(2025, 2, 27, tzinfo=UTC),
        summary="",
        edit=Edit(word_diff(old, new), word_diff(old * 3, new * 3), started=("naval",)),
        corroboration=Corroboration(("Wire <@123>", "via AFP (@here)"), corroborated=True),
    )
    fields.update(changes)
    return Alert(**fields)


def slack_diffs(alert: Alert) -> dict[str, str]:
    """The diff sections of a Slack edit message, by their head ("*Title:* ")."""
    out = {}
    for block in slack_render.update_blocks(alert):
        text = block.get("text", {}).get("text", "")
        for head in DIFF_HEADS:
            if block["type"] == "section" and text.startswith(head):
                out[head] = text[len(head) :]
    return out


def _slack_spans_balanced(text: str) -> bool:
    """Our struck and bold spans open and close in pairs: feed text's own ~ * ` were
    replaced by lookalikes, so it cannot close one of ours or open a code span."""
    return text.count("~") % 2 == 0 and text.count("*") % 2 == 0 and "`" not in text


def _discord_spans_balanced(text: str) -> bool:
    unescaped = re.sub(r"\\.", "", text)  # feed text's own markers are backslash-escaped
    return unescaped.count("~~") % 2 == 0 and unescaped.count("**") % 2 == 0


@settings(max_examples=60, deadline=None)
@given(old=hostile_text, new=hostile_text)
def test_a_diff_of_hostile_text_cannot_ping_or_break_markup(old: str, new: str) -> None:
    alert = edit_alert(old, new)
    for text in slack_diffs(alert).values():
        assert _slack_spans_balanced(text), text
    sent = json.dumps(slack_render.update_blocks(alert), ensure_ascii=False)
    assert not any(ping in sent for ping in PINGS)
    embed = discord_render.edit_embed(alert).to_dict()
    for line in (embed.get("description") or "").split("\n"):
        assert _discord_spans_balanced(line.split(":** ", 1)[-1]), line
    assert not LIVE_MENTION.search(json.dumps(embed, ensure_ascii=False))
    assert embed_problems(embed) == []


def _shown_whole_or_cut(shown: str, whole: str) -> bool:
    """A diff as shown is all of it, or a prefix of whole parts followed by " …"."""
    return shown == whole or (shown.endswith(" …") and whole.startswith(shown[:-2] + " "))


def test_a_diff_as_long_as_feeds_allow_stays_inside_both_platforms_limits() -> None:
    # The longest title and summary a feed can give, every "&" five characters once escaped
    # for Slack and every "*" two once escaped for Discord: whole rewrites of both.
    old_title = ("&&&& " * TITLE_MAX)[:TITLE_MAX]
    new_title = ("<<<< " * TITLE_MAX)[:TITLE_MAX]
    old = " ".join(f"w{i}&" for i in range(SUMMARY_MAX))[:SUMMARY_MAX]
    new = " ".join(f"w{i}&" if i % 3 else f"x{i}**" for i in range(SUMMARY_MAX))[:SUMMARY_MAX]
    edit = Edit(word_diff(old_title, new_title), word_diff(old, new), started=("naval",))
    alert = edit_alert("", "", title=new_title, edit=edit)
    for block in slack_render.update_blocks(alert):
        if block["type"] in ("section", "context"):
            texts = [block.get("text", {}), *block.get("elements", [])]
            assert all(len(t.get("text", "")) <= slack_render.SECTION_MAX for t in texts)
    diffs = slack_diffs(alert)
    for head, parts in zip(DIFF_HEADS, (edit.title, edit.summary), strict=True):
        whole = slack_render.diff_mrkdwn(parts, 10**6)
        assert _shown_whole_or_cut(diffs[head], whole) and _slack_spans_balanced(diffs[head])
    assert diffs["*Summary:* "].endswith(" …")  # 2,000 characters of "&" cannot fit
    embed = discord_render.edit_embed(alert).to_dict()
    assert embed_problems(embed) == []
    title, summary = embed["description"].split("\n")
    assert title == "**Title:** " + discord_render.diff_markdown(edit.title, 10**6)
    whole = discord_render.diff_markdown(edit.summary, 10**6)
    assert summary.startswith("**Summary:** ") and summary.endswith(" …")
    assert _shown_whole_or_cut(summary.removeprefix("**Summary:** "), whole)


def test_corroboration_shows_on_the_first_message_and_updates_escaped() -> None:
    alert = edit_alert("a", "b", kind="new", edit=None)
    contexts = [
        e["text"]
        for block in slack_render.alert_blocks(alert)
        if block["type"] == "context"
        for e in block["elements"]
    ]
    mark = ":white_check_mark: *Corroborated* · 2 outlets: Wire &lt;@123&gt;, via AFP (@here)"
    assert mark in contexts
    update = json.dumps(
        slack_render.update_blocks(dataclasses.replace(alert, kind="update")), ensure_ascii=False
    )
    assert "2 outlets: Wire &lt;@123&gt;, via AFP (@here)" in update
    embed = discord_render.alert_embed(alert).to_dict()
    [field] = [f for f in embed["fields"] if f["name"] == "✅ Corroborated · 2 outlets"]
    assert field["value"] == "Wire <@\u200b123>, via AFP (@\u200bhere)"
    plain = dataclasses.replace(alert, corroboration=Corroboration(("Wire",)))
    fields = discord_render.alert_embed(plain).to_dict()["fields"]
    assert [f["value"] for f in fields if f["name"] == "1 outlet"] == ["Wire"]


def test_one_outlet_s_two_reports_are_counted_alike_on_every_platform() -> None:
    """Slack said "1 outlet: CNA" over a sources list of two CNA reports, and Discord
    "1 outlet": the count now names the reports too, as the console did."""
    reports = (Source("CNA", "Pentagon defends", "https://c.example/1"),)
    reports += (Source("CNA", "Troops deployed", "https://c.example/2"),)
    alert = edit_alert("a", "b", kind="new", edit=None, outlet="CNA", sources=reports)
    alert = dataclasses.replace(alert, corroboration=Corroboration(("CNA",)))
    for blocks in (slack_render.alert_blocks(alert), slack_render.update_blocks(alert)):
        contexts = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
        assert "1 outlet (2 reports): CNA" in contexts
    fields = discord_render.alert_embed(alert).to_dict()["fields"]
    assert [f["value"] for f in fields if f["name"] == "1 outlet (2 reports)"] == ["CNA"]
    assert console.outlets_line(alert) == "1 outlet (2 reports): CNA"


def test_an_edit_touching_many_topics_keeps_slack_context_within_ten_elements() -> None:
    # Slack refuses a context block of more than ten elements: the whole message would fall
    # back to plain text. Twelve topics started or stopped by one edit still all show.
    topics = tuple(f"topic-{n}" for n in range(12))
    edit = Edit(word_diff("a", "b"), (), started=topics[:6], stopped=topics[6:])
    blocks = slack_render.update_blocks(edit_alert("a", "b", edit=edit))
    [context] = [b for b in blocks if b["type"] == "context"]
    assert len(context["elements"]) <= 10
    shown = " ".join(e["text"] for e in context["elements"])
    assert all(t in shown for t in topics) and "ref 7" in shown


def test_a_slack_edit_says_when_its_item_was_published() -> None:
    """As the console's EDIT block and Discord's embed timestamp do."""
    blocks = slack_render.update_blocks(edit_alert("a", "b"))
    [context] = [b for b in blocks if b["type"] == "context"]
    stamp = context["elements"][0]["text"]
    assert stamp.startswith("published <!date^1740614400^") and stamp.endswith("UTC> · ref 7")
