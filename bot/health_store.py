"""Feed health, recorded: after each poll, the feed's state is decided again (`bot.health`);
a change is written together with its notice, in one transaction, so that each change is
announced exactly once however often wirewatch restarts.

Notices go through the existing notice queue (`bot.store.queue_notice`), which the outbox
sends like any moderator notice: to `ops_channel` when it is set; otherwise only disablings
are announced, to the moderators, as before there was an ops channel. Nothing here sends.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_stored, utcnow
from bot.db import write
from bot.errors import WirewatchError
from bot.feed_store import FeedRow, list_feeds
from bot.health import HISTORY, Rhythm, feed_state, notice_text, quiet_for, rhythm, silent_after
from bot.settings import Settings
from bot.store import queue_notice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedHealth:
    """What `feeds` shows of one feed: its state now and its rhythm."""

    state: str
    usual_gap: float | None
    silent_after: float | None
    quiet_for: float | None


def assess_feed(
    db: sqlite_utils.Database,
    settings: Settings,
    feed_id: int,
    new_items: int,
    now: datetime | None = None,
) -> str | None:
    """After a poll of `feed_id` that stored `new_items`: its new state if it changed, and
    then its notice is queued. Never raises: health is looked at again after the next poll."""
    try:
        return _assess(db, settings, feed_id, new_items, now or utcnow())
    except (WirewatchError, sqlite3.DatabaseError) as exc:
        log.warning("health.failed feed=%d error=%s", feed_id, exc)
        return None


def _assess(
    db: sqlite_utils.Database, settings: Settings, feed_id: int, new_items: int, now: datetime
) -> str | None:
    found = _feed_and_health(db, feed_id)
    if found is None:
        return None
    feed, row, created = found
    before = _rhythm_of(row) if row else Rhythm()
    current = read_rhythm(db, feed_id) if new_items or row is None else before
    stored = row["state"] if row else "ok"
    new = feed_state(feed, current, settings.health, now, _watched_from(stored, created))
    # A disabled feed is not polled: a poll that ends disabled has just disabled it, even if
    # the last state announced was a disabling too (the feed was added again since).
    old = "ok" if stored == new == "disabled" else stored
    if row is not None and not new_items and new == old:
        return None  # the usual poll: nothing to write
    with write(db):
        changed = _save(db, feed_id, row, stored, new if new != old else None, current, now)
        if changed:
            _announce(db, settings, feed, old, new, current, before, now)
    if changed:
        log.info("health.changed feed=%s from=%s to=%s", feed.name, old, new)
    return new if changed else None


def _save(
    db: sqlite_utils.Database,
    feed_id: int,
    row: dict[str, Any] | None,
    old: str,
    new: str | None,
    r: Rhythm,
    now: datetime,
) -> bool:
    """Write the rhythm, and the `new` state (None: unchanged) if the stored one is still
    `old` (another process may have announced it first)."""
    fields = [r.usual_gap, r.longest_gap, iso(r.last_item) if r.last_item else None]
    if row is None:
        db.execute(
            "INSERT OR IGNORE INTO feed_health (feed_id, state, since, usual_gap, longest_gap, "
            "last_item) VALUES (?, ?, ?, ?, ?, ?)",
            [feed_id, old, iso(now), *fields],
        )
    db.execute(
        "UPDATE feed_health SET usual_gap = ?, longest_gap = ?, last_item = ? WHERE feed_id = ?",
        [*fields, feed_id],
    )
    if new is None:
        return False
    cur = db.execute(
        "UPDATE feed_health SET state = ?, since = ? WHERE feed_id = ? AND state = ?",
        [new, iso(now), feed_id, old],
    )
    return cur.rowcount == 1


def _announce(
    db: sqlite_utils.Database,
    settings: Settings,
    feed: FeedRow,
    old: str,
    new: str,
    current: Rhythm,
    before: Rhythm,
    now: datetime,
) -> None:
    text = notice_text(feed, old, new, current, before, now)
    if text is None or (settings.ops_channel is None and new != "disabled"):
        return
    queue_notice(db, f"health:{feed.id}:{new}:{iso(now)}", text, settings.ops_channel)


_UNREADABLE = datetime.min.replace(tzinfo=UTC)


def read_rhythm(db: sqlite_utils.Database, feed_id: int) -> Rhythm:
    """The rhythm of the feed's newest items (an index walk, however long its history)."""
    rows = db.execute(
        "SELECT published FROM items WHERE feed_id = ? ORDER BY published DESC LIMIT ?",
        [feed_id, HISTORY * 2],  # room for bursts, which count as one moment
    ).fetchall()
    # A damaged stored date says nothing of the rhythm: it is left out, never fatal.
    times = (parse_stored(r[0], _UNREADABLE) for r in rows)
    return rhythm(t for t in times if t is not _UNREADABLE)


def feeds_health(
    db: sqlite_utils.Database, settings: Settings, now: datetime | None = None
) -> dict[int, FeedHealth]:
    """Every assessed feed's state as of `now` (a feed not polled since the upgrade is absent)."""
    now = now or utcnow()
    feeds = {f.id: f for f in list_feeds(db)}
    out: dict[int, FeedHealth] = {}
    for row in db.query(
        "SELECT h.*, f.created FROM feed_health h JOIN feeds f ON f.id = h.feed_id"
    ):
        feed = feeds.get(row["feed_id"])
        if feed is None:
            continue
        r = _rhythm_of(row)
        out[feed.id] = FeedHealth(
            feed_state(feed, r, settings.health, now, _watched_from(row["state"], row["created"])),
            r.usual_gap,
            silent_after(r, settings.health),
            quiet_for(r, now),
        )
    return out


def _rhythm_of(row: dict[str, Any]) -> Rhythm:
    last = parse_stored(row["last_item"], None) if row["last_item"] else None
    return Rhythm(row["usual_gap"], row["longest_gap"], last)


_HEALTH = ("state", "usual_gap", "longest_gap", "last_item")


def _watched_from(state: str, created: datetime | str | None) -> datetime | None:
    """Since when a feed's silence counts (`feed_state`'s `stored`): from when it was first
    stored, but not once it was announced silent, which only a new item ends. A feed the
    version before this rule announced at its first poll would else read as not silent
    yet, and the ops channel hear it "publishing again after 365d" of a feed still silent,
    then "gone silent" a second time."""
    if state == "silent":
        return None
    return created if isinstance(created, datetime | None) else parse_stored(created, None)


def _feed_and_health(
    db: sqlite_utils.Database, feed_id: int
) -> tuple[FeedRow, dict[str, Any] | None, datetime | None] | None:
    """The feed as the poll left it, its health row, and when wirewatch first stored it; one
    query (it runs every poll)."""
    fields = ", ".join(f"f.{k}" for k in FeedRow.__dataclass_fields__)
    health = ", ".join(f"h.{k}" for k in _HEALTH)
    row = db.execute(
        f"SELECT {fields}, f.created, {health} FROM feeds f LEFT JOIN feed_health h "
        "ON h.feed_id = f.id WHERE f.id = ?",
        [feed_id],
    ).fetchone()
    if row is None:
        return None
    n = len(FeedRow.__dataclass_fields__)
    feed, created, rest = FeedRow(*row[:n]), parse_stored(row[n], None), row[n + 1 :]
    return feed, (dict(zip(_HEALTH, rest, strict=True)) if rest[0] is not None else None), created
