"""A topic the operator removes from the config, seen from the channels that follow it from chat.

Each test starts the bot the real way (`open_runtime` with a config, a real SQLite file, a feed
on 127.0.0.1, the console adapter), restarts it with the topic removed, and again with it
back. Nothing of a removed topic is posted, nothing is lost: what waited for it is held, the
channel is told once, and putting the topic back posts what is still fresh, once.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.cli import main
from bot.clock import iso, utcnow
from bot.commands import Commands, Invocation, Reply, parse
from bot.db import open_database
from bot.digest import send_digests
from bot.feed_store import active_feeds
from bot.model import Topic
from bot.pipeline import poll_many
from bot.poll_cycle import poll_once
from bot.redecide import save_topic, subscribe
from bot.runtime import Runtime
from bot.send_errors import UNKNOWN_TRIES, hold_channel
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import subscriptions
from tests.runtime import console_runtime
from tests.slackstub import TOKEN, SlackStub

POLAND = [
    "Poland deploys 2,000 troops to the Belarus border",
    "Poland sends 2,000 more troops to its border with Belarus",
]
JAPAN = "Japan dispatches destroyers to the Gulf of Aden"
NEWS = "C0NEWS"
TOPIC = {"poland": {"query": "troops AND entity:Poland"}}


def _feed(titles: list[str], summaries: dict[int, str] | None = None) -> str:
    """The wire with these reports; `summaries`: some of them edited since."""
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{t}</title><guid>g{zlib.crc32(t.encode())}</guid><link>https://wire.example/{i}</link>"
        f"<description>{(summaries or {}).get(i, t + '.')}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=10 - i))}</pubDate></item>"
        for i, t in enumerate(titles)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>"


def _config(tmp_path: Path, url: str, *, topic: bool, query: str | None = None) -> dict[str, Any]:
    """`query`: the topic as the operator wrote it back, if not as it was."""
    topics = {"poland": {"query": query}} if query else TOPIC
    return {
        "database": str(tmp_path / "w.db"),
        "articles": {"fetch": False},
        "feeds": [{"name": "Wire", "url": url}],
        "subscriptions": [],
        **({"topics": topics} if topic else {}),
    }


def _settings(tmp_path: Path, url: str, *, topic: bool, query: str | None = None) -> Settings:
    return Settings.model_validate(_config(tmp_path, url, topic=topic, query=query))


async def _queue(settings: Settings, *follow: str, mode: str = "instant") -> None:
    """A first run: the console subscribes from chat and a poll queues alerts, none sent yet
    (Slack in an outage, say)."""
    async with console_runtime(settings) as (rt, _):
        for topic in follow:
            subscribe(rt.db, "console", topic, mode)
        await poll_many(rt.pipeline, active_feeds(rt.db))
        assert rt.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 2


async def _ask(rt: Runtime, text: str) -> str:
    reply = await Commands(rt).handle(Invocation("console", "console", "op", text))
    assert isinstance(reply, Reply) and reply.ok, reply
    return reply.text


def _notices(db) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.execute("SELECT channel, text FROM notices ORDER BY id")]


def _statuses(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(tmp_path / "w.db") as db:
        return db.execute("SELECT kind, status, error FROM deliveries ORDER BY id").fetchall()


async def test_alerts_waiting_for_a_removed_topic_are_held_and_the_channel_told_once(
    tmp_path, feed_server
):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    gone = _settings(tmp_path, url, topic=False)
    for _ in range(2):  # restarted twice: told once
        async with console_runtime(gone) as (rt, console):
            await poll_once(rt)
            assert console.alerts() == [], "an alert of a removed topic was posted"
            [(channel, text)] = _notices(rt.db)
            status = await _ask(rt, "status")
            listed = await _ask(rt, "list")
    assert channel == "console"
    assert "topic `poland` was removed" in text and "2 alerts waiting for it are held" in text
    assert "/wirewatch unsubscribe poland" in text and "back in its config" in text
    for reply in (status, listed):
        assert "`poland` was removed from the config: 2 alerts held for it" in reply
    assert "held while paused: 0" in status  # the channel is not paused: counted once, above
    held = ("held", "topic poland removed from the config")
    assert _statuses(tmp_path) == [("new", *held), ("update", *held)]


async def test_an_alert_the_channel_still_follows_goes_on_through_its_other_topic(
    tmp_path, feed_server
):
    # Queued under `poland` (one alert per channel names every topic it matched); the
    # built-in troop-deployments takes the same reports.
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland", "troop-deployments")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == POLAND
        assert {a["topic"] for a in console.alerts()} == {"troop-deployments"}
        [(_, text)] = _notices(rt.db)
    assert "2 alerts waiting for it went on through another topic this channel follows" in text
    assert "held" not in text


async def test_subscribing_to_another_topic_does_not_release_what_is_held(tmp_path, feed_server):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await _ask(rt, "subscribe troop-deployments")  # resumes a paused channel's backlog
        await poll_once(rt)
        assert console.alerts() == []
    assert [s for _, s, _ in _statuses(tmp_path)] == ["held", "held"]


async def test_the_topic_back_drops_what_went_stale_meanwhile_and_says_so(tmp_path, feed_server):
    feed_server.serve("/w", _feed([POLAND[0]]))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    async with console_runtime(with_topic) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
        # That report is two days old by the time the topic comes back.
        rt.db.execute("UPDATE items SET published = ?", [iso(utcnow() - timedelta(days=2))])
        rt.db.conn.commit()
    feed_server.serve("/w", _feed([JAPAN, POLAND[0], "Poland moves troops to the east"]))
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)  # its new report is stored, never matched: the topic is gone
        assert console.alerts() == []
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == [], "a stale alert held for the topic was posted"
        told = _notices(rt.db)
    assert [s for _, s, _ in _statuses(tmp_path)] == ["cancelled"]
    assert "is back in wirewatch's config: 0 alerts held for it go out now" in told[-1][1]
    assert "1 alert older than 1d was dropped" in told[-1][1]


async def test_the_topic_back_posts_its_held_story_once_in_order(tmp_path, feed_server):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
    for turn in range(2):  # and a restart after: nothing twice
        async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, console):
            await poll_once(rt)
            posted = console.alerts()
            told = _notices(rt.db)
        if turn == 0:
            assert [(a["title"], a["kind"]) for a in posted] == [
                (POLAND[0], "new"),
                (POLAND[1], "update"),
            ]
        else:
            assert posted == []
    assert len(told) == 2 and "2 alerts held for it go out now." in told[1][1]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_a_chat_topic_referring_to_it_is_said_to_be_skipped_for_that_reason(
    tmp_path, feed_server
):
    feed_server.serve("/w", _feed([]))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, _):
        save_topic(rt.db, Topic("poland-ships", "topic:poland AND destroyers", origin="chat"))
        subscribe(rt.db, "console", "poland-ships", "instant")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        [(channel, text)] = _notices(rt.db)
    assert channel == "console"
    assert "refers to topic 'poland', which was removed from the config" in text
    assert "did you mean" not in text


def test_check_names_a_followed_topic_the_config_no_longer_has(tmp_path, capsys):
    config = tmp_path / "wirewatch.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, "https://wire.example/rss", topic=True)))
    open_database(tmp_path / "w.db").close()  # as a bot run with that config left it
    with sqlite3.connect(tmp_path / "w.db") as db:
        db.execute(
            "INSERT INTO topics (name, query, description, origin) VALUES "
            "('poland', 'troops', '', 'config'), ('poland-ships', 'topic:poland', '', 'chat')"
        )
        db.execute(
            "INSERT INTO subscriptions (channel, topic, mode, origin, created) "
            "VALUES ('slack:C0NEWS', 'poland', 'instant', 'chat', '2026-01-01T00:00:00Z')"
        )
    config.write_text(yaml.safe_dump(_config(tmp_path, "https://wire.example/rss", topic=False)))
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "note: topic poland is not in this config but slack:C0NEWS follows it" in out
    assert "note: chat topic poland-ships refers to topic poland" in out


@asynccontextmanager
async def _slack_runtime(
    settings: Settings, stub: SlackStub
) -> AsyncIterator[tuple[Runtime, SlackStub]]:
    client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
    adapter = SlackAdapter(client, signing_secret="s", pace=0)
    await adapter.start(None)
    try:
        async with open_runtime(settings, {"slack": adapter}) as rt:
            yield rt, stub
    finally:
        await adapter.stop()


async def test_a_slack_alert_in_doubt_is_neither_resent_nor_lost_and_the_channel_is_told(
    tmp_path, feed_server
):
    # Posted, its answer lost: in doubt when the topic goes; asked about when it is back.
    feed_server.serve("/w", _feed([POLAND[0]]))
    url = feed_server.url("/w")
    with_topic, gone = (_settings(tmp_path, url, topic=t) for t in (True, False))
    async with SlackStub() as slack:
        slack.add_channel(NEWS)
        async with _slack_runtime(with_topic, slack) as (rt, _):
            subscribe(rt.db, f"slack:{NEWS}", "poland", "instant")
            slack.lose_response("chat.postMessage", "503")
            await poll_once(rt)
        [alert] = slack.channels[NEWS].messages
        async with _slack_runtime(gone, slack) as (rt, _):
            rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
            rt.db.conn.commit()
            await poll_once(rt)
        assert slack.calls_to("conversations.history") == []  # held: not even asked about
        texts = [m["text"] for m in slack.channels[NEWS].messages]
        assert len(texts) == 2 and "topic `poland` was removed" in texts[1]
        async with _slack_runtime(with_topic, slack) as (rt, _):
            await poll_once(rt)
        messages = slack.channels[NEWS].messages
        assert len(messages) == 3 and "is back in wirewatch's config" in messages[2]["text"]
        assert len([c for c in slack.calls_to("chat.postMessage") if "blocks" in c.args]) == 1
    row = _statuses(tmp_path)
    assert row == [("new", "sent", None)], "the alert in doubt was lost or posted again"
    assert alert in messages


async def test_a_paused_channel_keeps_its_held_alerts_until_it_resumes(tmp_path, feed_server):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland")
    async with console_runtime(with_topic) as (rt, _):
        hold_channel(rt.db, "console", "not_in_channel")  # a permanent error paused it
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == []  # still paused: back, but not around the pause
        assert "2 alerts held for it wait with the channel's paused" in _notices(rt.db)[-1][1]
        await _ask(rt, "subscribe poland")  # a moderator resumes the channel
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == POLAND


async def test_a_digest_subscription_lists_nothing_while_gone_and_its_stories_once_back(
    tmp_path, feed_server
):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland", mode="digest")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        assert await send_digests(rt.db, rt.adapters) == 0
    async with console_runtime(with_topic) as (rt, console):
        assert await send_digests(rt.db, rt.adapters) == 1
        [digest] = console.alerts()
    assert digest["kind"] == "digest" and POLAND[0] in digest["text"]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_a_chat_topic_of_the_removed_name_gives_back_what_was_held(tmp_path, feed_server):
    """A moderator makes `poland` again from chat instead of waiting for the operator: what
    was held for it goes out now (what the new query still takes), not at some later start,
    and is not left held as if the channel were paused."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        added = await _ask(rt, "topic add poland troops AND entity:Poland")
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == POLAND
        status = await _ask(rt, "status")
        told = _notices(rt.db)
    assert "held while paused: 0" in status
    assert "2 alerts held since it left the config given back" in added
    assert len(told) == 2 and "topic `poland` is back (made again from chat)" in told[1][1]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_what_the_chat_topic_of_the_removed_name_refuses_is_dropped(tmp_path, feed_server):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        await _ask(rt, "topic add poland destroyers AND entity:Poland")
        await poll_once(rt)
        assert console.alerts() == []
    assert [s for _, s, _ in _statuses(tmp_path)] == ["cancelled", "cancelled"]


