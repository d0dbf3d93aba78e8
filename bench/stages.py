"""Where an ingested item's time goes: each pipeline stage alone, in microseconds per item.

The end-to-end benchmark says how fast; this one says why. It runs the functions the
pipeline calls for one new item (bot.pipeline._decide and bot.ingest.store_new_items) on
the same synthetic feeds, one stage at a time, in this process (no HTTP, no worker pool):

    parse (feedparser + our cleaning) -> summarize -> entities -> could_match -> match
    -> group (StoryIndex.assign + add) -> store (one transaction per feed, grouping included)

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


def _timed(fn, *args) -> float:
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def run(quick: bool = False) -> Section:
    from bot.feeds.parse import parse_feed
    from bot.topics.entities import Gazetteer

    began = time.perf_counter()
    feeds = 20 if quick else 100
    corpus, now = Corpus(), now_utc()
    bodies = [corpus.feed_xml(i, now, corpus.feed_items(i, now)) for i in range(feeds)]
    section = Section(
        f"Stages: microseconds per item ({feeds} feeds x 50 items, one core, in-process)",
        ["stage", "us_per_item", "share_of_main_thread"],
    )
    cost: dict[str, float] = {}
    cost["feedparser.parse alone"] = sum(_timed(feedparser.parse, io.BytesIO(b)) for b in bodies)
    parsed = []
    start = time.process_time()
    for b in bodies:
        parsed.append(parse_feed(b, feed_url=FEED_URL))
    cost["parse_feed (feedparser + cleaning; worker pool)"] = time.process_time() - start
    entries = [e for p in parsed for e in p.entries]
    gazetteer = Gazetteer.load()
    cost.update(_decide_costs(entries, gazetteer))
    cost.update(_store_costs(parsed, gazetteer))
    n = len(entries)
    main_thread = sum(v for k, v in cost.items() if _in_total(k))
    for stage, seconds in cost.items():
        share = f"{100 * seconds / main_thread:.0f}%"
        if stage.startswith(("feedparser", "parse_feed")):
            share = "(worker)"
        elif not _in_total(stage):
            share = f"({share}, not in total)"
        section.add(stage=stage, us_per_item=seconds / n * 1e6, share_of_main_thread=share)
    section.add(
        stage="**main thread total**", us_per_item=main_thread / n * 1e6, share_of_main_thread=""
    )
    section.notes.append(
        f"{n} items. 'main thread' is what runs on the event loop's thread per new item; "
        "parsing runs in the 2-process pool. Topics: the built-ins plus generated ones."
    )
    section.seconds = time.perf_counter() - began
    return section


def _in_total(stage: str) -> bool:
    """Stages on the event loop's thread with 10 topics (group is inside store)."""
    return not stage.startswith(("feedparser", "parse_feed", " ")) and "1000" not in stage


def _decide_costs(entries, gazetteer) -> dict[str, float]:
    from bench.contenders import topic_settings
    from bot.catalog import configured_topics
    from bot.settings import Settings
    from bot.text.summary import summarize
    from bot.topics.match import Matcher

    out: dict[str, float] = {}
    start = time.process_time()
    for e in entries:
        summarize(e.title, e.summary)
    out["summarize (alert summary)"] = time.process_time() - start
    start = time.process_time()
    for e in entries:
        gazetteer.names(f"{e.title}\n{e.summary}")
    out["entities (gazetteer.names)"] = time.process_time() - start
    for count in (10, 1000):
        settings = Settings.model_validate({"topics": topic_settings(count)})
        matcher = Matcher(configured_topics(settings), gazetteer)
        start = time.process_time()
        for e in entries:
            matcher.could_match(e.title, e.summary)
        out[f"could_match ({count} topics)"] = time.process_time() - start
        start = time.process_time()
        for e in entries:
            matcher.match(e.title, e.summary)
        out[f"match ({count} topics)"] = time.process_time() - start
    return out


def _store_costs(parsed, gazetteer) -> dict[str, float]:
    from bot.db import open_database
    from bot.ingest import NewItem, store_new_items
    from bot.store import add_feed
    from bot.stories import StoryDoc, StoryIndex
    from bot.text.summary import summarize

    now = datetime.now(UTC)
    batches = []
    for p in parsed:
        batches.append(
            [
                NewItem(
                    entry=e,
                    published=min(e.published or now, now),
                    text=None,
                    alert_summary=summarize(e.title, e.summary),
                    entities=gazetteer.names(f"{e.title}\n{e.summary}"),
                    matches=(),
                    alertable=True,
                )
                for e in p.entries
            ]
        )
    out: dict[str, float] = {}
    index = StoryIndex()
    start = time.process_time()
    key = 0
    for batch in batches:
        for item in batch:
            key += 1
            doc = StoryDoc(key, item.entry.title, item.entry.summary, item.entities, item.published)
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
        out["store_new_items (SQLite + FTS + grouping)"] = time.process_time() - start
        db.close()
    out["  of which group (assign + add)"] = grouping
    return out


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
