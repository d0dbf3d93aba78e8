"""Discord rendering and command schema: limits, grapheme-safe cuts, escaping, round trips.

Embeds are checked with the stand-in's own copy of Discord's form rules (tests/discordstub.py),
graphemes against the `regex` module's \\X, and the command schema by building interactions
from it the way Discord does and reading them back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord_render import (
    ZWSP,
    alert_embed,
    clip,
    edit_embed,
    embed_size,
    feed_text,
    graphemes_fallback,
    http_url,
    masked_link,
    reply_text,
    split_text,
    thread_name,
    units,
)
from adapters.discord_schema import command_payload, layout, read_options
from bot.commands import SUBCOMMANDS, Commands
from bot.model import Alert, Change, Corroboration, Edit, Source
from tests.discordstub import _option_tree, embed_problems

# Pieces that break naive truncation: ZWJ families, skin tones, flags, tag flags, accents.
TRICKY = [
    "a",
    "é",
    "e\u0301",
    "\u0915\u094d\u0937",
    "👨‍👩‍👧‍👦",
    "👍🏽",
    "🇰🇷",
    "🇺🇦",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "❤️",
    " ",
    "\n",
    "\u200d",
    "\u0301",
    "\U0001f1f0",
    "한",
    "\u1100\u1161\u11a8",
    "@everyone",
    "<@&1>",
    "**",
    "[x](https://evil.example)",
    "`",
    "\r\n",
    "\u0600",
    "x\u200c",
]
tricky_text = st.lists(st.sampled_from(TRICKY), max_size=60).map("".join)


def boundaries(pieces: list[str]) -> set[int]:
    out, pos = {0}, 0
    for p in pieces:
        pos += len(p)
        out.add(pos)
    return out


def alert(**changes) -> Alert:
    base = Alert(
        3,
        "new",
        9,
        "troop-deployments",
        "discord:1",
        "Troops",
        "https://a.example/x",
        "Yonhap",
        datetime(2025, 2, 27, tzinfo=UTC),
        "Summary.",
        ("North Korea",),
        ("troops",),
        "matched troops",
        (Source("Yonhap", "Troops", "https://a.example"),),
    )
    return Alert(**{**base.__dict__, **changes})


@settings(max_examples=150, deadline=None)
@given(text=tricky_text, limit=st.integers(min_value=1, max_value=40))
def test_clip_fits_and_never_splits_a_grapheme(text, limit):
    out = clip(text, limit)
    assert units(out) <= limit
    if out == text:
        return
    kept = out[:-1]
    assert text.startswith(kept)
    real = boundaries([m.group(0) for m in regex.finditer(r"\X", text)])
    assert len(kept) in real


@settings(max_examples=300, deadline=None)
@given(text=tricky_text)
def test_fallback_graphemes_only_cut_where_unicode_allows(text):
    real = boundaries([m.group(0) for m in regex.finditer(r"\X", text)])
    pieces = list(graphemes_fallback(text))
    assert "".join(pieces) == text
    assert boundaries(pieces) <= real


@settings(max_examples=40, deadline=None)
@given(title=tricky_text, summary=tricky_text, n=st.integers(min_value=1, max_value=300))
def test_embed_stays_within_discord_limits_whatever_the_feed_says(title, summary, n):
    sources = tuple(
        Source(f"Outlet {i} {title[:40]}", title, f"https://o{i}.example/{i}") for i in range(n)
    )
    big = alert(
        title=title * 50,
        summary=summary * 500,
        explanation=summary * 80,
        entities=tuple(title[:30] or "x" for _ in range(n)),
        outlet=title * 20,
        sources=sources,
    )
    for embed in (alert_embed(big), alert_embed(big, as_update=True)):
        payload = embed.to_dict()
        assert embed_problems(payload) == []
        assert embed_size(embed) <= 6000 and len(payload.get("fields", [])) <= 25
    assert 1 <= units(thread_name(big)) <= 100


def test_first_message_lists_sources_and_updates_do_not():
    story = alert(
        sources=(
            Source("Yonhap", "a", "https://y.example"),
            Source("Al Jazeera", "b", "javascript:alert(1)"),
        )
    )
    first = alert_embed(story).to_dict()
    sources = next(f for f in first["fields"] if f["name"] == "Sources (2)")
    assert "[Yonhap](https://y.example)" in sources["value"]
    assert "Al Jazeera" in sources["value"] and "javascript" not in sources["value"]
    assert first["footer"]["text"].endswith("ref 3")
    update = alert_embed(story, as_update=True).to_dict()
    assert not any(f["name"].startswith("Sources") for f in update.get("fields", []))
    assert "ref" not in alert_embed(story, ref=False).to_dict()["footer"]["text"]


def test_a_message_shows_its_ref_and_no_internal_story_number():
    """Every stored item starts a story, matched or not: a fresh install's first alert read
    "wirewatch · story 11" under its embed. The footer keeps the ref feedback takes; a thread
    of an untitled story is named as its embed is, not after the id."""
    story = alert(story_id=11)
    assert alert_embed(story).to_dict()["footer"]["text"] == "wirewatch · ref 3"
    assert alert_embed(story, ref=False).to_dict()["footer"]["text"] == "wirewatch"
    edited = alert(story_id=11, kind="edit", edit=Edit((Change("same", "Troops"),), ()))
    assert edit_embed(edited).to_dict()["footer"]["text"] == "wirewatch · ref 3"
    assert thread_name(alert(story_id=11, title=" ")) == "(untitled)"


def test_a_lone_source_is_not_listed_again_and_the_outlets_come_first():
    """A story's first report was named four times (author, Outlet, "Sources (1)" with the
    title again, the outlets): Slack lists sources from two on, and so does Discord now;
    the corroboration mark sits under the outlet, as in Slack, not below the sources."""
    lone = alert(corroboration=Corroboration(("Yonhap",)))
    names = [f["name"] for f in alert_embed(lone).to_dict()["fields"]]
    assert not any(n.startswith("Sources") for n in names)
    two = alert(
        sources=(Source("Yonhap", "a", "https://y.example"), Source("KBS", "b", None)),
        corroboration=Corroboration(("Yonhap", "KBS"), corroborated=True),
    )
    names = [f["name"] for f in alert_embed(two).to_dict()["fields"]]
    assert names == [
        "Topic",
        "Outlet",
        "✅ Corroborated · 2 outlets",
        "Why it fired",
        "Entities",
        "Sources (2)",
    ]


def test_why_and_each_source_s_headline_are_inert():
    """The "Why it fired" line is cut from feed words, and each source now shows its
    headline: neither can ping, format or forge a link."""
    story = alert(
        explanation=(
            'title has "@everyone"; "**x**" within 5 words of "<@123>"; relevance 0.91 (bar'
            ' 0.50; words 0.90, encoder 0.93): armed forces then "to" in the title +1.2'
        ),
        sources=(
            Source("Wire", "@here [login](https://evil.example) **drills**", "https://w.example"),
            Source("Other", "  <@&456>\n sends\ttroops ", None),
            Source("Blank", " ", None),
        ),
    )
    fields = {f["name"]: f["value"] for f in alert_embed(story).to_dict()["fields"]}
    assert fields["Why it fired"] == (
        '"@\u200beveryone" in the title; "<@\u200b123>" near "\\*\\*x\\*\\*" · relevance 0.91'
    )
    assert fields["Sources (3)"].split("\n") == [
        "- [Wire](https://w.example): @\u200bhere \\[login\\](https://evil.example) "
        "\\*\\*drills\\*\\*",
        "- Other: <@&\u200b456> sends troops",
        "- Blank",
    ]


def test_many_sources_say_how_many_more():
    many = alert(
        sources=tuple(
            Source(f"Outlet number {i}", "t", f"https://o.example/{i}") for i in range(80)
        )
    )
    value = next(
        f["value"] for f in alert_embed(many).to_dict()["fields"] if f["name"] == "Sources (80)"
    )
    assert units(value) <= 1024 and re.search(r"… and \d+ more$", value)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "ftp://x.example/",
        "http://",
        "https://a.example/ b",
        None,
    ],
)
def test_only_http_links_become_links(url):
    assert http_url(url) is None
    assert "url" not in alert_embed(alert(url=url)).to_dict()


def test_masked_link_cannot_be_broken_out_of():
    link = masked_link("x](https://evil.example) [y", "https://ok.example/a_(b)")
    assert link.startswith("[x\\](https://evil.example) \\[y](https://ok.example/a_%28b%29)")


def test_feed_text_is_inert():
    shown = feed_text("**Big** @everyone @here <@123> <@&456> [login](https://evil.example)")
    assert "@\u200beveryone" in shown and "@\u200bhere" in shown
    assert "<@\u200b123>" in shown and "<@&\u200b456>" in shown
    assert "\\*\\*Big\\*\\*" in shown and "\\[login\\]" in shown


# Discord's <...> markup other than mentions: what a feed must not make clickable or live.
# A command mention names a subcommand after a space (`</NAME GROUP SUB:ID>`).
_DISCORD_MARKUP = re.compile(r"</[^<>\n]+:\d+>|<t:-?\d+(:\w)?>|<id:\w+>|<a?:\w+:\d+>")


def test_feed_text_cannot_post_a_command_mention_a_timestamp_or_a_server_link():
    """`</wirewatch feeds remove:1>` is a clickable command under the bot's name,
    `<t:1767225600:R>` a time shown as "in 2 days" in each reader's zone, `<id:customize>` a
    link into the server's own pages: none may come from a feed."""
    hostile = (
        "Troops sent </wirewatch feeds remove:123456789012345678> at <t:1767225600:R> "
        "<t:1767225600> see <id:customize> <:flag:99> <a:wave:98>"
    )
    for shown in (
        feed_text(hostile),
        reply_text(hostile),
        alert_embed(alert(summary=hostile)).to_dict()["description"],
    ):
        assert not _DISCORD_MARKUP.search(shown), shown
        assert shown.replace(ZWSP, "").startswith("Troops sent </wirewatch feeds remove:")


