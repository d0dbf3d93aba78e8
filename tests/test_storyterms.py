"""Story terms stored with each item: a start without a saved index reads them back instead of
tokenising the story window, and gets exactly the index tokenising would give, whatever state
the stored rows are in (of an older version, damaged, of deleted or long-gone items)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import storyterms
from bot.clock import iso, parse_iso
from bot.db import open_database
from bot.demo.server import serve_demo
from bot.indexfile import Loading, index_path, load_index
from bot.ingest import grouping_text
from bot.poll_cycle import poll_once
from bot.prepare import feed_terms
from bot.stories import StoryDoc, StoryIndex, doc_terms
from tests.itemsdb import fill
from tests.runtime import console_runtime, make_settings

WINDOW = timedelta(hours=72)
DATA = Path(__file__).parent / "data"

# sha256 of the stored form of SAMPLE's terms. When a change to the term code (doc_terms,
# grouping_text, storyterms.encode) makes this test fail, bump storyterms.VERSION (rows of
# the old version are then recomputed at the next start) and put the new digest here.
PINNED = "db7f67f0112ea90b14bfddf94f90cadbf639660f33ca39c123b6ab7aeae73dd4"


def _sample() -> list[StoryDoc]:
    """Wire items written by us (tests/data), with entities, and one long text."""
    lines = (DATA / "deploy_extra.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    when = datetime(2025, 2, 27, 8, tzinfo=UTC)
    entities = ("North Korea", "Russia", "U.N. Security Council", "Pentagon")
    docs = [
        StoryDoc(n, i["title"], grouping_text(i["description"], None, ""), entities[: n % 5], when)
        for n, i in enumerate(items)
    ]
    long_text = " ".join(i["description"] for i in items[:12])
    return [*docs, StoryDoc(len(docs), items[0]["title"], long_text, ("Iraq",), when)]


def test_the_stored_terms_of_a_fixed_sample_are_pinned_to_the_version():
    digest = hashlib.sha256()
    for doc in _sample():
        encoded = storyterms.encode(doc_terms(doc))
        assert encoded is not None
        digest.update(encoded[0].encode() + b"\0" + encoded[1] + b"\0")
    assert (storyterms.VERSION, digest.hexdigest()) == (6, PINNED), (
        "the terms stored for an item changed: bump storyterms.VERSION and update PINNED"
    )


async def _rebuild(path: Path) -> tuple[StoryIndex, Loading]:
    """The index a start without a saved index gives, and how it was loaded."""
    index_path(str(path)).unlink(missing_ok=True)  # type: ignore[union-attr]
    db, loading = open_database(path), Loading()
    try:
        index = await load_index(db, str(path), WINDOW, loading=loading)
    finally:
        db.close()
    assert index is not None
    return index, loading


def _added(path: Path) -> StoryIndex:
    """The index of the stored items added one by one with `StoryIndex.add`, tokenised (as
    the running bot adds them, and as a start did before terms were stored), then pruned.
    Not those published before the window: prune would drop them at once, and a start
    leaves them out (`bot.indexfile._wanted`)."""
    index = StoryIndex(window=WINDOW)
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT id, title, summary, text, alert_summary, published, story_id "
        "FROM items WHERE story_id IS NOT NULL ORDER BY id"
    )
    now = datetime.now(UTC)
    for item_id, title, summary, text, lead, published, story_id in rows:
        doc = StoryDoc(item_id, title, grouping_text(summary, text, lead), (), parse_iso(published))
        if doc.published >= now - WINDOW:
            index.add(replace(doc, terms=feed_terms(doc)), story_id)
    conn.close()
    index.prune(now)  # as a start does once all are added
    return index


def _state(index: StoryIndex) -> dict[str, object]:
    return {k: v for k, v in vars(index).items() if k != "_last"}


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def _rows(path: Path) -> dict[int, tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT item_id, version, published, names, weights FROM story_terms")
    found = {row[0]: row[1:] for row in rows}
    conn.close()
    return found


async def _polled(tmp_path: Path) -> Path:
    """A database holding the demo feeds' items, stored by a real poll."""
    path = tmp_path / "w.db"
    async with serve_demo() as feeds:
        settings = make_settings(path, [(f.name, f.url) for f in feeds])
        async with console_runtime(settings) as (rt, _):
            await poll_once(rt)
    return path


