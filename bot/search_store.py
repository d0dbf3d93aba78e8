"""Full-text search of the archive: a page of the newest items, or of the stories, with the
words (`search_items`, `search_stories`), walking the hits newest first until no older item
can place, or an outlet's items when they are few beside the words' hits (`_outlet_first`).

How many a search finds is `bot.search_count_store`'s; how a line tells its story (its
outlets, its first report, what a channel got of it) is `bot.story_store`'s. Nothing here
writes.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_iso

# How much later than its first_seen an item's stored date may be: the pipeline clamps a
# date to the poll's start, and the parser never believes one more than a day ahead
# (bot.feeds.parse.FUTURE_SLACK); the margin covers both, for databases of older versions.
SEARCH_SLACK = timedelta(days=1, minutes=5)


# What `search_items` takes: every group must match, any phrase of a group will do
# (("North Korea", "DPRK", "Pyongyang"), ("troops",)); a bare string is words, each a group.
SearchTerms = tuple[tuple[str, ...], ...]


def fts_query(terms: str | SearchTerms) -> str:
    """The FTS5 expression for `terms`: each phrase quoted (FTS5 syntax typed by a user is
    words, never operators: `"` or `)` alone must not be a syntax error), a group's phrases
    joined with OR, the groups with AND; "" when nothing searchable is left."""
    if isinstance(terms, str):
        terms = tuple((w,) for w in terms.split())
    groups = []
    for group in terms:
        phrases = [f'"{p.replace(chr(34), " ")}"' for p in group if any(c.isalnum() for c in p)]
        if phrases:
            groups.append(f"({' OR '.join(phrases)})" if len(phrases) > 1 else phrases[0])
    return " AND ".join(groups)


def search_items(
    db: sqlite_utils.Database,
    words: str | SearchTerms,
    limit: int = 10,
    skip: int = 0,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> list[dict[str, Any]]:
    """Full-text search of the archive, newest first, the `skip` newest left out (a page
    further on); `words`: words that must all appear, or `SearchTerms`; `feeds`: only these
    feeds' items (one outlet's), and then no words at all is every item of theirs; `since`:
    only items published then or later (a stored timestamp). See `_newest_hits`."""
    fts = fts_query(words)
    if not fts:
        return _feeds_newest(db, feeds, limit, skip, since) if feeds else []
    if feeds and _outlet_first(db, fts, feeds, since):
        best = _outlet_newest(db, feeds, limit + skip, since, fts, by_story=False)
    else:
        best = _newest_hits(db, fts, limit + skip, feeds, since, by_story=False)
    return _shown_items(db, [item for _, item, _ in best[skip:]])


@dataclass(frozen=True)
class Hit:
    """One line of a search by story: a story (or an item no story holds: `story` None) and
    its newest report with the words, which places it (`published`)."""

    story: int | None
    item: int
    published: str


def search_stories(
    db: sqlite_utils.Database,
    words: SearchTerms,
    limit: int = 10,
    skip: int = 0,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> list[Hit]:
    """`search_items` by story: the stories with a report that matches, each once, newest
    first by that story's newest matching report; an item no story holds (stored before
    the story index) stands alone. `skip` and `limit` count stories."""
    fts = fts_query(words)
    if not fts and not feeds:
        return []
    if not fts or (feeds and _outlet_first(db, fts, feeds, since)):
        best = _outlet_newest(db, feeds or (), limit + skip, since, fts, by_story=True)
    else:
        best = _newest_hits(db, fts, limit + skip, feeds, since, by_story=True)
    return [Hit(key if key > 0 else None, item, at) for at, item, key in best[skip:]]


_Best = list[tuple[str, int, int]]  # (published, item id, key), newest first, keys unique


def _newest_hits(
    db: sqlite_utils.Database,
    fts: str,
    wanted: int,
    feeds: Collection[int] | None,
    since: str | None,
    by_story: bool,
) -> _Best:
    """The `wanted` newest hits, each key once (a story's id, or minus an item's id: a story
    by its newest hit) or each item (`by_story` False: the key is the item's id).

    Hits are walked newest id first (FTS5 hands rowids out in that order) and the walk stops
    once no older item can be published later than the `wanted`-th best, or than `since`:
    an item's published is at most its first_seen + SEARCH_SLACK, and ids grow with
    first_seen (one writer). A word in every item costs that many rows and a day of hits,
    not a sort of the archive."""
    if wanted <= 0:
        return []
    # A min-heap of the kept hits, the `wanted`-th best on top; a key re-placed by a later
    # hit leaves its old entry behind, stale (no longer what `placed` holds), popped when
    # it comes up or swept out. Each hit costs a comparison, or O(log wanted) when it
    # enters: a backlog stored newest first (each hit newer than the last) used to re-sort
    # the whole page list per hit.
    heap: list[tuple[str, int, int]] = []  # (published, item id, key), worst on top
    placed: dict[int, tuple[str, int]] = {}  # key: its (published, item id) on the heap
    floor = _minus_slack(since) if since else ""  # first_seen below which no hit can enter
    for item_id, published, first_seen, feed_id, story_id in db.execute(
        "SELECT items.id, items.published, items.first_seen, items.feed_id, items.story_id "
        "FROM items_fts JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ? "
        "ORDER BY items_fts.rowid DESC",
        [fts],
    ):
        if first_seen < floor:
            break
        if (feeds is not None and feed_id not in feeds) or (since and published < since):
            continue
        key = (story_id or -item_id) if by_story else item_id
        held = placed.get(key)
        if held is not None:
            if published <= held[0]:
                continue
        elif len(placed) >= wanted and published <= heap[0][0]:
            continue  # ids only fall: a tie in published places it below the last kept
        placed[key] = (published, item_id)
        heapq.heappush(heap, (published, item_id, key))
        if len(placed) > wanted:  # a new key: the top, live until now, leaves
            del placed[heapq.heappop(heap)[2]]
        _drop_stale(heap, placed)  # a re-placed key's old entry, or what the pop uncovered
        if len(heap) > 2 * wanted + 64:
            heap[:] = [h for h in heap if placed.get(h[2]) == h[:2]]
            heapq.heapify(heap)
        if len(placed) >= wanted:
            floor = max(floor, _minus_slack(heap[0][0]))
    return sorted((h for h in heap if placed.get(h[2]) == h[:2]), reverse=True)


def _drop_stale(heap: list[tuple[str, int, int]], placed: dict[int, tuple[str, int]]) -> None:
    """Pop the entries on top of `heap` that a newer hit of their key replaced, so that
    its top is the worst hit kept."""
    while heap and placed.get(heap[0][2]) != heap[0][:2]:
        heapq.heappop(heap)


# An outlet's item costs about 14 hits of the walk by words: the words looked up for it,
# a seek in the full text index (bench/search.py); the walk is kept unless the outlet has
# fewer than one item for OUTLET_FIRST hits. An outlet of OUTLET_CAP items or more is never
# counted further: it is walked by words.
OUTLET_FIRST = 8
OUTLET_CAP = 5_000
# The words looked up for one item (FTS5 seeks the rowid in each phrase's list).
_HAS_WORDS = (
    "EXISTS (SELECT 1 FROM items_fts WHERE items_fts MATCH ? AND items_fts.rowid = items.id)"
)


# Each database's last `_outlet_first` question and answer: a search's page and its count
# ask the same one, and ran its two counts twice (up to OUTLET_CAP rows, and eight hits an
# outlet's item). Kept only while the database is unchanged (`_data_mark`).
_outlet_plans: weakref.WeakKeyDictionary[sqlite_utils.Database, tuple[tuple, bool]] = (
    weakref.WeakKeyDictionary()
)


def _outlet_first(
    db: sqlite_utils.Database, fts: str, feeds: Collection[int], since: str | None
) -> bool:
    """Whether an outlet's items are so few beside the words' hits that its items are
    walked, not the hits: a common word from a small outlet walked the whole index on
    the store thread (every channel's commands waiting), its feeds a filter on each hit.
    Asked again of an unchanged database, the last answer."""
    question = (fts, tuple(sorted(feeds)), since, _data_mark(db))
    last = _outlet_plans.get(db)
    if last is not None and last[0] == question:
        return last[1]
    answer = _outlet_counts_say(db, fts, feeds, since)
    _outlet_plans[db] = (question, answer)
    return answer


def _data_mark(db: sqlite_utils.Database) -> tuple[int, int]:
    """Changes whenever the database's content may have: another connection's commit
    (`PRAGMA data_version`), this connection's own writes (`total_changes`)."""
    return db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes


def _outlet_counts_say(
    db: sqlite_utils.Database, fts: str, feeds: Collection[int], since: str | None
) -> bool:
    """`_outlet_first`'s two counts, each stopped as soon as it decides."""
    marks = ", ".join("?" * len(feeds))
    outlet = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM items WHERE feed_id IN ({marks}) AND "
        "published >= ? LIMIT ?)",
        [*feeds, since or "", OUTLET_CAP],
    ).fetchone()[0]
    if outlet >= OUTLET_CAP:
        return False
    enough = outlet * OUTLET_FIRST + 1
    hits = db.execute(
        "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)",
        [fts, enough],
    ).fetchone()[0]
    return bool(hits >= enough)


def _outlet_newest(
    db: sqlite_utils.Database,
    feeds: Collection[int],
    wanted: int,
    since: str | None,
    fts: str = "",
    by_story: bool = True,
) -> _Best:
    """The feeds' `wanted` newest hits as `_newest_hits` places them (each key once, by
    its newest; a tie in published to the later-stored): their items newest first (the
    items_feed_published index), with the words when `fts` has any, until that many keys
    were seen."""
    if wanted <= 0:
        return []
    marks = ", ".join("?" * len(feeds))
    words = f" AND {_HAS_WORDS}" if fts else ""
    best: _Best = []
    seen: set[int] = set()
    for item_id, published, story_id in db.execute(
        f"SELECT id, published, story_id FROM items WHERE feed_id IN ({marks}) AND "
        f"published >= ?{words} ORDER BY published DESC, id DESC",
        [*feeds, since or "", *([fts] if fts else [])],
    ):
        key = (story_id or -item_id) if by_story else item_id
        if key not in seen:
            seen.add(key)
            best.append((published, item_id, key))
            if len(best) >= wanted:
                break
    return best


def _feeds_newest(
    db: sqlite_utils.Database, feeds: Collection[int], limit: int, skip: int, since: str | None
) -> list[dict[str, Any]]:
    """The feeds' newest items (by the items_feed_published index)."""
    marks = ", ".join("?" * len(feeds))
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT id FROM items WHERE feed_id IN ({marks}) AND published >= ? "
            "ORDER BY published DESC, id DESC LIMIT ? OFFSET ?",
            [*feeds, since or "", limit, skip],
        )
    ]
    return _shown_items(db, ids)


def _shown_items(db: sqlite_utils.Database, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    sql = (
        "SELECT items.id, items.title, items.url, items.published, items.story_id, feeds.name "
        "AS outlet FROM items JOIN feeds ON feeds.id = items.feed_id WHERE items.id IN "
        f"({', '.join('?' * len(ids))}) ORDER BY items.published DESC, items.id DESC"
    )
    return list(db.query(sql, ids))


def _minus_slack(stamp: str) -> str:
    """`stamp` less the future a stored date may claim; "" (walk on) if unreadable."""
    try:
        return iso(parse_iso(stamp) - SEARCH_SLACK)
    except ValueError:
        return ""
