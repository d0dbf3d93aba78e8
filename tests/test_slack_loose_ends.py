"""Slack answers the adapter's lists did not foresee, against tests/slackstub.py through
slack_sdk and the real outbox: an error code Slack added since, and a direct message the
app may post in but not read (installed before the manifest asked im:history).

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.clock import iso, utcnow
from bot.outbox import deliver_pending, reconcile
from bot.poll_cycle import poll_once
from bot.send_errors import FAULT_ATTEMPTS, UNKNOWN_TRIES
from bot.store import subscriptions
from tests.feedserver import FeedServer
from tests.test_slack import NEWS, ROOT, slack_env
from tests.test_slack_outages import TWO_STORIES

DM = "D0READER"  # a direct message with the app, subscribed to alerts


def _due_now(db) -> None:
    """The retry's wait is over (as the clock moving on would make it)."""
    db.execute("UPDATE deliveries SET next_attempt = ? WHERE status = 'pending'", [iso(utcnow())])


def _rows(db) -> list[tuple[str, str | None, str]]:
    return db.execute("SELECT status, error, next_attempt FROM deliveries ORDER BY id").fetchall()


def _time_passes(db, minutes: float) -> None:
    """The clock moves on `minutes`: every time stored of a delivery is that much older, and
    its retry is due (as the wait and a restart's downtime would make them)."""
    shift = timedelta(minutes=minutes)
    columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    for column in sorted({"created", "claimed_at", "unknown_since"} & columns):
        for did, value in db.execute(f"SELECT id, {column} FROM deliveries").fetchall():
            if value:
                older = iso(datetime.fromisoformat(value) - shift)
                db.execute(f"UPDATE deliveries SET {column} = ? WHERE id = ?", [older, did])
    _due_now(db)