async def test_held_alerts_moved_to_another_topic_of_a_paused_channel_go_out_on_resume(
    tmp_path, feed_server
):
    """Held for the removed topic, then taken at a start by a topic the channel follows
    since, while the channel is paused: its resume posts them. They kept the removed topic's
    reason, which a resume leaves held, and stayed held for good."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    gone = _settings(tmp_path, url, topic=False)
    async with console_runtime(gone) as (rt, _):
        await _ask(rt, "subscribe troop-deployments")
        hold_channel(rt.db, "console", "not_in_channel")  # a permanent error paused it
    async with console_runtime(gone) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == []
        await _ask(rt, "subscribe troop-deployments")  # a moderator resumes the channel
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == POLAND


async def test_held_alerts_unsubscribing_hands_to_a_paused_channels_other_topic_go_out_on_resume(
    tmp_path, feed_server
):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await _ask(rt, "subscribe troop-deployments")
        hold_channel(rt.db, "console", "not_in_channel")
        await _ask(rt, "unsubscribe poland")  # troop-deployments takes what was held
        await _ask(rt, "subscribe troop-deployments")  # the channel resumed
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == POLAND


async def test_a_digest_cut_short_by_a_stop_is_held_with_its_topic_not_posted(
    tmp_path, feed_server
):
    """The bot stopped while posting a digest; its topic is removed before the next start:
    that digest is not posted without it, and goes out (once, asked about first) when the
    topic is back."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland", mode="digest")
    async with console_runtime(with_topic) as (rt, _):
        # What a stop during its post leaves: claimed under the digest's key, in doubt.
        rt.db.execute(
            "UPDATE deliveries SET status = 'claimed', digest_of = (SELECT min(id) FROM "
            "deliveries), claimed_at = ?",
            [iso(utcnow())],
        )
        rt.db.conn.commit()
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        assert await send_digests(rt.db, rt.adapters) == 0
        assert console.alerts() == [], "a digest of the removed topic was posted"
        [(_, text)] = _notices(rt.db)
    assert "2 alerts waiting for it are held" in text
    async with console_runtime(with_topic) as (rt, console):
        assert await send_digests(rt.db, rt.adapters) == 1
        [digest] = console.alerts()
    assert POLAND[0] in digest["text"]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


