"""Moderators change subscriptions while alerts wait or are in flight: nothing is lost, nothing
goes where it is no longer wanted, and no update arrives without its story's first alert."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

from bot import metrics
from bot.clock import iso
from bot.commands import WAITING_THROUGH, Commands, Invocation
from bot.digest import send_digests
from bot.edit_store import set_edits
from bot.errors import DeliveryError
from bot.feed_store import add_feed
from bot.ingest import NewItem, store_new_items
from bot.model import Entry, TopicMatch
from bot.outbox import deliver_pending
from bot.redecide import subscribe, sync_config_subscriptions, unsubscribe
from bot.send_errors import hold_channel
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import pause_channel, set_muted
from bot.stories import StoryIndex
from bot.text import versions
from tests.test_commands import make_settings
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _setup

POLAND = "Polish troops begin a winter drill near the Belarus border"


def _item(guid: str, title: str, minutes: int, *topics: str) -> NewItem:
    when = NOW + timedelta(minutes=minutes)
    entry = Entry(
        guid, f"https://x.example/{guid}", title, title, when, digest=versions.digest(title, title)
    )
    matches = tuple(TopicMatch(t, ("troops",), (), "", strict=True) for t in topics)
    return NewItem(entry, when, None, title, (), matches, True)


def _statuses(db) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.execute("SELECT kind, status FROM deliveries ORDER BY id")]


async def test_a_story_waiting_in_a_digest_starts_with_a_first_alert_once_instant(tmp_path):
    # Its next report was posted as an "update" with no first message to thread under.
    for switch in (True, False):
        db, feed, index = _setup(tmp_path / str(switch), channels=())
        subscribe(db, "chat:A", "t", "digest")
        if not switch:  # the same channel follows another topic instantly: no command at all
            subscribe(db, "chat:A", "u", "instant")
        store_new_items(db, feed, [_item("1", NK, 0, "t")], index, NOW)
        if switch:
            subscribe(db, "chat:A", "t", "instant")
        store_new_items(db, feed, [_item("2", NK2, 5, "t" if switch else "u")], index, NOW)
        chat = Platform()
        await deliver_pending(db, {"chat": chat})
        assert chat.posted == [("A", 2, None)] and chat.alerts[0].kind == "new", switch
        assert _statuses(db) == [("new", "digest"), ("new", "sent")]


async def test_unsubscribing_one_topic_keeps_an_alert_the_channel_still_follows(tmp_path):
    # One alert names every topic its item matched; it waited under the first, and
    # `unsubscribe` of that one dropped it although the channel still follows the other.
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:A", "a", "instant")
    subscribe(db, "chat:A", "b", "instant")
    store_new_items(db, feed, [_item("1", NK, 0, "a", "b"), _item("2", RED, 1, "a")], index, NOW)
    assert unsubscribe(db, "chat:A", "a") == 1  # RED's: NK goes on under b
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [a.title for a in chat.alerts] == [NK]  # RED matched only the topic dropped
    assert chat.alerts[0].topic == "b"


async def test_a_paused_digest_channel_resumed_gets_its_held_stories_in_a_digest(tmp_path):
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:A", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, 0, "t")], index, NOW)
    chat = Platform()
    chat.fail_with = [DeliveryError("channel_not_found", permanent=True)]
    assert await send_digests(db, {"chat": chat}) == 0  # refused: the channel is paused
    store_new_items(db, feed, [_item("2", RED, 1, "t")], index, NOW)
    subscribe(db, "chat:A", "t", "digest")  # resumed, digest as before
    await deliver_pending(db, {"chat": chat})
    assert chat.posted == []  # not one alert at a time
    assert await send_digests(db, {"chat": chat}) == 1
    [(_, _, text)] = chat.digests
    assert NK in text and RED in text


async def test_an_alert_in_flight_when_its_channel_unsubscribes_is_not_posted_later(tmp_path):
    class Hesitant(Platform):
        def __init__(self) -> None:
            super().__init__()
            self.sending, self.go_on = asyncio.Event(), asyncio.Event()

        async def post_alert(self, channel, alert):
            if not self.sending.is_set():
                self.sending.set()
                await self.go_on.wait()
                raise TimeoutError("no answer")  # it may or may not have been posted
            return await super().post_alert(channel, alert)

    db, feed, index = _setup(tmp_path)  # chat:A follows t
    store_new_items(db, feed, [_item("1", NK, 0, "t")], index, NOW)
    chat = Hesitant()
    draining = asyncio.create_task(deliver_pending(db, {"chat": chat}))
    await chat.sending.wait()
    assert unsubscribe(db, "chat:A", "t") == 0  # a moderator, between two awaits of the outbox
    chat.go_on.set()
    await draining
    db.execute("UPDATE deliveries SET next_attempt = '2000-01-01T00:00:00.000000Z'")
    await deliver_pending(db, {"chat": chat})
    assert chat.alerts == [] and _statuses(db) == [("new", "cancelled")]


async def test_edits_turned_off_drops_the_edits_already_waiting(tmp_path):
    # "stored, not posted", the answer said, while the queued ones went out anyway.
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, 0, "t")], index, NOW)
    db.execute(  # an outlet's edit of the item, queued behind a platform outage
        "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
        "next_attempt, created, event_id) SELECT subscription_id, channel, story_id, item_id, "
        "'edit', 'pending', next_attempt, created, 1 FROM deliveries"
    )
    assert set_edits(db, "chat:A", False) == 1
    assert _statuses(db) == [("new", "pending"), ("edit", "cancelled")]
    assert set_edits(db, "chat:A", True) == 0


async def test_mute_and_unmute_answer_what_they_did(tmp_path):
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        commands = Commands(rt)

        async def say(text: str) -> str:
            return (await commands.handle(Invocation("console", "console", "ops", text))).text

        assert "now gets" in await say("subscribe troop-deployments")
        pause_channel(rt.db, "console", "channel_not_found")
        unmuted = await say("unmute")
        assert "still paused: channel_not_found" in unmuted and "come again" not in unmuted
        assert "no longer gets" in await say("unsubscribe troop-deployments")
        assert "no subscriptions to mute" in await say("mute 1h")  # none left: nothing muted


async def test_a_backlog_queued_before_a_mute_is_not_posted_during_it(tmp_path):
    # "No alerts in this channel for a while": an outage's backlog went out mid-mute.
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, 0, "t"), _item("2", RED, 1, "t")], index, NOW)
    chat = Platform()
    chat.fail_with = [DeliveryError("HTTP 503", retry_after=0)]
    await deliver_pending(db, {"chat": chat})  # the platform is down: both wait
    set_muted(db, "chat:A", iso(NOW + timedelta(hours=2)))
    db.execute("UPDATE deliveries SET next_attempt = '2000-01-01T00:00:00.000000Z'")
    await deliver_pending(db, {"chat": chat})
    assert chat.alerts == [] and _statuses(db) == [("new", "muted"), ("new", "muted")]
    set_muted(db, "chat:A", None)
    store_new_items(db, feed, [_item("3", NK2, 5, "t")], index, NOW)
    await deliver_pending(db, {"chat": chat})  # after the mute: the story starts afresh
    assert [(a.title, a.kind) for a in chat.alerts] == [(NK2, "new")]


def _waiting_through(tmp_path, *channel_topics: tuple[str, str]):
    """A database whose channels follow these topics instantly (nothing sent yet)."""
    db, feed, index = _setup(tmp_path, channels=())
    for channel, topic in channel_topics:
        subscribe(db, channel, topic, "instant")
    return db, feed, index


def _relaxed(guid: str, title: str, minutes: int, topic: str) -> NewItem:
    """A report that clears `topic`'s update bar only: no alert of its own."""
    item = _item(guid, title, minutes)
    return replace(item, matches=(TopicMatch(topic, ("troops",), (), "", strict=False),))


