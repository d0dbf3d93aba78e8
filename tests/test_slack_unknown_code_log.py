"""The log line for an error code Slack added since, met by an alert, says both bounds the
outbox keeps (docs/slack.md: 5 tries and 30 minutes at least); it said "30 min" only, and an
operator counting the tries read the alert as given up on early. Through slack_sdk against
tests/slackstub.py and the real outbox."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.poll_cycle import poll_once
from bot.send_errors import UNKNOWN_PATIENCE, UNKNOWN_TRIES
from tests.feedserver import FeedServer
from tests.test_slack import slack_env
from tests.test_slack_outages import TWO_STORIES


async def test_an_unknown_error_s_log_line_says_the_tries_and_the_time(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", error="posting_paused_for_review", times=1)
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
    [told] = [r.getMessage() for r in caplog.records if "slack.unknown_error" in r.msg]
    bounds = f"{UNKNOWN_TRIES} times and for {UNKNOWN_PATIENCE / 60:.0f} min at least"
    assert "posting_paused_for_review" in told and bounds in told, told
    assert told.endswith("then the alert fails with it")
