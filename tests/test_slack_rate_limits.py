"""A busy news day against Slack's pace: alerts Slack rate-limits go out when it says.

Through slack_sdk and tests/slackstub.py. Slack paces chat.postMessage at about one message a
second per channel and answers 429 with Retry-After past that; the outbox waits on disk.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.clock import iso, parse_iso, utcnow
from bot.outbox import deliver_pending
from bot.poll_cycle import poll_once
from tests.feedserver import FeedServer
from tests.test_slack import NEWS, slack_env
from tests.test_slack_outages import TWO_STORIES


async def test_an_alert_slack_rate_limits_is_sent_again_when_slack_says(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Slack said "retry in 1 s" and the alert waited the outbox's backoff instead (5 s, then
    # 10, 20...): on a busy day (bench: busyday harness) 13 alerts a channel took 85 s.
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        env.stub.fail("chat.postMessage", status=429, retry_after=1, times=3)
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        for _ in range(3):  # the same alert refused three times in a row
            [(waits_until, error)] = env.rt.db.execute(
                "SELECT next_attempt, error FROM deliveries WHERE status = 'pending' "
                "ORDER BY id LIMIT 1"
            ).fetchall()
            assert "rate limit" in error
            assert parse_iso(waits_until) <= utcnow() + timedelta(seconds=1.2), waits_until
            env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
            await deliver_pending(env.rt.db, env.rt.adapters)
        statuses = env.rt.db.execute("SELECT status FROM deliveries ORDER BY id").fetchall()
        assert [s for (s,) in statuses] == ["sent", "sent"]
        assert len(env.stub.posts(NEWS)) == 2  # each once, in order
        assert len(env.stub.calls_to("chat.postMessage")) == 5
