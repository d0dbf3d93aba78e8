"""A search's lines as the archive tells them: each hit's story whole (its outlets in the
order they reported it, its first report, how many reports, from when to when), a report as
shown, and what a channel got of each story or item.

Finding the hits is `bot.search_store`'s. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.corroboration import COMPARED
from bot.corroboration_store import REPORT_COLUMNS, outlets_of
from bot.search_store import Hit, _shown_items


@dataclass(frozen=True)
class Told:
    """A story as a search line tells it: its first report (the one its alert showed),
    its independent outlets in the order they reported it (named as its alert names them:
    "via Reuters (CNA, Yahoo News)"), how many reports, from when to when."""

    item: int
    title: str
    url: str | None
    outlets: tuple[str, ...]
    reports: int
    first: str
    last: str


def stories_told(db: sqlite_utils.Database, hits: list[Hit]) -> dict[int, Told]:
    """Per hit's item: its story told whole (every report, not only those with the words);
    an item no story holds told alone. A query for the spans, one for the outlets and one
    for the first reports, so a story of a thousand reports costs index ranges, not a
    thousand rows in Python."""
    stories = sorted({h.story for h in hits if h.story is not None})
    lone = [h.item for h in hits if h.story is None]
    out: dict[int, Told] = {}
    if stories:
        spans = _spans_of(db, stories)
        outlets = _independent_of(db, stories)
        for story, item_id, title, url in _first_reports(db, stories):
            if story not in spans:  # its reports pruned between the queries
                continue
            first, last, reports = spans[story]
            told = Told(item_id, title, url, outlets.get(story, ()), reports, first, last)
            out.update((h.item, told) for h in hits if h.story == story)
    for r in _shown_items(db, lone):
        stamp = r["published"]
        out[r["id"]] = Told(r["id"], r["title"], r["url"], (r["outlet"],), 1, stamp, stamp)
    return out


def _spans_of(db: sqlite_utils.Database, stories: list[int]) -> dict[int, tuple[str, str, int]]:
    """Per story, (first and last published, reports)."""
    marks = ", ".join("?" * len(stories))
    return {
        story: (first, last, n)
        for story, first, last, n in db.execute(
            "SELECT story_id, min(published), max(published), count(*) FROM items "
            f"WHERE story_id IN ({marks}) GROUP BY story_id",
            stories,
        )
    }


def _independent_of(db: sqlite_utils.Database, stories: list[int]) -> dict[int, tuple[str, ...]]:
    """Per story, its independent outlets as its alert names them, every report counted
    (`outlets_of`: "via Reuters (CNA, Yahoo News)" is one). Read in SQL as `as_reports`
    reads them: a story's first COMPARED reports, then only the first of each outlet and
    agency, so a story of a thousand reports brings a few rows to Python, not a thousand."""
    marks = ", ".join("?" * len(stories))
    by_story: dict[int, list[tuple]] = {}
    for story, *report in db.execute(
        f"SELECT story_id, {_AS_REPORT} FROM (SELECT items.story_id, {REPORT_COLUMNS}, "
        "row_number() OVER (PARTITION BY items.story_id ORDER BY "
        f"{_PUBLISHED}) AS nth, row_number() OVER (PARTITION BY items.story_id, feeds.name, "
        f"items.wire ORDER BY {_PUBLISHED}) AS nth_of_outlet FROM items JOIN feeds ON "
        f"feeds.id = items.feed_id WHERE items.story_id IN ({marks})) "
        "WHERE nth <= ? OR nth_of_outlet = 1",
        [*stories, COMPARED],
    ):
        by_story.setdefault(story, []).append(tuple(report))
    return {story: tuple(o.label for o in outlets_of(rows)) for story, rows in by_story.items()}


# REPORT_COLUMNS as the subquery of `_independent_of` names them, and its order.
_AS_REPORT = "name, title, summary, wire, published, first_seen, id"
_PUBLISHED = "COALESCE(items.published, items.first_seen), items.id"


def _first_reports(
    db: sqlite_utils.Database, stories: list[int]
) -> list[tuple[int, int, str, str | None]]:
    """Per story, (story, item, title, url) of the report that began it, or of its earliest
    report left when a prune took that one."""
    marks = ", ".join("?" * len(stories))
    return [
        tuple(r)
        for r in db.execute(
            "SELECT stories.id, items.id, items.title, items.url FROM stories JOIN items ON "
            "items.id = coalesce(stories.first_item, (SELECT i.id FROM items i WHERE "
            "i.story_id = stories.id ORDER BY i.published, i.id LIMIT 1)) "
            f"WHERE stories.id IN ({marks})",
            stories,
        )
    ]


def reports_shown(db: sqlite_utils.Database, items: list[int]) -> dict[int, dict[str, Any]]:
    """Per item: its id, title, url, published, story_id and outlet."""
    return {r["id"]: r for r in _shown_items(db, items)}


def story_deliveries(
    db: sqlite_utils.Database, channel: str, stories: list[int], items: list[int]
) -> dict[int, list[tuple[int, str, int | None]]]:
    """What `channel` got of each story (by story id) and of each item no story holds (by
    minus its id): (delivery id, status, the digest it went out in or None), oldest first;
    each report's own delivery (event 0), not a later edit or mark of it."""
    out: dict[int, list[tuple[int, str, int | None]]] = {}
    if stories:
        marks = ", ".join("?" * len(stories))
        for story, *got in db.execute(
            "SELECT story_id, id, status, digest_of FROM deliveries WHERE channel = ? AND "
            f"event_id = 0 AND story_id IN ({marks}) ORDER BY id",
            [channel, *stories],
        ):
            out.setdefault(story, []).append(tuple(got))
    for item, got in deliveries_of(db, channel, items).items():
        out[-item] = [got]
    return out


def deliveries_of(
    db: sqlite_utils.Database, channel: str, item_ids: list[int]
) -> dict[int, tuple[int, str, int | None]]:
    """Per item, what `channel` got of it: (the delivery's id, its status, the digest it went
    out in or None); items the channel never had left out. The item's own report (event 0),
    not a later edit or mark of it."""
    if not item_ids:
        return {}
    marks = ", ".join("?" * len(item_ids))
    return {
        r[0]: (r[1], r[2], r[3])
        for r in db.execute(
            "SELECT item_id, id, status, digest_of FROM deliveries WHERE channel = ? AND "
            f"event_id = 0 AND item_id IN ({marks})",
            [channel, *item_ids],
        )
    }
