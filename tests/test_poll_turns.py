"""A poll of many new items does not hold the event loop: while several feeds are decided and
their items stored and sent, the bot keeps serving (chat commands answered, a heartbeat on
time), and the poll's results are whole (every item stored, every alert sent once).

Before polls took turns with the loop (bot.turns.Turns), a feed's new entries were
compared with what is stored all at once (their digests) and settled 50 at a time, and items
stored 20 per step, several feeds in the same turn of the loop: the loop stalled over a
second here. bench/loop_stall.py measures the stalls.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.poll_cycle import poll_once
from bot.settings import Settings
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, recent
from tests.serving import poll_while_serving

pytestmark = pytest.mark.usefixtures("own_heap")  # its bounds time the loop

FEEDS = 3
PER_FEED = 400
FRESH = 60  # of each feed's reports, new enough to be alerted (the others are two days old)
VOCABULARY = 5000
# What the loop may wait, with room for a loaded 2-core machine: a turn is one entry or one
# item (a few ms); before turns a poll like this one held the loop over a second at a time.
BOUND = 0.3
# What a command may take meanwhile: its queries run on the command thread, which shares the
# interpreter with the poll's work; Slack wants an acknowledgement within 3 s.
ANSWER = 1.0


def _feed(n: int, rng: random.Random, count: int = PER_FEED) -> bytes:
    """`count` new reports (`FRESH` of them alerted), each its own story, every one
    naming "officials" (the test's topic), with summaries as long as a wire's."""
    vocabulary = [f"w{k}{chr(97 + k % 26)}" for k in range(VOCABULARY)]
    items = []
    for i in range(count):
        title = " ".join(rng.sample(vocabulary, 8))
        summary = " ".join(rng.sample(vocabulary, 300))
        published = recent(5 if i < FRESH else 2 * 24 * 60)
        items.append(
            f"<item><title>Officials {n}-{i} {title}</title>"
            f"<description>Officials said {summary}.</description>"
            f"<guid>f{n}-{i}</guid><pubDate>{published}</pubDate></item>"
        )
    return (
        f"<rss version='2.0'><channel><title>F{n}</title>{''.join(items)}</channel></rss>".encode()
    )


def _settings(db: Path, server: FeedServer) -> Settings:
    return Settings.model_validate(
        {
            "database": str(db),
            "feeds": [{"name": f"F{n}", "url": server.url(f"/f{n}")} for n in range(FEEDS)],
            "topics": {"wire": {"query": "officials"}},
            "subscriptions": [{"topic": "wire", "channel": "console"}],
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


async def test_a_poll_of_many_new_items_leaves_the_bot_serving_and_stores_them_all(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    rng = random.Random(7)
    for n in range(FEEDS):
        feed_server.serve(f"/f{n}", _feed(n, rng))
    async with console_runtime(_settings(tmp_path / "w.db", feed_server)) as (rt, console):
        served = await poll_while_serving(rt)
        results, lags, answered = served.results, served.lags, served.answered
        items = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
        deliveries = rt.db.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM deliveries "
            "WHERE kind IN ('new', 'update')"
        ).fetchone()

    # The poll's results are whole: every item stored once, every alert sent once.
    assert [r.new_items for r in results] == [PER_FEED] * FEEDS
    assert items == FEEDS * PER_FEED
    assert tuple(deliveries) == (FEEDS * FRESH, FEEDS * FRESH)
    sent = [a["delivery_id"] for a in console.alerts() if a["kind"] in ("new", "update")]
    assert len(sent) == len(set(sent)) == FEEDS * FRESH
    # ... and all along, the bot served: commands answered during the poll, promptly, and
    # the loop never kept a heartbeat waiting long.
    assert len(answered) >= 5, answered
    assert max(answered) < ANSWER, (max(answered), sorted(answered)[-5:])
    busy = served.busy
    assert max(busy) < BOUND, (max(busy), sorted(busy)[-5:])  # the loop's own CPU
    assert max(lags) < ANSWER, (max(lags), sorted(lags)[-5:])  # and its lag, loosely


async def test_a_poll_cancelled_while_taking_its_turns_leaves_the_next_poll_its_turns(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A stop (or a timeout) cancels a poll in the middle of its work on the loop: the turn
    it held, or waited for, is not kept, and the next poll stores everything."""
    rng = random.Random(8)
    for n in range(FEEDS):
        feed_server.serve(f"/f{n}", _feed(n, rng, 100))
    async with console_runtime(_settings(tmp_path / "w.db", feed_server)) as (rt, _):
        first = asyncio.create_task(poll_once(rt))
        while not rt.pipeline.turns.held:  # noqa: ASYNC110 - nothing to wait on: a feed decided
            await asyncio.sleep(0.001)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        results, _ = await asyncio.wait_for(poll_once(rt), timeout=30)
        items = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert first.cancelled()
    assert all(r.ok for r in results)
    assert items == FEEDS * 100
