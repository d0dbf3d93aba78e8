"""Slack's limits on reading history for apps not approved for the Marketplace (May 2025):
conversations.history and .replies at one request a minute and 15 messages a page.

A send in doubt (a lost answer, a crash) is looked for in the channel before it is sent
again. Under those limits the lookup used to give up after ten pages (150 messages, where
Slack's own pages once held 2,000) and post again; and a lookup stopped by a 429 started over
from the newest page at its next try, so one that needed more than a page a minute never
ended: the channel's alerts waited behind it for good. Now the cap counts messages, a lookup
stopped halfway goes on from where it stopped, and Slack is not asked again before its
Retry-After. Through the real slack_sdk client and the outbox over SQLite, against
tests/slackstub.py, which caps pages and answers 429 as Slack does.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.clock import iso, utcnow
from bot.digest import send_digests
from bot.model import Alert
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from tests.slackstub import TOKEN, SlackStub
from tests.test_busy_channel import (
    NEWS,
    _config,
    _delivery,
    _due_now,
    _slack_alerts,
    _slack_runtime,
)
from tests.test_slack import make_alert

pytestmark = pytest.mark.slow  # each test starts the stand-in and a runtime
AFTER_OURS = 40  # messages posted after ours: three pages of 15
ROUNDS = 8  # outbox rounds a lookup of three pages may take, at most


def _next_attempt(rt: Runtime) -> str:
    return rt.db.execute("SELECT next_attempt FROM deliveries").fetchone()[0]


def _history_calls(stub: SlackStub) -> tuple[int, int]:
    """conversations.history calls Slack served, and those it refused with a 429."""
    calls = stub.calls_to("conversations.history")
    return sum(c.status == 200 for c in calls), sum(c.status == 429 for c in calls)


async def test_fifteen_message_pages_find_ours_past_more_than_ten_pages(
    tmp_path, feed_server, caplog
):
    """A lost answer, then 250 messages: at 15 a page, ten pages no longer reach ours."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.history_cap = 15
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            stub.lose_response("chat.postMessage", "503")
            _, stats = await poll_once(rt)
            assert (stats.sent, stats.retried) == (0, 1)
            [posted] = _slack_alerts(stub)
            stub.chatter(NEWS, 250)
            _due_now(rt)
            with caplog.at_level(logging.INFO, logger="adapters.slack_app"):
                _, stats = await poll_once(rt)
            assert stats.sent == 1
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["ts"],
            }
    assert _slack_alerts(stub) == [posted], "posted a second time"
    assert caplog.text.count("slack.history_capped") == 1  # said once, not once a page
    assert "asked=200 got=15" in caplog.text


async def test_one_read_a_minute_the_lookup_goes_on_where_it_stopped(tmp_path, feed_server, caplog):
    """Slack's minute is a second here. Each try of the outbox reads what Slack allows and
    the next goes on from there, until ours is found; meanwhile it stays in doubt."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            stub.lose_response("chat.postMessage", "503")
            await poll_once(rt)
            [posted] = _slack_alerts(stub)
            stub.chatter(NEWS, AFTER_OURS)
            stub.non_marketplace(per=1.0)
            with caplog.at_level(logging.INFO, logger="adapters.slack_app"):
                for _ in range(ROUNDS):
                    _due_now(rt)
                    _, stats = await poll_once(rt)
                    assert _slack_alerts(stub) == [posted], "posted a second time"
                    if stats.sent:
                        break
                    state = _delivery(rt)
                    assert (state["status"], state["maybe_posted"]) == ("pending", 1)
                    await asyncio.sleep(1.1)  # Slack's window (a second here) passes
            assert _delivery(rt) == {
                "status": "sent",
                "maybe_posted": 0,
                "message_id": posted["ts"],
            }
    served, refused = _history_calls(stub)
    assert served == 3  # each page read once: 41 messages, 15 a page
    assert refused <= 1  # Slack's limit, learnt once, is then kept to
    assert "slack.history_rate_limited" in caplog.text


async def test_a_429_on_history_leaves_the_send_in_doubt_without_waiting_for_it(
    tmp_path, feed_server
):
    """A minute's Retry-After is the outbox's to wait, on disk: the lookup returns at once
    (the outbox sends nothing else meanwhile), the alert stays in doubt, nothing is posted."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            stub.lose_response("chat.postMessage", "503")
            await poll_once(rt)
            stub.fail("conversations.history", status=429, retry_after=60)
            _due_now(rt)
            _, stats = await asyncio.wait_for(poll_once(rt), timeout=20)  # not 60 s
            assert (stats.sent, stats.retried) == (0, 1)
            assert (_delivery(rt)["status"], _delivery(rt)["maybe_posted"]) == ("pending", 1)
            assert _next_attempt(rt) >= iso(utcnow() + timedelta(seconds=55))
    assert len(_slack_alerts(stub)) == 1