async def test_a_changed_filter_drops_the_waiting_alerts_it_refuses(tmp_path):
    # An outage's backlog went out whole after the desk excluded the Red Sea.
    db, feed, index = _setup(tmp_path)  # chat:A follows t
    store_new_items(db, feed, [_item("1", NK, 0, "t"), _item("2", RED, 1, "t")], index, NOW)
    chat = Platform()
    chat.fail_with = [DeliveryError("HTTP 503", retry_after=0)]
    await deliver_pending(db, {"chat": chat})  # the platform is down: both wait
    done = subscribe(db, "chat:A", "t", "instant", None, "destroyers OR houthi*")
    assert done.dropped == 1
    assert subscribe(db, "chat:A", "t", "instant", None, "destroyers OR houthi*").dropped == 0
    db.execute("UPDATE deliveries SET next_attempt = '2000-01-01T00:00:00.000000Z'")
    await deliver_pending(db, {"chat": chat})
    assert [a.title for a in chat.alerts] == [NK]
    assert _statuses(db) == [("new", "sent"), ("new", "cancelled")]
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 2  # kept, searchable


async def test_a_config_filter_changed_across_a_restart_drops_the_waiting_alerts_it_refuses(
    tmp_path,
):
    # The same backlog, the filter changed in the config file: the restart went on to post it.
    db, feed, index = _setup(tmp_path, channels=())
    sync_config_subscriptions(db, [("chat:A", "t", "instant", None, None)])
    store_new_items(db, feed, [_item("1", NK, 0, "t"), _item("2", RED, 1, "t")], index, NOW)
    changed = [("chat:A", "t", "instant", None, "destroyers OR houthi*")]
    assert sync_config_subscriptions(db, changed) == 1
    assert sync_config_subscriptions(db, changed) == 0  # the next restart: nothing new
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [a.title for a in chat.alerts] == [NK]


