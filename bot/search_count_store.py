"""How many stored items or stories a search finds (counted up to COUNT_CAP: "more than
1000" is answer enough), and which of some given items it finds.

The search's pages are `bot.search_store`'s, which decides the same way whether an outlet's
items are walked instead of the words' hits. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlite_utils

from bot.search_store import _HAS_WORDS, SearchTerms, _outlet_first, fts_query

COUNT_CAP = 1000  # `count_matches` stops counting here: "more than 1000" is answer enough


def count_matches(
    db: sqlite_utils.Database,
    words: str | SearchTerms,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> int:
    """How many stored items `search_items` would find, counted up to COUNT_CAP: the full
    text index alone when nothing else narrows it."""
    fts = fts_query(words)
    if not fts and not feeds:
        return 0
    seek = bool(fts and feeds and _outlet_first(db, fts, feeds, since))
    where, args = _search_filter(fts, feeds, since, seek)
    if fts and len(where) == 1:
        source = "SELECT rowid FROM items_fts"
    elif fts and not seek:
        source = "SELECT items.id FROM items_fts JOIN items ON items.id = items_fts.rowid"
    else:
        source = "SELECT items.id FROM items"
    sql = f"SELECT count(*) FROM ({source} WHERE {' AND '.join(where)} LIMIT ?)"
    return int(db.execute(sql, [*args, COUNT_CAP + 1]).fetchone()[0])


def count_stories(
    db: sqlite_utils.Database,
    words: SearchTerms,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> int:
    """How many lines `search_stories` has in all (a story once, however many of its reports
    match), counted up to COUNT_CAP."""
    fts = fts_query(words)
    if not fts and not feeds:
        return 0
    seek = bool(fts and feeds and _outlet_first(db, fts, feeds, since))
    where, args = _search_filter(fts, feeds, since, seek)
    joined = "items_fts JOIN items ON items.id = items_fts.rowid" if fts and not seek else "items"
    sql = (
        "SELECT count(*) FROM (SELECT DISTINCT coalesce(items.story_id, -items.id) FROM "
        f"{joined} WHERE {' AND '.join(where)} LIMIT ?)"
    )
    return int(db.execute(sql, [*args, COUNT_CAP + 1]).fetchone()[0])


def _search_filter(
    fts: str, feeds: Collection[int] | None, since: str | None, seek: bool = False
) -> tuple[list[str], list[object]]:
    """The WHERE terms (and their arguments) a search narrows by: its words in the full
    text index (joined to it; `seek`: looked up for each of the outlet's items instead,
    `_outlet_first`), its outlet's feeds, its start."""
    where: list[str] = [_HAS_WORDS if seek else "items_fts MATCH ?"] if fts else []
    args: list[object] = [fts] if fts else []
    if feeds:
        where.append(f"items.feed_id IN ({', '.join('?' * len(feeds))})")
        args += feeds
    if since:
        where.append("items.published >= ?")
        args.append(since)
    return where, args


def search_matches(
    db: sqlite_utils.Database,
    words: SearchTerms,
    items: list[int],
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> set[int]:
    """Which of `items` the search finds: one index look-up each (FTS5 seeks a rowid)."""
    fts = fts_query(words)
    where, args = _search_filter(fts, feeds, since)
    joined = "items_fts JOIN items ON items.id = items_fts.rowid" if fts else "items"
    sql = f"SELECT 1 FROM {joined} WHERE {' AND '.join(['items.id = ?', *where])}"
    return {i for i in items if db.execute(sql, [i, *args]).fetchone()}
