"""End-to-end ingest: N feeds x 50 items over loopback HTTP, wirewatch against baselines.

For each N (quick: 100; full: 100, 1,000, 5,000) one feed server process serves N fresh
feeds, and each contender (bench/contenders.py) runs once in its own process against it:
wirewatch with 10 and with 1,000 topics (matching, grouping, storing, alerting included),
reader's update_feeds, a plain feedparser loop, and that loop on 2 processes. Reported:
items/s, cycle wall time, CPU seconds (parse workers included), peak RSS of the process
tree, and throughput relative to reader from the same invocation.

`python -m bench.ingest [--quick] [--feeds N ...]`
"""

from __future__ import annotations

import argparse
import time

from bench.feedserver import FeedServer
from bench.measure import run_child
from bench.report import Section

CONTENDERS = (
    ("wirewatch", 10),
    ("wirewatch", 1000),
    ("reader", 0),
    ("feedparser", 0),
    ("feedparser-2proc", 0),
)
COLUMNS = [
    "feeds", "contender", "items", "cycle_wall_s", "items_per_s", "vs_reader",
    "cpu_s", "cpu_ms_per_feed", "peak_rss_mb", "db_mb_per_1k_items",
]  # fmt: skip


def label(name: str, topics: int) -> str:
    return f"wirewatch ({topics} topics)" if name == "wirewatch" else name


def run_sizes(sizes: tuple[int, ...], title: str, contenders=CONTENDERS) -> Section:
    began = time.perf_counter()
    section = Section(title, COLUMNS)
    for n in sizes:
        with FeedServer(n) as server:
            results = []
            for name, topics in contenders:
                args = [name, "--base", server.base, "--feeds", str(n), "--topics", str(topics)]
                results.append((name, topics, run_child("bench.contenders", *args)))
        reader = next(r["cycles"][0] for name, _, r in results if name == "reader")
        reader_rate = reader["items"] / reader["wall_s"]
        for name, topics, r in results:
            c = r["cycles"][0]
            rate = c["items"] / c["wall_s"]
            stored = name in ("wirewatch", "reader") and c["items"]
            section.add(
                feeds=n,
                contender=label(name, topics),
                items=c["items"],
                cycle_wall_s=c["wall_s"],
                items_per_s=rate,
                vs_reader=f"{rate / reader_rate:.2f}x",
                cpu_s=c["cpu_s"],
                cpu_ms_per_feed=c["cpu_s"] / n * 1000,
                peak_rss_mb=c["peak_rss_mb"],
                db_mb_per_1k_items=r["db_bytes"] / 2**20 / c["items"] * 1000 if stored else None,
            )
            if c.get("failed_feeds"):
                section.notes.append(
                    f"{label(name, topics)} at {n} feeds: {c['failed_feeds']} feeds failed, "
                    f"first error: {c.get('first_error')}"
                )
    section.notes += [
        "One cycle from an empty database: every item is new. wirewatch's cycle is "
        "bot.poll_cycle.poll_once's steps (reconcile, poll_many, deliver_pending, "
        "deliver_notices); "
        "article pages are not fetched (articles.fetch: false), as the baselines fetch none.",
        "CPU and peak RSS cover the whole process tree (wirewatch's 2 parse workers, the "
        "2-process feedparser pool); the feed server runs in its own process, not counted.",
        "reader: lemon24/reader update_feeds(workers=16); feedparser: urllib GET + "
        "feedparser.parse per feed, nothing stored.",
    ]
    section.seconds = time.perf_counter() - began
    return section


def run(quick: bool = False) -> Section:
    sizes = (20,) if quick else (100, 1000, 5000)
    return run_sizes(sizes, "End-to-end ingest: N feeds x 50 items, one cycle, empty database")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--feeds", type=int, nargs="*")
    ap.add_argument(
        "--without", nargs="*", default=[], help="contenders to skip, e.g. 'wirewatch:1000'"
    )
    args = ap.parse_args()
    chosen = tuple(c for c in CONTENDERS if f"{c[0]}:{c[1]}" not in args.without)
    if args.feeds:
        print(run_sizes(tuple(args.feeds), "End-to-end ingest", chosen).markdown())
    else:
        print(run(args.quick).markdown())


if __name__ == "__main__":
    main()
