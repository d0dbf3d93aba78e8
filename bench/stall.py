"""Event-loop stalls while a poll or a chat command works: how late the loop wakes the rest.

Chat commands, Discord heartbeats and /healthz are answered on the event loop that also
decides and stores a poll's items (Slack wants an answer within 3 s). A heartbeat asks the
loop to wake it every 1 ms while one poll (or one command) runs; how late it wakes is the
stall a chat command would see. Cases, each in a fresh interpreter:

- flood: a first poll of N feeds x 50 items that all match a topic, stored and sent.
- changed: feeds of 500 items polled again, every entry stored before (a feed whose body
  changed a little: most of it is old news). What the poll does with known entries.
- opinions: a first poll of 4 feeds x 50 items, with 150 topics whose relevance model takes
  the encoder's opinion (each item judged against all of them before the encoder is asked).
- archive: a poll of 24 new feeds x 50 items with bench.bigdb's archive open (full: 1M
  stored, 100,000 in the story index; quick: 20,000, 10,000): the collector's full passes
  over what start-up loaded. Also run with what start-up loaded frozen (`gc.collect()`,
  then `gc.freeze()`, right after the runtime opened): what freezing would buy. (Measured
  on 2 cores: full passes cost 30-40 ms unfrozen and 1-2 ms frozen, but a 1,200-item poll
  made none, its worst stall and peak RSS were the same either way; the bot does
  not freeze.)
- commands: each chat command through `Commands.handle`, as an adapter sends it, on
  bench.bigdb's archive (full: 200 feeds x 1,000 items over 30 days, 200,000 items; quick:
  100 x 200) with a few topics and subscriptions besides. Then a poll of 4 new feeds x 50
  items that stores while a command writes for long: a channel with a backlog of queued
  alerts (a digest subscription's: 10,000; quick: 2,000), and `topic add` of its topic with
  a changed query (every queued alert decided again), `subscribe --only` narrowing it, or
  `unsubscribe` ending it, on the command thread; once that command holds the write lock
  the poll starts, and the heartbeat runs through both. Each run starts from a fresh copy
  of the archive.

Baselines in the same invocation: the heartbeat on an idle loop (what the machine adds).
Every poll case run with the code of an earlier commit (`--against`, default BASELINE: stop
58's code, at the schema this tree writes), its `bot/` and `config/` extracted with
`git archive` and put first on the child's path. The commands with their store work on the
loop (`Commands(rt, inline=True)`, what every command did before it moved to the command
thread). The poll during a long write with the command's write in one transaction
(`bot.redecide.slices.WRITE_SLICE` infinite), when the poll's writes waited for all of it on
the event loop. (Before slices, `topic add` also prepared every waiting item's text on the
loop to ask the encoder, and inside the write decided them: 3.2 s and 3.8 s of stall for
`topic add` and `subscribe --only` at full size, measured on the code before, against
0.3-0.4 s with slices.) Articles are not fetched and sentence vectors are off, so the stalls
are the pipeline's own. The archive case copies bench.bigdb's database once per invocation (3.4 GB
in full), the commands case once per run (0.7 GB).

`python -m bench.stall [--quick] [--against REV] [--cases flood,changed,...,commands]`;
`python -m bench.loop_stall [--quick]` runs the commands case alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bench.feedserver import FeedServer
from bench.report import Section, ratio

ROOT = Path(__file__).resolve().parent.parent
# An earlier commit that reads the schema this tree writes (an older one refuses the archive:
# a newer schema). Stop 58's code with run_state (schema 22) added; until stop 59 it was
# b25c1b4, main just before entries carried their digest and opinions took turns, whose
# figures bench/RESULTS.md keeps.
BASELINE = "4e81c02"
BEAT = 0.001
CASES = ("flood", "changed", "opinions", "archive", "commands")
NEW_FEEDS = 4  # x 50 items: the polls of the changed and opinions cases and of a long write
# x 50 items: the archive case's poll. The collector makes a full pass once a quarter as
# many objects as the long-lived ones have survived; 1,200 items stored made none.
ARCHIVE_NEW = 24
OPINION_TOPICS = 150
CHANGED_ITEMS = 500
# bench.bigdb archives, (feeds, items per feed) by `quick`: the archive case's and the
# commands case's (full: 30 days of 200 feeds).
ARCHIVE = {True: (100, 200), False: (1000, 1000)}
COMMANDS_ARCHIVE = {True: (100, 200), False: (200, 1000)}
CHANNEL = "console"
BACKLOG_TOPIC = "backlog"
BACKLOG_QUERY = "officials"  # every generated item: every queued alert matches it

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

# (what the table calls it, the command that writes for long while a poll stores).
LONG_WRITES: tuple[tuple[str, str], ...] = (
    ("topic add (query changed)", f"topic add {BACKLOG_TOPIC} officials AND NOT said"),
    (
        "subscribe --only (narrowing changed)",
        f"subscribe {BACKLOG_TOPIC} digest --only `NOT said`",
    ),
    ("unsubscribe", f"unsubscribe {BACKLOG_TOPIC}"),
)

# The commands case's runs by part, the baseline first: (code, its environment).
COMMAND_RUNS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "paths": [("on the loop: Commands(rt, inline=True)", {"WWBENCH_INLINE": "1"}),
              ("this tree", {})],
    "long": [("one transaction: WRITE_SLICE infinite", {"WWBENCH_ONE_WRITE": "1"}),
             ("this tree", {})],
}  # fmt: skip


async def worst_stalls(work: Awaitable[Any]) -> tuple[list[float], float, Any]:
    """(how late a 1 ms heartbeat woke each time while `work` ran, its seconds, its result)."""
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
    return gaps, elapsed, result


def bot_runtime() -> tuple[Any, Any]:
    """`open_runtime` and `poll_once` of the `bot` first on sys.path: bot.startup's and
    bot.poll_cycle's, or bot.app's at a baseline from before they were split out of it."""
    try:
        from bot.poll_cycle import poll_once
        from bot.startup import open_runtime
    except ModuleNotFoundError:
        from bot.app import open_runtime, poll_once  # type: ignore[no-redef]
    return open_runtime, poll_once


def _settings(db: Path, feeds: list[str], **extra: Any) -> Any:
    from bot.settings import Settings

    data: dict[str, Any] = {
        "database": str(db),
        "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(feeds)],
        # Every generated item says "officials ... Tuesday": every item is an alert.
        "topics": {"flood": {"query": "officials AND tuesday"}},
        "subscriptions": [{"topic": "flood", "channel": "console"}],
        "articles": {"fetch": False},
        "sentence_vectors": False,
        "network": {"allow_private_addresses": True},  # the feed server is 127.0.0.1
    }
    return Settings.model_validate(data | extra)


async def _poll(settings: Any, feeds: list[Any] | None = None, again: bool = False) -> dict:
    """One measured poll in a runtime opened on `settings` (`again`: a first poll, then
    the measured one of the same feeds, their validators forgotten so that all is sent)."""
    from bench.latency import StandIn
    from bot.feed_store import add_feed
    from bot.workers import parse_feed_async

    open_runtime, poll_once = bot_runtime()

    pauses: list[float] = []
    began: list[float] = []

    def timed(phase: str, info: dict) -> None:  # the collector's full passes
        if info["generation"] == 2:
            if phase == "start":
                began.append(time.perf_counter())
            elif began:
                pauses.append(time.perf_counter() - began.pop())

    stand_in = StandIn()
    async with open_runtime(settings, {"console": stand_in}) as rt:
        if os.environ.get("WWBENCH_FREEZE"):  # start-up's objects kept out of full passes
            gc.collect()
            gc.freeze()
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url="https://x/")
        if again:
            await poll_once(rt)
            rt.db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL")
        rows = [add_feed(rt.db, url, f"fresh-{i}", origin="chat") for i, url in
                enumerate(feeds)] if feeds else None  # fmt: skip
        alerted = len(stand_in.arrived)
        gc.callbacks.append(timed)
        try:
            lags, elapsed, (results, _) = await worst_stalls(poll_once(rt, rows))
        finally:
            gc.callbacks.remove(timed)
        frozen = gc.get_freeze_count()
        full = time.perf_counter()
        gc.collect()  # what a full pass costs the loop now, whenever the collector runs one
        full = time.perf_counter() - full
    return {
        "lags": lags,
        "seconds": elapsed,
        "items": sum(r.new_items for r in results),
        "alerts": len(stand_in.arrived) - alerted,
        "gen2": len(pauses),
        "gen2_max_s": max(pauses, default=0.0),
        "full_pass_s": full,
        "frozen": frozen,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _command_settings(db: Path) -> Any:
    """The commands case's: the archive's feeds are owned by chat (the config names none, so
    starting leaves them as they are), a few topics and subscriptions besides."""
    topics = {
        "wire": {"query": "officials"},  # every generated item: every poll alerts
        "markets": {"query": "shares OR markets"},
    }
    subs = [{"topic": t, "channel": CHANNEL} for t in ("troop-deployments", "wire")]
    return _settings(db, [], topics=topics, subscriptions=subs)


async def _paths(db: Path, base: str, archived: int, inline: bool) -> list[dict]:
    """Each of COMMANDS, in order, through `Commands.handle` on the archive `db`."""
    from bench.latency import StandIn
    from bot.commands import Commands, Invocation
    from bot.workers import parse_feed_async

    open_runtime, _ = bot_runtime()

    rows: list[dict] = []
    async with open_runtime(_command_settings(db), {CHANNEL: StandIn()}) as rt:
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url="https://x/")
        cmds = Commands(rt, inline=inline)
        alert = rt.db.execute(
            "SELECT max(id) FROM deliveries WHERE status = 'sent' AND channel = ?", [CHANNEL]
        ).fetchone()[0]
        fields = {"alert": alert, "feed": f"{base}/feed/{archived}.xml"}  # not in the archive
        await cmds.handle(Invocation("console", CHANNEL, "bench", "test wire officials"))
        for what, text in COMMANDS:
            inv = Invocation("console", CHANNEL, "bench", text.format(**fields))
            lags, took, reply = await worst_stalls(cmds.handle(inv))
            rows.append({"path": what, "lags": lags, "seconds": took, "ok": reply.ok})
    return rows


def _queue_backlog(db: Path, count: int) -> None:
    """A digest subscription of CHANNEL to BACKLOG_TOPIC with `count` alerts queued, one
    per newest item (in stories of three, as bench.bigdb files them), as a day's outage of
    the digest leaves them; what an earlier command decided again is put back first."""
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


async def _long_writes(db: Path, base: str, first_feed: int, backlog: int) -> list[dict]:
    """A poll of NEW_FEEDS new feeds storing while each of LONG_WRITES decides `backlog`
    queued alerts again; the heartbeat runs through both."""
    from bench.latency import StandIn
    from bot.commands import Commands, Invocation
    from bot.feed_store import add_feed
    from bot.workers import parse_feed_async

    open_runtime, poll_once = bot_runtime()

    rows: list[dict] = []
    async with open_runtime(_command_settings(db), {CHANNEL: StandIn()}) as rt:
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url="https://x/")
        cmds = Commands(rt)
        for n, (what, text) in enumerate(LONG_WRITES):
            _queue_backlog(db, backlog)
            await cmds.handle(Invocation("console", CHANNEL, "bench", "help"))
            fresh = [
                add_feed(rt.db, f"{base}/feed/{first_feed + n * NEW_FEEDS + i}.xml",
                         f"new-{n}-{i}", origin="chat")
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

            lags, took, (results, polled, reply) = await worst_stalls(both())
            rows.append({
                "path": f"poll ({polled:.2f} s) during {what}, {backlog:,} queued alerts",
                "lags": lags,
                "seconds": took,
                "items": sum(r.new_items for r in results),
                "ok": reply.ok and all(r.ok for r in results),
            })  # fmt: skip
    return rows


async def _commands_child(db: Path, base: str, quick: bool) -> dict:
    """The commands case's rows of one part (WWBENCH_PART): the command paths, or the polls
    during long writes; its baseline's code is chosen by the other WWBENCH_ variables."""
    archived = COMMANDS_ARCHIVE[quick][0]
    if os.environ["WWBENCH_PART"] == "paths":
        return {"rows": await _paths(db, base, archived, bool(os.environ.get("WWBENCH_INLINE")))}
    from bot.redecide import slices

    if os.environ.get("WWBENCH_ONE_WRITE"):  # as before slices
        slices.WRITE_SLICE = math.inf
    return {"rows": await _long_writes(db, base, archived, _backlog(quick))}