# Discord's parser reads a backslash before any punctuation as "this character, as is"
# (simple-markdown's escape rule); what is left unescaped is what renders.
_ESCAPED = re.compile(r"\\([^0-9A-Za-z\s])")


def _live(shown: str) -> str:
    """`shown` with each escaped character replaced by NUL: what markdown still sees."""
    return _ESCAPED.sub("\0", shown)


@pytest.mark.parametrize(
    "title",
    [
        r"North Korea warships sail [1](2) \\[Reuters\\](https://evil.example)",
        r"[a](b) **bold** __under__ ~~strike~~ `code` ||spoiler|| [c](d)",
        r"Read [1](2) \[Reuters report\](https://evil.example/reuters.com)",
        r"[a](b) \**bold\** [c](d)",
    ],
)
def test_feed_text_cannot_forge_a_link_or_format(title):
    # discord.py's escape_markdown took "[1](2) ... [Reuters](url)" for one link and escaped
    # nothing between: a feed's headline became a live link labelled "Reuters".
    live = _live(feed_text(title))
    assert not re.search(r"\[[^\]]*\]\(", live), live
    assert not set("*_~`|[]") & set(live), live


def test_a_bare_link_in_feed_text_is_left_whole():
    shown = feed_text("see https://a.example/x_y-(z) and _this_")
    assert "https://a.example/x_y-(z)" in shown and "\\_this\\_" in shown


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]()*_~`|\\ >#-1.ab\n", max_size=40))
def test_no_text_leaves_markdown_live(text):
    live = _live(feed_text(text))
    assert not set("*_~`|[]") & set(live), (text, live)
    assert not re.search(r"^\s*[>#-]", live, re.MULTILINE), (text, live)


