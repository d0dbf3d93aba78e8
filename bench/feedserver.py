"""A feed server for the benchmarks, in its own process, on 127.0.0.1 only.

`python -m bench.feedserver --feeds N` renders N synthetic feeds (bench.corpus) and serves
them at /feed/{i}.xml with an ETag and Last-Modified, answering conditional GETs with 304.
POST /publish/{i} puts a fresh item at the top of feed i (the latency benchmark's "an outlet
publishes now") and returns its guid; GET /stats counts what was served.

It runs in a separate process so that serving costs every contender the same and never
shares an interpreter with the code being measured. `FeedServer` starts and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from bench.corpus import ITEMS_PER_FEED, Corpus, Item, now_utc

HOST = "127.0.0.1"


@dataclass
class _Feed:
    items: list[Item]
    body: bytes
    etag: str
    modified: str


def _render(args: tuple[int, int, datetime, int, int]) -> list[tuple[int, list[Item], bytes]]:
    start, stop, now, seed, per_feed = args
    corpus = _corpus(seed)
    out = []
    for i in range(start, stop):
        items = corpus.feed_items(i, now, per_feed)
        out.append((i, items, corpus.feed_xml(i, now, items)))
    return out


_CORPORA: dict[int, Corpus] = {}


def _corpus(seed: int) -> Corpus:
    if seed not in _CORPORA:
        _CORPORA[seed] = Corpus(seed)
    return _CORPORA[seed]


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def render_all(count: int, seed: int, now: datetime, per_feed: int) -> dict[int, _Feed]:
    """Every feed's items and body, rendered on both cores (5,000 feeds take a while)."""
    chunks = [(s, min(s + 100, count), now, seed, per_feed) for s in range(0, count, 100)]
    modified = format_datetime(now, usegmt=True)
    feeds: dict[int, _Feed] = {}
    with ProcessPoolExecutor(2) as pool:
        for rendered in pool.map(_render, chunks):
            for i, items, body in rendered:
                feeds[i] = _Feed(items, body, _etag(body), modified)
    return feeds


def make_app(feeds: dict[int, _Feed], seed: int) -> web.Application:
    stats = {"requests": 0, "not_modified": 0, "bytes": 0, "published": 0}
    corpus = _corpus(seed)

    async def feed(request: web.Request) -> web.StreamResponse:
        stats["requests"] += 1
        f = feeds.get(int(request.match_info["n"]))
        if f is None:
            raise web.HTTPNotFound()
        headers = {"ETag": f.etag, "Last-Modified": f.modified}
        if request.headers.get("If-None-Match") == f.etag:
            stats["not_modified"] += 1
            return web.Response(status=304, headers=headers)
        stats["bytes"] += len(f.body)
        return web.Response(body=f.body, headers=headers, content_type="application/rss+xml")

    async def publish(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        f = feeds[n]
        now = datetime.now(UTC)
        stats["published"] += 1
        fresh = corpus.item(n, ITEMS_PER_FEED + stats["published"], now)
        title = f"{request.query.get('probe', '')} {stats['published']} {fresh.title}".strip()
        fresh = Item(f"pub-{n}-{stats['published']}", fresh.link, title, fresh.html, now)
        items = [fresh, *f.items[: max(1, len(f.items)) - 1]] if f.items else [fresh]
        body = corpus.feed_xml(n, now, items)
        feeds[n] = _Feed(items, body, _etag(body), format_datetime(now, usegmt=True))
        return web.json_response({"guid": fresh.guid, "title": fresh.title, "at": time.time()})

    async def get_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(stats)

    app = web.Application()
    app.router.add_get("/feed/{n:\\d+}.xml", feed)
    app.router.add_post("/publish/{n:\\d+}", publish)
    app.router.add_get("/stats", get_stats)
    return app


async def _serve(count: int, seed: int, per_feed: int) -> None:
    feeds = render_all(count, seed, now_utc(), per_feed)
    runner = web.AppRunner(make_app(feeds, seed), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY {port} {sum(len(f.body) for f in feeds.values())}", flush=True)
    await asyncio.Event().wait()


class FeedServer:
    """`with FeedServer(n) as server:` serves n feeds; `server.url(i)` is feed i."""

    def __init__(self, count: int, seed: int = 7, per_feed: int = ITEMS_PER_FEED):
        self.count = count
        self.seed = seed
        self.per_feed = per_feed
        self.base = ""
        self.total_bytes = 0

    def __enter__(self) -> FeedServer:
        cmd = [sys.executable, "-m", "bench.feedserver", "--feeds", str(self.count)]
        cmd += ["--seed", str(self.seed), "--items", str(self.per_feed)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self._proc.kill()
            raise RuntimeError("the bench feed server did not start")
        self.base = f"http://{HOST}:{line[1]}"
        self.total_bytes = int(line[2])
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(10)

    def url(self, i: int) -> str:
        return f"{self.base}/feed/{i}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.count)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--items", type=int, default=ITEMS_PER_FEED, help="items per feed")
    args = ap.parse_args()
    asyncio.run(_serve(args.feeds, args.seed, args.items))


if __name__ == "__main__":
    main()
