"""`subscribe TOPIC digest` says when the next digest goes out: while the bot runs, the time
its scheduler will actually run the digest job (bot.app.run_forever), not a second guess.

`next_digest_at` (what a start would schedule) is right only until the job has run once:
after a run that could send nothing (the platform down), it still counts from the last
digest sent, and would answer "now" for a digest an hour away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from apscheduler.job import Job

from bot.app import Runtime, open_runtime, run_forever
from bot.clock import iso, minute_utc, utcnow
from bot.commands import Commands, Invocation
from bot.digest import next_digest_at, send_digests
from bot.errors import DeliveryError
from bot.ingest import store_new_items
from bot.model import Topic
from bot.redecide import save_topic, subscribe
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