async def test_a_refused_waiting_alert_goes_on_under_another_topic_the_channel_follows(tmp_path):
    db, feed, index = _waiting_through(tmp_path, ("chat:A", "a"), ("chat:A", "b"))
    store_new_items(db, feed, [_item("1", RED, 0, "a", "b")], index, NOW)  # queued under a
    assert subscribe(db, "chat:A", "a", "instant", None, "houthi*").dropped == 0
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [(a.title, a.topic) for a in chat.alerts] == [(RED, "b")]


async def test_a_story_whose_waiting_first_alert_is_refused_starts_with_its_next_report(
    tmp_path,
):
    # The update waiting behind it would have gone out on its own, an "update" of nothing;
    # one that only cleared the update bar cannot start the story, so it goes too.
    for relaxed in (False, True):
        db, feed, index = _waiting_through(tmp_path / str(relaxed), ("chat:A", "t"))
        later = _relaxed("2", NK2, 5, "t") if relaxed else _item("2", NK2, 5, "t")
        store_new_items(db, feed, [_item("1", NK, 0, "t")], index, NOW)
        store_new_items(db, feed, [later], index, NOW)
        assert _statuses(db) == [("new", "pending"), ("update", "pending")]
        done = subscribe(db, "chat:A", "t", "instant", None, "Seoul")  # only NK says Seoul
        chat = Platform()
        await deliver_pending(db, {"chat": chat})
        if relaxed:
            assert done.dropped == 2 and chat.posted == []
            assert _statuses(db) == [("new", "cancelled"), ("update", "cancelled")]
        else:
            assert done.dropped == 1 and chat.posted == [("A", 2, None)]
            assert [(a.title, a.kind) for a in chat.alerts] == [(NK2, "new")]


async def test_a_changed_topic_query_drops_the_waiting_alerts_it_no_longer_matches(tmp_path):
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        commands = Commands(rt)

        async def say(text: str) -> str:
            return (await commands.handle(Invocation("console", "console", "ops", text))).text

        assert "added topic" in await say("topic add ships troops OR destroyers")
        assert "now gets" in await say("subscribe ships")
        feed = add_feed(rt.db, "https://x.example/rss", "X", origin="config")
        waiting = [_item("1", NK, 0, "ships"), _item("2", RED, 1, "ships")]
        store_new_items(rt.db, feed, waiting, StoryIndex(), NOW)
        answer = await say("topic add ships destroyers OR frigates")
        assert f"1 alert {WAITING_THROUGH} was dropped" in answer
        assert _statuses(rt.db) == [("new", "cancelled"), ("new", "pending")]
        assert "dropped" not in await say("topic add ships destroyers OR frigates")


async def test_unsubscribing_in_a_paused_channel_says_how_many_held_alerts_it_dropped(tmp_path):
    # "held alerts are kept", the pause notice says: unsubscribing dropped them unsaid.
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        commands = Commands(rt)

        async def say(text: str) -> str:
            return (await commands.handle(Invocation("console", "console", "ops", text))).text

        assert "now gets" in await say("subscribe troop-deployments")
        feed = add_feed(rt.db, "https://x.example/rss", "X", origin="config")
        held = [_item("1", NK, 0, "troop-deployments"), _item("2", RED, 1, "troop-deployments")]
        store_new_items(rt.db, feed, held, StoryIndex(), NOW)
        hold_channel(rt.db, "console", "channel_not_found")
        before = _dropped_total("unsubscribed")
        answer = await say("unsubscribe troop-deployments")
        assert answer.endswith("; 2 alerts it still had waiting were dropped"), answer
        assert _dropped_total("unsubscribed") == before + 2  # /metrics counts chat's drops too


def _dropped_total(reason: str) -> float:
    found = metrics.REGISTRY.get_sample_value("wirewatch_alerts_dropped_total", {"reason": reason})
    return found or 0.0


