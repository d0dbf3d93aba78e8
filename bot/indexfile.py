"""The story index across restarts: saved beside the database, loaded back at start.

Tokenising every item of the story window again takes over a minute at 100,000 items.
Loading the saved index takes a fraction of a second, and without one (deleted, written by
other code) the index is rebuilt from the terms stored with each item (bot.storyterms) in
a few seconds, so a restart is ready in seconds whatever the database holds. The store
stays the truth: a loaded index is checked against the items the store holds in the window
(items it lacks are added, items the store no longer has, or has in another story, are
dropped), so a stale file (a kill -9 since the last save, a pruned database, a restored
backup) still gives the index a full rebuild would. A file written by another version of
the grouping code is not used.

Whatever must be added (everything, when there is no usable file) is added in batches, in
a thread, so /healthz keeps answering, progress is logged, and a stop request ends the
loading between two batches. Items without usable stored terms (the first start after an
upgrade, or after the term code changed) are tokenised in the worker processes, and their
terms stored for the next time.

Deliberately not here: what the index does with documents (bot.stories), and when to save
(bot.startup at a clean stop, bot.loop now and then while running).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import logging
import os
import pickle
import time
from array import array
from bisect import bisect_left
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import compress, islice
from operator import lt
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from bot import stories, storyterms
from bot.clock import iso, parse_iso, parse_stored, utcnow
from bot.db import write
from bot.defaults_path import default_file
from bot.errors import StoreError, WorkerError, one_line
from bot.ingest import grouping_text
from bot.prepare import feed_terms
from bot.stories import StoryDoc, StoryIndex, tenths
from bot.storyterms import StoredDoc
from bot.workers import story_terms_async

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FORMAT = 1
SUFFIX = ".storyindex"
CHUNK = 500  # items per worker call while adding: ~0.25 s of a worker's time
AHEAD = 3  # chunks asked for at once: two in the workers while one is added
SLICE = 100  # items tokenised here (when the workers fail) between two looks at the loop
BATCH = 5000  # items added at once (in a thread): the per-term work runs per batch
LOG_EVERY = 5.0  # seconds between two progress lines
_ALLOWED = {
    ("bot.stories.index", "StoryIndex"),
    ("array", "_array_reconstructor"),
    ("array", "array"),
    ("datetime", "timedelta"),
}


@dataclass
class Loading:
    """How far the story index has loaded: for /readyz while the bot starts, and the logs;
    `doing`: what the start does before it, when it takes time (`bot.startup._ready`)."""

    done: int = 0
    total: int = 0
    tokenised: int = 0  # of them, items whose terms were not stored and were computed again
    doing: str = ""

    def describe(self) -> str:
        if self.doing:
            return self.doing
        if not self.total:
            return "loading story index"
        return f"loading story index ({self.done:,} of {self.total:,} items)"


def index_path(database: str) -> Path | None:
    """Where the index of `database` is saved; None for a database in memory."""
    if database == ":memory:" or not database:
        return None
    return Path(database + SUFFIX)


async def load_index(
    db: sqlite_utils.Database,
    database: str,
    window: timedelta,
    *,
    loading: Loading | None = None,
    stop: asyncio.Event | None = None,
) -> StoryIndex | None:
    """The index of the items in the story window: the saved one checked against the
    store, else built from it. None when `stop` was set before it was complete."""
    loading = loading or Loading()
    started, now = time.monotonic(), utcnow()
    wanted = _wanted(db, now - window)
    path = index_path(database)
    index = await asyncio.to_thread(read_index, path) if path else None
    source = "file" if index is not None else "database"
    if index is None:
        index = StoryIndex(window=window)
    index.window = window
    stale = _stale(index, wanted)
    index.discard(stale)
    missing = _missing(index, wanted)
    loading.total = len(missing.ids)
    log.info(
        "index.loading source=%s items=%d to_add=%d dropped=%d",
        source,
        len(wanted.ids),
        len(missing.ids),
        len(stale),
    )
    if not await _add_all(index, db, missing, now, loading, stop):
        log.info("index.loading_stopped added=%d of=%d", loading.done, loading.total)
        return None
    index.prune(now)
    log.info(
        "index.loaded docs=%d source=%s tokenised=%d seconds=%.1f",
        len(index),
        source,
        loading.tokenised,
        time.monotonic() - started,
    )
    return index


def save_index(index: StoryIndex, database: str) -> bool:
    """Write the index beside the database (atomically); a failure is logged, never raised."""
    path = index_path(database)
    if path is None:
        return False
    started, tmp = time.monotonic(), path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(json.dumps(_header()).encode() + b"\n")
            pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
            # No memo: it would hold every one of the index's objects while saving (+20 MB
            # at 100,000 items, kept by the allocator) and make the loaded index bigger.
            # The index holds no cycles, which is what the memo is for.
            with suppress(AttributeError):  # an interpreter without fast mode: memo it is
                pickler.fast = True
            pickler.dump(index)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk or a read-only volume costs the next start time
        log.warning("index.save_failed path=%s error=%s", path, exc)
        with suppress(OSError):
            tmp.unlink()
        return False
    log.info("index.saved docs=%d seconds=%.2f", len(index), time.monotonic() - started)
    return True


def read_index(path: Path) -> StoryIndex | None:
    """The saved index, or None when there is none or it cannot be used (said why)."""
    try:
        with open(path, "rb") as saved:
            header = json.loads(saved.readline(4096))
            if {k: header.get(k) for k in ("format", "code")} != _header(saved=False):
                log.info("index.file_ignored path=%s reason=written by another version", path)
                return None
            index = _Unpickler(saved).load()
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated, damaged, foreign: the store rebuilds it
        log.warning("index.file_unusable path=%s error=%s", path, one_line(exc))
        return None
    return index if isinstance(index, StoryIndex) else None


class _Unpickler(pickle.Unpickler):
    """Loads the index's own types only: a file swapped on the volume cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in a story index file")
        return super().find_class(module, name)


