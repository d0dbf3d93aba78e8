"""What a channel was told of in a window, and what its topics matched that it was not told.

`/wirewatch digest 12h` reads this: each story this channel heard of since a moment (an
alert, an update, a digest's line), by the number that labels it (`feedback` takes it: an
alert's own delivery, or a digest line's, its first in that digest), and each story whose
alerts were skipped while the channel was muted, held while it was paused, given up on (the
platform refused it: bot.outbox, bot.digest), or are still waiting for the next digest.
One line a story, whatever it was told or missed through.

Deliberately not here: wording the recap (bot.commands.recap), and changing anything: a
recap marks and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso
from bot.corroboration_store import REPORT_COLUMNS, outlets_of
from bot.store import HELD_FOR_GONE, LIVE_SUB

REACH = 7 * 86400.0  # how far back a recap looks at most: what a morning after a weekend needs
# A waiting delivery's due time moves back with a clock stepped back (bot.clockwatch), so it
# may be before the delivery's creation by that step: this much is allowed for.
_STEPPED = timedelta(days=1)
# Told, then each way of not being told, the first of which a story shows (one line each).
STATES = ("told", "waiting", "paused", "gone", "failed", "muted")
_OWN = "d.kind IN ('new', 'update', 'edit')"  # an item's alert: not a mark, nor a rewrite


@dataclass(frozen=True)
class ToldStory:
    """One story of a recap: when the channel first heard of it in the window (or the first
    of its alerts that it did not hear of), the headline shown then, and how it stands."""

    story_id: int
    at: str  # stored time: sent_at when told, else when its alert was created
    state: str  # one of STATES
    title: str
    url: str
    outlets: int  # outlets of the story's reports this channel has an alert for
    reports: int  # those reports: more than `outlets` when wire copy or one outlet's repeat
    ref: int | None  # what `feedback` takes for it here; None when nothing showed a number
    told_before: bool = False  # not told in the window, but told here before it began


def told_since(
    db: sqlite_utils.Database, channel: str, since: datetime, limit: int, skip: int = 0
) -> tuple[list[ToldStory], dict[str, int]]:
    """`channel`'s stories since `since`, newest first (told, or matched and not told):
    `limit` of them after the `skip` newest, and how many there were in all in each state."""
    found: dict[int, tuple[str, str, int]] = {}  # story -> (state, at, delivery shown)
    for story, state, at, shown in [*_told(db, channel, since), *_untold(db, channel, since)]:
        had = found.get(story)
        if had is None or STATES.index(state) < STATES.index(had[0]):
            found[story] = (state, at, shown)
    counts = {state: 0 for state in STATES}
    for state, _, _ in found.values():
        counts[state] += 1
    ordered = sorted(found.items(), key=lambda kv: (kv[1][1], kv[0]), reverse=True)
    latest = ordered[skip : skip + limit]
    if not latest:
        return [], counts
    shown_rows = _items(db, [shown for _, (_, _, shown) in latest])
    outlets = _outlets(db, channel, [story for story, _ in latest])
    earlier = _told_before(db, channel, since, [s for s, (st, _, _) in latest if st != "told"])
    stories = [
        ToldStory(
            story,
            at,
            state,
            *shown_rows.get(shown, ("", "")),
            *outlets.get(story, (1, 1)),
            shown if state == "told" else None,
            story in earlier,
        )
        for story, (state, at, shown) in latest
    ]
    return stories, counts


def _told(db: sqlite_utils.Database, channel: str, since: datetime) -> list[tuple]:
    """(story, "told", first sent, its number) per story sent here since `since`. The
    smallest delivery is a number `feedback` takes: an alert is its own, and in a digest it
    is the first of the story's in that digest, which the line shows."""
    return db.execute(
        "SELECT d.story_id, 'told', min(d.sent_at), min(d.id) FROM deliveries d "
        "INDEXED BY deliveries_sent WHERE d.sent_at >= ? AND d.channel = ? AND "
        f"d.status = 'sent' AND {_OWN} GROUP BY d.story_id",
        [iso(since), channel],
    ).fetchall()