def _two_topics(tmp_path: Path, url: str, *, topic: bool) -> Settings:
    """`poland` (which may be removed) and `sends`, which takes the story's second report
    only."""
    config = _config(tmp_path, url, topic=topic)
    config["topics"] = {**config.get("topics", {}), "sends": {"query": "sends AND entity:Belarus"}}
    return Settings.model_validate(config)


async def test_a_story_held_for_the_removed_topic_starts_with_its_report_another_takes(
    tmp_path, feed_server
):
    """Its first report held with the topic, its second taken by the other topic the channel
    follows: that one is the story's first alert here, not an update of a message the channel
    never got; the first report, given back, then goes out as its update."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_two_topics(tmp_path, url, topic=True), "poland", "sends")
    async with console_runtime(_two_topics(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        gone = [(a["title"], a["kind"]) for a in console.alerts()]
    async with console_runtime(_two_topics(tmp_path, url, topic=True)) as (rt, console):
        await poll_once(rt)
        back = [(a["title"], a["kind"]) for a in console.alerts()]
    assert gone == [(POLAND[1], "new")]
    assert back == [(POLAND[0], "update")]


async def test_a_new_report_of_a_story_held_for_the_removed_topic_starts_it(tmp_path, feed_server):
    feed_server.serve("/w", _feed(POLAND[:1]))
    url = feed_server.url("/w")
    async with console_runtime(_two_topics(tmp_path, url, topic=True)) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        subscribe(rt.db, "console", "sends", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
    feed_server.serve("/w", _feed(POLAND))
    async with console_runtime(_two_topics(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)  # the second report, through `sends`
        assert [(a["title"], a["kind"]) for a in console.alerts()] == [(POLAND[1], "new")]


async def test_an_edit_of_a_report_held_for_the_removed_topic_is_not_posted(tmp_path, feed_server):
    """The outlet edits a report whose alert is held: the channel, which never got that
    alert, gets no edit of it either; the alert, given back, shows the report as it is."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    edited = "Poland deploys 3,000 troops to the Belarus border, its defence ministry said."
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/w", _feed(POLAND, {0: edited}))
        await poll_once(rt)
        assert console.alerts() == [], "an edit of a held report was posted"
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, console):
        await poll_once(rt)
        posted = console.alerts()
    assert [(a["title"], a["kind"]) for a in posted] == [(POLAND[0], "new"), (POLAND[1], "update")]
    assert posted[0]["summary"] == edited