def test_reply_keeps_code_and_lists_but_escapes_the_rest():
    shown = reply_text("- `feeds add URL`: adds *one* feed @everyone")
    assert shown.startswith("- `feeds add URL`: adds \\*one\\* feed @\u200beveryone")


@settings(max_examples=60, deadline=None)
@given(text=tricky_text, repeat=st.integers(min_value=1, max_value=200))
def test_split_text_makes_message_sized_chunks(text, repeat):
    long = (text + "\n") * repeat
    chunks = split_text(long)
    assert all(units(c) <= 2000 for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(long.split())


UNESCAPED_TICK = re.compile(r"(?<!\\)`")


def test_a_code_span_cut_between_messages_is_closed_and_reopened():
    # A long query echoed by `topics` was cut inside its code span: each message had an odd
    # number of backticks, and the second showed the query's `*` and `_` as markdown.
    query = " OR ".join(f"deploy{i}* OR troop_{i}" for i in range(120))
    chunks = split_text(reply_text(f"- `wide` [chat]: `{query}`\n- `nk` [builtin]: `x`"))
    assert len(chunks) == 2 and all(units(c) <= 2000 for c in chunks)
    assert all(len(UNESCAPED_TICK.findall(c)) % 2 == 0 for c in chunks), chunks
    assert chunks[0].endswith("`") and chunks[1].startswith("`")
    assert (chunks[0][:-1] + chunks[1][1:]).count(query) == 1


@settings(max_examples=80, deadline=None)
@given(
    words=st.lists(st.text(alphabet="ab*_ ~|é👍🏽", min_size=1, max_size=30), min_size=1),
    limit=st.integers(min_value=40, max_value=400),
)
def test_every_chunk_of_a_reply_has_whole_code_spans(words, limit):
    text = "\n".join(f"- `{w}` said: `{' '.join(words)}` and *{w}*" for w in words)
    chunks = split_text(reply_text(text), limit)
    assert all(units(c) <= limit for c in chunks)
    assert all(len(UNESCAPED_TICK.findall(c)) % 2 == 0 for c in chunks), chunks


def test_list_lines_end_without_a_stray_backslash():
    # The text between two spans ("\n- ") was escaped alone: its backslash went before the
    # newline, and Discord showed a "\" at the end of every topic line but the last.
    shown = reply_text("2 topics:\n- `a` [builtin]: `x`\n- `b` [chat]: `y`\n\n- `c`: z")
    assert shown == "2 topics:\n- `a` \\[builtin\\]: `x`\n- `b` \\[chat\\]: `y`\n\n- `c`: z"


def test_every_subcommand_round_trips_through_the_discord_schema():
    command = {**command_payload(), "id": "1"}
    for path, sub in layout().items():
        values = {name: f"v-{name}" for name, _, _ in sub.args}
        data = {"name": "wirewatch", "options": _option_tree(command, path, values, None)}
        invoked = read_options(data)
        assert (invoked.name, invoked.options) == (sub.name, values)
        assert Commands.text_for(invoked.name, invoked.options).startswith(sub.name)
    assert {s.name for s in layout().values()} == {s.name for s in SUBCOMMANDS}


def test_schema_respects_discord_rules():
    command = command_payload()
    assert "default_member_permissions" not in command and command["contexts"] == [0]
    name = regex.compile(r"^[-_\p{L}\p{N}]{1,32}$")

    def walk(options):
        assert len(options) <= 25
        required = [o.get("required", False) for o in options if o["type"] > 2]
        assert required == sorted(required, reverse=True)  # required ones first
        for o in options:
            assert name.match(o["name"]) and o["name"] == o["name"].lower()
            assert 1 <= len(o["description"]) <= 100
            walk(o.get("options", []))

    walk(command["options"])
    subscribe = next(o for o in command["options"] if o["name"] == "subscribe")
    topic, mode, only, except_ = subscribe["options"]
    assert topic["autocomplete"] and [c["value"] for c in mode["choices"]] == ["instant", "digest"]
    assert (only["name"], except_["name"]) == ("only", "except")
    assert not only["required"] and "query" in only["description"]


def test_free_text_options_say_what_to_type() -> None:
    """A moderator filling in /wirewatch topic add or test reads each box's description:
    "text" under a query's box says nothing of what goes there."""
    command = command_payload()
    described = {}
    for o in command["options"]:
        for sub in o.get("options", []) if o["type"] == 2 else [o]:
            path = f"{o['name']} {sub['name']}" if o["type"] == 2 else o["name"]
            for opt in sub.get("options", []):
                described[(path, opt["name"])] = opt["description"]
    assert "text" not in {d for d in described.values()}
    assert "query" in described[("topic add", "query")]
    assert "topic" in described[("test", "query")] and "NEAR/5" in described[("test", "query")]
    assert "URL" in described[("test", "text")]
    assert "URL or name" in described[("feeds remove", "feed")]
