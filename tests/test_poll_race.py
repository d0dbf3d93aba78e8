"""One feed is polled once at a time: a moderator's `feeds add` polls the new feed right away
while the scheduler's cycle finds it due too. Real SQLite, the real commands layer, feeds on
127.0.0.1 answered slowly, as a busy server answers both polls at once.

Polled twice at once, both polls found the feed's items new; the second to store failed on
them (`ERROR poll.failed ... UNIQUE constraint failed: items.feed_id, items.identity`) and
held every other feed of its wave for a cycle. And the add's first poll is its own: a cycle
that took the new feed first made the add wait for that cycle's whole wave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.clock import utcnow
from bot.commands import Commands, Invocation, Reply
from bot.commands.feed_admin import OWN_FIRST_POLL
from bot.feed_store import add_feed, due_feeds, feed_at
from bot.pipeline import WAVE_GRACE, PollResult, poll_feed, poll_many
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, make_settings, recent

MOD = "UMOD"


def rss(name: str, titles: list[str]) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>https://{name}.example/{i}</link><guid>{name}-{i}</guid>"
        f"<description>{t}. Officials said more soldiers were sent.</description>"
        f"<pubDate>{recent(5 + i)}</pubDate></item>"
        for i, t in enumerate(titles)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name} Wire</title>'
        f"<link>https://{name}.example/</link>{items}</channel></rss>"
    )


# The feed added in chat: enough reports that deciding them takes a while.
ADDED = rss(
    "Yonhap",
    [f"North Korea sends troops to Russia's Kursk region, report {n}" for n in range(12)]
    + [f"Central bank holds its key rate, note {n}" for n in range(8)],
)


# A feed added in chat beside a slow cycle: a few reports, polled in a fraction of a second.
SMALL = rss(
    "Yonhap",
    ["North Korea sends troops to Russia's Kursk region", "Central bank holds its key rate"],
)


class Together:
    """Answers the feed's polls together: after the first `skip` requests (`feeds add`'s
    trial fetch), each waits until a second poll asks too, or `wait` seconds pass."""

    def __init__(self, body: str, skip: int = 1, wait: float = 1.0) -> None:
        self.body, self.skip, self.wait = body, skip, wait
        self.seen, self.asking = 0, 0
        self.asked, self.both = asyncio.Event(), asyncio.Event()

    async def __call__(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.seen > self.skip:
            self.asking += 1
            self.asked.set()
            if self.asking >= 2:
                self.both.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.both.wait(), self.wait)
        return web.Response(text=self.body, content_type="application/rss+xml")


class Held:
    """A slow server: answers once `release` is set, or after `wait` seconds."""

    def __init__(self, body: str, release: asyncio.Event, wait: float = 10.0) -> None:
        self.body, self.release, self.wait = body, release, wait

    async def __call__(self, request: web.Request) -> web.Response:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), self.wait)
        return web.Response(text=self.body, content_type="application/rss+xml")


def settings(tmp_path: Path, server: FeedServer, others: list[tuple[str, str]] | None = None):
    others = others or [("Kyodo", server.url("/kyodo")), ("Tass", server.url("/tass"))]
    return make_settings(
        tmp_path / "w.db",
        others,
        network={"allow_private_addresses": True},
        articles={"fetch": False},
        slack={"moderators": [MOD]},
    )


def serve_others(server: FeedServer) -> None:
    server.serve("/kyodo", rss("Kyodo", ["Japan sends troops to a drill in Hokkaido"]))
    server.serve("/tass", rss("Tass", ["Russia deploys troops to the Kursk border", "Weather"]))


def stored(rt, name: str) -> int:
    sql = "SELECT count(*) FROM items JOIN feeds ON feeds.id = items.feed_id WHERE feeds.name = ?"
    return rt.db.execute(sql, [name]).fetchone()[0]


async def test_feeds_add_during_a_poll_cycle_polls_the_feed_once(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """`feeds add` polls the new feed; the scheduler's cycle, starting meanwhile, finds it
    due (that poll outlasting `OWN_FIRST_POLL`: a slow server) and leaves it to that poll:
    no poll fails, each report is stored once, the cycle's other feeds are stored in that
    cycle, and the reply says what the first poll stored."""
    caplog.set_level(logging.INFO)
    serve_others(feed_server)
    gate = Together(ADDED)
    feed_server.handle("/yonhap", gate)
    url = feed_server.url("/yonhap")
    async with console_runtime(settings(tmp_path, feed_server)) as (rt, _):
        cmds = Commands(rt)
        text = f"feeds add {url} Yonhap News Agency"
        adding = asyncio.ensure_future(cmds.handle(Invocation("slack", "slack:C0NEWS", MOD, text)))
        await asyncio.wait_for(gate.asked.wait(), 10)  # the first poll is fetching the feed
        # What the scheduler's tick polls (`_poll_due`) once the new feed is due.
        tick = utcnow() + timedelta(seconds=OWN_FIRST_POLL + 1)
        due = rt.pipeline.ready(due_feeds(rt.db, tick))
        assert sorted(f.name for f in due) == ["Kyodo", "Tass", "Yonhap News Agency"]
        cycle = await poll_many(rt.pipeline, due)
        reply = await adding
        failed = [r.getMessage() for r in caplog.records if "poll.failed" in r.getMessage()]
        assert failed == []
        assert len(feed_server.requests_to("/yonhap")) == 2  # the trial fetch and one poll
        assert isinstance(reply, Reply) and reply.ok, reply
        assert reply.text.endswith("first poll: 20 items stored, 12 alerts queued"), reply.text
        assert stored(rt, "Yonhap News Agency") == 20
        # The other feeds of the cycle were stored in it, not held for the next.
        outcome = {r.feed: (r.ok, r.new_items, r.in_flight) for r in cycle}
        assert outcome == {
            "Kyodo": (True, 1, False),
            "Tass": (True, 2, False),
            "Yonhap News Agency": (True, 0, True),
        }
        assert (stored(rt, "Kyodo"), stored(rt, "Tass")) == (1, 2)
        assert rt.pipeline.polling == {}  # every feed may be polled again
        # The log says why the cycle did not fetch it.
        left = [r.getMessage() for r in caplog.records if "poll.left" in r.getMessage()]
        assert left == ["poll.left feed=Yonhap News Agency: another poll of it is in flight"]


async def test_feeds_add_answers_in_its_own_feeds_time_while_the_cycle_is_slow(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The scheduler's tick lands in the moments between `feeds add` storing the new feed and
    polling it, while the cycle's other feeds answer slowly. The cycle does not take the new
    feed: the add polls it itself and answers in about that one feed's time. (It took it,
    and the add waited for its whole wave: 12 s with 40 slow feeds, `WAVE_GRACE` at least.)"""
    release = asyncio.Event()
    feed_server.serve("/yonhap", SMALL)
    serve_others(feed_server)
    url, other = feed_server.url("/yonhap"), feed_server.url("/tass")
    # The slow feeds on a host of their own: one host is fetched a few feeds at a time.
    async with FeedServer(host="127.0.0.2") as elsewhere:
        slow = [(f"Slow {n}", elsewhere.url(f"/slow{n}")) for n in range(8)]
        for n in range(8):
            elsewhere.handle(f"/slow{n}", Held(rss(f"Slow{n}", ["Army drills at home"]), release))
        async with console_runtime(settings(tmp_path, feed_server, slow)) as (rt, _):
            cmds = Commands(rt)
            # Another feed added first, no cycle yet: the models loaded (a second, once).
            warm = await cmds.handle(Invocation("slack", "slack:C0NEWS", MOD, f"feeds add {other}"))
            assert isinstance(warm, Reply) and warm.ok, warm

            async def tick() -> tuple[float, list[PollResult]]:
                """The scheduler's tick (`_poll_due`), looking at every turn of the loop: the
                first after the add stored the feed, before the add's own poll claims it."""
                while feed_at(rt.db, url) is None:  # noqa: ASYNC110 - the look is the point
                    await asyncio.sleep(0)
                seen = time.monotonic()
                return seen, await poll_many(rt.pipeline, rt.pipeline.ready(due_feeds(rt.db)))

            cycle = asyncio.ensure_future(tick())
            text = f"feeds add {url} Yonhap News Agency"
            reply = await cmds.handle(Invocation("slack", "slack:C0NEWS", MOD, text))
            answered = time.monotonic()
            assert not cycle.done()  # the slow feeds are still held
            release.set()
            stored_at, results = await cycle
            assert isinstance(reply, Reply) and reply.ok, reply
            assert reply.text.endswith("first poll: 2 items stored, 1 alert queued"), reply.text
            took = answered - stored_at  # 0.14-0.29 s; 2.2-2.3 s waiting for the wave
            assert took < WAVE_GRACE / 2, f"the add answered {took:.2f} s after storing the feed"
            assert sorted(r.feed for r in results) == [name for name, _ in slow]
            assert all(r.ok and r.new_items == 1 for r in results), results
            assert len(feed_server.requests_to("/yonhap")) == 2  # the trial fetch and its poll
            assert stored(rt, "Yonhap News Agency") == 2
            assert rt.pipeline.polling == {}