async def test_the_topic_back_in_the_config_with_another_query_decides_what_was_held(
    tmp_path, feed_server
):
    """The operator puts `poland` back with a narrower query: what was held for it goes out
    only if the topic as it now reads takes it, as `topic add` from chat decides it. The
    story's first report no longer matches; its second does, and starts the story."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
    narrower = _settings(tmp_path, url, topic=True, query="sends AND entity:Poland")
    for turn in range(2):  # and a restart after: nothing twice
        async with console_runtime(narrower) as (rt, console):
            await poll_once(rt)
            posted = [(a["title"], a["kind"]) for a in console.alerts()]
            told = _notices(rt.db)
        assert posted == ([(POLAND[1], "new")] if turn == 0 else [])
    assert _statuses(tmp_path) == [
        ("new", "cancelled", "topic poland came back to the config no longer taking it"),
        ("new", "sent", None),
    ]
    assert len(told) == 2
    assert "1 alert held for it goes out now" in told[1][1], told[1][1]
    assert "1 alert its query no longer takes was dropped" in told[1][1]


async def test_what_the_topic_back_with_another_query_refuses_is_dropped_not_posted(
    tmp_path, feed_server
):
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
    other = _settings(tmp_path, url, topic=True, query="destroyers AND entity:Poland")
    async with console_runtime(other) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == [], "an alert the topic no longer takes was posted"
        back = _notices(rt.db)[-1][1]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["cancelled", "cancelled"]
    assert "0 alerts held for it go out now; 2 alerts its query no longer takes were" in back


def _two_wires(tmp_path: Path, url: str, other: str, *, topic: bool, query: str | None = None):
    """Two outlets; a story they both carry is corroborated (two are enough here)."""
    config = _config(tmp_path, url, topic=topic, query=query)
    config["feeds"].append({"name": "Other", "url": other})
    config["corroboration"] = {"outlets": 2}
    return Settings.model_validate(config)


async def _corroborated_while_gone(tmp_path: Path, feed_server, query: str | None) -> list:
    """The story's first report queued for `poland`, held when it goes; a second outlet
    carries the story meanwhile (through the built-in topic, which the channel does not
    follow), which corroborates it; then `poland` is back. What the channel got."""
    feed_server.serve("/w", _feed([POLAND[0]]))
    feed_server.serve("/o", _feed([]))
    url, other = feed_server.url("/w"), feed_server.url("/o")
    async with console_runtime(_two_wires(tmp_path, url, other, topic=True)) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
    feed_server.serve("/o", _feed(["Poland sends 2,000 more troops to its Belarus border"]))
    async with console_runtime(_two_wires(tmp_path, url, other, topic=False)) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == []
        marks = rt.db.execute("SELECT count(*) FROM deliveries WHERE kind = 'corroborated'")
        assert marks.fetchone()[0] == 1, "the story was not corroborated meanwhile"
    back = _two_wires(tmp_path, url, other, topic=True, query=query)
    async with console_runtime(back) as (rt, console):
        await poll_once(rt)
        return [(a["title"], a["kind"]) for a in console.alerts()]


async def test_a_story_corroborated_while_held_gets_its_mark_after_its_alert(tmp_path, feed_server):
    posted = await _corroborated_while_gone(tmp_path, feed_server, None)
    assert posted == [(POLAND[0], "new"), (POLAND[0], "corroborated")]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_the_mark_of_a_held_story_the_topic_back_refuses_is_dropped_with_it(
    tmp_path, feed_server
):
    posted = await _corroborated_while_gone(tmp_path, feed_server, "destroyers AND entity:Poland")
    assert posted == []
    assert [(k, s) for k, s, _ in _statuses(tmp_path)] == [
        ("new", "cancelled"),
        ("corroborated", "cancelled"),
    ]


def _suggested(text: str) -> list[str]:
    """The `/wirewatch ...` commands a notice gives, as typed after `/wirewatch`."""
    return re.findall(r"`/wirewatch ([^`]+)`", text)


async def test_the_config_topic_back_replaces_a_chat_topic_of_its_name_and_the_channel_is_told(
    tmp_path, feed_server, capsys
):
    """While `poland` was gone a moderator made a `poland` of their own from chat; the
    operator then puts the config's back. The config wins, as for any name both have, but
    not in silence: the channel is told once, with a command that keeps the chat query."""
    feed_server.serve("/w", _feed([]))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    async with console_runtime(with_topic) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await _ask(rt, "topic add poland destroyers AND entity:Poland")
    config = tmp_path / "wirewatch.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, url, topic=True)))
    capsys.readouterr()
    assert main(["check", "--config", str(config)]) == 0
    assert (
        "note: topic poland of this config replaces the topic of that name made from chat "
        "('destroyers AND entity:Poland') when wirewatch starts" in capsys.readouterr().out
    )
    for turn in range(2):  # restarted twice: told once
        async with console_runtime(with_topic) as (rt, _console):
            told = [text for _, text in _notices(rt.db) if "replaces" in text]
            [(origin, query)] = rt.db.execute(
                "SELECT origin, query FROM topics WHERE name = 'poland'"
            ).fetchall()
            assert len(told) == 1
            if turn == 0:  # what the notice suggests works as shown
                for command in _suggested(told[0]):
                    await _ask(rt, command)
                assert {"poland", "poland-chat"} <= {
                    s.topic for s in subscriptions(rt.db, "console")
                }
    assert (origin, query) == ("config", TOPIC["poland"]["query"])
    assert "the config's query `troops AND entity:Poland`, not `destroyers AND" in told[0]
    assert _suggested(told[0]) == [
        "topic add poland-chat destroyers AND entity:Poland",
        "subscribe poland-chat",
    ]


async def test_the_broken_chat_topic_notice_gives_commands_that_work_as_shown(
    tmp_path, feed_server
):
    """Copied as shown, `topic add poland-ships QUERY` saved the placeholder's word as the
    topic's query. Now: its own query to mend (refused as shown, nothing saved), and a way
    out that works as it stands."""
    feed_server.serve("/w", _feed([]))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, _):
        save_topic(rt.db, Topic("poland-ships", "topic:poland AND destroyers", origin="chat"))
        subscribe(rt.db, "console", "poland-ships", "instant")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        [(_, text)] = _notices(rt.db)
        add, out = _suggested(text)
        assert [(parse(c)[0].name, parse(c)[1]) for c in (add, out)] == [
            ("topic add", "poland-ships topic:poland AND destroyers"),
            ("unsubscribe", "poland-ships"),
        ]
        refused = await Commands(rt).handle(Invocation("console", "console", "op", add))
        assert not refused.ok and "unknown topic 'poland'" in refused.text
        [query] = rt.db.execute("SELECT query FROM topics WHERE name = 'poland-ships'").fetchone()
        assert query == "topic:poland AND destroyers"
        await _ask(rt, out)
        assert [s.topic for s in subscriptions(rt.db, "console") if not s.paused_reason] == []


async def test_the_topic_back_with_a_model_asks_the_encoder_about_what_was_held(
    tmp_path, feed_server
):
    """Put back with the shipped deployments model, which takes the encoder's opinion: the
    word model alone lets the interpreters' story through, ingest asking the encoder would
    not have queued it, and neither does the give-back post it."""
    helped = "Interpreters who helped American troops set to arrive in US"
    feed_server.serve("/w", _feed([POLAND[0], helped]))
    url = feed_server.url("/w")

    def config(topics: dict[str, Any]) -> Settings:
        return Settings.model_validate({**_config(tmp_path, url, topic=False), "topics": topics})

    await _queue(config({"poland": {"query": "troops"}}), "poland")
    async with console_runtime(config({})) as (rt, _):
        await poll_once(rt)
    back = config({"poland": {"query": "troops", "relevance": "deployments"}})
    async with console_runtime(back) as (rt, console):
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == [POLAND[0]]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "cancelled"]


THREE = [*POLAND, "Poland deploys more troops near the Belarus border"]


async def test_what_the_topic_back_keeps_of_a_story_goes_out_as_one_story(tmp_path, feed_server):
    """Its query back in the config takes the story's first and third reports, not the
    second: the third is an update of the first, not the start of the story again."""
    feed_server.serve("/w", _feed(THREE))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
    back = _settings(tmp_path, url, topic=True, query="deploys AND entity:Poland")
    async with console_runtime(back) as (rt, console):
        await poll_once(rt)
        posted = [(a["title"], a["kind"]) for a in console.alerts()]
    assert posted == [(THREE[0], "new"), (THREE[2], "update")]


async def test_what_a_chat_topic_of_the_removed_name_keeps_of_a_story_goes_out_as_one_story(
    tmp_path, feed_server
):
    """The same from chat (`topic add` decides what was held): the story's third report
    went out as a second start of it, its own message beside the first."""
    feed_server.serve("/w", _feed(THREE))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        await _ask(rt, "topic add poland deploys AND entity:Poland")
        await poll_once(rt)
        posted = [(a["title"], a["kind"]) for a in console.alerts()]
    assert posted == [(THREE[0], "new"), (THREE[2], "update")]


async def test_unsubscribing_hands_nothing_to_a_topic_removed_from_the_config(
    tmp_path, feed_server
):
    # Queued under troop-deployments (subscribed first); the reports match `poland` too,
    # which the operator then removed. Unsubscribing troop-deployments re-decides them: the
    # channel's subscription to the removed topic must not post them.
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "troop-deployments", "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await _ask(rt, "unsubscribe troop-deployments")
        await poll_once(rt)
        assert console.alerts() == [], "posted through a topic removed from the config"
    assert [s for _, s, _ in _statuses(tmp_path)] == ["cancelled", "cancelled"]


async def test_a_held_first_report_given_back_starts_its_story_before_its_later_report(
    tmp_path, feed_server
):
    """While `poland` is gone, the story's second report goes on through `sends` as the
    story's first alert here, and is still waiting (stopped before the outbox drained, or
    the platform in an outage) when `poland` is back. The first report, given back, is the
    older: it starts the story, and the second is its update. It went out first as an
    update of the second, which the channel did not have yet (threaded under nothing),
    then the second as a story of its own."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_two_topics(tmp_path, url, topic=True), "poland", "sends")
    async with console_runtime(_two_topics(tmp_path, url, topic=False)) as (rt, console):
        assert _statuses(tmp_path)[1] == ("new", "pending", None)  # moved on, not sent yet
    for turn in range(2):  # and a restart after: nothing twice
        async with console_runtime(_two_topics(tmp_path, url, topic=True)) as (rt, console):
            await poll_once(rt)
            posted = [(a["title"], a["kind"], a["topic"]) for a in console.alerts()]
        assert posted == (
            [(POLAND[0], "new", "poland"), (POLAND[1], "update", "sends")] if turn == 0 else []
        )
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_a_channel_told_of_a_broken_topic_is_not_told_again_once_the_notice_is_reworded(
    tmp_path, feed_server
):
    """The broken-topic notice's once-key was a hash of its text: reworded (the placeholder
    `QUERY` replaced by the topic's own query), it went out again to every channel already
    told. Now it is told once per what it tells, and a channel told under the older wording
    is not told again."""
    feed_server.serve("/w", _feed([]))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, _):
        save_topic(rt.db, Topic("poland-ships", "topic:poland AND destroyers", origin="chat"))
        subscribe(rt.db, "console", "poland-ships", "instant")
    with sqlite3.connect(tmp_path / "w.db") as db:  # told by an older version, as it keyed it
        older = (
            "wirewatch: topic `poland-ships` no longer works (refers to topic 'poland', which "
            "was removed from the config), so it is skipped: this channel gets no alerts "
            "through it until it is fixed with "
            "`/wirewatch topic add poland-ships QUERY` with a query that works."
        )
        key = hashlib.sha256(f"console\n{older}".encode()).hexdigest()[:24]
        db.execute(
            "INSERT INTO notices (key, channel, text, created, sent_at) VALUES (?, ?, ?, ?, ?)",
            [f"broken:{key}", "console", older, iso(utcnow()), iso(utcnow())],
        )
    for _ in range(2):
        async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
            assert _notices(rt.db) == [("console", older)]


