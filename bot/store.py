"""Queries over topics, subscriptions and notices on the database opened by `bot.db`, and
what the other store modules share (`_row`, `dumps`, which subscriptions are live).

Here: which subscriptions are in force (and muted, paused), whether a channel was told of a
story, the stored topics, the moderators' notices. Feeds are `bot.feed_store`'s (the config's
list of them `bot.config_feed_store`'s); searching the archive is `bot.search_store`'s (its
counts `bot.search_count_store`'s, its lines told `bot.story_store`'s). The changes to topics
and subscriptions that decide their waiting alerts again are `bot.redecide`'s; items, stories
and deliveries of a poll are written by `bot.ingest` and handed out by `bot.outbox`. Nothing
here fetches, matches or sends.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.model import Added, Topic

log = logging.getLogger(__name__)

REMOVED = "removed from config"
# A subscription with one of these reasons is over: its row stays only because its
# deliveries (the history of what was sent) refer to it.
RETIRED = ("unsubscribed", REMOVED)


def live_sub(alias: str = "") -> str:
    """SQL: the subscription (its table named `alias`, if any) is in force, not retired."""
    retired = ", ".join(f"'{reason}'" for reason in RETIRED)
    return f"coalesce({alias + '.' if alias else ''}paused_reason, '') NOT IN ({retired})"


# The same, as most queries say it (one constant, not one per module that asks).
LIVE_SUB = live_sub()
# Delivery statuses: pending -> claimed -> sent | failed; digest waits for the digest job;
# muted, held (subscription paused) and cancelled never go out on their own. These count as
# the channel having been told (or about to be told) of a story.
LIVE = ("pending", "claimed", "sent", "digest", "held")


@dataclass(frozen=True)
class SubscriptionRow:
    id: int
    channel: str
    topic: str
    mode: str
    muted_until: str | None
    paused_reason: str | None
    origin: str
    only_query: str | None = None  # items must also match this query (`--only`)
    except_query: str | None = None  # and must not match this one (`--except`)

    @property
    def platform(self) -> str:
        return self.channel.split(":", 1)[0]

    @property
    def narrowed(self) -> bool:
        return bool(self.only_query or self.except_query)


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Row = TypeVar("_Row", bound="DataclassInstance")


def _row(cls: type[_Row], row: dict[str, Any]) -> _Row:
    """A row as its dataclass; a column a later migration adds may be absent (its default)."""
    return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


# -- topics and subscriptions ----------------------------------------------------------------


def topic_row(t: Topic) -> dict[str, Any]:
    """A topic as stored; who added it only when given (an upsert of a changed query
    keeps who added the topic first)."""
    row = {
        "name": t.name,
        "query": t.query,
        "description": t.description,
        "origin": t.origin,
        "relevance": t.relevance,
    }
    if t.added is not None:
        row |= {"added_by": t.added.by, "added_by_name": t.added.name, "added_at": t.added.at}
    return row


def list_topics(db: sqlite_utils.Database) -> list[Topic]:
    return [
        Topic(
            r["name"],
            r["query"],
            r["description"],
            r["origin"],
            r["relevance"],
            Added(r["added_by"] or "", r["added_by_name"] or "", r["added_at"])
            if r["added_at"]
            else None,
        )
        for r in db.query("SELECT * FROM topics ORDER BY name")
    ]


def delete_topic(db: sqlite_utils.Database, name: str) -> None:
    with write(db):
        db.table("topics").delete(name)


def told_story(
    db: sqlite_utils.Database, channel: str, story_id: int, status: str, before: int | None = None
) -> bool:
    """Whether a delivery that starts as `status` finds the channel told of the story (it is
    then an update): by a delivery older than `before`, if given. A story listed in a digest
    (sent or waiting) has no message of its own to thread under, so only a digest delivery
    counts a digest's listing; an instant one after it is the story's first alert here. One
    held for a topic that is gone tells nothing: it may never go out (`bot.gone_topics`)."""
    digest = "" if status == "digest" else " AND status != 'digest'"
    older = "" if before is None else f" AND id < {int(before)}"
    return (
        db.execute(
            f"SELECT 1 FROM deliveries WHERE channel = ? AND story_id = ? AND status IN "
            f"({','.join('?' * len(LIVE))}) AND digest_of IS NULL{digest}{older} AND NOT "
            "(status = 'held' AND coalesce(error, '') LIKE ?) LIMIT 1",
            [channel, story_id, *LIVE, HELD_FOR_GONE],
        ).fetchone()
        is not None
    )


def subscriptions(db: sqlite_utils.Database, channel: str | None = None) -> list[SubscriptionRow]:
    """Subscriptions in force (paused ones included), not the retired rows history keeps."""
    sql, args = f"SELECT * FROM subscriptions WHERE {LIVE_SUB}", []
    if channel:
        sql, args = sql + " AND channel = ?", [channel]
    return [_row(SubscriptionRow, r) for r in db.query(sql + " ORDER BY channel, topic", args)]


# The error of an alert held because its topic is gone (`bot.gone_topics`), as LIKE.
HELD_FOR_GONE = "topic % removed from the config"


def set_muted(db: sqlite_utils.Database, channel: str, until: str | None) -> int:
    with write(db):
        cur = db.execute(  # ended subscriptions are history: not counted as muted
            f"UPDATE subscriptions SET muted_until = ? WHERE channel = ? AND {LIVE_SUB}",
            [until, channel],
        )
    return cur.rowcount


def skip_muted(
    db: sqlite_utils.Database, status: str, now: datetime, channel: str | None = None
) -> int:
    """Mark 'muted' the deliveries waiting as `status` ('pending': alerts, every channel;
    'digest': one channel's digest lines) whose subscription is muted at `now`: "no alerts
    for that long", those queued before the mute too (an outage's backlog, a paused
    channel's held ones resumed, a topic's held ones given back). Not one in doubt (it may
    be posted already: the platform is asked first), nor a mark or a rewrite (an edit of a
    message already there). With none muted (nearly always): one read, no write lock.
    Returns how many were skipped."""
    where, args = ("channel = ? AND ", [channel]) if channel else ("", [])
    muted = f"SELECT id FROM subscriptions WHERE {where}muted_until > ?"
    args.append(iso(now))
    if db.execute(f"{muted} LIMIT 1", args).fetchone() is None:
        return 0
    with write(db):
        return db.execute(
            "UPDATE deliveries SET status = 'muted' WHERE status = ? AND digest_of IS NULL AND "
            f"maybe_posted = 0 AND kind IN ('new', 'update', 'edit') AND {where}"
            f"subscription_id IN ({muted})",
            [status, *args[:-1], *args],
        ).rowcount


def pause_channel(db: sqlite_utils.Database, channel: str, reason: str) -> None:
    with write(db):
        set_paused(db, channel, reason)


def set_paused(db: sqlite_utils.Database, channel: str, reason: str) -> None:
    """`pause_channel` inside a transaction the caller holds (bot.send_errors holds its
    alerts and queues its notice in the same one)."""
    db.execute(
        f"UPDATE subscriptions SET paused_reason = ? WHERE channel = ? AND {LIVE_SUB}",
        [reason, channel],
    )


def add_notice(db: sqlite_utils.Database, key: str, text: str, channel: str | None = None) -> bool:
    """Queue a message for moderators once per `key`; False when it was already queued."""
    with write(db):
        return queue_notice(db, key, text, channel)


def queue_notice(db: sqlite_utils.Database, key: str, text: str, channel: str | None) -> bool:
    """`add_notice` inside a transaction the caller holds (a notice and the state change it
    announces commit together). The outbox sends it; None as channel: the moderators."""
    cur = db.execute(
        "INSERT OR IGNORE INTO notices (key, channel, text, created) VALUES (?, ?, ?, ?)",
        [key, channel, text, iso(utcnow())],
    )
    return cur.rowcount == 1


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
