"""Event-loop stalls of each chat command, and of a poll, against a large archive.

Chat commands are answered on the event loop that also polls feeds, sends alerts and
acknowledges the next command (Slack wants that within 3 s); a command whose queries run on
the loop holds all of that up for as long as they take. A heartbeat asks the loop to wake
it every 1 ms while one command (or one poll) runs; the longest it waited past that is the
path's worst stall. The archive is bench.bigdb's (full: 200 feeds x 1,000 items over 30
days, 200,000 items; quick: 100 x 200), opened by the real runtime, with a few topics and
subscriptions besides; each moderator command then goes through `Commands.handle`, as an
adapter sends it. The poll stores 200 new items from 4 feeds served by bench.feedserver.

Baselines in the same invocation: the heartbeat on an idle loop (what the machine adds),
and the same commands with their store work run on the loop (`Commands(rt, inline=True)`,
what every command did before it moved to the command thread).

Then a poll that stores while a command writes for long: a channel with a backlog of
queued alerts (a digest subscription's: 10,000; quick: 2,000), and `topic add` of its
topic with a changed query (every queued alert decided again), `subscribe --only`
narrowing it, or `unsubscribe` ending it, on the command thread; once that command holds
the write lock the poll starts, and the heartbeat runs through both. Baseline: the same
with the command's write in one transaction (`bot.store.WRITE_SLICE` infinite), when the
poll's writes waited for all of it on the event loop. (Before slices, `topic add` also
prepared every waiting item's text on the loop to ask the encoder, and inside the write
decided them: 3.2 s and 3.8 s of stall for `topic add` and `subscribe --only` at full size,
measured on the code before, against 0.3-0.4 s with slices.)

`python -m bench.loop_stall [--quick]`
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bench.bigdb import build, point_feeds_at
from bench.feedserver import FeedServer
from bench.latency import StandIn
from bench.report import Section, ratio, run_alone

BEAT = 0.001
NEW_FEEDS = 4  # x 50 items: the poll's 200 new items
CHANNEL = "console"
BACKLOG_TOPIC = "backlog"
BACKLOG_QUERY = "officials"  # every generated item: every queued alert matches it

# (what the table calls it, the command that writes for long while a poll stores).
LONG_WRITES: tuple[tuple[str, str], ...] = (
    ("topic add (query changed)", f"topic add {BACKLOG_TOPIC} officials AND NOT said"),
    (
        "subscribe --only (narrowing changed)",
        f"subscribe {BACKLOG_TOPIC} digest --only `NOT said`",
    ),
    ("unsubscribe", f"unsubscribe {BACKLOG_TOPIC}"),
)

# (what the table calls it, the text after /wirewatch); run in this order, on one archive.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "help"),
    ("topics", "topics"),
    ("list", "list"),
    ("feeds list", "feeds"),
    ("search (a word in every item)", "search officials"),
    ("search (a rare word)", "search troops"),
    ("status", "status"),
    ("test TOPIC TEXT", "test troop-deployments Russia sends troops to the border"),
    ("test `QUERY` TEXT", "test `deploy* NEAR/5 troops` Army deploys 300 troops"),
    ("subscribe", "subscribe markets"),
    ("subscribe --only (narrowing changed)", "subscribe wire --only `entity:Russia`"),
    ("mute", "mute 2h"),
    ("unmute", "unmute"),
    ("edits off", "edits off"),
    ("edits on", "edits on"),
    ("unsubscribe", "unsubscribe markets"),
    ("topic add", "topic add bench-chat officials AND monday"),
    ("topic add (query changed)", "topic add bench-chat officials AND tuesday"),
    ("topic remove", "topic remove bench-chat"),
    ("feedback not-relevant", "feedback not-relevant {alert}"),
    ("feeds add (first poll: 50 items)", "feeds add {feed}"),
    ("feeds remove", "feeds remove {feed}"),
)


async def worst_stall(work: Awaitable[Any]) -> tuple[float, float, Any]:
    """(longest the loop kept a 1 ms heartbeat waiting, seconds `work` took, its result)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def beat() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(BEAT)
            gaps.append(time.perf_counter() - before - BEAT)

    task = asyncio.create_task(beat())
    await asyncio.sleep(0)  # the heartbeat is asleep before the work starts
    started = time.perf_counter()
    try:
        result = await work
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await task
    return max(gaps, default=0.0), elapsed, result


def _settings(db: Path) -> Any:
    from bot.settings import Settings

    return Settings.model_validate(
        {
            "database": str(db),
            "topics": {
                "wire": {"query": "officials"},  # every generated item: every poll alerts
                "markets": {"query": "shares OR markets"},
            },
            "subscriptions": [
                {"topic": "troop-deployments", "channel": CHANNEL},
                {"topic": "wire", "channel": CHANNEL},
            ],
            "articles": {"fetch": False},
            "sentence_vectors": False,
            "network": {"allow_private_addresses": True},  # the feed server is 127.0.0.1
        }
    )