async def test_a_chat_topic_of_the_removed_name_tells_the_channel_what_its_query_refused(
    tmp_path, feed_server
):
    """`topic add` of the removed name with a narrower query: its reply counted the held
    report the query refuses, the channel's "is back" notice did not (it said one went out
    and nothing of the other). Now the notice counts it, as the config's return does, and
    once: the restart after tells nothing more."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, console):
        await poll_once(rt)
        added = await _ask(rt, "topic add poland sends AND entity:Poland")
        await poll_once(rt)
        assert [(a["title"], a["kind"]) for a in console.alerts()] == [(POLAND[1], "new")]
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        told = _notices(rt.db)
    assert "1 alert waiting to be posted that it" in added, added
    assert len(told) == 2, told
    assert "topic `poland` is back (made again from chat): 1 alert held" in told[1][1]
    assert "1 alert its query no longer takes was dropped" in told[1][1], told[1][1]
    assert _statuses(tmp_path) == [
        ("new", "cancelled", "topic poland came back from chat no longer taking it"),
        ("new", "sent", None),
    ]


async def test_a_give_back_an_earlier_version_cut_short_is_told_in_full_after_the_upgrade(
    tmp_path, feed_server
):
    """A start of the previous version (schema 19) gave back part of what was held for
    `poland` and was stopped; its counts so far rode in its `unfinished_writes` row's
    `topics`. After the upgrade, which gives them a column of their own, the next start
    finishes the give-back and the channel's one "is back" notice still counts them with
    what this start gives back, not just the latter."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    await _queue(_settings(tmp_path, url, topic=True), "poland")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
        sub = subscriptions(rt.db, "console")[0].id
    with sqlite3.connect(tmp_path / "w.db") as db:  # the database as that start left it
        db.execute("ALTER TABLE unfinished_writes DROP COLUMN counts")
        for column in ("added_by", "added_by_name", "added_at"):  # schema 21's
            db.execute(f"ALTER TABLE topics DROP COLUMN {column}")
        db.execute("DROP TABLE run_state")  # schema 22's (and 23's columns)
        for column in ("unknown_since", "unknown_tries"):  # schema 24's
            db.execute(f"ALTER TABLE deliveries DROP COLUMN {column}")
        db.execute(
            "INSERT INTO unfinished_writes (kind, topics, subscription_id, reason, created) "
            "VALUES ('topic-back', ?, ?, 'topic-back', ?)",
            ['{"back": 3, "dropped": 1}', sub, iso(utcnow())],
        )
        db.execute("PRAGMA user_version = 19")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, console):
        await poll_once(rt)
        posted = [a["title"] for a in console.alerts()]
        told = _notices(rt.db)
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    assert posted == POLAND and left == 0
    assert len(told) == 2, told
    assert "is back in wirewatch's config: 5 alerts held for it go out now" in told[1][1]
    assert "1 alert older than 1d was dropped" in told[1][1], told[1][1]


