"""The outbox: in order per channel, retried on disk, stopped on permanent errors, reconciled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import iso, utcnow
from bot.db import open_database
from bot.errors import DeliveryError
from bot.feed_store import add_feed, find_feed
from bot.ingest import NewItem, store_new_items
from bot.maintenance import prune
from bot.model import Alert, Entry, MessageRef, TopicMatch
from bot.notice_outbox import deliver_notices
from bot.outbox import deliver_pending, reconcile
from bot.redecide import subscribe, unsubscribe
from bot.store import subscriptions
from bot.stories import StoryIndex
from bot.text import versions


class Platform:
    """A chat platform that records what it got and fails as told (the far side of an adapter)."""

    platform = "chat"

    def __init__(self) -> None:
        self.posted: list[tuple[str, int, str | None]] = []
        self.alerts: list[Alert] = []
        self.edits: list[str] = []
        self.notices: list[str] = []
        self.digests: list[tuple[str, int, str]] = []
        self.fail_with: list[DeliveryError] = []
        self.remembered: dict[int, MessageRef] = {}

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        return self._post(channel, alert, None)

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        return self._post(parent.channel, alert, parent.message_id)

    def _post(self, channel: str, alert: Alert, thread: str | None) -> MessageRef:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.posted.append((channel, alert.delivery_id, thread))
        self.alerts.append(alert)
        return MessageRef("chat", channel, f"m{alert.delivery_id}", thread)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        self.edits.append(ref.message_id)

    async def find_posted(
        self, channel: str, delivery_id: int, thread: MessageRef | None = None, *, since=None
    ) -> MessageRef | None:
        return self.remembered.get(delivery_id)

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.digests.append((channel, key, text))
        return MessageRef("chat", channel, f"d{key}")

    async def post_notice(self, channel: str, text: str, *, key=None) -> None:
        self.notices.append(text)

    async def start(self, commands) -> None: ...
    async def stop(self) -> None: ...


def _item(
    guid: str,
    title: str,
    when: datetime,
    topic: str | None = "t",
    strict: bool = True,
    why: str = "",
) -> NewItem:
    entry = Entry(
        guid, f"https://x.example/{guid}", title, title, when, digest=versions.digest(title, title)
    )
    matches = (TopicMatch(topic, ("troops",), (), why, strict=strict),) if topic else ()
    return NewItem(entry, when, None, title, (), matches, True)


def _setup(tmp_path, channels=("chat:A",)):
    db = open_database(tmp_path / "w.db")
    feed = add_feed(db, "https://x.example/rss", "X", origin="config")
    # The topics these tests' channels follow exist, as every subscribed topic does (one
    # missing is a topic removed from the config: re-deciding hands it nothing).
    db["topics"].insert_all(
        [{"name": n, "query": "troops", "origin": "config"} for n in "abctu"], pk="name"
    )
    for ch in channels:
        subscribe(db, ch, "t", "instant")
    return db, feed, StoryIndex()


NOW = datetime.now(UTC)
NK = "North Korea sends more troops to Russia, Seoul says"
NK2 = "North Korea sent more troops to Russia, South Korea's spy agency says"
RED = "US deploys two destroyers to the Red Sea after Houthi attacks on shipping"


async def test_story_goes_out_once_then_updates_in_its_thread(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(
        db, feed, [_item("1", NK, NOW), _item("2", NK2, NOW + timedelta(minutes=5))], index, NOW
    )
    chat = Platform()
    stats = await deliver_pending(db, {"chat": chat})
    assert stats.sent == 2
    (first, second) = chat.posted
    assert first[2] is None and second[2] == f"m{first[1]}"
    assert chat.edits == [f"m{first[1]}"]  # the first message now lists both sources


async def test_follow_up_that_does_not_match_joins_the_story_but_not_the_channel(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    store_new_items(db, feed, [_item("2", NK2, NOW, topic=None)], index, NOW)
    kinds = [r["kind"] for r in db.query("SELECT kind FROM deliveries ORDER BY id")]
    assert kinds == ["new"]
    stories = {r["story_id"] for r in db.query("SELECT story_id FROM items")}
    assert len(stories) == 1  # still in the story: the archive and search have it


async def test_follow_up_clearing_only_the_relaxed_bar_is_an_update_not_an_alert(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW), _item("2", RED, NOW, strict=False)], index, NOW)
    store_new_items(db, feed, [_item("3", NK2, NOW, strict=False)], index, NOW)
    rows = db.query("SELECT i.identity, d.kind FROM deliveries d JOIN items i ON i.id = d.item_id")
    assert {(r["identity"], r["kind"]) for r in rows} == {("1", "new"), ("3", "update")}
    matched = [r["item_id"] for r in db.query("SELECT item_id FROM matches")]
    assert len(matched) == 1  # a relaxed match is not recorded as a topic match


async def test_an_update_let_through_at_the_relaxed_bar_says_why(tmp_path):
    """Editors see why a report that is no alert of its own was posted in the thread."""
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW, why="relevance 0.98 (bar 0.56)")], index, NOW)
    later = _item("2", NK2, NOW, strict=False, why="relevance 0.50 (update bar 0.39)")
    store_new_items(db, feed, [later], index, NOW)
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [(a.kind, a.explanation) for a in chat.alerts] == [
        ("new", "relevance 0.98 (bar 0.56)"),
        ("update", "relevance 0.50 (update bar 0.39)"),
    ]
    assert db.execute("SELECT count(*) FROM matches").fetchone()[0] == 1  # still no match


async def test_pruning_takes_an_updates_reason_with_its_item(tmp_path):
    db, feed, index = _setup(tmp_path)
    old = NOW - timedelta(days=10)
    store_new_items(db, feed, [_item("1", NK, old)], index, old)
    store_new_items(db, feed, [_item("2", NK2, old, strict=False, why="update bar")], index, old)
    await deliver_pending(db, {"chat": Platform()})
    pruned = prune(db, older_than=4 * 86400, story_window=3 * 86400, vacuum=False)
    assert pruned.items == 2
    assert db.execute("SELECT count(*) FROM relaxed_matches").fetchone()[0] == 0


async def test_retry_waits_on_disk_and_keeps_channel_order(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(
        db, feed, [_item("1", NK, NOW), _item("2", RED, NOW + timedelta(seconds=1))], index, NOW
    )
    chat = Platform()
    chat.fail_with = [DeliveryError("rate limited", retry_after=30)]
    stats = await deliver_pending(db, {"chat": chat})
    assert stats.retried == 1 and stats.sent == 0 and chat.posted == []  # 2nd waits behind 1st
    row = next(db.query("SELECT * FROM deliveries ORDER BY id LIMIT 1"))
    assert row["status"] == "pending" and row["next_attempt"] >= iso(NOW + timedelta(seconds=29))
    db.execute("UPDATE deliveries SET next_attempt = ?", [iso(NOW)])
    await deliver_pending(db, {"chat": chat})
    assert [p[1] for p in chat.posted] == sorted(p[1] for p in chat.posted)
    assert len(chat.posted) == 2


async def test_permanent_error_pauses_channel_holds_backlog_and_tells_once(tmp_path):
    db, feed, index = _setup(tmp_path, channels=("chat:A", "chat:B"))
    store_new_items(
        db, feed, [_item("1", NK, NOW), _item("2", RED, NOW + timedelta(seconds=1))], index, NOW
    )
    chat = Platform()
    chat.fail_with = [DeliveryError("channel_not_found", permanent=True)]
    stats = await deliver_pending(db, {"chat": chat})
    assert stats.failed == 1 and stats.sent == 2  # channel B unaffected
    statuses = {r["channel"]: [] for r in db.query("SELECT channel FROM deliveries")}
    for r in db.query("SELECT channel, status, error FROM deliveries ORDER BY id"):
        statuses[r["channel"]].append(r["status"])
    assert statuses["chat:A"] == ["held", "held"]  # the one refused is kept, not failed
    assert {s.paused_reason for s in subscriptions(db, "chat:A")} == {"channel_not_found"}
    await deliver_notices(db, {"chat": chat})
    await deliver_notices(db, {"chat": chat})
    assert len(chat.notices) == 1 and "chat:A" in chat.notices[0]
    subscribe(db, "chat:A", "t", "instant")  # a moderator fixes it: the backlog resumes
    await deliver_pending(db, {"chat": chat})
    assert [
        r["status"]
        for r in db.query("SELECT status FROM deliveries WHERE channel = 'chat:A' ORDER BY id")
    ] == ["sent", "sent"]
    a_ids = [r[0] for r in db.execute("SELECT id FROM deliveries WHERE channel = 'chat:A'")]
    assert [p[1] for p in chat.posted if p[1] in a_ids] == sorted(a_ids)  # oldest first, once


async def test_crash_after_send_before_mark_is_reconciled_not_resent(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW), _item("2", RED, NOW)], index, NOW)
    db.execute("UPDATE deliveries SET status = 'claimed'")  # as a kill -9 mid-send leaves them
    chat = Platform()
    first_id = db.execute("SELECT min(id) FROM deliveries").fetchone()[0]
    chat.remembered[first_id] = MessageRef("chat", "A", "already-there")
    assert await reconcile(db, {"chat": chat}) == 2
    await deliver_pending(db, {"chat": chat})
    assert [p[1] for p in chat.posted] == [first_id + 1]
    assert (
        db.execute("SELECT message_id FROM deliveries WHERE id = ?", [first_id]).fetchone()[0]
        == "already-there"
    )


async def test_unknown_platform_waits_instead_of_being_lost(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    stats = await deliver_pending(db, {"console": Platform()})
    assert stats.sent == 0
    assert db.execute("SELECT status FROM deliveries").fetchone()[0] == "pending"
    assert find_feed(db, "X") is not None


async def test_unsubscribing_drops_held_alerts_so_no_later_subscribe_sends_them(tmp_path):
    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Platform()
    chat.fail_with = [DeliveryError("channel_not_found", permanent=True)]
    await deliver_pending(db, {"chat": chat})  # the channel is paused
    store_new_items(db, feed, [_item("2", RED, NOW)], index, NOW)  # held while paused
    assert unsubscribe(db, "chat:A", "t") == 2  # both held alerts, counted for the answer
    assert unsubscribe(db, "chat:A", "t") is None  # no longer subscribed
    subscribe(db, "chat:A", "other", "instant")  # resumes what the channel still holds
    await deliver_pending(db, {"chat": chat})
    assert chat.posted == []
    assert [r[0] for r in db.execute("SELECT status FROM deliveries ORDER BY id")] == [
        "cancelled",
        "cancelled",
    ]
    assert [s.topic for s in subscriptions(db, "chat:A")] == ["other"]


async def test_a_notice_the_platform_refuses_is_tried_again_later_not_lost(tmp_path):
    # A paused channel's notice is what tells moderators why alerts stopped: marked sent
    # when nobody got it, it was gone for good.
    from bot.store import add_notice

    class Refusing(Platform):
        def __init__(self) -> None:
            super().__init__()
            self.refusals = 2

        async def post_notice(self, channel: str, text: str, *, key=None) -> None:
            if self.refusals:
                self.refusals -= 1
                raise DeliveryError("Slack invalid_auth: the bot token is not valid")
            await super().post_notice(channel, text, key=key)

    db, _, _ = _setup(tmp_path)
    add_notice(db, "paused:chat:A", "wirewatch paused alerts to chat:A", channel="chat:A")
    chat = Refusing()
    assert await deliver_notices(db, {"chat": chat}) == 0
    assert await deliver_notices(db, {"chat": chat}) == 0  # not due yet: backing off
    for _ in range(2):
        db.execute("UPDATE notices SET next_attempt = ?", [iso(utcnow())])
        await deliver_notices(db, {"chat": chat})
    assert chat.notices == ["wirewatch paused alerts to chat:A"] and chat.refusals == 0
    assert db.execute("SELECT attempts FROM notices WHERE sent_at IS NOT NULL").fetchone() == (2,)


async def test_a_notice_for_a_platform_without_its_token_waits_for_it(tmp_path, capsys):
    # `wirewatch check` warns that an ops_channel whose platform's token is not set gets its
    # notices later, from the database: printed on the console instead, they were marked
    # sent and never reached the channel once the token was set.
    from adapters.console import ConsoleAdapter
    from bot.store import add_notice

    db, _, _ = _setup(tmp_path)
    add_notice(db, "health:1:silent", "feed X has gone silent", channel="chat:OPS")
    console = ConsoleAdapter()
    assert await deliver_notices(db, {"console": console}) == 0
    assert "gone silent" not in capsys.readouterr().err
    assert db.execute("SELECT count(*) FROM notices WHERE sent_at IS NULL").fetchone() == (1,)
    chat = Platform()  # the bot restarted with the token
    assert await deliver_notices(db, {"console": console, "chat": chat}) == 1
    assert chat.notices == ["feed X has gone silent"]


async def test_a_notice_sent_long_after_it_was_queued_says_when_it_was(tmp_path):
    # Health notices carry no date: one that waited two days for its platform's token (or
    # for a bot that was down) read as news of now.
    from bot.store import add_notice

    db, _, _ = _setup(tmp_path)
    add_notice(db, "health:1:silent", "feed X has gone silent", channel="chat:OPS")
    add_notice(db, "health:2:silent", "feed Y has gone silent", channel="chat:OPS")
    queued = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    db.execute("UPDATE notices SET created = ? WHERE key = 'health:1:silent'", [iso(queued)])
    db.execute("UPDATE notices SET created = ? WHERE key = 'health:2:silent'", [iso(utcnow())])
    chat = Platform()
    assert await deliver_notices(db, {"chat": chat}) == 2
    assert sorted(chat.notices) == [
        "(queued 2026-03-01 10:05 UTC) feed X has gone silent",
        "feed Y has gone silent",
    ]


async def test_an_update_in_doubt_is_looked_for_in_its_storys_thread(tmp_path):
    # The platform is told which thread to search: however old the story, the update is
    # found there rather than posted a second time.
    class Recording(Platform):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[tuple[int, MessageRef | None]] = []

        async def find_posted(
            self, channel: str, delivery_id: int, thread: MessageRef | None = None, *, since=None
        ) -> MessageRef | None:
            self.asked.append((delivery_id, thread))
            return await super().find_posted(channel, delivery_id, thread, since=since)

    db, feed, index = _setup(tmp_path)
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Recording()
    await deliver_pending(db, {"chat": chat})
    store_new_items(db, feed, [_item("2", NK2, NOW + timedelta(minutes=5))], index, NOW)
    update_id = db.execute("SELECT max(id) FROM deliveries").fetchone()[0]
    db.execute("UPDATE deliveries SET status = 'claimed' WHERE id = ?", [update_id])  # kill -9
    chat.remembered[update_id] = MessageRef("chat", "A", "already-there", "m1")
    await reconcile(db, {"chat": chat})
    [(asked, thread)] = chat.asked
    assert asked == update_id and thread is not None and thread.message_id == f"m{update_id - 1}"
    assert chat.posted[1:] == []  # found, not posted again