async def test_a_rebuild_from_stored_terms_gives_the_index_tokenising_gives(tmp_path):
    path = await _polled(tmp_path)
    stored = _rows(path)
    assert len(stored) > 10 and {row[0] for row in stored.values()} == {storyterms.VERSION}

    from_terms, loading = await _rebuild(path)
    assert loading.tokenised == 0 and len(from_terms) == len(stored)
    _sql(path, "DELETE FROM story_terms")
    tokenised, loading = await _rebuild(path)
    assert loading.tokenised == len(stored)
    # Term ids, postings, frequencies, weights: all of it, as `add` one by one gives it.
    assert _state(from_terms) == _state(tokenised) == _state(_added(path))
    assert _rows(path) == stored  # and the tokenising rebuild stored them back as they were


async def test_the_same_holds_across_chunks_and_with_part_of_the_terms_stored(tmp_path):
    path = fill(tmp_path / "w.db", 1300)  # written straight to the store: no terms stored
    first, loading = await _rebuild(path)
    assert loading.tokenised == 1300 and len(_rows(path)) == 1300
    _sql(path, "DELETE FROM story_terms WHERE item_id % 7 = 0 OR item_id BETWEEN 400 AND 700")
    mixed, loading = await _rebuild(path)
    assert 0 < loading.tokenised < 1300
    again, loading = await _rebuild(path)
    assert loading.tokenised == 0
    assert _state(first) == _state(mixed) == _state(again) == _state(_added(path))


async def test_stale_damaged_and_edited_rows_are_computed_again_and_stored_back(tmp_path):
    path = await _polled(tmp_path)
    stored = _rows(path)
    good, _ = await _rebuild(path)
    ids = sorted(stored)
    _sql(
        path,
        f"UPDATE story_terms SET version = {storyterms.VERSION - 1} WHERE item_id = {ids[0]}",
        f"UPDATE story_terms SET weights = substr(weights, 2) WHERE item_id = {ids[1]}",
        f"UPDATE story_terms SET names = 42 WHERE item_id = {ids[2]}",
        f"UPDATE story_terms SET published = 'yesterday' WHERE item_id = {ids[3]}",
        f"UPDATE story_terms SET weights = 'text' WHERE item_id = {ids[4]}",
        f"DELETE FROM story_terms WHERE item_id = {ids[5]}",
    )
    # What the terms are made of changed (an outlet's edit, a repaired date): row gone.
    _sql(
        path,
        f"UPDATE items SET title = 'Kerry leads Bush in swing states' WHERE id = {ids[6]}",
        f"UPDATE items SET published = '2001-01-01T00:00:00.000000Z' WHERE id = {ids[7]}",
    )
    assert ids[6] not in _rows(path) and ids[7] not in _rows(path)
    rebuilt, loading = await _rebuild(path)
    # ids[7], published before the window now, is not even read: the index would prune it
    assert loading.tokenised == 7 and ids[7] not in rebuilt.members()
    assert _state(rebuilt) == _state(_added(path)) != _state(good)
    now_stored = _rows(path)
    assert {k: v for k, v in now_stored.items() if k not in ids[6:8]} == {
        k: v for k, v in stored.items() if k not in ids[6:8]
    }
    assert now_stored[ids[6]] != stored[ids[6]] and ids[7] not in now_stored


async def test_rows_go_with_their_items_and_once_out_of_the_window(tmp_path):
    path = await _polled(tmp_path)
    ids = sorted(_rows(path))
    _sql(path, "PRAGMA foreign_keys = OFF", f"DELETE FROM items WHERE id = {ids[0]}")
    assert ids[0] not in _rows(path)

    # Published long ago: the row goes whether the item was first seen long ago or in the
    # window (a feed's first poll brings old items): a start does not load either.
    old = datetime.now(UTC) - WINDOW - timedelta(days=2)
    rows = _rows(path)
    _sql(
        path,
        f"UPDATE items SET published = '{iso(old)}' WHERE id IN ({ids[1]}, {ids[2]})",
        f"UPDATE items SET first_seen = '{iso(datetime.now(UTC) - 2 * WINDOW)}' "
        f"WHERE id = {ids[1]}",
        *(  # the rows as the item's store would have written them, with its date
            "INSERT INTO story_terms (item_id, version, published, names, weights) VALUES "
            f"({i}, {rows[i][0]}, {old.timestamp()}, '{rows[i][2]}', x'{rows[i][3].hex()}')"
            for i in (ids[1], ids[2])
        ),
    )
    assert {ids[1], ids[2]} <= set(_rows(path))
    db = open_database(path)
    try:
        assert storyterms.forget_before(db, datetime.now(UTC) - WINDOW) == 2
    finally:
        db.close()
    left = _rows(path)
    assert ids[1] not in left and ids[2] not in left and len(left) == len(ids) - 3
    rebuilt, loading = await _rebuild(path)  # nothing a start reads went with them
    assert loading.tokenised == 0 and ids[2] not in rebuilt.members()
