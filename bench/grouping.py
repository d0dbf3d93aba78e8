"""Story grouping: cost per item with 10k, 100k and 1M documents in the story window.

The claim under test (bot/stories/index.py): `assign` looks only at postings of a document's
rarest terms, newest first and capped, so its cost does not grow with the window. The
index is filled with documents about 20,000 recurring events (several per event, as outlets
retell a story), all published inside the window; then 2,000 new documents are assigned and
added, timed. Memory is the RSS growth of this process while filling the index: the bot
holds the same index for every item in its window.

Filling uses the real `StoryIndex.add`, with `bot.stories.words.stem` memoised while filling only
(stem is a pure function of one word; caching it changes no result, and 1M documents would
otherwise take tens of minutes). The timed phase runs the code exactly as shipped.

`python -m bench.grouping [--quick]`
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import psutil

from bench.corpus import Corpus
from bench.report import Section, run_alone

MB = 2**20
VECTORS_UP_TO = 100_000


def make_docs(corpus: Corpus, start: int, count: int, now: datetime):
    """Short documents (title + the 60 body words the index reads) about recurring events."""
    from bot.stories import StoryDoc

    rng = random.Random(start)
    names = corpus.aliases
    docs = []
    for key in range(start, start + count):
        event = corpus.events[key % len(corpus.events)]
        a, b = event.actors
        title = f"{a} {event.military or 'meets'} {b} as {' '.join(rng.sample(event.keys, 3))}"
        body = " ".join(
            rng.choice(event.keys) if rng.random() < 0.25 else corpus.word(rng) for _ in range(70)
        )
        entities = (a, b, rng.choice(names))
        age = timedelta(seconds=rng.uniform(0, 60 * 3600))
        docs.append((StoryDoc(key, title, body, entities, now - age), event.number))
    return docs


def measure(size: int) -> dict[str, float]:
    """Fill an index with `size` documents, then time new ones (run in a fresh process)."""
    import bot.stories as stories
    from bot.stories import words  # the module whose terms code calls `stem`

    corpus, now = Corpus(), datetime.now(UTC)
    probe = make_docs(corpus, 10**8, 2000, now)
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    index = stories.StoryIndex(window=timedelta(hours=72))
    shipped = words.stem
    words.stem = functools.lru_cache(maxsize=None)(shipped)
    start = time.process_time()
    for lo in range(0, size, 50_000):
        for doc, story in make_docs(corpus, lo, min(50_000, size - lo), now):
            index.add(doc, story)
    fill = time.process_time() - start
    words.stem = shipped
    gc.collect()
    rss = (proc.memory_info().rss - rss0) / MB
    assign, both, joined = _timed_assign(index, probe)
    vectors = _timed_with_vectors(index, probe) if size <= VECTORS_UP_TO else None
    return {"fill": fill, "rss": rss, "assign": assign, "both": both, "joined": joined,
            "pre": _timed_precomputed(index, probe), "vectors": vectors}  # fmt: skip


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    sizes = (10_000, 20_000) if quick else (10_000, 100_000, 1_000_000)
    section = Section(
        "Story grouping: cost per new item by documents in the window",
        ["indexed_docs", "fill_s", "index_rss_mb", "rss_bytes_per_doc", "assign_us",
         "assign_add_us", "vs_10k", "assign_given_terms_us", "assign_with_vectors_us",
         "vectors_vs_terms", "every_vector_read_us", "shipped_vs_every", "joined_a_story"],
    )  # fmt: skip
    base = None
    for size in sizes:
        # A fresh process per size: freed memory of a previous index would hide this one's.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            m = pool.submit(measure, size).result()
        base, vectors = base or m["both"], m["vectors"]
        section.add(
            indexed_docs=size,
            fill_s=m["fill"],
            index_rss_mb=m["rss"],
            rss_bytes_per_doc=m["rss"] * MB / size,
            assign_us=m["assign"],
            assign_add_us=m["both"],
            vs_10k=f"{m['both'] / base:.2f}",
            assign_given_terms_us=m["pre"],
            assign_with_vectors_us=vectors[0] if vectors else None,
            vectors_vs_terms=f"{vectors[0] / m['pre']:.2f}" if vectors else "",
            every_vector_read_us=vectors[1] if vectors else None,
            shipped_vs_every=f"{vectors[0] / vectors[1]:.2f}" if vectors else "",
            joined_a_story=f"{m['joined']:.0%}",
        )
    section.notes.append(
        "assign_us: `StoryIndex.assign` alone; assign_add_us: assign then `add` (what "
        "bot.ingest does per item); vs_10k > 1 means slower than with 10k documents; "
        "assign_given_terms_us: assign of docs whose `terms` were computed beforehand (as "
        "parse workers can). CPU time of one process. assign_with_vectors_us: the same, "
        "with every document's sentence vector stored in SQLite and read for the members "
        "compared (`bot.storyvectors`, as bot.ingest does), their cosines in Python; "
        f"measured up to {VECTORS_UP_TO:,} documents (the table would hold 768 bytes each). "
        "every_vector_read_us: the same with the vectors of every candidate story read, not "
        "only of those that could reach the join bar (`bot.grouping.could_reach`); "
        "shipped_vs_every < 1 means the bound saves time."
    )
    section.seconds = time.perf_counter() - began
    return section


def _timed_assign(index, probe) -> tuple[float, float, float]:
    start = time.process_time()
    found = [index.assign(doc) for doc, _ in probe[:1000]]
    assign = (time.process_time() - start) / 1000 * 1e6
    start = time.process_time()
    for doc, story in probe[1000:]:
        index.add(doc, index.assign(doc) or story)
    both = (time.process_time() - start) / (len(probe) - 1000) * 1e6
    return assign, both, sum(f is not None for f in found) / len(found)


def _timed_precomputed(index, probe) -> float:
    """`assign` alone when `doc_terms` ran elsewhere: what scoring costs the event loop."""
    from bot.stories import doc_terms

    given = [dataclasses.replace(doc, terms=doc_terms(doc)) for doc, _ in probe[:1000]]
    start = time.process_time()
    for doc in given:
        index.assign(doc)
    return (time.process_time() - start) / len(given) * 1e6


def _timed_with_vectors(index, probe) -> tuple[float, float]:
    """`assign` of docs with terms given and a sentence vector, members' vectors read from a
    `story_vectors` table (one random unit vector per document: the cost is the same); as
    shipped, and reading the vectors of every candidate story, not only of those that could
    reach the bar (`bot.grouping.could_reach`)."""
    import sqlite3
    import struct

    from bot.grouping import VECTOR_DIM
    from bot.stories import doc_terms

    rng = random.Random(7)
    raw = [rng.gauss(0, 1) for _ in range(VECTOR_DIM)]
    norm = sum(x * x for x in raw) ** 0.5
    vector = struct.pack(f"<{VECTOR_DIM}e", *(x / norm for x in raw))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE story_vectors (item_id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    db.executemany("INSERT INTO story_vectors VALUES (?, ?)", ((k, vector) for k in index._entries))

    def read(ids: list[int]) -> dict[int, bytes]:
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT item_id, vector FROM story_vectors WHERE item_id IN ({marks})"
        return dict(db.execute(sql, ids).fetchall()) if ids else {}

    given = [
        dataclasses.replace(doc, terms=doc_terms(doc), vector=vector) for doc, _ in probe[:1000]
    ]

    def timed() -> float:
        start = time.process_time()
        for doc in given:
            index.assign(doc, vectors=read)
        return (time.process_time() - start) / len(given) * 1e6

    from bot.stories import index as story_index  # the module whose `candidates` reads it

    shipped = timed()
    bound = story_index.could_reach
    story_index.could_reach = lambda *_: True  # the baseline: every candidate's vectors read
    try:
        every = timed()
    finally:
        story_index.could_reach = bound
    return shipped, every


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
