"""Moderators change subscriptions while alerts wait or are in flight: nothing is lost, nothing
goes where it is no longer wanted, and no update arrives without its story's first alert."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.app import open_runtime
from bot.clock import iso
from bot.commands import Commands, Invocation
from bot.digest import send_digests
from bot.edit_store import set_edits
from bot.errors import DeliveryError
from bot.ingest import NewItem, store_new_items
from bot.model import Entry, TopicMatch
from bot.outbox import deliver_pending
from bot.store import pause_channel, set_muted, subscribe, unsubscribe
from tests.test_commands import make_settings
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _setup


def _item(guid: str, title: str, minutes: int, *topics: str) -> NewItem:
    when = NOW + timedelta(minutes=minutes)
    entry = Entry(guid, f"https://x.example/{guid}", title, title, when)
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
    assert unsubscribe(db, "chat:A", "a")
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
    assert unsubscribe(db, "chat:A", "t")  # a moderator, between two awaits of the outbox
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