def _archive(tmp: Path, feeds: int, per_feed: int, base: str) -> Path:
    """bench.bigdb's archive, its feeds served by `base` and owned by chat (the config
    names none, so starting leaves them as they are)."""
    db = build(tmp / "archive.db", feeds, per_feed)
    point_feeds_at(db, base)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE feeds SET origin = 'chat', next_poll = '9999'")  # nothing due
    conn.close()
    return db


async def _paths(db: Path, server: FeedServer, archived: int, inline: bool) -> list[tuple]:
    """(path, worst stall, seconds, answer ok) for each command, then the poll."""
    from bot.app import open_runtime, poll_once
    from bot.commands import Commands, Invocation
    from bot.store import add_feed
    from bot.workers import parse_feed_async

    rows: list[tuple] = []
    async with open_runtime(_settings(db), {CHANNEL: StandIn()}) as rt:
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url="https://x/")
        cmds = Commands(rt, inline=inline)
        alert = rt.db.execute(
            "SELECT max(id) FROM deliveries WHERE status = 'sent' AND channel = ?", [CHANNEL]
        ).fetchone()[0]
        fields = {"alert": alert, "feed": server.url(archived + NEW_FEEDS)}
        await cmds.handle(Invocation("console", CHANNEL, "bench", "test wire officials"))
        for what, text in COMMANDS:
            inv = Invocation("console", CHANNEL, "bench", text.format(**fields))
            stall, took, reply = await worst_stall(cmds.handle(inv))
            rows.append((what, stall, took, reply.ok))
        fresh = [
            add_feed(rt.db, server.url(archived + i), f"fresh-{i}", origin="chat")
            for i in range(NEW_FEEDS)
        ]
        stall, took, (results, _) = await worst_stall(poll_once(rt, fresh))
        stored = sum(r.new_items for r in results)
        rows.append((f"poll: {NEW_FEEDS} feeds, {stored} new items stored and sent", stall, took))
    return rows


def _queue_backlog(db: Path, count: int) -> None:
    """A digest subscription of CHANNEL to BACKLOG_TOPIC with `count` alerts queued, one
    per newest item (in stories of three, as bench.bigdb files them), as a day's outage of
    the digest leaves them; what an earlier case decided again is put back first."""
    conn = sqlite3.connect(db, isolation_level=None)
    now = "2030-01-01T00:00:00+00:00"
    conn.execute("BEGIN")
    conn.execute(
        "INSERT OR REPLACE INTO topics (name, query, description, origin) VALUES (?, ?, '', "
        "'chat')",
        [BACKLOG_TOPIC, BACKLOG_QUERY],
    )
    conn.execute("DELETE FROM deliveries WHERE channel = ? AND status != 'sent'", [CHANNEL])
    conn.execute("DELETE FROM subscriptions WHERE topic = ?", [BACKLOG_TOPIC])
    sub = conn.execute(
        "INSERT INTO subscriptions (channel, topic, mode, origin, created) VALUES "
        "(?, ?, 'digest', 'chat', ?)",
        [CHANNEL, BACKLOG_TOPIC, now],
    ).lastrowid
    items = conn.execute(
        "SELECT id, story_id FROM items WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
        "d.item_id = items.id AND d.channel = ?) ORDER BY id LIMIT ?",
        [CHANNEL, count],
    ).fetchall()  # bench.bigdb's newest are its lowest ids
    conn.executemany(
        "INSERT OR REPLACE INTO matches (item_id, topic, matched, explanation) VALUES (?, ?, "
        "'[\"officials\"]', '')",
        [(item, BACKLOG_TOPIC) for item, _ in items],
    )
    seen: set[int] = set()
    rows = []
    for item, story in items:
        kind = "update" if story in seen else "new"
        seen.add(story)
        rows.append((sub, CHANNEL, story, item, kind, now, now))
    conn.executemany(
        "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
        "next_attempt, created) VALUES (?, ?, ?, ?, ?, 'digest', ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


async def _write_locked(db: Path, deadline: float = 60.0) -> None:
    """Until another connection holds the database's write lock (the command's write)."""
    probe = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return
            probe.execute("ROLLBACK")
            await asyncio.sleep(0.002)
        raise RuntimeError("the command never took the write lock")
    finally:
        probe.close()


async def _long_writes(db: Path, server: FeedServer, first_feed: int, backlog: int) -> list:
    """(path, worst stall, seconds, ok) for a poll storing while each LONG_WRITES command
    decides `backlog` queued alerts again."""
    from bot.app import open_runtime, poll_once
    from bot.commands import Commands, Invocation
    from bot.store import add_feed
    from bot.workers import parse_feed_async

    rows: list[tuple] = []
    async with open_runtime(_settings(db), {CHANNEL: StandIn()}) as rt:
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url="https://x/")
        cmds = Commands(rt)
        for n, (what, text) in enumerate(LONG_WRITES):
            _queue_backlog(db, backlog)
            await cmds.handle(Invocation("console", CHANNEL, "bench", "help"))
            fresh = [
                add_feed(rt.db, server.url(first_feed + n * NEW_FEEDS + i), f"new-{n}-{i}",
                         origin="chat")
                for i in range(NEW_FEEDS)
            ]  # fmt: skip

            async def both(text: str = text, fresh: list = fresh) -> tuple:
                inv = Invocation("console", CHANNEL, "bench", text)
                command = asyncio.create_task(cmds.handle(inv))
                await _write_locked(db)
                polled = time.perf_counter()
                results, _ = await poll_once(rt, fresh)
                polled = time.perf_counter() - polled
                reply = await command
                return results, polled, reply

            stall, took, (results, polled, reply) = await worst_stall(both())
            stored = sum(r.new_items for r in results)
            ok = reply.ok and all(r.ok for r in results)
            rows.append((f"poll ({stored} items, {polled:.2f} s) during {what}", stall, took, ok))
    return rows