def _backlog(quick: bool) -> int:
    return 2_000 if quick else 10_000


def _in_child(case: str, tmp: str, base: str, quick: bool) -> None:
    """One case's poll, in this (fresh) interpreter; its figures as a JSON line."""
    db = Path(tmp) / f"{case}.db"
    urls = [f"{base}/feed/{i}.xml" for i in range(_feeds(case, quick))]
    if case == "flood":
        out = asyncio.run(_poll(_settings(db, urls)))
    elif case == "changed":
        out = asyncio.run(_poll(_settings(db, urls), again=True))
    elif case == "commands":  # the parent copied the archive to `db`
        out = asyncio.run(_commands_child(db, base, quick))
    elif case == "opinions":
        topics = {f"desk-{k}": {"query": "officials", "relevance": "deployments"}
                  for k in range(OPINION_TOPICS)}  # fmt: skip
        subs = [{"topic": "desk-0", "channel": "console"}]
        out = asyncio.run(_poll(_settings(db, [], topics=topics, subscriptions=subs), urls))
    else:  # archive: the feeds after the archive's own are new, others each run
        first = int(os.environ["WWBENCH_FIRST_NEW"])
        fresh = [f"{base}/feed/{first + i}.xml" for i in range(ARCHIVE_NEW)]
        out = asyncio.run(_poll(_settings(Path(tmp) / "archive.db", []), fresh))
    print(json.dumps(out))


