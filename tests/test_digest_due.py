"""`subscribe TOPIC digest` says when the next digest goes out: while the bot runs, the time
its scheduler will actually run the digest job (bot.loop.run_forever), not a second guess.

`next_digest_at` (what a start would schedule) is right only until the job has run once:
after a run that could send nothing (the platform down), it still counts from the last
digest sent, and would answer "now" for a digest an hour away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from apscheduler.job import Job

from bot.cli_run import _due_digests
from bot.clock import iso, minute_utc, utcnow
from bot.commands import Commands, Invocation
from bot.digest import next_digest_at, send_digests
from bot.errors import DeliveryError
from bot.ingest import store_new_items
from bot.loop import run_forever
from bot.model import Topic
from bot.redecide import save_topic, subscribe
from bot.runtime import Runtime
from bot.startup import open_runtime
from bot.store import pause_channel
from tests.runtime import make_settings
from tests.test_outbox import NK, NOW, RED, Platform, _item, _setup


async def _ran_once(rt: Runtime) -> Job:
    """The digest job once the scheduler has run it: its next run an hour away."""
    for _ in range(200):  # 10 s
        job = rt.scheduler.get_job("digest") if rt.scheduler else None
        if job is not None and job.next_run_time > utcnow() + timedelta(minutes=30):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the digest job did not run at the start")


async def test_subscribe_digest_names_the_running_schedulers_next_digest(tmp_path) -> None:
    db, feed, index = _setup(tmp_path, channels=())
    save_topic(db, Topic("t", "troops", origin="chat"))  # a start holds a gone topic's alerts
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1
    # That digest went out three hours ago; a story has waited since, and Slack or Discord
    # is down at the start: the job, overdue, runs at once, sends nothing, and comes again
    # in an hour. Counted from the last digest sent, the next one would be "now".
    db.execute("UPDATE deliveries SET sent_at = ?", [iso(utcnow() - timedelta(hours=3))])
    store_new_items(db, feed, [_item("2", RED, NOW)], index, NOW)
    chat.fail_with = [DeliveryError("HTTP 503 Service Unavailable")]
    db.close()
    settings = make_settings(tmp_path / "w.db", [], subscriptions=[], digest_every="1h")
    async with open_runtime(settings, {"chat": chat}) as rt:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop, grace=0.5))
        try:
            job = await _ran_once(rt)
            inv = Invocation("chat", "chat:E", "U1", "subscribe t digest", platform_admin=True)
            reply = await Commands(rt).handle(inv)
            scheduled = minute_utc(job.next_run_time)
            guessed = minute_utc(next_digest_at(rt.db, rt.settings.digest_every, utcnow()))
        finally:
            stop.set()
            await asyncio.wait_for(runner, timeout=10)
    assert len(chat.digests) == 1 and not chat.fail_with  # the job ran, and sent nothing
    assert reply.ok and reply.text.endswith(f"; next digest {scheduled}, then every 1h")
    # What the answer would say from the digest code alone: a time already here.
    assert guessed != scheduled and guessed not in reply.text


async def test_one_channels_manual_digest_does_not_hold_back_the_others(tmp_path) -> None:
    """Channel D's digest was due an hour after its last one; a moderator then sent E's by
    hand. A start (or a cron `poll`) must still send D's now, not an hour after E's."""
    db, feed, index = _setup(tmp_path, channels=())
    save_topic(db, Topic("t", "troops", origin="chat"))
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1
    db.execute("UPDATE deliveries SET sent_at = ?", [iso(utcnow() - timedelta(hours=2))])
    subscribe(db, "chat:E", "t", "digest")
    store_new_items(db, feed, [_item("2", RED, NOW)], index, NOW)
    # E's digest goes out by hand now (D's waiting story with it would be sent too by a
    # plain send_digests, so E's delivery alone is marked sent, as `digest` in E does).
    db.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = ?, digest_of = id "
        "WHERE channel = 'chat:E'",
        [iso(utcnow())],
    )
    now = utcnow()
    assert next_digest_at(db, 3600, now) == now  # D's is an hour overdue


@pytest.mark.parametrize("stuck", ["chat:P", "discord:X"], ids=["paused", "no-adapter"])
async def test_a_channel_no_digest_can_reach_does_not_make_every_cron_poll_a_digest_time(
    tmp_path, stuck: str
) -> None:
    """A paused channel (its digests wait for a moderator) or one whose platform has no
    token here keeps its stories waiting past its own digest time. Counted as due, it made
    every cron `poll` a digest time, and each other channel got a digest as soon as half of
    `digest_every` had passed: every 30 minutes instead of every hour."""
    db, feed, index = _setup(tmp_path, channels=())
    save_topic(db, Topic("t", "troops", origin="chat"))
    for channel in (stuck, "chat:E"):
        subscribe(db, channel, "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == (2 if stuck == "chat:P" else 1)
    store_new_items(db, feed, [_item("2", RED, NOW)], index, NOW)
    if stuck == "chat:P":  # with a story waiting: a digest refused, the channel gone
        pause_channel(db, stuck, "Slack channel_not_found: the channel does not exist")
    three_hours_ago, forty_minutes_ago = (iso(utcnow() - timedelta(minutes=m)) for m in (180, 40))
    db.execute("UPDATE deliveries SET created = ?", [three_hours_ago])
    db.execute("UPDATE deliveries SET sent_at = ? WHERE sent_at IS NOT NULL", [three_hours_ago])
    db.execute(
        "UPDATE deliveries SET sent_at = ? WHERE channel = 'chat:E' AND sent_at IS NOT NULL",
        [forty_minutes_ago],
    )
    db.close()
    settings = make_settings(tmp_path / "w.db", [], subscriptions=[], digest_every="1h")
    async with open_runtime(settings, {"chat": chat}) as rt:
        before = len(chat.digests)
        posted = await _due_digests(rt)  # what a cron's `wirewatch poll` sends now
        assert posted == 0 and len(chat.digests) == before  # E's last went out 40 min ago
        an_hour_ago = iso(utcnow() - timedelta(minutes=61))
        rt.db.execute(
            "UPDATE deliveries SET sent_at = ? WHERE channel = 'chat:E' AND sent_at IS NOT NULL",
            [an_hour_ago],
        )
        assert await _due_digests(rt) == 1  # E's hour is up: its digest goes out
    assert chat.digests[-1][0] == "E"
