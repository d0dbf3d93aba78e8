"""Steady state: a cycle over 1,000 unchanged feeds, every answer a 304. Target: under 1 s.

Each contender first polls every feed once (storing ETags), then polls them all again; the
second cycle is the one reported: wall time and CPU. Nothing is parsed or stored in it, so
it measures the per-feed overhead of polling (HTTP round trip, bookkeeping in SQLite).

`python -m bench.steady [--quick]` (quick: 200 feeds)
"""

from __future__ import annotations

import time

from bench.feedserver import FeedServer
from bench.measure import run_child
from bench.report import Section, run_alone

CONTENDERS = (("wirewatch", 10), ("reader", 0), ("feedparser", 0))


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    n = 200 if quick else 1000
    section = Section(
        f"Steady state: second cycle over {n} unchanged feeds (all 304)",
        ["feeds", "contender", "not_modified_cycle_s", "cpu_s", "ms_per_feed", "vs_reader",
         "target_under_1s_at_1000"],
    )  # fmt: skip
    with FeedServer(n, per_feed=5) as server:
        rows = []
        for name, topics in CONTENDERS:
            args = [name, "--base", server.base, "--feeds", str(n), "--topics", str(topics)]
            rows.append((name, run_child("bench.contenders", *args, "--cycles", "2")))
    reader = next(r["cycles"][1]["wall_s"] for name, r in rows if name == "reader")
    for name, r in rows:
        c = r["cycles"][1]
        section.add(
            feeds=n,
            contender=name,
            not_modified_cycle_s=c["wall_s"],
            cpu_s=c["cpu_s"],
            ms_per_feed=c["wall_s"] / n * 1000,
            vs_reader=f"{reader / c['wall_s']:.2f}x faster",
            target_under_1s_at_1000=(
                ("met" if c["wall_s"] * 1000 / n < 1 else "MISSED") if name == "wirewatch" else ""
            ),
        )
        if c["items"]:
            section.notes.append(f"{name}: {c['items']} items in the second cycle (expected 0)")
    if quick:
        section.notes.append("Quick mode: 200 feeds; the target is judged scaled to 1,000.")
    section.notes.append(
        "Feeds carry 5 items each here so that the priming cycle is short; the measured cycle "
        "parses nothing, so item count does not enter it.",
    )
    section.notes.append(
        "reader: update_feeds(workers=16, scheduled=False) so that every feed is polled; "
        "feedparser: urllib with If-None-Match, one feed after another."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