def _feeds(case: str, quick: bool) -> int:
    """The feeds a case polls (the archive's: those it holds)."""
    if case == "flood":
        return 10 if quick else 20
    if case == "archive":
        return ARCHIVE[quick][0]
    return NEW_FEEDS


def checkout(rev: str, tmp: Path) -> Path:
    """`bot/` and `config/` of commit `rev`, extracted under `tmp`."""
    where = tmp / f"at-{rev}"
    where.mkdir()
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "bot", "config"],
                         check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(where)], input=tar, check=True)
    return where


def _child(code: Path, case: str, tmp: Path, base: str, quick: bool, **env: str) -> dict:
    """Run `case` in a fresh interpreter whose `bot` is the one under `code`."""
    prog = (
        f"import sys; sys.path[:0] = [{str(code)!r}, {str(ROOT)!r}]; import bench.stall as s; "
        f"s._in_child({case!r}, {str(tmp)!r}, {base!r}, {quick!r})"
    )
    done = subprocess.run([sys.executable, "-c", prog], cwd=tmp, env=os.environ | env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{case} at {code} failed: {done.stderr[-2000:]}")
    for p in tmp.glob(f"{case}.db*") if case != "archive" else ():  # kept for the next run
        p.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def _archive(path: Path, base: str, feeds: int, per_feed: int, code: Path = ROOT) -> None:
    """bench.bigdb's archive of `feeds` x `per_feed` items, as `code`'s bot makes it, copied
    to `path`, its feeds served by `base`, owned by chat and never due."""
    from bench.bigdb import build_for, point_feeds_at

    build_for(code, path, feeds, per_feed)
    point_feeds_at(path, base)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE feeds SET origin = 'chat', next_poll = '9999'")
    conn.close()


def _runs(case: str, old: Path, against: str) -> list[tuple[str, Path, dict[str, str]]]:
    runs: list[tuple[str, Path, dict[str, str]]] = [("this tree", ROOT, {})]
    if case == "archive":
        runs.append(("this tree, gc.freeze() after start-up", ROOT, {"WWBENCH_FREEZE": "1"}))
    return [*runs, (f"baseline: {against}", old, {})]


def _case(section: Section, case: str, tmp: Path, old: Path, against: str, quick: bool,
          idle: float) -> None:  # fmt: skip
    per_feed = CHANGED_ITEMS if case == "changed" else 50
    count = _feeds(case, quick) + (4 * ARCHIVE_NEW if case == "archive" else 0)
    env: dict[str, str] = {}
    with FeedServer(count, per_feed=per_feed) as server:
        if case == "archive":  # every run loads the index a first start saved
            archived = ARCHIVE[quick][0]
            for code in (ROOT, old):  # each code's own: an older one refuses a newer schema
                _archived(tmp, code).mkdir()
                _archive(_archived(tmp, code) / "archive.db", server.base, *ARCHIVE[quick], code)
                _child(code, case, _archived(tmp, code), server.base, quick,
                       WWBENCH_FIRST_NEW=str(archived))  # fmt: skip
            archived += ARCHIVE_NEW
        baseline = None
        for n, (code_name, code, extra) in enumerate(reversed(_runs(case, old, against))):
            where = tmp
            if case == "archive":  # new feeds each run: the archive is copied once
                env = {"WWBENCH_FIRST_NEW": str(archived + n * ARCHIVE_NEW)}
                where = _archived(tmp, code)
            got = _child(code, case, where, server.base, quick, **env, **extra)
            got["path"] = _what(case, quick)
            baseline = max(got["lags"], default=0.0) if baseline is None else baseline
            _row(section, case, code_name, got, baseline, idle)
    for code in (ROOT, old):
        shutil.rmtree(_archived(tmp, code), ignore_errors=True)


def _archived(tmp: Path, code: Path) -> Path:
    """Where the archive case keeps the archive `code` reads."""
    return tmp / ("archive-this-tree" if code == ROOT else f"archive-{code.name}")


def _what(case: str, quick: bool) -> str:
    """A poll case's path: what its measured poll does."""
    feeds = _feeds(case, quick)
    return {
        "flood": f"first poll, {feeds} x 50 items all matching",
        "changed": f"{feeds} x {CHANGED_ITEMS} stored entries polled again",
        "opinions": f"first poll, {feeds} x 50 items, {OPINION_TOPICS} topics",
        "archive": f"{ARCHIVE_NEW} x 50 new items, {feeds * ARCHIVE[quick][1]:,} stored",
    }[case]


def _commands(section: Section, tmp: Path, quick: bool, idle: float) -> None:
    """The commands case: each part's runs on fresh copies of the archive, then a row per
    path and run, the part's baseline first."""
    feeds, per_feed = COMMANDS_ARCHIVE[quick]
    with FeedServer(feeds + NEW_FEEDS * len(LONG_WRITES)) as server:
        for part, runs in COMMAND_RUNS.items():
            got = []
            for _, extra in runs:
                _archive(tmp / "commands.db", server.base, feeds, per_feed)
                env = {"WWBENCH_PART": part, **extra}
                got.append(_child(ROOT, "commands", tmp, server.base, quick, **env)["rows"])
            for paths in zip(*got, strict=True):
                baseline = max(paths[0]["lags"], default=0.0)
                for (code, _), row in zip(runs, paths, strict=True):
                    _row(section, "commands", code, row, baseline, idle)


def _row(section: Section, case: str, code: str, got: dict, baseline: float,
         idle: float) -> None:  # fmt: skip
    """One run's row; what a case does not measure is left blank."""
    lags = got["lags"]
    worst = max(lags, default=0.0)
    q = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else lags * 99
    ok = got.get("ok")
    section.add(
        case=case,
        path=got["path"],
        code=code,
        items=got.get("items"),
        alerts=got.get("alerts"),
        seconds=got["seconds"],
        p99_stall_ms=q[98] * 1000 if q else None,
        max_stall_ms=worst * 1000,
        vs_baseline=ratio(worst, baseline),
        vs_idle=ratio(worst, idle),
        ok=None if ok is None else "yes" if ok else "NO",
        gen2_passes=got.get("gen2"),
        longest_gen2_ms=_ms(got.get("gen2_max_s")),
        full_pass_ms=_ms(got.get("full_pass_s")),
        frozen_objects=got.get("frozen"),
        peak_rss_mb=got.get("rss_mb"),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def run(quick: bool = False, against: str = BASELINE, cases: tuple[str, ...] = CASES) -> Section:
    unknown = set(cases) - set(CASES)
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(sorted(unknown))}; known: {CASES}")
    began = time.perf_counter()
    section = Section(
        "Event-loop stalls while a poll or a chat command works",
        ["case", "path", "code", "items", "alerts", "seconds", "p99_stall_ms", "max_stall_ms",
         "vs_baseline", "vs_idle", "ok", "gen2_passes", "longest_gen2_ms", "full_pass_ms",
         "frozen_objects", "peak_rss_mb"],
    )  # fmt: skip
    idle_lags, _, _ = asyncio.run(worst_stalls(asyncio.sleep(2 if quick else 5)))
    idle = max(idle_lags)
    section.add(case="idle loop (baseline)", max_stall_ms=idle * 1000)
    with tempfile.TemporaryDirectory(prefix="wwbench-") as name:
        tmp = Path(name)
        polls = [c for c in cases if c != "commands"]
        old = checkout(against, tmp) if polls else tmp
        for case in polls:
            _case(section, case, tmp, old, against, quick, idle)
        if "commands" in cases:
            _commands(section, tmp, quick, idle)
    section.notes.extend(_notes(cases, against, quick))
    section.seconds = time.perf_counter() - began
    return section


def _notes(cases: tuple[str, ...], against: str, quick: bool) -> list[str]:
    """The table's notes, for the cases that ran."""
    notes = [
        "A stall is how much later than asked a 1 ms timer fires; a chat command waits about "
        "as long. Target: max stall well under 0.5 s (Slack's acknowledgement deadline is 3 s). "
        "Alerts go to a stand-in that only notes them, so the stalls are wirewatch's own. "
        "vs_baseline: max stall against the same path's first row."
    ]
    if set(cases) - {"commands"}:
        notes.append(
            f"Poll cases: their baseline is the same case with the code at {against}. "
            "gen2_passes, longest_gen2_ms: the collector's full passes during the poll. "
            "full_pass_ms: a full collection (`gc.collect()`) timed after the poll, what the "
            "loop waits whenever the collector makes one. frozen_objects: "
            "`gc.get_freeze_count()`. peak_rss_mb: of the bot's process (its workers not "
            "counted). The archive case's runs load the index an unmeasured first start saved."
        )
    if "commands" in cases:
        feeds, per_feed = COMMANDS_ARCHIVE[quick]
        notes.append(
            f"Commands case, on {feeds * per_feed:,} stored items: a command row's baseline is "
            "the same command with its store work on the event loop (`Commands(rt, "
            "inline=True)`, as before the command thread); the bot runs it on the command "
            "thread (this tree). poll (...) during COMMAND: the poll starts once COMMAND (on "
            "the command thread) holds the write lock, and the heartbeat runs until both are "
            "done (seconds: both; the poll's own in the path); its baseline is the same with "
            "the command's write in one transaction (`bot.redecide.slices.WRITE_SLICE` "
            "infinite, as "
            "before slices). ok: the command answered (and, during a long write, every feed "
            "of the poll was stored)."
        )
    return notes


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--against", default=BASELINE, help="the baseline commit")
    ap.add_argument("--cases", default=",".join(CASES), help="which cases, comma-separated")
    args = ap.parse_args()
    print(run(args.quick, args.against, tuple(args.cases.split(","))).markdown())


if __name__ == "__main__":
    main()
