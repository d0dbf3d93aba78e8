"""A wirewatch database holding many stored items, built fast, for the memory and storage runs.

Feeds 0..F-1 each get `per_feed` items (identities `guid:outlet{i}-{n}`, the bench feed
server's own, so a bot polling that server finds nothing new), one every 43 minutes going
back: with 1,000 per feed that is 30 days, of which the 72 h story window holds the newest
100 per feed. Titles, cleaned summaries and entities come from a pool of 20,000 synthetic
items parsed by the real parser; 2 % of items carry a topic match and a sent delivery, as
the built-in topic does on wire traffic. Rows go in through the real schema (bot.db), FTS
triggers included, in one transaction per 50,000 items. The items of the story window
(and a few hours more) get their story terms stored (bot.storyterms), as the running bot
leaves them.

Deliberately not the pipeline: 1M items through it would take hours. bench/ingest.py
reports the database size per item that the pipeline itself produces, for comparison.

Built databases are cached under /tmp/wwbench-cache/ (their feed URLs are rewritten to the
current server's before each use).
"""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import ITEMS_PER_FEED, Corpus, now_utc

CACHE = Path("/tmp/wwbench-cache")
ROOT = Path(__file__).resolve().parent.parent
POOL = 20_000
STEP = timedelta(minutes=43)