async def test_a_later_report_follows_the_story_through_any_topic_the_channel_follows(tmp_path):
    # The story came through `a`; a report matching only `b`, at its update bar, is an update
    # in its thread, unless b's --except refuses it or the story here is only in a digest.
    for case in ("plain", "except", "digest"):
        db, feed, index = _setup(tmp_path / case, channels=())
        subscribe(db, "chat:A", "a", "digest" if case == "digest" else "instant")
        subscribe(db, "chat:A", "b", "instant", None, "spy" if case == "except" else None)
        store_new_items(db, feed, [_item("1", NK, 0, "a")], index, NOW)
        store_new_items(db, feed, [_relaxed("2", NK2, 5, "b")], index, NOW)
        chat = Platform()
        await deliver_pending(db, {"chat": chat})
        sent = [(a.title, a.kind, a.topic) for a in chat.alerts]
        if case == "plain":
            assert sent == [(NK, "new", "a"), (NK2, "update", "b")]
            assert chat.posted[1][2] == f"m{chat.posted[0][1]}"  # in the story's thread
        elif case == "except":
            assert sent == [(NK, "new", "a")]
        else:  # a relaxed match never starts a story: the digest has it, no thread exists
            assert sent == [] and _statuses(db) == [("new", "digest")]


async def test_unsubscribing_the_topic_a_waiting_story_came_through_leaves_no_orphan_update(
    tmp_path,
):
    # Its report waiting under `b` would have gone out alone, an "update" of nothing; one that
    # only cleared b's update bar is no alert of its own, so it goes with the story.
    for relaxed in (False, True):
        db, feed, index = _waiting_through(
            tmp_path / str(relaxed), ("chat:A", "a"), ("chat:A", "b")
        )
        later = _relaxed("2", NK2, 5, "b") if relaxed else _item("2", NK2, 5, "b")
        store_new_items(db, feed, [_item("1", NK, 0, "a")], index, NOW)
        store_new_items(db, feed, [later], index, NOW)
        assert _statuses(db) == [("new", "pending"), ("update", "pending")]
        dropped = unsubscribe(db, "chat:A", "a")
        chat = Platform()
        await deliver_pending(db, {"chat": chat})
        if relaxed:
            assert dropped == 2 and chat.posted == []
        else:
            assert dropped == 1 and [(a.title, a.kind) for a in chat.alerts] == [(NK2, "new")]


async def test_unsubscribing_hands_a_waiting_alert_to_a_narrowed_topic_whose_filter_takes_it(
    tmp_path,
):
    # It was dropped whenever the other topic the channel follows had an --only/--except,
    # even one that lets the alert through; one refused by it, or matching it only at its
    # update bar, is still dropped.
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:A", "a", "instant")
    subscribe(db, "chat:A", "b", "instant", "houthi* OR spy", "Seoul")
    subscribe(db, "chat:A", "c", "instant", None, "destroyers")
    items = [
        _item("1", RED, 0, "a", "b", "c"),  # b lets it through, c refuses it
        _item("2", NK, 1, "a", "b"),  # b refuses it (Seoul)
        _item("3", POLAND, 2, "a", "c"),
    ]
    relaxed = TopicMatch("c", ("troops",), (), "", strict=False)  # c only at its update bar
    items[2] = replace(items[2], matches=(items[2].matches[0], relaxed))
    store_new_items(db, feed, items, index, NOW)
    assert unsubscribe(db, "chat:A", "a") == 2
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [(a.title, a.topic) for a in chat.alerts] == [(RED, "b")]
    assert _statuses(db) == [("new", "sent"), ("new", "cancelled"), ("new", "cancelled")]


async def test_a_changed_topic_query_re_decides_alerts_queued_through_topics_referring_to_it(
    tmp_path,
):
    # Only alerts queued through the changed topic itself were decided again: one queued
    # through a topic whose query says `topic:ships`, or a filter naming it, went out anyway.
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        commands = Commands(rt)

        async def say(text: str) -> str:
            return (await commands.handle(Invocation("console", "console", "ops", text))).text

        assert "added topic" in await say("topic add ships troops OR destroyers")
        assert "added topic" in await say("topic add korea topic:ships AND (Korea OR Seoul)")
        assert "added topic" in await say("topic add army troops OR destroyers")
        assert "now gets" in await say("subscribe korea")
        subscribe(rt.db, "chat:B", "army", "instant", "topic:ships", None)
        feed = add_feed(rt.db, "https://x.example/rss", "X", origin="config")
        waiting = [_item("1", NK, 0, "ships", "korea", "army"), _item("2", RED, 1, "ships", "army")]
        store_new_items(rt.db, feed, waiting, StoryIndex(), NOW)
        answer = await say("topic add ships destroyers OR frigates")
        assert f"2 alerts {WAITING_THROUGH} were dropped" in answer
        chat = Platform()
        await deliver_pending(rt.db, {"chat": chat})
        assert [(a.title, a.topic) for a in chat.alerts] == [(RED, "army")]
        rows = "SELECT channel, status FROM deliveries ORDER BY channel, id"
        assert [tuple(r) for r in rt.db.execute(rows)] == [
            ("chat:B", "cancelled"),  # NK: army's --only topic:ships refuses it now
            ("chat:B", "sent"),
            ("console", "cancelled"),  # NK: korea says topic:ships
        ]


