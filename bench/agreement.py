"""Parser agreement and speed on the real feeds in tests/data/real-feeds/.

Our parse path must find every entry feedparser finds (tests/test_parse.py asserts it per
feed); this reports the totals and what the safety and cleaning around feedparser cost:
MB/s and ms per feed for plain `feedparser.parse` and for `bot.feeds.parse.parse_feed`.

`python -m bench.agreement`
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import feedparser

from bench.report import Section

REAL_FEEDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real-feeds"


def run(quick: bool = False) -> Section:
    from bot.errors import FeedParseError
    from bot.feeds.parse import parse_feed

    began = time.perf_counter()
    paths = sorted(REAL_FEEDS.glob("*.xml"))
    section = Section(
        f"Parser agreement with feedparser on {len(paths)} real feeds",
        ["parser", "feeds", "entries", "missing_vs_feedparser", "feeds_with_missing",
         "mb", "ms_per_feed", "mb_per_s"],
    )  # fmt: skip
    bodies = [p.read_bytes() for p in paths]
    mb = sum(map(len, bodies)) / 2**20
    start = time.perf_counter()
    reference = [len(feedparser.parse(io.BytesIO(b)).entries) for b in bodies]
    fp_s = time.perf_counter() - start
    ours: list[int] = []
    start = time.perf_counter()
    for b in bodies:
        try:
            ours.append(len(parse_feed(b, feed_url="https://feed.example/rss").entries))
        except FeedParseError:
            ours.append(0)
    our_s = time.perf_counter() - start
    missing = [max(0, min(r, 1000) - o) for r, o in zip(reference, ours, strict=True)]
    for name, count, seconds, miss in (
        ("feedparser.parse", reference, fp_s, None),
        ("wirewatch parse_feed", ours, our_s, missing),
    ):
        section.add(
            parser=name,
            feeds=len(bodies),
            entries=sum(count),
            missing_vs_feedparser=sum(miss) if miss is not None else "",
            feeds_with_missing=sum(1 for m in miss if m) if miss is not None else "",
            mb=mb,
            ms_per_feed=seconds / len(bodies) * 1000,
            mb_per_s=mb / seconds,
        )
    section.notes.append(
        "parse_feed caps a feed at 1,000 entries (newest kept); 'missing' counts entries "
        "feedparser found that parse_feed did not, after that cap. tests/test_parse.py "
        "asserts the same per feed (test_real_feeds_yield_every_entry_feedparser_finds)."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(run().markdown())


if __name__ == "__main__":
    main()