async def test_a_long_rate_limited_lookup_is_retried_at_retry_after_not_a_grown_backoff(
    tmp_path, feed_server
):
    """A lookup that needs many pages at Slack's page a minute: each try reads a page and the
    next goes on from there, so the outbox tries again at Slack's Retry-After. Its usual
    backoff, grown by each try (up to 15 minutes), made 250 messages take hours."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            stub.lose_response("chat.postMessage", "503")
            await poll_once(rt)
            rt.db.execute("UPDATE deliveries SET attempts = 8")  # tries of many pages before
            stub.fail("conversations.history", status=429, retry_after=60)
            _due_now(rt)
            _, stats = await asyncio.wait_for(poll_once(rt), timeout=20)
            assert (stats.sent, stats.retried) == (0, 1)
            assert _delivery(rt)["maybe_posted"] == 1
            assert iso(utcnow() + timedelta(seconds=55)) <= _next_attempt(rt)
            assert _next_attempt(rt) <= iso(utcnow() + timedelta(seconds=70))
    assert len(_slack_alerts(stub)) == 1


async def test_a_rate_limited_lookup_asks_slack_nothing_before_retry_after(tmp_path, feed_server):
    """After a crash the delivery is left claimed, and the next drain asks: before the
    Retry-After Slack would only refuse, so it is not asked; the channel waits, in doubt."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        async with _slack_runtime(stub, config) as rt:
            await poll_once(rt)
            rt.db.execute("UPDATE deliveries SET status = 'claimed', message_id = NULL")
            stub.chatter(NEWS, AFTER_OURS)
            stub.non_marketplace()  # a real minute
            await asyncio.wait_for(poll_once(rt), timeout=20)
            assert _history_calls(stub) == (1, 1)  # one page, then Slack's 429
            for _ in range(3):  # later drains, within the minute
                await asyncio.wait_for(poll_once(rt), timeout=20)
            assert _history_calls(stub) == (1, 1)
            state = _delivery(rt)  # waits in doubt, asked again at Slack's Retry-After
            assert (state["status"], state["maybe_posted"]) == ("pending", 1)
    assert len(_slack_alerts(stub)) == 1


async def test_a_digest_in_doubt_is_found_a_page_at_a_time(tmp_path, feed_server):
    """A digest left claimed by a crash, more messages after it than a page: each try reads
    a page further, and the digest is found, never posted twice."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        config = _config(tmp_path, feed_server, f"slack:{NEWS}")
        channel = f"channel: 'slack:{NEWS}'}}"
        text = config.read_text(encoding="utf-8").replace(channel, channel[:-1] + ", mode: digest}")
        config.write_text(text, encoding="utf-8")
        async with _slack_runtime(stub, config) as rt:
            await poll_once(rt)
            assert await send_digests(rt.db, rt.adapters) == 1
            [digest] = stub.top_level(NEWS)
            rt.db.execute("UPDATE deliveries SET status = 'claimed'")  # a crash before the mark
            stub.chatter(NEWS, AFTER_OURS)
            stub.non_marketplace(per=1.0)
            for _ in range(ROUNDS):
                assert await send_digests(rt.db, rt.adapters) == 0
                done = rt.db.execute("SELECT DISTINCT status FROM deliveries").fetchall()
                if done == [("sent",)]:
                    break
                await asyncio.sleep(1.1)
            assert done == [("sent",)]
        ours = [m for m in stub.top_level(NEWS) if m["user"] != "U0PERSON"]
    assert [m["ts"] for m in ours] == [digest["ts"]], "the digest was posted a second time"


async def test_an_update_is_found_in_a_thread_busier_than_ten_pages_of_fifteen():
    """conversations.replies pages oldest first: a thread busy just before our update was
    sent hid it behind ten pages of 15, and it would have been posted again."""
    async with SlackStub() as stub:
        stub.add_channel(NEWS)
        stub.history_cap = 15
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, timeout=5, retry_handlers=[])
        adapter = SlackAdapter(client, signing_secret="s", pace=0)
        await adapter.start(None)
        try:
            parent = await adapter.post_alert(NEWS, _alert(1))
            stub.chatter(NEWS, 200, thread_ts=parent.message_id)
            since = utcnow()
            update = await adapter.post_update(parent, _alert(42, kind="update"))
            assert await adapter.find_posted(NEWS, 42, parent, since=since) == update
        finally:
            await adapter.stop()


def _alert(delivery_id: int, kind: str = "new") -> Alert:
    return make_alert(delivery_id, kind=kind)