def _due_now(db, days_ago: float = 0) -> None:
    """Its retry is due; with `days_ago`, its unknown error's first meeting that long ago."""
    db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
    since = iso(utcnow() - timedelta(days=days_ago))
    db.execute("UPDATE deliveries SET unknown_since = ? WHERE unknown_since IS NOT NULL", [since])
    db.conn.commit()


async def test_an_alert_given_back_gets_the_whole_of_an_unknown_errors_bounds_again(
    tmp_path, feed_server
):
    # An alert Slack answered a code wirewatch does not know 5 times within a minute, held
    # for its removed topic, given back two days later: its count was kept through the hold,
    # and at its first try after the give-back it failed at once, the hold taken as its
    # 30 minutes of patience (as a channel's pause was before it started the count again).
    feed_server.serve("/w", _feed([POLAND[0]]))
    url = feed_server.url("/w")
    with_topic, gone = (_settings(tmp_path, url, topic=t) for t in (True, False))

    async with SlackStub() as slack:
        slack.add_channel(NEWS)
        slack.refuse_text("chat.postMessage", "Poland deploys", "posting_paused_for_review")
        async with _slack_runtime(with_topic, slack) as (rt, _):
            subscribe(rt.db, f"slack:{NEWS}", "poland", "instant")
            for _ in range(UNKNOWN_TRIES):  # within the patience: retried
                await poll_once(rt)
                _due_now(rt.db)
        assert [s for _, s, _ in _statuses(tmp_path)] == ["pending"]
        async with _slack_runtime(gone, slack) as (rt, _):
            await poll_once(rt)
            _due_now(rt.db, days_ago=2)
        assert [s for _, s, _ in _statuses(tmp_path)] == ["held"]
        async with _slack_runtime(with_topic, slack) as (rt, _):
            await poll_once(rt)  # given back, and Slack answers the code again
            [(_, status, error)] = _statuses(tmp_path)
            assert status == "pending", f"given up at once: {error}"
            slack.recover("chat.postMessage")
            _due_now(rt.db)
            await poll_once(rt)
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent"]


