"""Each stored item's sentence vector (`bot.sentencevectors`), for the story index.

The index keeps no vectors in memory (768 bytes each, 77 MB at 100,000 items in the window):
when a new item is compared with a candidate story, the vectors of that story's newest members
are read here, by item id, in one query. Rows of items published and first seen before a
time go (`forget_before`) once `keep_vectors` has passed (30 days, never less than the story window:
`topics backtest` reads them rather than compute them again), rows of deleted items or
changed headlines at
once (triggers); an edit stores its new headline's vector. An item stored without one (the
encoder was unavailable) is joined by its words alone.

Deliberately not here: what a vector is (bot.encoder) or how it is weighed (bot.grouping).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlite_utils

from bot.clock import iso
from bot.db import write
from bot.grouping import vector_bytes_ok

PER_QUERY = 500  # SQLite allows 999 parameters per statement


def save(db: sqlite_utils.Database, item_id: int, vector: bytes | None) -> None:
    """Store an item's vector (in the caller's transaction); nothing for none."""
    if vector_bytes_ok(vector):
        db.execute(
            "INSERT OR REPLACE INTO story_vectors (item_id, vector) VALUES (?, ?)",
            [item_id, vector],
        )


def read(db: sqlite_utils.Database, ids: Sequence[int]) -> dict[int, bytes]:
    """The stored vectors of `ids` that have one, by item id (`bot.stories.Vectors`)."""
    found: dict[int, bytes] = {}
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), PER_QUERY):
        part = unique[i : i + PER_QUERY]
        marks = ", ".join("?" * len(part))
        rows = db.execute(
            f"SELECT item_id, vector FROM story_vectors WHERE item_id IN ({marks})", part
        )
        found.update((key, v) for key, v in rows if vector_bytes_ok(v))
    return found


def forget_before(db: sqlite_utils.Database, since: datetime) -> int:
    """Delete the vectors of items published before `since` and first seen before it too
    (read from the items, as an edit takes an item's story terms until a rebuild but keeps
    its vector). The caller's `since` is
    `keep_vectors` ago (never less than the story window), for `topics backtest`.
    Returns how many went; reads only this table's rows and their items, never the archive."""
    with write(db):
        return db.execute(
            "DELETE FROM story_vectors WHERE item_id IN (SELECT v.item_id FROM story_vectors v "
            "JOIN items i ON i.id = v.item_id WHERE i.published < ? AND i.first_seen < ?)",
            [iso(since), iso(since)],
        ).rowcount
