"""A first poll of many feeds whose items are all new: the bot's peak memory, and the poll's time.

A cold start over many feeds (or a bot back after a day away) brings every feed's items in one
poll. Until stop 55 `poll_many` kept every finished feed's parsed and decided items until the
whole poll ended, and let a wave take every feed ready within its grace; since, a feed is let
go once its wave is stored and at most `held` feeds (32) are in flight or waiting at once.

Rows, in one invocation, each a fresh interpreter over the same bench feeds (50 new items
each) and an empty database, `poll_many` run once as `bench.contenders` runs it (the real
runtime, 10 topics, a console adapter, articles not fetched): the code of the commit before
the bound (`--against`, default BASELINE), then this tree; with sentence vectors off (the
setting for a fast first cycle over many feeds), then on. Peak RSS is the bot's own process,
sampled every 0.2 s (its two parse workers are other processes).

`python -m bench.flood [--quick] [--against REV]` (quick: 150 feeds, vectors off only)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.feedserver import FeedServer
from bench.report import Section
from bench.stall import checkout

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "ac0f366"  # main just before the bounded poll (50e7363)

# One first poll in this interpreter, whose `bot` is the one first on sys.path.
CHILD = """
import asyncio, io, json, sys, tempfile, threading, time
from pathlib import Path
import psutil

def main(urls, db, vectors):
    from adapters.console import ConsoleAdapter
    from bench.contenders import topic_settings
    from bench.stall import bot_runtime
    from bot.pipeline import poll_many
    from bot.settings import Settings
    from bot.feed_store import active_feeds
    from bot.workers import parse_feed_async

    settings = Settings.model_validate({
        "database": db, "poll_interval": "60s",
        "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(urls)],
        "topics": topic_settings(10),
        "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
        "articles": {"fetch": False}, "sentence_vectors": vectors,
    })
    open_runtime, _ = bot_runtime()  # this tree's, or a baseline's bot.app
    me, peak = psutil.Process(), [0]

    def sample():
        while True:
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.2)

    async def poll():
        console = ConsoleAdapter(io.StringIO(), json_lines=True)
        async with open_runtime(settings, {"console": console}) as rt:
            await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url=urls[0])
            before = me.memory_info().rss
            threading.Thread(target=sample, daemon=True).start()
            began = time.perf_counter()
            results = await poll_many(rt.pipeline, active_feeds(rt.db))
            seconds = time.perf_counter() - began
            items = sum(r.new_items for r in results)
            return {"items": items, "poll_s": seconds, "before_mb": before / 2**20,
                    "peak_mb": max(peak[0], me.memory_info().rss) / 2**20}

    return asyncio.run(poll())

if __name__ == "__main__":
    urls, vectors = json.loads(sys.argv[1]), sys.argv[2] == "on"
    with tempfile.TemporaryDirectory() as tmp:
        print("RESULT " + json.dumps(main(urls, str(Path(tmp) / "b.db"), vectors)))
"""


def _child(code: Path, urls: list[str], vectors: bool, tmp: Path) -> dict:
    """One first poll by `code`'s bot, in a fresh interpreter (its workers spawn from it)."""
    script = tmp / "flood_child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(urls), "on" if vectors else "off"],
        cwd=tmp,
        env=os.environ | {"PYTHONPATH": f"{code}:{ROOT}"},
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"flood child failed ({done.returncode}): {done.stderr[-800:]}")


def run(quick: bool = False, against: str = BASELINE) -> Section:
    began = time.perf_counter()
    sizes = ((150, False),) if quick else ((400, False), (400, True))
    section = Section(
        "A first poll of many new feeds: the bot's peak memory",
        ["feeds", "sentence_vectors", "code", "items", "before_mb", "peak_mb", "poll_s",
         "peak_vs_baseline", "time_vs_baseline"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        codes = ((f"baseline: {against}", checkout(against, Path(tmp))), ("this tree", ROOT))
        for feeds, vectors in sizes:
            with FeedServer(feeds) as server:
                urls = [server.url(i) for i in range(feeds)]
                base = None
                for name, code in codes:
                    r = _child(code, urls, vectors, Path(tmp))
                    base = base or r
                    section.add(
                        feeds=feeds,
                        sentence_vectors="on" if vectors else "off",
                        code=name,
                        items=r["items"],
                        before_mb=r["before_mb"],
                        peak_mb=r["peak_mb"],
                        poll_s=r["poll_s"],
                        peak_vs_baseline=f"{r['peak_mb'] / base['peak_mb']:.2f}x",
                        time_vs_baseline=f"{r['poll_s'] / base['poll_s']:.2f}x",
                    )
    section.notes.append(
        "before_mb: the bot's process once its runtime is open and its workers answer; "
        "peak_mb: the most it held during the poll. Every item of every feed is new."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--against", default=BASELINE, help="the baseline commit")
    args = ap.parse_args()
    print(run(args.quick, args.against).markdown())


if __name__ == "__main__":
    main()
