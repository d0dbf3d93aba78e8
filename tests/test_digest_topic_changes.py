"""Digests and mutes meeting topic changes: a topic that leaves the config and comes back,
seen from a channel that reads it in a digest, or has muted itself, and from the feedback
commands that take a digest line's number.

Each test starts the bot the real way, as tests/test_gone_topics.py does (`open_runtime`
with a config, a real SQLite file, a feed on 127.0.0.1, the console adapter): queued, then
restarted with the topic removed, then with it back.
"""

from __future__ import annotations

import asyncio
import re

from bot.clock import iso, utcnow
from bot.digest import send_digests
from bot.errors import DeliveryError
from bot.feedback import answer, record_label
from bot.model import MessageRef
from bot.poll_cycle import poll_once
from bot.startup import open_runtime
from tests.runtime import Console, console_runtime
from tests.test_gone_topics import POLAND, _ask, _feed, _notices, _queue, _settings, _statuses

GERMANY = "Germany sends 500 troops to Lithuania as NATO deploys forces"


async def _held_then_back(tmp_path, feed_server, mode: str, *, mute: bool = False):
    """Queued through `poland` (in `mode`), held while it is gone (the channel muted for
    two hours meanwhile, with `mute`); the settings with the topic back."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland", mode=mode)
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
        if mute:
            await _ask(rt, "mute 2h")
    return with_topic


async def test_a_digest_channel_is_told_its_given_back_stories_go_in_its_next_digest(
    tmp_path, feed_server
):
    """Not "go out now": a digest subscription's alerts wait for the next digest (an hour,
    by default), and the channel would look for them in vain meanwhile."""
    with_topic = await _held_then_back(tmp_path, feed_server, "digest")
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == []  # nothing out now: they wait for the digest
        back = _notices(rt.db)[-1][1]
        assert await send_digests(rt.db, rt.adapters) == 1
        [digest] = console.alerts()
    assert "topic `poland` is back" in back
    assert "2 alerts held for it go in this channel's next digest." in back, back
    assert "out now" not in back
    # The line keeps the number of the report it shows: the first one held.
    assert re.search(rf"- ref 1 · {re.escape(POLAND[0])}", digest["text"]), digest["text"]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]


async def test_a_muted_channel_is_told_its_given_back_alerts_are_skipped_not_posted(
    tmp_path, feed_server
):
    """The mute skips them, as it skips an outage's backlog: the notice said "go out now"
    and nothing came."""
    with_topic = await _held_then_back(tmp_path, feed_server, "instant", mute=True)
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert console.alerts() == []
        back = _notices(rt.db)[-1][1]
    assert "2 alerts held for it are skipped: this channel is muted until " in back, back
    assert "out now" not in back
    assert [s for _, s, _ in _statuses(tmp_path)] == ["muted", "muted"]


async def test_a_muted_digest_channel_gets_no_digest_of_what_was_given_back(tmp_path, feed_server):
    """A mute is "no alerts for that long, an outage's backlog included": the outbox skips a
    muted channel's waiting alerts, and a digest must not list them either (it listed the
    stories queued before the mute, a topic's held alerts given back among them)."""
    with_topic = await _held_then_back(tmp_path, feed_server, "digest", mute=True)
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 0
        assert console.alerts() == [], "a muted channel got a digest"
        await _ask(rt, "unmute")
        assert await send_digests(rt.db, rt.adapters) == 0  # skipped, not saved for later
    assert [s for _, s, _ in _statuses(tmp_path)] == ["muted", "muted"]


async def test_a_digest_story_held_for_a_gone_topic_is_labelled_only_by_its_digest_line(
    tmp_path, feed_server
):
    """Held, it is a story waiting for its digest like any other: nobody has seen a number
    for it, the operator included, and the console's label was recorded on an alert that
    does not exist. Listed once the topic is back, its line's number labels it."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland", mode="digest")
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        await poll_once(rt)
        held = record_label(
            rt.db, "not-relevant", 1, platform="console", user="op", channel="console"
        )
        assert held.status == "unposted" and held.listed, held
        assert "waiting for its channel's next digest" in answer(held)
        assert rt.db.execute("SELECT count(*) FROM feedback").fetchone()[0] == 0
    async with console_runtime(with_topic) as (rt, console):
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1
        assert "- ref 1 · " in console.alerts()[0]["text"]
        done = record_label(
            rt.db, "not-relevant", 1, platform="console", user="op", channel="console"
        )
        assert done.status == "recorded" and done.listed, done


class _RefusedWhileUnsubscribing(Console):
    """The console as a platform that refuses its first digest (a 500, say: not posted,
    sure), the channel's moderator typing `unsubscribe` while it is on its way."""

    def __init__(self) -> None:
        super().__init__()
        self.posting = asyncio.Event()
        self.refuse = asyncio.Event()

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        if self.posting.is_set():  # the next digest goes through
            return await super().post_digest(channel, text, key)
        self.posting.set()
        await self.refuse.wait()
        raise DeliveryError("internal_error")


