"""The stored feeds: added, found, listed, due for a poll, removed, and each poll's outcome
recorded (its next poll, its failures in a row, a feed disabled after too many).

The config's list of feeds is applied by `bot.config_feed_store`; a feed's health is decided
by `bot.health`, recorded and told by `bot.health_store`. Nothing here fetches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from bot.clock import iso, later, utcnow
from bot.db import write
from bot.errors import CommandError
from bot.store import REMOVED, _row
from bot.wording import counted

# A feed no longer wanted: by chat's `feeds remove`, or gone from the config file.
REMOVED_REASONS = ("removed", REMOVED)


@dataclass(frozen=True)
class FeedRow:
    id: int
    url: str
    name: str
    interval: float | None
    origin: str
    etag: str | None
    last_modified: str | None
    next_poll: str
    last_polled: str | None
    last_success: str | None
    last_error: str | None
    failures: int
    disabled: int
    disabled_reason: str | None
    config_url: str | None = None  # a config feed: the URL the config names it by

    @property
    def trusted(self) -> bool:
        """Config feeds (written by ops) are fetched as written; chat-added ones are guarded.
        A config feed that moved to another host before the fetcher stopped carrying trust
        across hosts (stop 57) is guarded there: ops trusted the host they wrote."""
        if self.origin == "import":
            return True
        if self.origin != "config":
            return False
        return self.config_url is None or _host(self.url) == _host(self.config_url)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a bracket left open: no host to trust
        return ""


def jittered(interval: float) -> float:
    """Spread polls so that feeds added together do not stay in lockstep."""
    return interval * random.uniform(0.9, 1.1)


def add_feed(
    db: sqlite_utils.Database,
    url: str,
    name: str,
    *,
    origin: str,
    interval: float | None = None,
    added_by: str | None = None,
    due_in: float = 0.0,
) -> FeedRow:
    """Insert a feed due at once; an existing URL is re-enabled and renamed, not duplicated.

    `due_in`: seconds before the scheduler finds it due, for a caller that polls it itself
    first (chat's `feeds add`): else a cycle's tick could claim it first and the caller wait
    for that cycle's whole wave. Should the caller not poll it, the cycle does then."""
    now = utcnow()
    due = later(due_in, now)
    with write(db):
        existing = feed_at(db, url)
        if existing:
            # A removed feed added again is watched afresh: its silence counted from when it
            # was first stored (bot.health), a year-dead feed re-added was "gone silent" at once.
            removed = existing.disabled and existing.disabled_reason in REMOVED_REASONS
            db.table("feeds").update(
                existing.id,
                {
                    "name": name,
                    "disabled": 0,
                    "disabled_reason": None,
                    "failures": 0,
                    "interval": interval,
                    "next_poll": due,
                    **({"created": iso(now)} if removed else {}),
                },
            )
        else:
            db.table("feeds").insert(
                {
                    "url": url,
                    "name": name,
                    "interval": interval,
                    "origin": origin,
                    "next_poll": due,
                    "created": iso(now),
                    "added_by": added_by,
                }
            )
    found = feed_at(db, url)
    assert found is not None
    return found


def find_feed(db: sqlite_utils.Database, url_or_name: str) -> FeedRow | None:
    """The feed at this URL, else the one of this name: a feed still listed before one a
    moderator removed, the newest first (names of removed feeds may be taken again)."""
    return feed_at(db, url_or_name) or feed_named(db, url_or_name)


def feed_at(db: sqlite_utils.Database, url: str) -> FeedRow | None:
    """The feed at exactly this URL (a name never stands in for one)."""
    rows = list(db.query("SELECT * FROM feeds WHERE url = ?", [url]))
    return _row(FeedRow, rows[0]) if rows else None


def feed_named(db: sqlite_utils.Database, name: str) -> FeedRow | None:
    rows = list(
        db.query(
            "SELECT * FROM feeds WHERE lower(name) = lower(?) "
            "ORDER BY coalesce(disabled_reason, '') = 'removed', id DESC LIMIT 1",
            [name],
        )
    )
    return _row(FeedRow, rows[0]) if rows else None


def list_feeds(db: sqlite_utils.Database) -> list[FeedRow]:
    return [_row(FeedRow, r) for r in db.query("SELECT * FROM feeds ORDER BY name, id")]


def feed_item_counts(db: sqlite_utils.Database) -> dict[int, int]:
    return {
        r["feed_id"]: r["n"]
        for r in db.query("SELECT feed_id, count(*) AS n FROM items GROUP BY feed_id")
    }


def due_feeds(db: sqlite_utils.Database, now: datetime | None = None) -> list[FeedRow]:
    rows = db.query(
        "SELECT * FROM feeds WHERE disabled = 0 AND next_poll <= ? ORDER BY next_poll",
        [iso(now or utcnow())],
    )
    return [_row(FeedRow, r) for r in rows]


def active_feeds(db: sqlite_utils.Database) -> list[FeedRow]:
    return [_row(FeedRow, r) for r in db.query("SELECT * FROM feeds WHERE disabled = 0")]


def remove_feed(db: sqlite_utils.Database, url_or_name: str) -> FeedRow:
    """Disable, keeping its items for the archive; items of open stories stay linked."""
    feed = find_feed(db, url_or_name)
    if not feed or (feed.disabled and feed.disabled_reason == "removed"):
        shown = " ".join(url_or_name.split())[:80]
        raise CommandError(f"no feed `{shown}`: `feeds` lists them")
    with write(db):
        db.table("feeds").update(feed.id, {"disabled": 1, "disabled_reason": "removed"})
    return feed


def record_success(
    db: sqlite_utils.Database,
    feed: FeedRow,
    *,
    interval: float,
    etag: str | None,
    last_modified: str | None,
    moved_to: str | None = None,
) -> None:
    now = utcnow()
    fields: dict[str, Any] = {
        "etag": etag,
        "last_modified": last_modified,
        "last_polled": iso(now),
        "last_success": iso(now),
        "last_error": None,
        "failures": 0,
        "next_poll": later(jittered(interval), now),
    }
    if moved_to and moved_to != feed.url and not feed_at(db, moved_to):
        fields["url"] = moved_to
    with write(db):
        _update_feed(db, feed.id, fields)


def _update_feed(db: sqlite_utils.Database, feed_id: int, fields: dict[str, Any]) -> None:
    """A plain UPDATE: every poll records its outcome, and sqlite-utils' `update` reads the
    table's schema each time (three queries per feed per poll)."""
    columns = ", ".join(f"{name} = ?" for name in fields)  # our own column names, never input
    db.execute(f"UPDATE feeds SET {columns} WHERE id = ?", [*fields.values(), feed_id])


def record_failure(
    db: sqlite_utils.Database,
    feed: FeedRow,
    error: str,
    *,
    retry_in: float,
    max_failures: int,
    permanent: bool = False,
) -> bool:
    """Note the error and back off; return True when this failure disabled the feed (after
    `max_failures` in a row, or at once when `permanent`)."""
    failures = feed.failures + 1
    disable = permanent or failures >= max_failures
    now = utcnow()
    with write(db):
        _update_feed(
            db,
            feed.id,
            {
                "last_polled": iso(now),
                "last_error": error,
                "failures": failures,
                "next_poll": later(retry_in, now),
                "disabled": int(disable),
                "disabled_reason": (
                    f"gone: {error}"
                    if permanent
                    else f"{counted(failures, 'failure')} in a row; last: {error}"
                )
                if disable
                else None,  # fmt: skip
            },
        )
    return disable