async def test_a_config_topic_changed_across_a_restart_re_decides_its_waiting_alerts(
    tmp_path, monkeypatch, caplog
):
    # The new query, and the relevance model the config now gives the topic, decide the
    # backlog as ingest would decide it now; a restart used to post it as queued.
    toy = {"weights": {"bias": 2.0, "t:poland": -4.0}, "threshold": 0.5, "relaxed": 0.3}
    (tmp_path / "toy.json").write_text(json.dumps(toy), encoding="utf-8")
    monkeypatch.setattr("bot.relevance.model.HERE", tmp_path)

    async with open_runtime(_fleet(tmp_path, {"query": "troops OR destroyers"}), {}) as rt:
        feed = add_feed(rt.db, "https://x.example/rss", "X", origin="config")
        waiting = [_item(str(i), t, i, "fleet") for i, t in enumerate((NK, POLAND, RED))]
        store_new_items(rt.db, feed, waiting, StoryIndex(), NOW)
    before = _dropped_total("config changed")
    changed = {"query": "troops OR frigates", "relevance": "toy"}
    async with open_runtime(_fleet(tmp_path, changed), {}) as rt:
        assert _dropped_total("config changed") == before + 2  # POLAND by model, RED by query
        assert "config.dropped alerts=2" in caplog.text
        console = Platform()
        await deliver_pending(rt.db, {"console": console})
        assert [a.title for a in console.alerts] == [NK]
    async with open_runtime(_fleet(tmp_path, changed), {}) as rt:  # unchanged since: nothing more
        assert _dropped_total("config changed") == before + 2


async def test_a_waiting_edit_follows_its_story_to_the_topic_that_takes_it_on_unsubscribe(
    tmp_path,
):
    # The story went on under b, but its queued edit was dropped (b had an --only): now the
    # edit follows its story.
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:A", "a", "instant")
    subscribe(db, "chat:A", "b", "instant", "houthi*", None)
    store_new_items(db, feed, [_item("1", RED, 0, "a", "b")], index, NOW)
    db.execute(  # an outlet's edit of the item, queued behind its alert
        "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
        "next_attempt, created, event_id) SELECT subscription_id, channel, story_id, item_id, "
        "'edit', 'pending', next_attempt, created, 1 FROM deliveries"
    )
    assert unsubscribe(db, "chat:A", "a") == 0
    rows = "SELECT d.kind, d.status, s.topic FROM deliveries d JOIN subscriptions s ON s.id = "
    assert [tuple(r) for r in db.execute(rows + "d.subscription_id ORDER BY d.id")] == [
        ("new", "pending", "b"),
        ("edit", "pending", "b"),
    ]


async def test_a_config_topic_given_a_model_across_a_restart_asks_the_encoder_as_ingest_does(
    tmp_path,
):
    # The shipped deployments model takes the encoder's opinion: without it, the word model
    # alone lets this headline through; ingest, asking it, would not queue it.
    helped = "Interpreters who helped American troops set to arrive in US"

    async with open_runtime(_fleet(tmp_path, {"query": "troops"}), {}) as rt:
        feed = add_feed(rt.db, "https://x.example/rss", "X", origin="config")
        waiting = [_item("1", NK, 0, "fleet"), _item("2", helped, 1, "fleet")]
        store_new_items(rt.db, feed, waiting, StoryIndex(), NOW)
    async with open_runtime(
        _fleet(tmp_path, {"query": "troops", "relevance": "deployments"}), {}
    ) as rt:
        console = Platform()
        await deliver_pending(rt.db, {"console": console})
        assert [a.title for a in console.alerts] == [NK]


def _fleet(tmp_path, fleet: dict[str, str]) -> Settings:
    """A config whose one topic, `fleet`, the console follows."""
    config = {
        "database": str(tmp_path / "w.db"),
        "articles": {"fetch": False},
        "topics": {"fleet": fleet},
        "subscriptions": [{"topic": "fleet", "channel": "console"}],
    }
    return Settings.model_validate(config)