async def test_an_error_slack_added_since_is_retried_with_backoff_then_fails_the_alert_alone(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # An ok:false code in none of the adapter's lists was taken as an outage: the alert was
    # retried every 15 minutes for as long as the bot ran, every later alert of the channel
    # behind it, and nobody was told why.
    caplog.set_level(logging.INFO)
    async with slack_env(tmp_path) as env:
        refusals = UNKNOWN_TRIES
        env.stub.fail("chat.postMessage", error="posting_paused_for_review", times=refusals)
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        waits = []
        for _ in range(UNKNOWN_TRIES - 1):
            await poll_once(env.rt)
            [(status, error, next_attempt), (second, _, _)] = _rows(env.rt.db)
            assert (status, second) == ("pending", "pending"), "given up too soon"
            assert "posting_paused_for_review" in error
            waits.append((datetime.fromisoformat(next_attempt) - utcnow()).total_seconds())
            _time_passes(env.rt.db, 10)  # 5 tries over 40 minutes: past both bounds
        await poll_once(env.rt)
        assert waits[0] >= 3 and waits == sorted(waits), f"no backoff: {waits}"
        [(status, error, _), (second, _, _)] = _rows(env.rt.db)
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
    assert status == "failed" and "posting_paused_for_review" in error
    assert second == "sent" and sub.paused_reason is None  # the channel went on
    assert len(env.stub.calls_to("chat.postMessage")) == refusals + 1
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slack.unknown")]
    assert len([t for t in told if t.startswith("slack.unknown_error ")]) == 1
    gave_up = [r.getMessage() for r in caplog.records if "unknown_gave_up" in r.getMessage()]
    assert len(gave_up) == 1 and "posting_paused_for_review" in gave_up[0]


@pytest.mark.parametrize(
    "error",
    ["internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"],
)
async def test_the_errors_slack_documents_as_passing_are_retried_for_as_long_as_they_last(
    tmp_path: Path, feed_server: FeedServer, error: str
) -> None:
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", error=error, times=UNKNOWN_TRIES + FAULT_ATTEMPTS)
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        for _ in range(UNKNOWN_TRIES + FAULT_ATTEMPTS):  # more than an unknown error gets
            await poll_once(env.rt)
            _time_passes(env.rt.db, 10)
        assert [row[0] for row in _rows(env.rt.db)] == ["pending", "pending"]
        _due_now(env.rt.db)
        await poll_once(env.rt)  # Slack is back
        assert [row[0] for row in _rows(env.rt.db)] == ["sent", "sent"]


async def test_an_unknown_error_is_bounded_across_restarts(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The tries and the 30 minutes were counted in memory: a bot restarted more often than
    # that (a crash loop, deploys) met the unknown code at every start as if for the first
    # time, and retried the alert forever, every later alert of the channel behind it.
    caplog.set_level(logging.INFO)
    feed_server.serve("/feed", TWO_STORIES)
    runs = UNKNOWN_TRIES + FAULT_ATTEMPTS + 2  # a start each 10 minutes: over an hour in all
    for run in range(runs):
        async with slack_env(tmp_path) as env:  # a new process on the same database
            env.stub.fail("chat.postMessage", error="posting_paused_for_review")
            if run == 0:
                await env.command("subscribe troop-deployments")
                await env.command(f"feeds add {feed_server.url('/feed')}")
            await poll_once(env.rt)
            posts = len(env.stub.calls_to("chat.postMessage"))
            rows = _rows(env.rt.db)
            statuses = [row[0] for row in rows]
            _time_passes(env.rt.db, 10)
        if statuses[0] == "failed":
            break
    assert statuses[0] == "failed", f"still retried after {runs} starts over {runs * 10} min"
    assert run + 1 == UNKNOWN_TRIES  # 5 tries over 40 minutes, then given up
    assert posts == 2 and statuses == ["failed", "sent"]  # the channel went on
    error = rows[0][1]
    assert "posting_paused_for_review" in error and "5 times over 40 min" in error


async def test_a_pause_starts_an_unknown_errors_bounds_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # The bounds were counted from the alert's first unknown error for as long as it lived:
    # met 5 times in a minute, then the channel paused (the app removed from it) and resumed
    # two days later, the alert failed at its first try after the resume, with no backoff
    # and no 30 minutes: the pause was counted as patience.
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", error="posting_paused_for_review", times=UNKNOWN_TRIES)
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        for _ in range(UNKNOWN_TRIES):  # within the patience: retried
            await poll_once(env.rt)
            _due_now(env.rt.db)
        assert [row[0] for row in _rows(env.rt.db)] == ["pending", "pending"]
        env.stub.fail("chat.postMessage", error="not_in_channel")
        await poll_once(env.rt)  # the channel is paused, its alerts held
        assert [row[0] for row in _rows(env.rt.db)] == ["held", "held"]
        _time_passes(env.rt.db, 2 * 24 * 60)
        await env.command("subscribe troop-deployments")  # invited again: resumed
        env.stub.fail("chat.postMessage", error="posting_paused_for_review")
        await poll_once(env.rt)
        [(status, error, _), (second, _, _)] = _rows(env.rt.db)
        assert (status, second) == ("pending", "pending"), f"given up at once: {error}"
        _due_now(env.rt.db)
        await poll_once(env.rt)  # Slack takes it now
        assert [row[0] for row in _rows(env.rt.db)] == ["sent", "sent"]


async def test_a_send_in_doubt_in_a_dm_the_app_cannot_read_is_sent_again_and_says_so_once(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The manifest asked im:read (subscribe's check) but not im:history: after a crash, the
    # lookup in a DM met missing_scope, taken as the DM's fault: the DM was paused and its
    # alerts held, though the app could post there all along.
    caplog.set_level(logging.INFO)
    async with slack_env(tmp_path) as env:
        env.stub.add_channel(DM, "dm")
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments", channel=DM)
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        assert len(env.stub.posts(DM)) == 2
        env.rt.db.execute("UPDATE deliveries SET status = 'claimed' WHERE id = 2")  # a crash
        env.stub.fail("conversations.history", error="missing_scope", needed="im:history")
        await reconcile(env.rt.db, env.rt.adapters)
        await deliver_pending(env.rt.db, env.rt.adapters)
        [sub] = subscriptions(env.rt.db, f"slack:{DM}")
        statuses = [row[0] for row in _rows(env.rt.db)]
        assert sub.paused_reason is None and statuses == ["sent", "sent"]
        assert len(env.stub.posts(DM)) == 3  # sent again: it could not be looked for
        # Another send in doubt there later: looked for, refused again, not said again.
        env.stub.fail("conversations.history", error="missing_scope", needed="im:history")
        assert await env.adapter.find_posted(DM, 7, since=utcnow()) is None
    warned = [r for r in caplog.records if r.getMessage().startswith("slack.dm_unreadable")]
    [warning] = [r for r in warned if r.levelno >= logging.WARNING]
    assert DM in warning.getMessage() and "im:history" in warning.getMessage()
    assert "may show twice" in warning.getMessage() and "slack-manifest.yml" in warning.getMessage()
    assert len(env.stub.calls_to("conversations.history")) == 2  # once each, no retry loop


async def test_a_channel_the_app_may_not_read_is_still_paused_rather_than_posted_on_a_guess(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    async with slack_env(tmp_path) as env:
        feed_server.serve("/feed", TWO_STORIES)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        env.rt.db.execute("UPDATE deliveries SET status = 'claimed' WHERE id = 2")
        refusal = {"error": "missing_scope", "needed": "channels:history"}
        env.stub.fail("conversations.history", **refusal, times=2)
        await reconcile(env.rt.db, env.rt.adapters)  # cannot tell: waits, in doubt
        _due_now(env.rt.db)
        await deliver_pending(env.rt.db, env.rt.adapters)
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
    assert sub.paused_reason and "channels:history" in sub.paused_reason
    assert len(env.stub.posts(NEWS)) == 2


def test_the_manifest_asks_the_history_scopes_of_direct_messages() -> None:
    manifest = yaml.safe_load((ROOT / "config/slack-manifest.yml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"im:history", "mpim:history"} <= scopes  # conversations.history in a (group) DM
