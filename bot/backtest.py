"""`wirewatch topics backtest`: what a topic would have posted over the archive.

The stored items of the last `since` are replayed in publication order through the topic
(`bot.replay`), as if a channel had subscribed to it then: so a moderator tries a new topic
on real past news before a channel subscribes to it. Reads the database; writes nothing to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, minute_utc, parse_iso, utcnow
from bot.gazetteer import Gazetteer
from bot.grouping import vector_bytes_ok
from bot.model import Topic
from bot.replay import ReplayInput, replay
from bot.text.invisible import quoted
from bot.wording import counted


def archive(db: sqlite_utils.Database, since: datetime) -> list[ReplayInput]:
    """Stored items published (or, without a date, first seen) since `since`, with the
    sentence vectors stored for them (kept `keep_vectors`, 30 days: `bot.storyvectors`)."""
    rows = db.query(
        "SELECT i.id, i.title, i.summary, i.published, i.first_seen, f.name AS outlet, "
        "v.vector FROM items i JOIN feeds f ON f.id = i.feed_id "
        "LEFT JOIN story_vectors v ON v.item_id = i.id "
        "WHERE i.published >= ? OR i.first_seen >= ? ORDER BY i.published, i.id",
        [iso(since), iso(since)],
    )
    out = []
    for r in rows:
        when = _when(r["published"]) or _when(r["first_seen"])
        if when is not None and when >= since:
            vector = r["vector"] if vector_bytes_ok(r["vector"]) else None
            out.append(
                ReplayInput(str(r["id"]), r["title"], r["summary"], when, r["outlet"], vector)
            )
    return out


def backtest(
    db: sqlite_utils.Database,
    topic: Topic,
    gazetteer: Gazetteer,
    since: timedelta,
    window: timedelta,
    vectors: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[str]:
    """Lines for people: each story's alert, then its updates, then a summary. `vectors`:
    the `sentence_vectors` setting (items the bot kept none for get one here when it is on);
    `progress(done, total)` as the replay goes (bot.replay)."""
    start = utcnow() - since
    items = archive(db, start)
    outcomes = replay(items, topic, gazetteer, window=window, vectors=vectors, progress=progress)
    by_key = {i.key: i for i in items}
    stories: dict[int, list[tuple[str, ReplayInput]]] = {}
    for o in outcomes:
        if o.alert:
            stories.setdefault(o.story, []).append((o.alert, by_key[o.key]))
    for posts in stories.values():
        for kind, item in posts:
            lead = "NEW   " if kind == "new" else "  update"
            when = minute_utc(item.published)
            yield f"{lead} {when}  {quoted(item.outlet)}: {quoted(item.title)}"
    updates = sum(1 for posts in stories.values() for kind, _ in posts if kind == "update")
    yield (
        f"{topic.name}: {counted(len(stories), 'alert')} and {counted(updates, 'update')} from "
        f"{counted(len(items), 'item')} published since {minute_utc(start)}{_older(db, items)}"
    )


def _older(db: sqlite_utils.Database, replayed: list[ReplayInput]) -> str:
    """With nothing in the window, how many stored items lie before it: a feed just added
    stores its back catalogue, published long ago, and `0 items` alone read as an empty
    archive (the window counts publication dates, not when an item was stored)."""
    if replayed:
        return ""
    older = db.execute("SELECT count(*) FROM items").fetchone()[0]
    if not older:
        return ""
    return f" ({counted(older, 'stored item')} published before it: a longer --since reaches them)"


def _when(text: str | None) -> datetime | None:
    """A stored time, or None when it cannot be read (one bad row never stops a backtest)."""
    try:
        return parse_iso(text) if text else None
    except ValueError:
        return None
