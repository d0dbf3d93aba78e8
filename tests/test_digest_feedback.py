"""Editors label a story a digest listed: the `ref N` on its line, typed as `feedback KIND N`
in the channel that got the digest (Slack, through its stand-in and the real slack_sdk and
slack-bolt), or given to `wirewatch feedback` for a digest the console printed; the label
reaches `wirewatch eval --feedback`. Real SQLite, feeds served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.console import ConsoleAdapter
from adapters.discord_render import digest_embed
from adapters.slack_render import escape
from bot.cli import main
from bot.db import open_database
from bot.digest import send_digests
from bot.feedback import record_label
from bot.ingest import store_new_items
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from tests.feedserver import FeedServer
from tests.test_digest import LITHUANIA, NK_REPORTS, _outlet_feed
from tests.test_feedback import _settings
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _item, _setup
from tests.test_slack import MEMBER, NEWS, slack_env

OTHER = "C0OTHER"
# A story of its own, reported after the first digest went out: it waits for the next one.
ESTONIA = (
    "Britain sends 900 more troops to Estonia",
    "The British army will deploy 900 more soldiers to Estonia, the defence ministry said.",
)
_LINE = re.compile(r"^- ref (\d+) · (?:Follow-up: )?(.*?) \(")


def _refs(text: str) -> dict[str, int]:
    """Each digest line's headline and the number it shows."""
    found = (_LINE.match(line) for line in text.splitlines()[1:])
    return {html.unescape(m.group(2)): int(m.group(1)) for m in found if m}


def _config(tmp_path: Path, feed_server: FeedServer, channels: list[str]) -> Path:
    """Three outlets (C has nothing yet) and a digest subscription in each channel."""
    feeds = "".join(
        f"  - {{name: 'Outlet {n.upper()}', url: '{feed_server.url('/' + n)}'}}\n" for n in "abc"
    )
    subs = "".join(
        f"  - {{topic: troop-deployments, channel: '{c}', mode: digest}}\n" for c in channels
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        "network: {allow_private_addresses: true}\nslack: {moderators: [U0MOD]}\n"
        f"feeds:\n{feeds}subscriptions:\n{subs}",
        encoding="utf-8",
    )
    return config


def _serve(feed_server: FeedServer) -> datetime:
    """Outlet A: North Korea and Lithuania; B: North Korea again (one story, two outlets)."""
    start = datetime.now(UTC) - timedelta(minutes=50)
    feed_server.serve("/a", _outlet_feed("a", [(*NK_REPORTS[0], start), (*LITHUANIA, start)]))
    feed_server.serve("/b", _outlet_feed("b", [(*NK_REPORTS[1], start + timedelta(minutes=5))]))
    feed_server.serve("/c", _outlet_feed("c", []))
    return start


def _delivery(db, channel: str, title: str) -> int:
    (n,) = db.execute(
        "SELECT d.id FROM deliveries d JOIN items i ON i.id = d.item_id "
        "WHERE d.channel = ? AND i.title = ?",
        [channel, title],
    ).fetchone()
    return n


