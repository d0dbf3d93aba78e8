"""The things being compared, each a child process that polls the bench feeds and reports.

`python -m bench.contenders NAME --base URL --feeds N [--topics T] [--cycles 2]` runs one:

- `wirewatch`: the real runtime (`open_runtime`), one cycle as `poll_once` runs it: fetch,
  parse in the worker pool, clean, match against T topics, group into stories, store in one
  transaction per feed, deliver alerts to a console adapter writing to memory. Article pages
  are not fetched (`articles.fetch: false`): the baselines do not fetch them either.
- `reader`: lemon24/reader's `update_feeds(workers=16)` into its own SQLite file.
- `feedparser`: a plain loop, urllib GET then `feedparser.parse`, nothing stored.
- `feedparser-2proc`: the same loop over a pool of 2 processes: the most that feedparser
  alone can do on this machine's two cores.

With `--cycles 2` the second cycle is reported: every feed unchanged, every answer a 304
(each contender sends its stored ETag). Each prints one JSON line: items, wall, CPU, RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import multiprocessing
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import feedparser

from bench.corpus import Corpus
from bench.measure import Meter, emit

BUILTIN_TOPICS = 4  # config/topics.yaml ships four; generated ones make up the rest


def topic_settings(count: int) -> dict[str, dict[str, str]]:
    extra = max(0, count - BUILTIN_TOPICS)
    return {name: {"query": q} for name, q in Corpus().topics(extra).items()}


async def _wirewatch(urls: list[str], topics: int, db: str, cycles: int) -> list[dict]:
    from adapters.console import ConsoleAdapter
    from bot.feed_store import active_feeds
    from bot.notice_outbox import deliver_notices
    from bot.outbox import deliver_pending, reconcile
    from bot.pipeline import poll_many
    from bot.settings import Settings
    from bot.startup import open_runtime
    from bot.workers import parse_feed_async

    settings = Settings.model_validate(
        {
            "database": db,
            "poll_interval": "60s",
            "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(urls)],
            "topics": topic_settings(topics),
            "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
            "articles": {"fetch": False},
        }
    )
    console = ConsoleAdapter(io.StringIO(), json_lines=True)
    async with open_runtime(settings, {"console": console}) as rt:
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url=urls[0])
        out = []
        for _ in range(cycles):
            with Meter() as m:  # the steps of bot.poll_cycle.poll_once, timed apart
                await reconcile(rt.db, rt.adapters)
                results = await poll_many(rt.pipeline, active_feeds(rt.db))
                polled = m.elapsed()
                stats = await deliver_pending(rt.db, rt.adapters)
                await deliver_notices(rt.db, rt.adapters)
            failed = [r for r in results if not r.ok]
            out.append(
                {
                    **m.as_dict(),
                    "items": sum(r.new_items for r in results),
                    "failed_feeds": len(failed),
                    "first_error": failed[0].error if failed else None,
                    "alerts_sent": stats.sent,
                    "poll_s": round(polled, 3),
                }
            )
        return out


def _reader(urls: list[str], db: str, cycles: int) -> list[dict]:
    from reader import make_reader

    reader = make_reader(db)
    for url in urls:
        reader.add_feed(url)
    out = []
    for cycle in range(cycles):
        before = reader.get_entry_counts().total
        with Meter() as m:
            # scheduled=False: poll every feed now (reader otherwise waits an hour between updates)
            reader.update_feeds(workers=16, scheduled=cycle == 0)
        failed = [f for f in reader.get_feeds() if f.last_exception]
        out.append(
            {
                **m.as_dict(),
                "items": reader.get_entry_counts().total - before,
                "failed_feeds": len(failed),
                "first_error": str(failed[0].last_exception) if failed else None,
            }
        )
    reader.close()
    return out


def _fetch_parse(url_etag: tuple[str, str | None]) -> tuple[int, str | None]:
    """One feed the plain way: GET (conditional when we have an ETag), feedparser, count."""
    url, etag = url_etag
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body, etag = response.read(), response.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return 0, etag
        raise
    return len(feedparser.parse(io.BytesIO(body)).entries), etag


def _feedparser(urls: list[str], cycles: int, processes: int) -> list[dict]:
    etags: dict[str, str | None] = dict.fromkeys(urls)
    pool = multiprocessing.get_context("spawn").Pool(processes) if processes > 1 else None
    if pool is not None:
        pool.map(_fetch_parse, [(urls[0], None)])  # workers started before the clock
    out = []
    for _ in range(cycles):
        with Meter() as m:
            jobs = [(u, etags[u]) for u in urls]
            done = pool.map(_fetch_parse, jobs, chunksize=4) if pool else map(_fetch_parse, jobs)
            done = list(done)
        etags = {u: etag for u, (_, etag) in zip(urls, done, strict=True)}
        out.append({**m.as_dict(), "items": sum(n for n, _ in done), "failed_feeds": 0})
    if pool is not None:
        pool.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="run one contender over the bench feeds")
    ap.add_argument("name", choices=["wirewatch", "reader", "feedparser", "feedparser-2proc"])
    ap.add_argument("--base", required=True, help="the bench feed server's base URL")
    ap.add_argument("--feeds", type=int, required=True)
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    urls = [f"{args.base}/feed/{i}.xml" for i in range(args.feeds)]
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        db = str(Path(tmp) / "bench.db")
        if args.name == "wirewatch":
            cycles = asyncio.run(_wirewatch(urls, args.topics, db, args.cycles))
        elif args.name == "reader":
            cycles = _reader(urls, db, args.cycles)
        else:
            cycles = _feedparser(urls, args.cycles, 2 if args.name.endswith("2proc") else 1)
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
    emit(
        {
            "contender": args.name,
            "feeds": args.feeds,
            "topics": args.topics,
            "cycles": cycles,
            "db_bytes": db_bytes,
        }
    )


if __name__ == "__main__":
    main()