def _header(saved: bool = True) -> dict[str, Any]:
    header: dict[str, Any] = {"format": FORMAT, "code": _code_version()}
    if saved:
        header["saved"] = iso(utcnow())
    return header


@functools.cache
def _code_version() -> str:
    """Changes whenever the code that decides an index's contents does, or the shipped
    gazetteer (the index reads a text's names as its entities': `stories.named`). Every
    module of the bot.stories package counts, not only the one that names them all."""
    modules = sorted(Path(stories.__file__).parent.glob("*.py"))
    source = "".join(path.read_text(encoding="utf-8") for path in modules)
    source += inspect.getsource(grouping_text)
    source += default_file("entities.yaml").read_text(encoding="utf-8")
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# A published text as `bot.clock.iso` writes it (a four-digit year): compared as text, one
# before the window's start is a time before it.
_ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z"


@dataclass
class _Items:
    """Items and their stories, by ascending item id: two arrays, not 100,000 int objects
    in a dict (12 MB, and holes in memory among the index's objects once freed)."""

    ids: array
    stories: array

    def story(self, item_id: int) -> int | None:
        i = bisect_left(self.ids, item_id)
        return self.stories[i] if i < len(self.ids) and self.ids[i] == item_id else None

    def part(self, start: int, stop: int) -> dict[int, int]:
        return dict(zip(self.ids[start:stop], self.stories[start:stop], strict=True))


def _wanted(db: sqlite_utils.Database, since: datetime) -> _Items:
    """Every stored item the index should hold, with its story: first seen in the window,
    and not published before it. An item seen lately but published long before (a feed's
    first poll brings its old items) was added at every start, then pruned at once
    (`StoryIndex.prune` goes by publication), and counted in `index.loading`'s to_add each
    time. A published text not shaped as a timestamp is kept: the index may date it
    otherwise (`_published`), and prune decides."""
    ids, stories = array("q"), array("q")
    rows = db.execute(  # by first seen (its index), not by id (a scan of the whole table)
        "SELECT id, story_id FROM items WHERE first_seen >= ? AND story_id IS NOT NULL "
        f"AND NOT (published < ? AND published GLOB '{_ISO_GLOB}')",
        [iso(since), iso(since)],
    )
    for item_id, story_id in rows:
        ids.append(item_id)
        stories.append(story_id)
    if not all(map(lt, ids, islice(ids, 1, None))):  # ids follow first_seen, except...
        order = sorted(range(len(ids)), key=ids.__getitem__)
        ids, stories = (
            array("q", map(ids.__getitem__, order)),
            array("q", map(stories.__getitem__, order)),
        )
    return _Items(ids, stories)


def _stale(index: StoryIndex, wanted: _Items) -> list[int]:
    """Items the index holds that the store no longer has in the window, or has in another
    story (a saved index older than the store, or restored from a backup)."""
    if not len(index):
        return []
    return [k for k, story in index.members().items() if wanted.story(k) != story]


def _missing(index: StoryIndex, wanted: _Items) -> _Items:
    """The wanted items the index does not hold (all of them when it is empty)."""
    if not len(index):
        return wanted
    held = index.members()
    keep = [held.get(k) != story for k, story in zip(wanted.ids, wanted.stories, strict=True)]
    return _Items(
        array("q", compress(wanted.ids, keep)), array("q", compress(wanted.stories, keep))
    )


