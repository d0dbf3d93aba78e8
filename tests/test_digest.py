"""Digest subscriptions: alerts wait, then go out as one message per channel, once."""

from __future__ import annotations

from datetime import timedelta

from bot.digest import send_digests
from bot.ingest import store_new_items
from bot.outbox import deliver_pending
from bot.store import subscribe
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _item, _setup


async def test_digest_channel_gets_one_message_listing_each_story_once(tmp_path):
    db, feed, index = _setup(tmp_path, channels=("chat:I",))
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(
        db,
        feed,
        [
            _item("1", NK, NOW),
            _item("2", NK2, NOW + timedelta(minutes=1)),
            _item("3", RED, NOW + timedelta(minutes=2)),
        ],
        index,
        NOW,
    )
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert {p[0] for p in chat.posted} == {"I"}  # instant channel only; digest waits
    assert await send_digests(db, {"chat": chat}) == 1
    (text,) = chat.notices
    lines = text.splitlines()
    assert lines[0].startswith("wirewatch digest") and "2 stories" in lines[0]
    assert len(lines) == 3 and NK in lines[1] and RED in lines[2]
    assert await send_digests(db, {"chat": chat}) == 0  # nothing twice


async def test_failed_digest_post_loses_nothing(tmp_path):
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)

    class Down(Platform):
        async def post_notice(self, channel: str, text: str) -> None:
            raise ConnectionError("chat is down")

    assert await send_digests(db, {"chat": Down()}) == 0
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1 and NK in chat.notices[0]
