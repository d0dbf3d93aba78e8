"""Event-loop stalls while a poll works: how late the loop wakes what else it serves.

Chat commands, Discord heartbeats and /healthz are answered on the event loop that also
decides and stores a poll's items (Slack wants an answer within 3 s). A heartbeat asks the
loop to wake it every 1 ms while one poll runs; how late it wakes is the stall a chat
command would see. Cases, each in a fresh interpreter:

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
  made none, its worst stall and peak RSS were the same either way; bot.app does not
  freeze.)

Baselines in the same invocation: the heartbeat on an idle loop (what the machine adds), and
every case run with the code of an earlier commit (`--against`, default BASELINE: main before
the digest-once and opinion-turns changes), its `bot/` and `config/` extracted
with `git archive` and put first on the child's path. Articles are not fetched and sentence
vectors are off, so the stalls are the pipeline's own. The archive case copies bench.bigdb's
database once per invocation (3.4 GB in full).

`python -m bench.stall [--quick] [--against REV] [--cases flood,changed,...]`
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
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
BASELINE = "b0ae0a0"  # main before entries carried their digest and opinions took turns
BEAT = 0.001
CASES = ("flood", "changed", "opinions", "archive")
NEW_FEEDS = 4  # x 50 items: the changed and opinions cases' polls
# x 50 items: the archive case's poll. The collector makes a full pass once a quarter as
# many objects as the long-lived ones have survived; 1,200 items stored made none.
ARCHIVE_NEW = 24
OPINION_TOPICS = 150
CHANGED_ITEMS = 500


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
    from bot.app import open_runtime, poll_once
    from bot.store import add_feed
    from bot.workers import parse_feed_async

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


def _in_child(case: str, tmp: str, base: str, quick: bool) -> None:
    """One case's poll, in this (fresh) interpreter; its figures as a JSON line."""
    db = Path(tmp) / f"{case}.db"
    urls = [f"{base}/feed/{i}.xml" for i in range(_feeds(case, quick))]
    if case == "flood":
        out = asyncio.run(_poll(_settings(db, urls)))
    elif case == "changed":
        out = asyncio.run(_poll(_settings(db, urls), again=True))
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
        return 100 if quick else 1000
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


def _archive(tmp: Path, quick: bool, base: str) -> tuple[Path, int]:
    """bench.bigdb's archive, its feeds served by `base` and never due; (path, feeds)."""
    from bench.bigdb import build, point_feeds_at

    feeds, per_feed = (100, 200) if quick else (1000, 1000)
    db = build(tmp / "archive.db", feeds, per_feed)
    point_feeds_at(db, base)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE feeds SET origin = 'chat', next_poll = '9999'")
    conn.close()
    return db, feeds


def _runs(case: str, old: Path, against: str) -> list[tuple[str, Path, dict[str, str]]]:
    runs = [("this tree", ROOT, {})]
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
            _, archived = _archive(tmp, quick, server.base)
            _child(ROOT, case, tmp, server.base, quick, WWBENCH_FIRST_NEW=str(archived))
            archived += ARCHIVE_NEW
        baseline = None
        for n, (code_name, code, extra) in enumerate(reversed(_runs(case, old, against))):
            if case == "archive":  # new feeds each run: the archive is copied once
                env = {"WWBENCH_FIRST_NEW": str(archived + n * ARCHIVE_NEW)}
            got = _child(code, case, tmp, server.base, quick, **env, **extra)
            worst = max(got["lags"], default=0.0)
            baseline = worst if baseline is None else baseline
            _row(section, case, code_name, got, worst, baseline, idle)
    for p in tmp.glob("archive.db*"):
        p.unlink()


def _row(section: Section, case: str, code: str, got: dict, worst: float, baseline: float,
         idle: float) -> None:  # fmt: skip
    lags = got["lags"]
    q = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else lags * 99
    section.add(
        case=case,
        code=code,
        items=got["items"],
        alerts=got["alerts"],
        seconds=got["seconds"],
        p99_stall_ms=q[98] * 1000,
        max_stall_ms=worst * 1000,
        vs_baseline=ratio(worst, baseline),
        vs_idle=ratio(worst, idle),
        gen2_passes=got["gen2"],
        longest_gen2_ms=got["gen2_max_s"] * 1000,
        full_pass_ms=got["full_pass_s"] * 1000,
        frozen_objects=got["frozen"],
        peak_rss_mb=got["rss_mb"],
    )


def run(quick: bool = False, against: str = BASELINE, cases: tuple[str, ...] = CASES) -> Section:
    began = time.perf_counter()
    section = Section(
        "Event-loop stalls while a poll works",
        ["case", "code", "items", "alerts", "seconds", "p99_stall_ms", "max_stall_ms",
         "vs_baseline", "vs_idle", "gen2_passes", "longest_gen2_ms", "full_pass_ms",
         "frozen_objects", "peak_rss_mb"],
    )  # fmt: skip
    idle_lags, _, _ = asyncio.run(worst_stalls(asyncio.sleep(2 if quick else 5)))
    idle = max(idle_lags)
    section.add(case="idle loop (baseline)", max_stall_ms=idle * 1000)
    with tempfile.TemporaryDirectory(prefix="wwbench-") as name:
        tmp = Path(name)
        old = checkout(against, tmp)
        for case in cases:
            _case(section, case, tmp, old, against, quick, idle)
    section.notes.append(
        "A stall is how much later than asked a 1 ms timer fires; a chat command waits about "
        "as long. Target: max stall well under 0.5 s (Slack's acknowledgement deadline is 3 s). "
        "Alerts go to a stand-in that only notes them, so the stalls are wirewatch's own. "
        "gen2_passes, longest_gen2_ms: the collector's full passes during the poll. "
        "full_pass_ms: a full collection (`gc.collect()`) timed after the poll, what the "
        "loop waits whenever the collector makes one. frozen_objects: `gc.get_freeze_count()`. "
        "peak_rss_mb: of the bot's process (its workers not counted). vs_baseline: max stall "
        f"against the same case at {against}. The archive case's runs load the index an "
        "unmeasured first start saved."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--against", default=BASELINE, help="the baseline commit")
    ap.add_argument("--cases", default=",".join(CASES), help="which cases, comma-separated")
    args = ap.parse_args()
    print(run(args.quick, args.against, tuple(args.cases.split(","))).markdown())


if __name__ == "__main__":
    main()
