"""Where an ingested item's time goes: each pipeline stage alone, in microseconds per item.

The end-to-end benchmark says how fast; this one says why. It runs the functions a poll
runs for one new item on the same synthetic feeds, one stage at a time, in this process
(no HTTP, no worker pool), split by where they run in the bot:

    parse worker:  feedparser/fast parse + cleaning (parse_feed) -> prepare (bot.prepare)
    event loop:    topics (could_match + match on the prepared text)
                   -> store (one transaction per feed: SQLite + FTS + story grouping)

`python -m bench.stages [--quick]`
"""

from __future__ import annotations

import io
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from bench.corpus import Corpus, now_utc
from bench.report import Section, run_alone

FEED_URL = "https://outlet.example/feed.xml"


def _cpu(fn, *args):
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def run(quick: bool = False) -> Section:
    from dataclasses import replace

    from bot.feeds.parse import parse_feed
    from bot.prepare import prepare_entries

    began = time.perf_counter()
    feeds = 20 if quick else 100
    corpus, now = Corpus(), now_utc()
    bodies = [corpus.feed_xml(i, now, corpus.feed_items(i, now)) for i in range(feeds)]
    section = Section(
        f"Stages: microseconds per item ({feeds} feeds x 50 items, one core, in-process)",
        ["stage", "where", "us_per_item"],
    )
    rows: list[tuple[str, str, float]] = []
    seconds, _ = _cpu(lambda: [feedparser.parse(io.BytesIO(b)) for b in bodies])
    rows.append(("feedparser.parse alone (reference)", "-", seconds))
    seconds, parsed = _cpu(lambda: [parse_feed(b, feed_url=FEED_URL) for b in bodies])
    rows.append(("parse_feed (parse + cleaning)", "worker", seconds))
    seconds, parsed = _cpu(lambda: [replace(p, entries=prepare_entries(p.entries)) for p in parsed])
    rows.append(("prepare (words, entities, story terms)", "worker", seconds))
    entries = [e for p in parsed for e in p.entries]
    for count in (10, 1000):
        rows.append(
            (f"topics: could_match + match ({count} topics)", "loop", _topics(entries, count))
        )
    store, group = _store(parsed)
    rows.append(("store_new_items (SQLite + FTS + grouping)", "loop", store))
    rows.append(("  of which story grouping (assign + add)", "(loop)", group))
    n = len(entries)
    for stage, where, secs in rows:
        section.add(stage=stage, where=where, us_per_item=secs / n * 1e6)
    for where in ("worker", "loop"):
        total = sum(s for stage, w, s in rows if w == where and "1000" not in stage)
        section.add(
            stage=f"**{where} total (10 topics)**", where=where, us_per_item=total / n * 1e6
        )
    section.notes.append(
        f"{n} items, CPU time. 'worker' runs in the 2 parse processes, 'loop' on the event "
        "loop's thread; the loop total bounds ingest at 1e6 / total items per second."
    )
    section.seconds = time.perf_counter() - began
    return section


def _topics(entries, count: int) -> float:
    from bench.contenders import topic_settings
    from bot.catalog import configured_topics
    from bot.gazetteer import Gazetteer
    from bot.settings import Settings
    from bot.topics.match import Matcher

    settings = Settings.model_validate({"topics": topic_settings(count)})
    matcher = Matcher(configured_topics(settings), Gazetteer.load())
    start = time.process_time()
    for e in entries:
        if matcher.could_match_prepared(e.prepared):
            matcher.match_prepared(e.prepared)
    return time.process_time() - start


def _store(parsed) -> tuple[float, float]:
    """CPU of storing every feed's items, and of the grouping alone on the same docs."""
    from bot.db import open_database
    from bot.feed_store import add_feed
    from bot.ingest import NewItem, store_new_items
    from bot.stories import StoryDoc, StoryIndex

    now = datetime.now(UTC)
    batches = [
        [
            NewItem(
                entry=e,
                published=min(e.published or now, now),
                text=None,
                alert_summary="",
                entities=e.prepared.names,
                matches=(),
                alertable=True,
                terms=e.prepared.terms,
            )
            for e in p.entries
        ]
        for p in parsed
    ]
    index = StoryIndex()
    start = time.process_time()
    for key, item in enumerate((i for b in batches for i in b), 1):
        e = item.entry
        doc = StoryDoc(key, e.title, e.summary, item.entities, item.published, terms=item.terms)
        index.add(doc, index.assign(doc) or key)
    grouping = time.process_time() - start
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "stages.db")
        feeds = [
            add_feed(db, f"https://o{i}.example/f", f"o{i}", origin="config")
            for i in range(len(batches))
        ]
        index = StoryIndex()
        start = time.process_time()
        for feed, batch in zip(feeds, batches, strict=True):
            store_new_items(db, feed, batch, index, now)
        store = time.process_time() - start
        db.close()
    return store, grouping


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