async def _add_all(
    index: StoryIndex,
    db: sqlite_utils.Database,
    missing: _Items,
    now: datetime,
    loading: Loading,
    stop: asyncio.Event | None,
) -> bool:
    """Add the `missing` items (oldest first): their stored terms, else terms computed in
    the workers a few chunks ahead; added in batches off the event loop's thread."""
    waiting = deque(range(0, len(missing.ids), CHUNK))
    ahead: deque[asyncio.Task[list[StoredDoc]]] = deque()
    batch: list[StoredDoc] = []
    last_log = time.monotonic()
    try:
        while waiting or ahead:
            while waiting and len(ahead) < AHEAD:
                start = waiting.popleft()
                chunk = missing.part(start, start + CHUNK)
                ahead.append(asyncio.ensure_future(_packed(db, chunk, now, loading)))
            docs = await _unless_stopped(ahead.popleft(), stop)
            if docs is None:
                return False
            batch += docs
            if len(batch) >= BATCH or not (waiting or ahead):
                # In a thread, so the loop answers meanwhile; names split as they are added.
                await asyncio.to_thread(index.add_many, storyterms.unpacked(batch))
                loading.done, batch = loading.done + len(batch), []
            if stop is not None and stop.is_set():
                return False
            if time.monotonic() - last_log >= LOG_EVERY:
                log.info("index.progress added=%d of=%d", loading.done, loading.total)
                last_log = time.monotonic()
    finally:
        for task in ahead:
            task.cancel()
    return True


async def _unless_stopped(task: asyncio.Task[_T], stop: asyncio.Event | None) -> _T | None:
    """The task's result, or None as soon as `stop` is set (the task is then cancelled)."""
    if stop is None:
        return await task
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        return None
    return task.result()


async def _packed(
    db: sqlite_utils.Database, stories: dict[int, int], now: datetime, loading: Loading
) -> list[StoredDoc]:
    """The items (and stories) `stories` as the index adds them, in order: from their
    stored terms, else computed (and stored, so that the next rebuild reads them)."""
    ids = list(stories)
    found = storyterms.read(db, stories, ids)
    if len(found) == len(ids):
        return found
    have = {doc[0] for doc in found}
    docs = await _with_terms(db, [i for i in ids if i not in have], now)
    loading.tokenised += len(docs)
    try:
        with write(db):
            storyterms.save(db, docs)
    except StoreError as exc:  # a full disk: the next rebuild computes them again
        log.warning("index.terms_not_stored items=%d error=%s", len(docs), exc)
    return sorted(found + [_packed_doc(doc, stories[doc.item_id]) for doc in docs])


def _packed_doc(doc: StoryDoc, story_id: int) -> StoredDoc:
    terms = feed_terms(doc) if doc.terms is None else doc.terms
    return doc.item_id, story_id, doc.published.timestamp(), list(terms), tenths(terms.values())


async def _with_terms(db: sqlite_utils.Database, ids: list[int], now: datetime) -> list[StoryDoc]:
    """The items as documents with their terms, computed in a worker (here if it fails)."""
    docs = [_doc(row, now) for row in _rows(db, ids)]
    try:
        terms = await story_terms_async(docs)
    except WorkerError as exc:
        log.warning("index.terms_in_worker_failed items=%d error=%s", len(docs), exc)
        terms = []
        for i in range(0, len(docs), SLICE):
            terms += [feed_terms(doc) for doc in docs[i : i + SLICE]]
            await asyncio.sleep(0)
    return [replace(doc, terms=t) for doc, t in zip(docs, terms, strict=True)]


_COLUMNS = "id, title, summary, text, alert_summary, published, first_seen, story_id"


def _rows(db: sqlite_utils.Database, ids: list[int]) -> list[tuple]:
    rows: list[tuple] = []
    for i in range(0, len(ids), 500):  # SQLite allows 999 parameters per statement
        part = ids[i : i + 500]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT {_COLUMNS} FROM items WHERE id IN ({marks}) ORDER BY id"
        rows += db.execute(sql, part).fetchall()
    return rows


def _doc(row: tuple, now: datetime) -> StoryDoc:
    """A stored item as the index sees it; a damaged row gives what can be read of it."""
    item_id, title, summary, text, alert_summary, published, first_seen, _ = row
    return StoryDoc(
        item_id,
        title or "",
        grouping_text(summary or "", text, alert_summary or ""),
        (),  # its terms are `feed_terms`: the names of the feed's text, not the stored ones
        _published(item_id, published, parse_stored(first_seen, now)),
    )


def _published(item_id: int, text: str, fallback: datetime) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        log.warning("index.unreadable_date item=%d published=%.40r using=first_seen", item_id, text)
        return fallback
