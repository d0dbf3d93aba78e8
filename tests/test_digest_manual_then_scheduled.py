"""A moderator's `/wirewatch digest` stands in for the scheduled digest due soon after it.

Seen before the fix: a moderator posted the digest at 08:55, and the scheduled 09:00 one
posted a second digest five minutes later listing the one story come since, while `status`
said the next was due at 09:00. A newsroom reads the manual digest as this hour's: the
09:00 run leaves the channel alone (nothing posted, not even "nothing new"), its new
stories wait for 10:00, and `status` says 10:00. Real SQLite, the real scheduler of
`run_forever`, feeds on 127.0.0.1, Slack's stand-in through slack_sdk and slack-bolt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.job import Job

from bot.clock import iso, minute_utc, parse_stored, utcnow
from bot.loop import run_forever
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from tests.feedserver import FeedServer
from tests.test_digest import _outlet_feed
from tests.test_digest_feedback import ESTONIA, _config, _serve
from tests.test_feedback import _settings
from tests.test_slack import ADMIN, NEWS, slack_env


def _digest_job(rt: Runtime) -> Job:
    assert rt.scheduler is not None
    job = rt.scheduler.get_job("digest")
    assert job is not None
    return job


async def _run_digest_job_now(rt: Runtime) -> None:
    """What 09:00 does: the scheduler runs the digest job, which then waits an hour."""
    _digest_job(rt).modify(next_run_time=utcnow())
    for _ in range(200):  # 10 s
        await asyncio.sleep(0.05)
        job = _digest_job(rt)
        running = any(task.get_name() == "_digest" for task in rt.busy)
        if job.next_run_time > utcnow() + timedelta(minutes=30) and not running:
            return
    raise AssertionError("the digest job did not run")


def _waiting(rt: Runtime) -> int:
    return rt.db.execute("SELECT count(*) FROM deliveries WHERE status = 'digest'").fetchone()[0]


async def test_the_scheduled_digest_after_a_manual_one_waits_for_the_next_hour(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        rt = env.rt
        await poll_once(rt)
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop, grace=0.5))
        try:
            for _ in range(200):
                if rt.scheduler is not None:
                    break
                await asyncio.sleep(0.05)
            assert await env.command("digest", user=ADMIN) == "digest sent: 2 stories"
            feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, datetime.now(UTC))]))
            await poll_once(rt)
            assert _waiting(rt) == 1

            scheduled = utcnow() + timedelta(minutes=5)  # "09:00", the manual one "08:55"
            _digest_job(rt).modify(next_run_time=scheduled)
            status = await env.command("status", user=ADMIN)
            after = minute_utc(scheduled + timedelta(hours=1))
            assert f"this channel's next digest: {after}, 1 story (1 report) waiting" in status

            await _run_digest_job_now(rt)  # 09:00, five minutes after the manual digest
            assert len(env.stub.top_level(NEWS)) == 1  # no second digest, no "nothing new"
            assert _waiting(rt) == 1  # the new story waits for the next one

            # 10:00: the manual digest is an hour old, and the story goes out.
            for did, sent in rt.db.execute("SELECT id, sent_at FROM deliveries").fetchall():
                if sent is not None:
                    hour_ago = iso(parse_stored(sent, None) - timedelta(hours=1))
                    rt.db.execute("UPDATE deliveries SET sent_at = ? WHERE id = ?", [hour_ago, did])
            await _run_digest_job_now(rt)
            posted = env.stub.top_level(NEWS)
            assert len(posted) == 2 and ESTONIA[0] in posted[1]["text"]
            assert _waiting(rt) == 0
        finally:
            stop.set()
            await asyncio.wait_for(runner, timeout=10)