async def test_an_alert_given_back_through_another_topic_gets_an_unknown_errors_bounds_again(
    tmp_path, feed_server
):
    # `poland` back with a narrower query, its held report taken by another topic the
    # channel followed meanwhile: handed on with the count kept through the hold, it failed
    # at its first try, two days of hold taken as its 30 minutes of patience.
    feed_server.serve("/w", _feed([POLAND[0]]))
    url = feed_server.url("/w")
    deploys = {"deploys": {"query": "deploys AND entity:Belarus"}}

    def settings(topic: bool, query: str | None = None) -> Settings:
        config = _config(tmp_path, url, topic=topic, query=query)
        config["topics"] = {**config.get("topics", {}), **deploys}
        return Settings.model_validate(config)

    async with SlackStub() as slack:
        slack.add_channel(NEWS)
        slack.refuse_text("chat.postMessage", "Poland deploys", "posting_paused_for_review")
        async with _slack_runtime(settings(True), slack) as (rt, _):
            subscribe(rt.db, f"slack:{NEWS}", "poland", "instant")
            for _ in range(UNKNOWN_TRIES):  # within the patience: retried
                await poll_once(rt)
                _due_now(rt.db)
        async with _slack_runtime(settings(False), slack) as (rt, _):
            await poll_once(rt)
            subscribe(rt.db, f"slack:{NEWS}", "deploys", "instant")  # held all the same
            _due_now(rt.db, days_ago=2)
        assert [s for _, s, _ in _statuses(tmp_path)] == ["held"]
        async with _slack_runtime(settings(True, "sends AND entity:Poland"), slack) as (rt, _):
            await poll_once(rt)  # handed on to `deploys`, and Slack answers the code again
            [(_, status, error)] = _statuses(tmp_path)
            [(topic,)] = rt.db.execute(
                "SELECT s.topic FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"
            ).fetchall()
            assert topic == "deploys"
            assert status == "pending", f"given up at once: {error}"
            slack.recover("chat.postMessage")
            _due_now(rt.db)
            await poll_once(rt)
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent"]