async def test_each_digest_line_shows_the_number_that_labels_the_item_it_shows(tmp_path):
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    # NK and NK2 are one story: its line shows NK, the first; RED is a story of its own.
    items = [_item("1", NK, NOW), _item("2", NK2, NOW), _item("3", RED, NOW)]
    store_new_items(db, feed, items, index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1
    ((_, key, text),) = chat.digests
    nk, nk2, red = (_delivery(db, "chat:D", t) for t in (NK, NK2, RED))
    assert text.splitlines()[1:-1] == [
        f"- ref {nk} · {NK} (X, 2 reports) https://x.example/1",
        f"- ref {red} · {RED} (X) https://x.example/3",
    ]
    assert f"ref {nk2}" not in text  # one more report of the story, from X too: counted
    # Both chat renderings keep the number readable as typed.
    assert f"- ref {red} · " in escape(text)
    assert f"\\- ref {red} · " in (digest_embed(text, key).description or "")

    said = record_label(db, "not-relevant", red, platform="chat", user="U1", channel="chat:D")
    assert said.status == "recorded" and said.title == RED and said.listed
    unshown = record_label(db, "not-relevant", nk2, platform="chat", user="U1", channel="chat:D")
    assert unshown.status == "unlisted" and unshown.instead == nk


async def test_a_digest_line_is_labelled_from_its_channel_and_exported(
    tmp_path: Path, feed_server: FeedServer, capsys
) -> None:
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}", f"slack:{OTHER}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        env.stub.add_channel(OTHER, "other")
        await poll_once(env.rt)
        assert await send_digests(env.rt.db, env.rt.adapters) == 2
        [news] = env.stub.top_level(NEWS)
        [other] = env.stub.top_level(OTHER)
        refs, theirs = _refs(news["text"]), _refs(other["text"])
        nk, lithuania = refs[NK_REPORTS[0][0]], refs[LITHUANIA[0]]
        assert set(refs) == {NK_REPORTS[0][0], LITHUANIA[0]} and "+1 more outlet" in news["text"]

        said = await env.command(f"feedback not-relevant ref {nk}", user=MEMBER)
        assert f"Recorded (alert {nk})" in said and "the digest stays as it is" in said
        assert "not relevant to `troop-deployments`" in said
        again = await env.command(f"feedback not-relevant {nk}", user=MEMBER)
        assert "You already marked" in again
        # The same story's number in the other channel's digest, typed here, and this
        # channel's number typed there: neither channel was shown that number.
        elsewhere = await env.command(f"feedback not-relevant {theirs[LITHUANIA[0]]}")
        assert "was not posted in this channel, so nothing was recorded" in elsewhere
        there = await env.command(f"feedback not-relevant {nk}", channel=OTHER)
        assert "was not posted in this channel" in there
        # Outlet B's report is counted on the line ("+1 more outlet"), its number not shown.
        unshown = _delivery(env.rt.db, f"slack:{NEWS}", NK_REPORTS[1][0])
        said = await env.command(f"feedback not-relevant {unshown}")
        assert "is not a number a digest showed" in said and f"`ref {nk}`" in said

        # Wrong story: refused on a story's sole report, taken where others were grouped.
        alone = await env.command(f"feedback wrong-story {lithuania}")
        assert alone.startswith(f"alert {lithuania} is the first report of its story")
        assert "a later digest lists it as a follow-up" in alone
        grouped = await env.command(f"feedback wrong-story {nk}")
        assert (
            "Recorded" in grouped
            and f'grouped with "{NK_REPORTS[0][0]}" (those its line' in grouped
        )

        # A story reported since: it waits for the next digest, its number shown nowhere.
        later = datetime.now(UTC) - timedelta(minutes=5)
        feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))
        await poll_once(env.rt)
        waiting = _delivery(env.rt.db, f"slack:{NEWS}", ESTONIA[0])
        said = await env.command(f"feedback not-relevant {waiting}")
        assert f"`ref {waiting}` is a story waiting for its channel's next digest" in said

        rows = env.rt.db.execute(
            "SELECT delivery_id, kind, user, channel, topic, title, outlet FROM feedback "
            "ORDER BY id"
        ).fetchall()
    title = NK_REPORTS[0][0]
    common = (f"slack:{NEWS}", "troop-deployments", title, "Outlet A")
    assert rows == [(nk, "not-relevant", MEMBER, *common), (nk, "wrong-story", "U0ADMIN", *common)]

    out = tmp_path / "labels.jsonl"
    assert main(["eval", "--feedback", str(out), "--config", str(config)]) == 0
    assert "1 labelled items of topic troop-deployments" in capsys.readouterr().err
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["title"] == title and line["label"] == "other" and line["outlet"] == "Outlet A"
    assert line["wrong_story"].startswith("story-")
    assert [f["channel"] for f in line["feedback"]] == [f"slack:{NEWS}"] * 2


async def test_the_console_prints_a_digests_refs_and_the_operator_labels_them(
    tmp_path: Path, feed_server: FeedServer, capsys
) -> None:
    _serve(feed_server)
    config = _config(tmp_path, feed_server, ["console"])
    with contextlib.redirect_stdout(io.StringIO()):  # the feeds are served on this loop
        assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(config)]) == 0
    printed, as_json = io.StringIO(), io.StringIO()

    async def digest(out: io.StringIO, json_lines: bool) -> None:
        db = open_database(tmp_path / "w.db")
        try:
            assert await send_digests(db, {"console": ConsoleAdapter(out, json_lines=json_lines)})
            if json_lines:  # printed again as text
                db.execute("UPDATE deliveries SET status = 'digest', digest_of = NULL")
                db.conn.commit()
        finally:
            db.close()

    await digest(as_json, True)
    await digest(printed, False)
    text = printed.getvalue()
    refs = _refs(text.removeprefix("== DIGEST\n"))
    assert set(refs) == {NK_REPORTS[0][0], LITHUANIA[0]}
    assert json.loads(as_json.getvalue())["text"] in text  # the same lines, refs and all
    assert text.rstrip().splitlines()[-1] == (
        "feedback: wirewatch feedback not-relevant REF · wirewatch feedback wrong-story REF "
        "(REF: the number after ref on the story's line)"
    )
    capsys.readouterr()

    nk = refs[NK_REPORTS[0][0]]
    argv = ["--config", str(config), "--by", "night-desk"]
    assert main(["feedback", "not-relevant", "ref", str(nk), *argv]) == 0
    assert f"Recorded (alert {nk})" in capsys.readouterr().out
    assert main(["feedback", "wrong-story", str(refs[LITHUANIA[0]]), *argv]) == 2
    assert "no other report has been grouped with it in its channel" in capsys.readouterr().err
    db = open_database(tmp_path / "w.db")
    db.execute("UPDATE deliveries SET status = 'digest', digest_of = NULL")  # not sent yet
    db.conn.commit()
    db.close()
    assert main(["feedback", "wrong-story", str(nk), *argv]) == 2
    assert "waiting for its channel's next digest" in capsys.readouterr().err

    out = tmp_path / "labels.jsonl"
    assert main(["eval", "--feedback", str(out), "--config", str(config)]) == 0
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["title"] == NK_REPORTS[0][0] and line["label"] == "other"
    assert line["feedback"][0]["by"] == "console:night-desk"
