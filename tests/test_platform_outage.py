"""A two-hour chat outage while feeds keep polling, then recovery: every alert once, in order.

Core-level: the real pipeline polls a real feed server every five simulated minutes and the
real outbox delivers through a recording platform double that is down for two hours (5xx,
429 with Retry-After, timeouts, connection resets, in turn). Time passes by moving each
waiting delivery's `next_attempt` back, exactly as the clock moving forward would. What
must hold: the backlog waits in the database (a restart in the middle loses nothing), the
platform is asked at most once per channel per tick while down, and after recovery every
alert arrives exactly once, oldest first in each channel, updates threaded under their
story's first message. Platform-specific faults are tested with the Slack/Discord stand-ins.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from bot.clock import iso, parse_iso, utcnow
from bot.errors import DeliveryError
from bot.loop import run_forever
from bot.model import Alert, MessageRef
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.startup import open_runtime
from tests.runtime import make_settings

STEP = timedelta(minutes=5)
OUTAGE_STEPS = 24  # two hours
CHANNELS = ("chat:newsroom", "chat:desk")
REPORTS = [
    "Poland deploys 2,000 troops to the Belarus border",
    "Japan dispatches destroyers to the Gulf of Aden",
    "North Korea has sent more troops to Russia, South Korea says",
    "Britain deploys 500 troops to Estonia",
    "France sends troops to Romania for NATO drills",
    "Germany deploys a brigade to Lithuania",
    "N. Korea sends additional troops to Russia: Seoul spy agency",
    "Turkey sends troops to northern Syria",
    "India deploys warships to the Arabian Sea",
    "Canada sends troops to Latvia",
    "Poland sends more troops to the Belarus border, defence ministry says",
    "Australia dispatches a frigate to the Red Sea",
]
FAULTS = [
    DeliveryError("HTTP 503 Service Unavailable"),
    DeliveryError("rate limited", retry_after=60),
    TimeoutError("timed out"),
    ConnectionResetError("connection reset by peer"),
]


class Platform:
    """The far side of an adapter: records what arrives, fails in turn while `down`."""

    platform = "chat"

    def __init__(self) -> None:
        self.down = False
        self.attempts = 0
        self.posted: list[tuple[str, int, str, str | None]] = []  # channel, delivery, kind, thread

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        return self._post(channel, alert, None)

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        return self._post(parent.channel, alert, parent.message_id)

    def _post(self, channel: str, alert: Alert, thread: str | None) -> MessageRef:
        self.attempts += 1
        if self.down:
            raise FAULTS[self.attempts % len(FAULTS)]
        self.posted.append((channel, alert.delivery_id, alert.kind, thread))
        return MessageRef("chat", channel, f"m{alert.delivery_id}", thread)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None: ...

    async def find_posted(
        self, channel: str, delivery_id: int, thread: MessageRef | None = None, *, since=None
    ) -> MessageRef | None:
        return None

    async def post_notice(self, channel: str, text: str, *, key=None) -> None: ...
    async def start(self, commands) -> None: ...
    async def stop(self) -> None: ...


def _feed(count: int) -> str:
    """The wire after `count` reports, newest first, as feeds list them."""
    published = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>{title}</title><guid>r{i}</guid><link>https://wire.example/{i}</link>"
        f"<description>{title}.</description><pubDate>{published}</pubDate></item>"
        for i, title in reversed(list(enumerate(REPORTS[:count])))
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{items}</channel></rss>"
    )


def _advance(db, by: timedelta) -> None:
    """The clock moves on by `by`, as far as waiting deliveries can tell."""
    for row in list(db.query("SELECT id, next_attempt FROM deliveries WHERE status = 'pending'")):
        moved = iso(parse_iso(row["next_attempt"]) - by)
        db.execute("UPDATE deliveries SET next_attempt = ? WHERE id = ?", [moved, row["id"]])


def _waiting(db) -> int:
    return db.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()[0]


async def _tick(rt, platform: Platform, server, step: int) -> int:
    """One simulated five minutes: a new report every ten, a poll, delivery attempts."""
    server.serve("/wire", _feed(min(len(REPORTS), step // 2 + 1)))
    before = platform.attempts
    await poll_once(rt)
    _advance(rt.db, STEP)
    return platform.attempts - before


async def test_two_hour_outage_then_every_alert_once_in_order(tmp_path, feed_server):
    settings = make_settings(
        tmp_path / "w.db",
        [("Wire", feed_server.url("/wire"))],
        subscriptions=[],
        articles={"fetch": False},
    )
    platform = Platform()
    platform.down = True
    per_tick = []
    async with open_runtime(settings, {"chat": platform}) as rt:
        for channel in CHANNELS:
            subscribe(rt.db, channel, "troop-deployments", "instant")
        for step in range(OUTAGE_STEPS // 2):
            per_tick.append(await _tick(rt, platform, feed_server, step))
        halfway = _waiting(rt.db)
    assert platform.posted == [] and halfway > 0
    async with open_runtime(settings, {"chat": platform}) as rt:  # a restart mid-outage
        assert _waiting(rt.db) == halfway, "the backlog did not survive a restart"
        for step in range(OUTAGE_STEPS // 2, OUTAGE_STEPS):
            per_tick.append(await _tick(rt, platform, feed_server, step))
        backlog = _waiting(rt.db)
        latest = max(
            parse_iso(r["next_attempt"])
            for r in rt.db.query("SELECT next_attempt FROM deliveries WHERE status = 'pending'")
        )
        platform.down = False
        _advance(rt.db, timedelta(minutes=18))  # the longest retry wait (15 min + jitter)
        await poll_once(rt)
        await poll_once(rt)  # nothing is left to send twice
        statuses = {r[0] for r in rt.db.execute("SELECT DISTINCT status FROM deliveries")}
    assert backlog == len(REPORTS) * len(CHANNELS)  # every report, every channel, on disk
    assert max(per_tick) <= len(CHANNELS), per_tick  # only each channel's oldest is retried
    assert latest - utcnow() <= timedelta(minutes=18)
    assert statuses == {"sent"}
    delivered = [d for _, d, _, _ in platform.posted]
    assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == backlog
    for channel in CHANNELS:
        ident = channel.partition(":")[2]  # adapters get the id after "platform:"
        mine = [(d, kind, thread) for c, d, kind, thread in platform.posted if c == ident]
        assert [d for d, _, _ in mine] == sorted(d for d, _, _ in mine), "out of order"
        firsts = {f"m{d}" for d, kind, _ in mine if kind == "new"}
        updates = [thread for _, kind, thread in mine if kind == "update"]
        assert updates and all(thread in firsts for thread in updates)
        assert len(mine) == len(REPORTS)


class _Hung(Platform):
    """A platform that takes every post and never answers (a send deadline far away)."""

    platform = "hung"

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        self.attempts += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


class _Other(Platform):
    platform = "other"

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def _post(self, channel: str, alert: Alert, thread: str | None) -> MessageRef:
        self.arrived.set()
        return super()._post(channel, alert, thread)


async def test_a_platform_that_hangs_holds_up_neither_another_nor_the_feeds(tmp_path, feed_server):
    # Each platform drains its own outbox: one waiting out a silent server (or a long
    # rate limit) must not keep the other's alerts, or the next poll, waiting behind it.
    feed_server.serve("/wire", _feed(1))
    settings = make_settings(
        tmp_path / "w.db",
        [("Wire", feed_server.url("/wire"))],
        subscriptions=[],
        articles={"fetch": False},
    )
    hung, other = _Hung(), _Other()
    async with open_runtime(settings, {"hung": hung, "other": other}) as rt:
        for channel in ("hung:newsroom", "other:newsroom"):
            subscribe(rt.db, channel, "troop-deployments", "instant")
        stop = asyncio.Event()
        runner = asyncio.ensure_future(run_forever(rt, stop, grace=0.5))
        await asyncio.wait_for(other.arrived.wait(), timeout=5)
        # The hung platform's drain is still stuck; polling goes on beside it.
        other.arrived.clear()
        rt.db.execute("UPDATE feeds SET next_poll = ?", [iso(utcnow())])
        feed_server.serve("/wire", _feed(2))
        await asyncio.wait_for(other.arrived.wait(), timeout=5)
        stop.set()
        await runner
    assert hung.attempts == 1
    assert [kind for _, _, kind, _ in other.posted] == ["new", "new"]