async def test_a_poll_of_a_feed_the_cycle_is_polling_waits_for_it(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The other order: the cycle is fetching the feed when `feeds add`'s first poll
    (`poll_feed`) asks for it. It is fetched once, and the first poll tells what the cycle
    stored of it."""
    caplog.set_level(logging.INFO)
    serve_others(feed_server)
    gate = Together(ADDED, skip=0)
    feed_server.handle("/yonhap", gate)
    async with console_runtime(settings(tmp_path, feed_server)) as (rt, _):
        feed = add_feed(rt.db, feed_server.url("/yonhap"), "Yonhap", origin="chat")
        cycle = asyncio.ensure_future(poll_many(rt.pipeline, rt.pipeline.ready(due_feeds(rt.db))))
        await asyncio.wait_for(gate.asked.wait(), 10)  # the cycle is fetching the feed
        first = await poll_feed(rt.pipeline, feed)
        results = await cycle
        failed = [r.getMessage() for r in caplog.records if "poll.failed" in r.getMessage()]
        assert failed == []
        assert len(feed_server.requests_to("/yonhap")) == 1
        assert (first.ok, first.new_items, first.deliveries) == (True, 20, 12)
        assert {r.feed: r.new_items for r in results} == {"Kyodo": 1, "Tass": 2, "Yonhap": 20}
        assert (stored(rt, "Yonhap"), stored(rt, "Kyodo"), stored(rt, "Tass")) == (20, 1, 2)
        assert feed_at(rt.db, feed_server.url("/yonhap")).last_polled  # its poll recorded


async def test_a_poll_cut_short_lets_its_feeds_be_polled_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The bot stopping cuts the cycle short while `feeds add`'s first poll waits for it:
    the first poll says so, and the feed is not left marked in flight (never polled again)."""
    serve_others(feed_server)
    gate = Together(ADDED, skip=0, wait=30.0)
    feed_server.handle("/yonhap", gate)
    async with console_runtime(settings(tmp_path, feed_server)) as (rt, _):
        feed = add_feed(rt.db, feed_server.url("/yonhap"), "Yonhap", origin="chat")
        cycle = asyncio.ensure_future(poll_many(rt.pipeline, [feed]))
        await asyncio.wait_for(gate.asked.wait(), 10)
        first = asyncio.ensure_future(poll_feed(rt.pipeline, feed))
        await asyncio.sleep(0.05)
        cycle.cancel()
        result = await asyncio.wait_for(first, 10)
        assert (result.ok, result.error) == (False, "its poll in flight was cut short")
        assert rt.pipeline.polling == {}
        gate.both.set()  # the server answers at once now
        again = await poll_feed(rt.pipeline, feed)
        assert (again.ok, again.new_items) == (True, 20)
        assert stored(rt, "Yonhap") == 20
