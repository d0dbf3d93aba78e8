"""A poll of many candidates, with many topics whose model takes the encoder's opinion, does
not hold the event loop: while the feeds' new entries are judged (which opinions each wants),
the bot keeps serving (a heartbeat on time, chat commands answered), and the poll's results
are whole (every item stored, every alert sent once).

Before the opinion step took turns with the loop (bot.turns.Turns), a feed's new entries
were judged 50 at a time in one go: with 150 topics that held the loop 0.5-0.7 s per feed.
bench/stall.py measures the stalls.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.topics.load import load_topics
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, recent
from tests.serving import poll_while_serving

pytestmark = pytest.mark.usefixtures("own_heap")  # its bounds time the loop

FEEDS = 2
PER_FEED = 50  # one chunk of the pipeline's: judged together before turns
TOPICS = 150  # each the built-in deployments query, with its model (which takes opinions)
# What the loop may wait, with room for a loaded 2-core machine: a turn is one entry judged
# against every topic (about 15 ms here); before turns, one feed's 50 held it over 0.5 s.
BOUND = 0.3
# What a command may take meanwhile (Slack wants an acknowledgement within 3 s).
ANSWER = 1.0
FORCES = ("troops", "soldiers", "marines", "warships", "paratroopers", "reservists")
PLACES = ("the border", "the strait", "the island", "the capital", "the frontier", "the coast")


def _feed(n: int, rng: random.Random) -> bytes:
    """`PER_FEED` deployment reports, every one a candidate of every topic."""
    items = []
    for i in range(PER_FEED):
        force, place = rng.choice(FORCES), rng.choice(PLACES)
        title = f"Country {n}-{i} deploys {rng.randint(100, 9000)} {force} to {place}"
        summary = f"The defence ministry said on Tuesday that {force} were sent to {place}."
        items.append(
            f"<item><title>{title}</title><description>{summary}</description>"
            f"<guid>f{n}-{i}</guid><pubDate>{recent(5)}</pubDate></item>"
        )
    return (
        f"<rss version='2.0'><channel><title>F{n}</title>{''.join(items)}</channel></rss>".encode()
    )


def _settings(db: Path, server: FeedServer) -> Settings:
    (deployments,) = [t for t in load_topics() if t.name == "troop-deployments"]
    topics = {
        f"desk-{k}": {"query": deployments.query, "relevance": "deployments"} for k in range(TOPICS)
    }
    return Settings.model_validate(
        {
            "database": str(db),
            "feeds": [{"name": f"F{n}", "url": server.url(f"/f{n}")} for n in range(FEEDS)],
            "topics": topics,
            "subscriptions": [{"topic": "desk-0", "channel": "console"}],
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


async def test_judging_many_candidates_against_many_topics_leaves_the_bot_serving(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    rng = random.Random(11)
    for n in range(FEEDS):
        feed_server.serve(f"/f{n}", _feed(n, rng))
    async with console_runtime(_settings(tmp_path / "w.db", feed_server)) as (rt, console):
        served = await poll_while_serving(rt)
        results, lags, answered = served.results, served.lags, served.answered
        items = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
        queued = rt.db.execute(
            "SELECT count(*) FROM deliveries WHERE kind IN ('new', 'update')"
        ).fetchone()[0]

    # The poll's results are whole: every item stored, every alert queued sent once.
    assert [r.new_items for r in results] == [PER_FEED] * FEEDS
    assert items == FEEDS * PER_FEED
    sent = [a["delivery_id"] for a in console.alerts() if a["kind"] in ("new", "update")]
    assert queued > 0
    assert len(sent) == len(set(sent)) == queued
    # ... and all along, the bot served: the loop never kept a heartbeat waiting long, and
    # commands were answered promptly during the poll.
    busy = served.busy
    assert max(busy) < BOUND, (max(busy), sorted(busy)[-5:])  # the loop's own CPU
    assert max(lags) < ANSWER, (max(lags), sorted(lags)[-5:])  # and its lag, loosely
    assert answered, "no command was answered while the poll ran"
    assert max(answered) < ANSWER, (max(answered), sorted(answered)[-5:])
