"""A story's corroboration, read from the store, and the one moment it is marked.

`mark_if_corroborated` runs inside the transaction that stores an item (bot.ingest): when the
item brings the story to enough independent outlets within the window, the story gets its
one 'corroborated' event (a unique index keeps it to one, across restarts) and every channel
that was sent the story's first message gets a 'corroborated' delivery through the outbox,
which rewrites that message with the mark. `corroboration_of` is what an alert shows.

Deciding what is independent is `bot.corroboration`'s; sending is the outbox's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_stored, utcnow
from bot.corroboration import COMPARED, Outlet, Report, independent_outlets, reached
from bot.db import inserted_id
from bot.model import Corroboration

log = logging.getLogger(__name__)

# SQL: the row of `items` matched a topic, strictly or at the relaxed bar of updates. Only
# such reports are a story's sources (what corroborates it, what an alert lists): one that
# merely joined the story reaches no channel.
ON_TOPIC = (
    "(EXISTS (SELECT 1 FROM matches m WHERE m.item_id = items.id) "
    "OR EXISTS (SELECT 1 FROM relaxed_matches r WHERE r.item_id = items.id))"
)

# Channels whose first message of the story exists or will: they are the ones to mark.
TOLD = ("pending", "claimed", "sent", "held")


@dataclass(frozen=True)
class Rule:
    """`corroboration.outlets` independent outlets within `corroboration.window`."""

    outlets: int = 3
    window: timedelta = timedelta(minutes=60)


# SQL: what `as_reports` reads of an item joined to its feed, in its order.
REPORT_COLUMNS = (
    "feeds.name, items.title, items.summary, items.wire, items.published, items.first_seen, "
    "items.id"
)


def story_reports(
    db: sqlite_utils.Database, story_id: int, up_to: int | None = None
) -> list[Report]:
    """The story's items that matched a topic (strictly or at the relaxed bar of updates),
    as reports, those stored up to item `up_to` (default: all).

    An item that only joined the story matches nothing: it never reaches a channel, so it
    may not make the story "corroborated" or be named among its outlets (a day's drills
    report beside a deployment would otherwise vouch for it).
    """
    rows = db.execute(
        f"SELECT {REPORT_COLUMNS} FROM items JOIN feeds ON feeds.id = items.feed_id "
        f"WHERE items.story_id = ? AND items.id <= ? AND {ON_TOPIC}",
        [story_id, up_to if up_to is not None else 2**62],
    ).fetchall()
    return as_reports(rows)


def as_reports(rows: Iterable[Sequence[Any]]) -> list[Report]:
    """Rows of REPORT_COLUMNS (outlet, title, summary, wire, published, first seen, item id)
    as reports, in publication order: what every count of a story's outlets reads (an
    alert's, a digest line's, a recap's), so that they fold wire copy alike.

    Past the first `COMPARED` (the only texts `independent_outlets` compares), a report whose
    outlet and agency both came earlier changes nothing of who carried the story, so it is
    left out: a feed flooding one story with 1,000 items cost 1,000 x 1,000 reports read.
    """
    ordered = sorted(rows, key=_published_order)
    out, carried = [], set()
    for n, (name, title, summary, wire, published, seen, _) in enumerate(ordered):
        if n >= COMPARED and (name, wire) in carried:
            continue
        carried.add((name, wire))
        when = parse_stored(published, parse_stored(seen, utcnow()))
        out.append(Report(name, title or "", summary or "", wire, when))
    return out


def _published_order(row: Sequence[Any]) -> tuple[bool, str, int]:
    """SQL's `ORDER BY COALESCE(published, first_seen), id`: undated first."""
    stamp = row[4] if row[4] is not None else row[5]
    return (stamp is not None, stamp or "", row[6])


def outlets_of(rows: Iterable[Sequence[Any]]) -> list[Outlet]:
    """The independent outlets that reports (rows of REPORT_COLUMNS) count as: the one
    answer to "how many outlets" wherever a story's outlets are shown."""
    return independent_outlets(as_reports(rows))


def corroboration_of(db: sqlite_utils.Database, story_id: int, up_to: int) -> Corroboration:
    """The outlets carrying the story as of item `up_to`, and whether it was marked by then."""
    outlets = independent_outlets(story_reports(db, story_id, up_to))
    marked = db.execute(
        "SELECT 1 FROM story_events WHERE story_id = ? AND kind = 'corroborated' AND item_id <= ?",
        [story_id, up_to],
    ).fetchone()
    return Corroboration(tuple(o.label for o in outlets), corroborated=marked is not None)


def mark_if_corroborated(
    db: sqlite_utils.Database, story_id: int, item_id: int, rule: Rule, now: datetime
) -> bool:
    """Inside the caller's transaction: mark the story corroborated by `item_id` if it now
    is and was not before, and queue the rewrite of its first message in each channel."""
    if _marked(db, story_id) or _feeds_in(db, story_id) < rule.outlets:
        return False  # the cheap questions first: most items of most stories stop here
    outlets = independent_outlets(story_reports(db, story_id))
    if len(outlets) < rule.outlets or not reached(outlets, rule.outlets, rule.window):
        return False
    cur = db.execute(
        "INSERT INTO story_events (story_id, item_id, kind, created, outlets) "
        "VALUES (?, ?, 'corroborated', ?, ?)",
        [story_id, item_id, iso(now), len(outlets)],
    )
    queued = _queue_marks(db, story_id, item_id, inserted_id(cur), now)
    log.info(
        "story.corroborated story=%d item=%d outlets=%d channels=%d",
        story_id,
        item_id,
        len(outlets),
        queued,
    )
    return True


def _marked(db: sqlite_utils.Database, story_id: int) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM story_events WHERE story_id = ? AND kind = 'corroborated'", [story_id]
        ).fetchone()
        is not None
    )


def _feeds_in(db: sqlite_utils.Database, story_id: int) -> int:
    return db.execute(
        "SELECT count(DISTINCT feed_id) FROM items WHERE story_id = ?", [story_id]
    ).fetchone()[0]


def _queue_marks(
    db: sqlite_utils.Database, story_id: int, item_id: int, event_id: int, now: datetime
) -> int:
    """One 'corroborated' delivery per channel whose first message of the story was or will
    be posted; it waits behind that channel's earlier deliveries like any other."""
    marks = ",".join("?" * len(TOLD))
    rows = db.execute(
        "SELECT d.subscription_id, d.channel, d.status FROM deliveries d WHERE d.story_id = ? "
        f"AND d.kind = 'new' AND d.status IN ({marks}) AND d.digest_of IS NULL "
        "GROUP BY d.channel",
        [story_id, *TOLD],
    ).fetchall()
    for sub_id, channel, status in rows:
        db.execute(
            "INSERT OR IGNORE INTO deliveries (subscription_id, channel, story_id, item_id, "
            "kind, status, next_attempt, created, event_id) "
            "VALUES (?, ?, ?, ?, 'corroborated', ?, ?, ?, ?)",
            [sub_id, channel, story_id, item_id, _status(status), iso(now), iso(now), event_id],
        )
    return len(rows)


def _status(first: str) -> str:
    """A paused channel's mark waits with its backlog; otherwise it is due."""
    return "held" if first == "held" else "pending"
