"""The story index's terms of each item, stored with the item: a rebuild never re-tokenises.

Tokenising the story window again takes minutes of CPU at 100,000 items; reading the terms
back and adding them with `StoryIndex.add_many` takes seconds. So every stored item's terms
(exactly those the running index added) are written in the item's own transaction, and the
start-up rebuild (`bot.indexfile`, when no saved index can be used) reads them back.

Each row records the VERSION of the code that computed it; a row of another version, or one
that does not read back whole, counts as missing: the rebuild computes those items' terms
again and writes them back. VERSION is bumped by hand whenever an item's terms change
(`doc_terms`, `grouping_text`, `prepare.feed_terms`, the shipped gazetteer's names, or how
they are stored here): tests/test_storyterms.py fails until it is, as it pins the stored
terms of a fixed sample. Rows of items published before the story window (a start loads
none of them) are deleted now and then (`forget_before`), rows of deleted items at once (a
trigger), so the table stays the size of the window.

Deliberately not here: what the terms are (bot.stories) and when to rebuild (bot.indexfile).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import sqlite_utils

from bot.db import write
from bot.stories import PackedDoc, StoryDoc, doc_terms, tenths

# A doc as stored: (item id, story id, published, its names on lines, their weights); the
# names may be a list already (a doc whose terms were just computed).
StoredDoc = tuple[int, int, float, str | list[str], bytes]

PER_QUERY = 500  # SQLite allows 999 parameters per statement
_SEPARATOR = "\n"  # no term has one: words are letters or digits, entity names one line


# Bump whenever the terms stored for an item change (see the module docstring); a test pins them.
VERSION = 6  # 2: the text's names read as the gazetteer's (stories.named), entities count 1;
# 3: the names are the feed text's (prepare.feed_names), never a fetched article page's;
# 4: words that only share a stem with a concept word ("destroyed", "plans", "forced",
# "wine") are no longer that concept's term (stories._AS_WRITTEN); 5: nor "fighter(s)",
# "officer(s)", "shipping", "shipment(s)" another word's; 6: the gazetteer's names changed
# ("Central American" is Central America, not the US; Congo-Brazzaville is not the DRC) and
# so did their finding (hyphens, line breaks, decomposed accents, the Turkish dotted I)


def encode(terms: dict[str, float]) -> tuple[str, bytes] | None:
    """A doc's terms as stored: their names on lines, their weights as the index keeps them.
    None when a name cannot be stored so (then the item is tokenised at a rebuild)."""
    names = list(terms)
    if any(not name or _SEPARATOR in name for name in names):
        return None
    return _SEPARATOR.join(names), tenths(terms.values())


def readable(names: object, weights: object) -> bool:
    """Whether a stored row reads back whole: as many names as weights (else it was damaged)."""
    if not isinstance(names, str) or not isinstance(weights, bytes):
        return False
    return (names.count(_SEPARATOR) + 1 if names else 0) == len(weights)


def unpacked(docs: Iterable[StoredDoc]) -> Iterator[PackedDoc]:
    """The docs as `StoryIndex.add_many` takes them, their names split one doc at a time (all
    at once, a batch's hundreds of thousands of little strings would outlive it in memory)."""
    for item_id, story_id, published, names, weights in docs:
        if isinstance(names, str):
            names = names.split(_SEPARATOR) if names else []
        yield item_id, story_id, published, names, weights


def save(db: sqlite_utils.Database, docs: Iterable[StoryDoc]) -> int:
    """Store the terms of stored items' docs (in the caller's transaction if there is one);
    returns how many were stored."""
    stored = [
        (doc.item_id, VERSION, doc.published.timestamp(), *encoded)
        for doc in docs
        if (encoded := encode(doc_terms(doc) if doc.terms is None else doc.terms)) is not None
    ]
    db.conn.executemany(
        "INSERT OR REPLACE INTO story_terms (item_id, version, published, names, weights) "
        "VALUES (?, ?, ?, ?, ?)",
        stored,
    )
    return len(stored)


def read(db: sqlite_utils.Database, stories: dict[int, int], ids: Sequence[int]) -> list[StoredDoc]:
    """The items `ids` whose terms are stored (of this version, readable), in order;
    `stories` gives each item's story. `unpacked` turns them into what the index adds."""
    found: list[StoredDoc] = []
    for i in range(0, len(ids), PER_QUERY):
        part = ids[i : i + PER_QUERY]
        rows = db.execute(
            f"SELECT item_id, published, names, weights FROM story_terms "
            f"WHERE item_id IN ({', '.join('?' * len(part))}) AND version = ? ORDER BY item_id",
            [*part, VERSION],
        )
        for item_id, published, names, weights in rows:
            if readable(names, weights) and isinstance(published, float):
                found.append((item_id, stories[item_id], published, names, weights))
    return found


def kept(db: sqlite_utils.Database, item_id: int) -> tuple | None:
    """An item's stored row as it is, for `put_back` after an update the item's story
    terms should outlive (the trigger drops them on any update of its words)."""
    return db.execute(
        "SELECT item_id, version, published, names, weights FROM story_terms WHERE item_id = ?",
        [item_id],
    ).fetchone()


def put_back(db: sqlite_utils.Database, row: tuple | None) -> None:
    """Store again a row `kept` gave (None: there was none)."""
    if row is not None:
        db.execute(
            "INSERT OR REPLACE INTO story_terms (item_id, version, published, names, weights) "
            "VALUES (?, ?, ?, ?, ?)",
            list(row),
        )


def forget_before(db: sqlite_utils.Database, since: datetime) -> int:
    """Delete the rows of items published before `since`: they left the story window, and a
    start does not load them (bot.indexfile reads only items first seen in the window and
    not published before it). An item first seen in the window but published long before (a
    feed's first poll brings its older items: 92% of the 40 real feeds in tests/data) goes
    now, not one window later. Returns how many went."""
    with write(db):
        return db.execute(
            "DELETE FROM story_terms WHERE published < ?", [since.timestamp()]
        ).rowcount