async def test_a_digest_refused_after_its_subscription_ended_is_not_posted_later(
    tmp_path, feed_server
):
    """`unsubscribe` drops what waits for the topic, and the next digest listed the stories
    of the one in flight meanwhile, once the platform refused it: back to waiting under a
    subscription that had ended. (An alert's retry is cancelled so: `delivery_rows.mark_retry`.)"""
    feed_server.serve("/w", _feed(POLAND))
    settings = _settings(tmp_path, feed_server.url("/w"), topic=True)
    await _queue(settings, "poland", mode="digest")
    console = _RefusedWhileUnsubscribing()
    async with open_runtime(settings, {"console": console}) as rt:
        sending = asyncio.create_task(send_digests(rt.db, rt.adapters))
        await console.posting.wait()
        assert "this channel no longer gets `poland` alerts" in await _ask(rt, "unsubscribe poland")
        console.refuse.set()
        assert await sending == 0
        assert await send_digests(rt.db, rt.adapters) == 0
        assert console.alerts() == [], "a digest of a topic the channel left was posted"
    assert [(s, e) for _, s, e in _statuses(tmp_path)] == [("cancelled", "unsubscribed")] * 2


async def test_a_digest_channel_that_left_a_topic_still_gets_its_other_topics_digests(
    tmp_path, feed_server
):
    """An ended subscription's row stays while deliveries refer to it, its reason in
    `paused_reason`: the digest took that for a channel paused by a permanent error, and
    the channel never got a digest again, whatever it still followed."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    async with console_runtime(_settings(tmp_path, url, topic=True)) as (rt, console):
        await _ask(rt, "subscribe poland digest")
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1  # listed under `poland`: kept
        await _ask(rt, "unsubscribe poland")
        await _ask(rt, "subscribe troop-deployments digest")
        feed_server.serve("/w", _feed([*POLAND, GERMANY]))
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1, "the channel got no digest"
        digest = console.alerts()[-1]["text"]
    assert "wirewatch digest · troop-deployments · 1 story" in digest and GERMANY in digest


async def _in_doubt_then_back_narrower(tmp_path, feed_server, other: str):
    """`poland`'s two reports queued for the channel's digest, the channel subscribed to
    `other` too; a stop while the digest was being posted (its rows claimed under its key,
    in doubt); `poland` then removed from the config. The config that puts it back with a
    query that refuses both reports."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    with_topic = _settings(tmp_path, url, topic=True)
    await _queue(with_topic, "poland", mode="digest")
    async with console_runtime(with_topic) as (rt, _):
        await _ask(rt, f"subscribe {other}")
        rt.db.execute(
            "UPDATE deliveries SET status = 'claimed', digest_of = 1, claimed_at = ?",
            [iso(utcnow())],
        )
        rt.db.conn.commit()
    async with console_runtime(_settings(tmp_path, url, topic=False)) as (rt, _):
        pass
    return _settings(tmp_path, url, topic=True, query="destroyers AND entity:Poland")


async def test_a_digest_in_doubt_its_topic_back_refusing_it_is_not_posted_as_alerts(
    tmp_path, feed_server
):
    """A stop while a digest was being posted; its topic removed, then back with a query
    that no longer takes its stories. The hold kept them with their digest (in doubt: it
    may be out), but deciding them again handed them to the channel's instant topic still
    keyed to that digest: posted as two alerts each starting the story (a digest's key
    tells nothing, `told_story`), and perhaps a second time after the digest."""
    # The channel's other topic instant, taking both reports:
    narrower = await _in_doubt_then_back_narrower(tmp_path, feed_server, "troop-deployments")
    async with console_runtime(narrower) as (rt, console):
        await poll_once(rt)
        await send_digests(rt.db, rt.adapters)
        posted = console.alerts()
        back = _notices(rt.db)[-1][1]
    assert [a["kind"] for a in posted] != ["new", "new"], "one story posted as two"
    assert posted == []  # the query refuses them; the digest, maybe out, is not resent
    assert "2 alerts its query no longer takes were dropped" in back, back


async def test_unsubscribing_from_a_digest_in_doubt_hands_none_of_it_to_an_instant_topic(
    tmp_path, feed_server
):
    """A digest's answer was lost (it is likely out: the platform is asked before it is
    posted again); the channel then leaves its topic. Its stories went on through the
    channel's instant topic still keyed to that digest: posted again, as two alerts each
    starting the one story (a digest's key tells of nothing, `told_story`)."""
    feed_server.serve("/w", _feed(POLAND))
    url = feed_server.url("/w")
    settings = _settings(tmp_path, url, topic=True)
    await _queue(settings, "poland", mode="digest")
    async with console_runtime(settings) as (rt, console):
        await _ask(rt, "subscribe troop-deployments")  # instant, takes both reports
        # What a lost answer leaves (`bot.digest._release`): waiting, in doubt, keyed.
        rt.db.execute("UPDATE deliveries SET maybe_posted = 1, digest_of = 1")
        rt.db.conn.commit()
        await _ask(rt, "unsubscribe poland")
        await poll_once(rt)
        await send_digests(rt.db, rt.adapters)
        posted = console.alerts()
    assert [a["kind"] for a in posted] != ["new", "new"], "one story posted as two"
    assert posted == []
    assert [(s, e) for _, s, e in _statuses(tmp_path)] == [("cancelled", "unsubscribed")] * 2


async def test_a_digest_in_doubt_its_topic_back_refusing_it_stays_one_under_another_digest(
    tmp_path, feed_server
):
    """As above, the channel's other topic a digest one: its stories go on there with their
    digest, which is asked for first (the console keeps no record: not found), then listed
    once in the next digest."""
    narrower = await _in_doubt_then_back_narrower(tmp_path, feed_server, "troop-deployments digest")
    async with console_runtime(narrower) as (rt, console):
        await poll_once(rt)
        assert await send_digests(rt.db, rt.adapters) == 1
        [digest] = console.alerts()
    assert digest["kind"] == "digest" and "troop-deployments · 1 story" in digest["text"]
    assert [s for _, s, _ in _statuses(tmp_path)] == ["sent", "sent"]