def _measure_long(tmp: Path, feeds: int, per_feed: int, backlog: int, one: bool) -> list:
    from bot import store

    kept = store.WRITE_SLICE
    store.WRITE_SLICE = math.inf if one else kept
    firsts = feeds + NEW_FEEDS + 1
    try:
        with FeedServer(firsts + NEW_FEEDS * len(LONG_WRITES)) as server:
            db = _archive(tmp, feeds, per_feed, server.base)
            try:
                return asyncio.run(_long_writes(db, server, firsts, backlog))
            finally:
                for p in tmp.glob("archive.db*"):
                    p.unlink()
    finally:
        store.WRITE_SLICE = kept


def _measure(tmp: Path, feeds: int, per_feed: int, inline: bool) -> list[tuple]:
    with FeedServer(feeds + NEW_FEEDS + 1) as server:
        db = _archive(tmp, feeds, per_feed, server.base)
        try:
            return asyncio.run(_paths(db, server, feeds, inline))
        finally:
            for p in tmp.glob("archive.db*"):
                p.unlink()


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    feeds, per_feed = (100, 200) if quick else (200, 1000)
    section = Section(
        f"Event-loop stalls of chat commands and a poll, {feeds * per_feed:,} stored items",
        [
            "path",
            "seconds",
            "worst_stall_ms",
            "on_loop_stall_ms",
            "vs_on_loop",
            "one_write_stall_ms",
            "vs_one_write",
            "vs_idle",
            "ok",
        ],
    )
    idle, _, _ = asyncio.run(worst_stall(asyncio.sleep(2 if quick else 5)))
    section.add(path="idle loop (baseline)", worst_stall_ms=idle * 1000)
    backlog = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        before = _measure(Path(tmp), feeds, per_feed, inline=True)
        after = _measure(Path(tmp), feeds, per_feed, inline=False)
        one_write = _measure_long(Path(tmp), feeds, per_feed, backlog, one=True)
        sliced = _measure_long(Path(tmp), feeds, per_feed, backlog, one=False)
    for old, new in zip(before, after, strict=True):
        section.add(
            path=new[0],
            seconds=new[2],
            worst_stall_ms=new[1] * 1000,
            on_loop_stall_ms=old[1] * 1000,
            vs_on_loop=ratio(new[1], old[1]),
            vs_idle=ratio(new[1], idle),
            ok="" if len(new) < 4 else ("yes" if new[3] else "NO"),
        )
    for old, new in zip(one_write, sliced, strict=True):
        section.add(
            path=f"{new[0]}, {backlog:,} queued alerts",
            seconds=new[2],
            worst_stall_ms=new[1] * 1000,
            one_write_stall_ms=old[1] * 1000,
            vs_one_write=ratio(new[1], old[1]),
            vs_idle=ratio(new[1], idle),
            ok=("yes" if new[3] else "NO") + ("" if old[3] else " (one write: NO)"),
        )
    section.notes.append(
        "worst_stall_ms: the longest a 1 ms heartbeat waited past its time while the path "
        "ran, with command store work on the command thread (as the bot runs); "
        "on_loop_stall_ms: the same path with that work on the event loop (`inline=True`, "
        "as before). Every row but the idle one runs on the archive; the poll's stalls are "
        "the pipeline's own (articles not fetched, sentence vectors off)."
    )
    section.notes.append(
        "poll (...) during COMMAND: the poll starts once COMMAND (on the command thread) "
        "holds the write lock, and the heartbeat runs until both are done (seconds: both; "
        "the poll's own in the name); one_write_stall_ms: the same with the command's write "
        "in one transaction (`bot.store.WRITE_SLICE` infinite, as before); ok: the command "
        "answered and every feed of the poll was stored."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