def _untold(db: sqlite_utils.Database, channel: str, since: datetime) -> list[tuple]:
    """(story, state, first created, its first such delivery) per story and way it was not
    told: skipped while muted, held (the channel paused, or its topic gone from the config),
    given up on, or waiting for a digest (which a paused channel's also do)."""
    state = (
        "CASE WHEN d.status = 'muted' THEN 'muted' WHEN d.status = 'failed' THEN 'failed' "
        "WHEN d.status = 'held' AND coalesce(d.error, '') LIKE ? THEN 'gone' "
        "WHEN d.status = 'held' THEN 'paused' "
        "WHEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription_id AND "
        f"s.paused_reason IS NOT NULL AND {LIVE_SUB}) THEN 'paused' ELSE 'waiting' END"
    )
    # Read by (status, due time): a delivery is due no sooner than it was created (but for
    # a clock stepped back), so the window's are read, not the channel's every delivery.
    return db.execute(
        f"SELECT d.story_id, {state} AS state, min(d.created), min(d.id) FROM deliveries d "
        "INDEXED BY deliveries_status WHERE d.status IN ('muted', 'held', 'digest', 'failed') "
        "AND d.next_attempt >= ? AND d.created >= ? AND d.channel = ? "
        f"AND d.digest_of IS NULL AND {_OWN} GROUP BY d.story_id, state",
        [HELD_FOR_GONE, iso(since - _STEPPED), iso(since), channel],
    ).fetchall()


def _told_before(
    db: sqlite_utils.Database, channel: str, since: datetime, stories: list[int]
) -> set[int]:
    """Of `stories`, those this channel was told of before `since`: a later report of
    theirs not told (muted, held, given up on) is not the story missed."""
    if not stories:
        return set()
    marks = ",".join("?" * len(stories))
    return {
        row[0]
        for row in db.execute(
            "SELECT DISTINCT d.story_id FROM deliveries d INDEXED BY deliveries_channel_story "
            f"WHERE d.channel = ? AND d.story_id IN ({marks}) AND d.status = 'sent' "
            f"AND d.sent_at < ? AND {_OWN}",
            [channel, *stories, iso(since)],
        )
    }


def _items(db: sqlite_utils.Database, deliveries: list[int]) -> dict[int, tuple[str, str]]:
    """delivery -> (headline, link) of the item it is about."""
    marks = ",".join("?" * len(deliveries))
    return {
        row[0]: (row[1], row[2] or "")
        for row in db.execute(
            "SELECT d.id, i.title, i.url FROM deliveries d JOIN items i ON i.id = d.item_id "
            f"WHERE d.id IN ({marks})",
            deliveries,
        )
    }


def _outlets(
    db: sqlite_utils.Database, channel: str, stories: list[int]
) -> dict[int, tuple[int, int]]:
    """story -> (outlets, reports): its reports this channel has an alert for (told or not;
    not one dropped), and their outlets counted as its alerts and digest lines count them
    (`outlets_of`: wire copy on two sites is one outlet): a report that only joined the
    story (Moscow condemning a deployment, grouped with it) never reached the channel and is
    no outlet of it (docs/alerts.md, Corroboration)."""
    marks = ",".join("?" * len(stories))
    reports: dict[int, list[tuple]] = {}
    for story, *report in db.execute(
        f"SELECT d.story_id, {REPORT_COLUMNS} FROM deliveries d INDEXED BY "
        "deliveries_channel_story JOIN items ON items.id = d.item_id JOIN feeds ON feeds.id = "
        f"items.feed_id WHERE d.channel = ? AND d.story_id IN ({marks}) AND {_OWN} "
        "AND d.status != 'cancelled' GROUP BY d.story_id, items.id",
        [channel, *stories],
    ):
        reports.setdefault(story, []).append(tuple(report))
    return {story: (len(outlets_of(rows)), len(rows)) for story, rows in reports.items()}


def last_digest(db: sqlite_utils.Database, channel: str) -> str | None:
    """When `channel` was last sent a digest (stored time), or None."""
    return db.execute(
        "SELECT max(sent_at) FROM deliveries WHERE channel = ? AND digest_of IS NOT NULL "
        "AND status = 'sent'",
        [channel],
    ).fetchone()[0]