def _pool() -> list[tuple[str, str, str, str]]:
    """(title, summary, alert_summary, entities JSON) of POOL parsed items."""
    return [text for feed in range(POOL // ITEMS_PER_FEED) for text in _served(feed)]


@functools.cache
def _makers() -> tuple[Corpus, Any]:
    from bot.gazetteer import Gazetteer

    return Corpus(), Gazetteer.load()


def _served(feed: int) -> list[tuple[str, str, str, str]]:
    """What the bench feed server serves as feed `feed` (its ITEMS_PER_FEED newest items,
    newest first), parsed by the real parser: (title, summary, alert_summary, entities)."""
    from bot.feeds.parse import parse_feed

    corpus, gazetteer = _makers()
    now = now_utc()
    body = corpus.feed_xml(feed, now, corpus.feed_items(feed, now))
    out = []
    for e in parse_feed(body, feed_url="https://b.example/").entries:
        names = gazetteer.names(f"{e.title}\n{e.summary}")
        lead = " ".join(e.summary.split(". ")[:2])[:500]
        out.append((e.title, e.summary, lead, json.dumps(list(names))))
    return out


def build(path: Path, feeds: int, per_feed: int) -> Path:
    """Create (or reuse from the cache) a database with feeds x per_feed items."""
    from bot import storyterms
    from bot.migrations import SCHEMA_VERSION

    # Stored story terms of another version are not read, and a file of a newer schema is
    # refused (a branch's cache, back on main): the cache is named for both.
    items = f"served-{feeds}x{per_feed}"  # "items-": older caches, served items not stored
    cached = CACHE / f"{items}-terms-v{storyterms.VERSION}-schema{SCHEMA_VERSION}.db"
    if not cached.exists():
        CACHE.mkdir(exist_ok=True)
        tmp = cached.with_suffix(".building")
        for p in CACHE.glob(tmp.name + "*"):
            p.unlink()
        usable = [p for p in CACHE.glob(f"{items}-*.db") if _schema(p) <= SCHEMA_VERSION]
        if usable:  # the same items, migrated forward when opened
            shutil.copyfile(max(usable, key=_schema), tmp)
        else:
            _fill_items(tmp, feeds, per_feed)
        for stale in CACHE.glob(f"{items}-terms-*.db*"):  # and its -wal, -shm
            if _schema(stale) == SCHEMA_VERSION:
                stale.unlink()  # another terms version of this schema: never read again
        _fill_terms(tmp)
        tmp.rename(cached)
    shutil.copyfile(cached, path)
    return path


def _schema(path: Path) -> int:
    """The schema version a cached file is at (its name says; 0 for an older name)."""
    _, _, tail = path.name.partition("-schema")
    return int(tail.split(".")[0]) if tail.split(".")[0].isdigit() else 0


def _fill_items(path: Path, feeds: int, per_feed: int) -> None:
    from bot.clock import iso
    from bot.db import open_database

    open_database(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    _fill(conn, feeds, per_feed, _pool(), datetime.now(UTC), iso)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _fill_terms(path: Path, hours: float = 76) -> None:
    """Store the story terms of the items first seen in the last `hours`, as the bot does."""
    from bot import storyterms
    from bot.clock import iso, parse_iso
    from bot.db import open_database, write
    from bot.ingest import grouping_text
    from bot.stories import StoryDoc, doc_terms
    from bot.text.versions import digest

    db = open_database(path)  # migrated to this version's schema first
    # What each item says, as the bot stores it with the item (a poll compares it: without
    # it, a first cycle would take every stored entry in the feeds' window for a rewrite).
    said = functools.lru_cache(maxsize=None)(digest)  # items repeat the pool's texts
    db.conn.create_function("bench_digest", 2, said, deterministic=True)
    with write(db):
        db.execute("UPDATE items SET digest = bench_digest(title, summary) WHERE digest IS NULL")
    since = iso(datetime.now(UTC) - timedelta(hours=hours))
    rows = db.execute(
        "SELECT id, title, summary, alert_summary, entities, published FROM items "
        "WHERE first_seen >= ?",
        [since],
    ).fetchall()
    memo: dict[tuple, dict[str, float]] = {}  # items repeat the pool's texts
    docs = []
    for item_id, title, summary, lead, entities, published in rows:
        doc = StoryDoc(item_id, title, grouping_text(summary, None, lead),
                       tuple(json.loads(entities)), parse_iso(published))  # fmt: skip
        key = (doc.title, doc.text, doc.entities)
        terms = memo.get(key) or memo.setdefault(key, doc_terms(doc))
        docs.append(StoryDoc(item_id, "", "", (), doc.published, terms=terms))
    with write(db):
        storyterms.save(db, sorted(docs, key=lambda d: d.item_id))  # in order, as the bot
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _fill(conn, feeds: int, per_feed: int, pool, now: datetime, iso) -> None:
    started = iso(now)
    conn.execute(
        "INSERT INTO subscriptions (id, channel, topic, mode, origin, created) "
        "VALUES (1, 'console', 'troop-deployments', 'instant', 'config', ?)",
        [started],
    )
    conn.executemany(
        "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
        "VALUES (?, ?, ?, 'config', ?, ?)",
        [(i + 1, f"bench://feed/{i}.xml", f"outlet-{i}", started, started) for i in range(feeds)],
    )
    total = feeds * per_feed
    item_id = 0
    # The items the feed server serves are stored as it serves them, so that a bot polling
    # it finds nothing new (the older ones take the pool's texts).
    served = [_served(feed) for feed in range(feeds)]
    for lo in range(0, total, 50_000):
        conn.execute("BEGIN")
        for k in range(lo, min(total, lo + 50_000)):
            feed, n = k % feeds, k // feeds  # newest first across all feeds, like a real crawl
            item_id += 1
            text = served[feed][n] if n < len(served[feed]) else pool[k % len(pool)]
            _insert(conn, item_id, feed, n, text, now, iso)
        conn.execute("COMMIT")


def _insert(conn, item_id: int, feed: int, n: int, pooled, now: datetime, iso) -> None:
    title, summary, lead, entities = pooled
    when = iso(now - n * STEP - timedelta(seconds=feed * 2.5))
    story = (item_id - 1) // 3 + 1
    if (item_id - 1) % 3 == 0:
        conn.execute(
            "INSERT INTO stories (id, title, first_item, first_seen, last_seen) "
            "VALUES (?, ?, NULL, ?, ?)",
            [story, title, when, when],
        )
    conn.execute(
        "INSERT INTO items (id, feed_id, identity, url, title, summary, text, alert_summary, "
        "entities, published, first_seen, story_id) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        [item_id, feed + 1, f"guid:outlet{feed}-{n}", f"https://outlet{feed}.example/a/{n}",
         title, summary, lead, entities, when, when, story],
    )  # fmt: skip
    if item_id % 50 == 7:
        conn.execute(
            "INSERT INTO matches (item_id, topic, matched, explanation) VALUES (?, ?, ?, ?)",
            [item_id, "troop-deployments", '["troops", "sent"]', "troops NEAR/8 sent (title)"],
        )
        conn.execute(
            "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
            "attempts, next_attempt, created, sent_at, message_id) "
            "VALUES (1, 'console', ?, ?, 'new', 'sent', 1, ?, ?, ?, ?)",
            [story, item_id, when, when, when, f"m{item_id}"],
        )


def build_for(code: Path, path: Path, feeds: int, per_feed: int) -> Path:
    """`build` as the `bot` under `code` makes it: this tree's here, another checkout's (a
    baseline's) in a fresh interpreter. A database this tree made has its newer schema,
    which an older wirewatch refuses (a newer one migrates an older schema, not back)."""
    if code == ROOT:
        return build(path, feeds, per_feed)
    prog = (
        f"import sys; sys.path[:0] = [{str(code)!r}, {str(ROOT)!r}]; from pathlib import Path; "
        f"from bench.bigdb import build; build(Path({str(path)!r}), {feeds}, {per_feed})"
    )
    subprocess.run([sys.executable, "-c", prog], cwd=path.parent, check=True)
    return path


def point_feeds_at(path: Path, base: str) -> None:
    """Rewrite the stored feed URLs to the running bench server's."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE feeds SET url = ? || '/feed/' || (id - 1) || '.xml', etag = NULL", [base])
    conn.close()


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="build a cached bench database")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--per-feed", type=int, default=1000)
    args = ap.parse_args()
    start = time.perf_counter()
    out = build(Path("/tmp/wwbench-cache/last.db"), args.feeds, args.per_feed)
    print(f"{out}: {out.stat().st_size / 2**20:.0f} MB in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
