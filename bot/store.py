"""The queries the rest of wirewatch needs, over the database opened by `bot.db`.

Feeds, topics and subscriptions here; the changes to topics and subscriptions that decide
their waiting alerts again are `bot.redecide`'s; items, stories and deliveries of a poll are
written by `bot.ingest` and handed out by `bot.outbox`. Nothing here fetches, matches or sends.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import sqlite_utils

from bot.clock import iso, later, parse_iso, utcnow
from bot.db import write
from bot.errors import CommandError
from bot.model import Added, Topic
from bot.wording import counted

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


def jittered(interval: float) -> float:
    """Spread polls so that feeds added together do not stay in lockstep."""
    return interval * random.uniform(0.9, 1.1)


# -- feeds ---------------------------------------------------------------------------------


def add_feed(
    db: sqlite_utils.Database,
    url: str,
    name: str,
    *,
    origin: str,
    interval: float | None = None,
    added_by: str | None = None,
) -> FeedRow:
    """Insert a feed due at once; an existing URL is re-enabled and renamed, not duplicated."""
    now = utcnow()
    with write(db):
        existing = feed_at(db, url)
        if existing:
            db.table("feeds").update(
                existing.id,
                {
                    "name": name,
                    "disabled": 0,
                    "disabled_reason": None,
                    "failures": 0,
                    "interval": interval,
                    "next_poll": iso(now),
                },
            )
        else:
            db.table("feeds").insert(
                {
                    "url": url,
                    "name": name,
                    "interval": interval,
                    "origin": origin,
                    "next_poll": iso(now),
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


@dataclass(frozen=True)
class ConfigFeed:
    """A feed as stored, or as a config would add it (`row` None), with what applying that
    config does to it (`change`: "new" adds it; "leaving" disables a config feed the config
    no longer lists; "returning" enables one it lists again; None: nothing the list shows).
    A config feed the config lists takes the config's name and interval."""

    name: str
    url: str
    interval: float | None
    row: FeedRow | None
    change: str | None = None
    config_url: str | None = None  # the config's URL for it (a moved feed's old one)

    @property
    def polled(self) -> bool:
        """Whether the bot polls it once the config is applied."""
        if self.change is not None:
            return self.change != "leaving"
        return self.row is not None and not self.row.disabled


def plan_config_feeds(
    rows: list[FeedRow], feeds: list[tuple[str, str, float | None]]
) -> list[ConfigFeed]:
    """Every stored feed and every config feed, as applying the config would leave them:
    the one rule `sync_config_feeds` applies and `wirewatch feeds` shows."""
    wanted = {url: (name, interval) for name, url, interval in feeds}
    # Each config URL answers to the feed stored at it, else to the config feed that a
    # permanent redirect moved away from it.
    answers = {row.id: row.url for row in rows if row.url in wanted}
    for row in rows:
        old = row.config_url
        moved = row.id not in answers and row.origin == "config" and old in wanted
        if moved and old is not None and old not in answers.values():
            answers[row.id] = old
    planned = []
    for row in rows:
        url = answers.get(row.id)
        mine, change = wanted.get(url) if url else None, None
        if row.origin == "config" and mine is None and not row.disabled:
            change = "leaving"
        elif row.origin == "config" and mine and row.disabled_reason == "removed from config":
            change = "returning"
        name, interval = mine if row.origin == "config" and mine else (row.name, row.interval)
        planned.append(ConfigFeed(name, row.url, interval, row, change, url))
    claimed = set(answers.values())
    new = [(url, n, i) for url, (n, i) in wanted.items() if url not in claimed]
    planned += [ConfigFeed(n, url, i, None, "new", url) for url, n, i in new]
    return sorted(planned, key=lambda f: (f.name, f.url))


def sync_config_feeds(
    db: sqlite_utils.Database, feeds: list[tuple[str, str, float | None]]
) -> None:
    """Feeds in the config exist and are enabled; config feeds no longer listed are disabled."""
    now = iso(utcnow())
    with write(db):
        for f in plan_config_feeds(list_feeds(db), feeds):
            if f.row is None:
                db.table("feeds").insert(
                    {
                        "url": f.url,
                        "name": f.name,
                        "interval": f.interval,
                        "origin": "config",
                        "config_url": f.url,
                        "next_poll": now,
                        "created": now,
                    }
                )
            elif f.change == "leaving":
                db.table("feeds").update(
                    f.row.id, {"disabled": 1, "disabled_reason": "removed from config"}
                )
            elif f.row.origin == "config" and (
                f.change == "returning"
                or (f.name, f.interval, f.config_url)
                != (f.row.name, f.row.interval, f.row.config_url)
            ):
                enabled = {"disabled": 0, "disabled_reason": None}
                named = {"name": f.name, "interval": f.interval, "config_url": f.config_url}
                db.table("feeds").update(f.row.id, {**named, **enabled})


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


# How much later than its first_seen an item's stored date may be: the pipeline clamps a
# date to the poll's start, and the parser never believes one more than a day ahead
# (bot.feeds.parse.FUTURE_SLACK); the margin covers both, for databases of older versions.
SEARCH_SLACK = timedelta(days=1, minutes=5)


# What `search_items` takes: every group must match, any phrase of a group will do
# (("North Korea", "DPRK", "Pyongyang"), ("troops",)); a bare string is words, each a group.
SearchTerms = tuple[tuple[str, ...], ...]
COUNT_CAP = 1000  # `count_matches` stops counting here: "more than 1000" is answer enough


def fts_query(terms: str | SearchTerms) -> str:
    """The FTS5 expression for `terms`: each phrase quoted (FTS5 syntax typed by a user is
    words, never operators: `"` or `)` alone must not be a syntax error), a group's phrases
    joined with OR, the groups with AND; "" when nothing searchable is left."""
    if isinstance(terms, str):
        terms = tuple((w,) for w in terms.split())
    groups = []
    for group in terms:
        phrases = [f'"{p.replace(chr(34), " ")}"' for p in group if any(c.isalnum() for c in p)]
        if phrases:
            groups.append(f"({' OR '.join(phrases)})" if len(phrases) > 1 else phrases[0])
    return " AND ".join(groups)


def search_items(
    db: sqlite_utils.Database,
    words: str | SearchTerms,
    limit: int = 10,
    skip: int = 0,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> list[dict[str, Any]]:
    """Full-text search of the archive, newest first, the `skip` newest left out (a page
    further on); `words`: words that must all appear, or `SearchTerms`; `feeds`: only these
    feeds' items (one outlet's), and then no words at all is every item of theirs; `since`:
    only items published then or later (a stored timestamp). See `_newest_hits`."""
    fts = fts_query(words)
    if not fts:
        return _feeds_newest(db, feeds, limit, skip, since) if feeds else []
    if feeds and _outlet_first(db, fts, feeds, since):
        best = _outlet_newest(db, feeds, limit + skip, since, fts, by_story=False)
    else:
        best = _newest_hits(db, fts, limit + skip, feeds, since, by_story=False)
    return _shown_items(db, [item for _, item, _ in best[skip:]])


@dataclass(frozen=True)
class Hit:
    """One line of a search by story: a story (or an item no story holds: `story` None) and
    its newest report with the words, which places it (`published`)."""

    story: int | None
    item: int
    published: str


def search_stories(
    db: sqlite_utils.Database,
    words: SearchTerms,
    limit: int = 10,
    skip: int = 0,
    feeds: Collection[int] | None = None,
    since: str | None = None,
) -> list[Hit]:
    """`search_items` by story: the stories with a report that matches, each once, newest
    first by that story's newest matching report; an item no story holds (stored before
    the story index) stands alone. `skip` and `limit` count stories."""
    fts = fts_query(words)
    if not fts and not feeds:
        return []
    if not fts or (feeds and _outlet_first(db, fts, feeds, since)):
        best = _outlet_newest(db, feeds or (), limit + skip, since, fts, by_story=True)
    else:
        best = _newest_hits(db, fts, limit + skip, feeds, since, by_story=True)
    return [Hit(key if key > 0 else None, item, at) for at, item, key in best[skip:]]


_Best = list[tuple[str, int, int]]  # (published, item id, key), newest first, keys unique


def _newest_hits(
    db: sqlite_utils.Database,
    fts: str,
    wanted: int,
    feeds: Collection[int] | None,
    since: str | None,
    by_story: bool,
) -> _Best:
    """The `wanted` newest hits, each key once (a story's id, or minus an item's id: a story
    by its newest hit) or each item (`by_story` False: the key is the item's id).

    Hits are walked newest id first (FTS5 hands rowids out in that order) and the walk stops
    once no older item can be published later than the `wanted`-th best, or than `since`:
    an item's published is at most its first_seen + SEARCH_SLACK, and ids grow with
    first_seen (one writer). A word in every item costs that many rows and a day of hits,
    not a sort of the archive."""
    if wanted <= 0:
        return []
    # A min-heap of the kept hits, the `wanted`-th best on top; a key re-placed by a later
    # hit leaves its old entry behind, stale (no longer what `placed` holds), popped when
    # it comes up or swept out. Each hit costs a comparison, or O(log wanted) when it
    # enters: a backlog stored newest first (each hit newer than the last) used to re-sort
    # the whole page list per hit.
    heap: list[tuple[str, int, int]] = []  # (published, item id, key), worst on top
    placed: dict[int, tuple[str, int]] = {}  # key: its (published, item id) on the heap
    floor = _minus_slack(since) if since else ""  # first_seen below which no hit can enter
    for item_id, published, first_seen, feed_id, story_id in db.execute(
        "SELECT items.id, items.published, items.first_seen, items.feed_id, items.story_id "
        "FROM items_fts JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ? "
        "ORDER BY items_fts.rowid DESC",
        [fts],
    ):
        if first_seen < floor:
            break
        if (feeds is not None and feed_id not in feeds) or (since and published < since):
            continue
        key = (story_id or -item_id) if by_story else item_id
        held = placed.get(key)
        if held is not None:
            if published <= held[0]:
                continue
        elif len(placed) >= wanted and published <= heap[0][0]:
            continue  # ids only fall: a tie in published places it below the last kept
        placed[key] = (published, item_id)
        heapq.heappush(heap, (published, item_id, key))
        if len(placed) > wanted:  # a new key: the top, live until now, leaves
            del placed[heapq.heappop(heap)[2]]
        _drop_stale(heap, placed)  # a re-placed key's old entry, or what the pop uncovered
        if len(heap) > 2 * wanted + 64:
            heap[:] = [h for h in heap if placed.get(h[2]) == h[:2]]
            heapq.heapify(heap)
        if len(placed) >= wanted:
            floor = max(floor, _minus_slack(heap[0][0]))
    return sorted((h for h in heap if placed.get(h[2]) == h[:2]), reverse=True)


def _drop_stale(heap: list[tuple[str, int, int]], placed: dict[int, tuple[str, int]]) -> None:
    """Pop the entries on top of `heap` that a newer hit of their key replaced, so that
    its top is the worst hit kept."""
    while heap and placed.get(heap[0][2]) != heap[0][:2]:
        heapq.heappop(heap)


# An outlet's item costs about 14 hits of the walk by words: the words looked up for it,
# a seek in the full text index (bench/search.py); the walk is kept unless the outlet has
# fewer than one item for OUTLET_FIRST hits. An outlet of OUTLET_CAP items or more is never
# counted further: it is walked by words.
OUTLET_FIRST = 8
OUTLET_CAP = 5_000
# The words looked up for one item (FTS5 seeks the rowid in each phrase's list).
_HAS_WORDS = (
    "EXISTS (SELECT 1 FROM items_fts WHERE items_fts MATCH ? AND items_fts.rowid = items.id)"
)


# Each database's last `_outlet_first` question and answer: a search's page and its count
# ask the same one, and ran its two counts twice (up to OUTLET_CAP rows, and eight hits an
# outlet's item). Kept only while the database is unchanged (`_data_mark`).
_outlet_plans: weakref.WeakKeyDictionary[sqlite_utils.Database, tuple[tuple, bool]] = (
    weakref.WeakKeyDictionary()
)


def _outlet_first(
    db: sqlite_utils.Database, fts: str, feeds: Collection[int], since: str | None
) -> bool:
    """Whether an outlet's items are so few beside the words' hits that its items are
    walked, not the hits: a common word from a small outlet walked the whole index on
    the store thread (every channel's commands waiting), its feeds a filter on each hit.
    Asked again of an unchanged database, the last answer."""
    question = (fts, tuple(sorted(feeds)), since, _data_mark(db))
    last = _outlet_plans.get(db)
    if last is not None and last[0] == question:
        return last[1]
    answer = _outlet_counts_say(db, fts, feeds, since)
    _outlet_plans[db] = (question, answer)
    return answer


def _data_mark(db: sqlite_utils.Database) -> tuple[int, int]:
    """Changes whenever the database's content may have: another connection's commit
    (`PRAGMA data_version`), this connection's own writes (`total_changes`)."""
    return db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes


def _outlet_counts_say(
    db: sqlite_utils.Database, fts: str, feeds: Collection[int], since: str | None
) -> bool:
    """`_outlet_first`'s two counts, each stopped as soon as it decides."""
    marks = ", ".join("?" * len(feeds))
    outlet = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM items WHERE feed_id IN ({marks}) AND "
        "published >= ? LIMIT ?)",
        [*feeds, since or "", OUTLET_CAP],
    ).fetchone()[0]
    if outlet >= OUTLET_CAP:
        return False
    enough = outlet * OUTLET_FIRST + 1
    hits = db.execute(
        "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)",
        [fts, enough],
    ).fetchone()[0]
    return bool(hits >= enough)


def _outlet_newest(
    db: sqlite_utils.Database,
    feeds: Collection[int],
    wanted: int,
    since: str | None,
    fts: str = "",
    by_story: bool = True,
) -> _Best:
    """The feeds' `wanted` newest hits as `_newest_hits` places them (each key once, by
    its newest; a tie in published to the later-stored): their items newest first (the
    items_feed_published index), with the words when `fts` has any, until that many keys
    were seen."""
    if wanted <= 0:
        return []
    marks = ", ".join("?" * len(feeds))
    words = f" AND {_HAS_WORDS}" if fts else ""
    best: _Best = []
    seen: set[int] = set()
    for item_id, published, story_id in db.execute(
        f"SELECT id, published, story_id FROM items WHERE feed_id IN ({marks}) AND "
        f"published >= ?{words} ORDER BY published DESC, id DESC",
        [*feeds, since or "", *([fts] if fts else [])],
    ):
        key = (story_id or -item_id) if by_story else item_id
        if key not in seen:
            seen.add(key)
            best.append((published, item_id, key))
            if len(best) >= wanted:
                break
    return best


def _feeds_newest(
    db: sqlite_utils.Database, feeds: Collection[int], limit: int, skip: int, since: str | None
) -> list[dict[str, Any]]:
    """The feeds' newest items (by the items_feed_published index)."""
    marks = ", ".join("?" * len(feeds))
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT id FROM items WHERE feed_id IN ({marks}) AND published >= ? "
            "ORDER BY published DESC, id DESC LIMIT ? OFFSET ?",
            [*feeds, since or "", limit, skip],
        )
    ]
    return _shown_items(db, ids)


def _shown_items(db: sqlite_utils.Database, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    sql = (
        "SELECT items.id, items.title, items.url, items.published, items.story_id, feeds.name "
        "AS outlet FROM items JOIN feeds ON feeds.id = items.feed_id WHERE items.id IN "
        f"({', '.join('?' * len(ids))}) ORDER BY items.published DESC, items.id DESC"
    )
    return list(db.query(sql, ids))


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


@dataclass(frozen=True)
class Told:
    """A story as a search line tells it: its first report (the one its alert showed),
    its outlets in the order they reported it, how many reports, from when to when."""

    item: int
    title: str
    url: str | None
    outlets: tuple[str, ...]
    reports: int
    first: str
    last: str


def stories_told(db: sqlite_utils.Database, hits: list[Hit]) -> dict[int, Told]:
    """Per hit's item: its story told whole (every report, not only those with the words);
    an item no story holds told alone. One query by outlet and one by first report, so a
    story of a thousand reports costs an index range, not a thousand rows in Python."""
    stories = sorted({h.story for h in hits if h.story is not None})
    lone = [h.item for h in hits if h.story is None]
    out: dict[int, Told] = {}
    if stories:
        outlets = _outlets_of(db, stories)
        for story, item_id, title, url in _first_reports(db, stories):
            rows = outlets.get(story, [])
            told = Told(
                item_id,
                title,
                url,
                tuple(r[0] for r in rows),
                sum(r[3] for r in rows),
                min(r[1] for r in rows),
                max(r[2] for r in rows),
            )
            out.update((h.item, told) for h in hits if h.story == story)
    for r in _shown_items(db, lone):
        stamp = r["published"]
        out[r["id"]] = Told(r["id"], r["title"], r["url"], (r["outlet"],), 1, stamp, stamp)
    return out


def _outlets_of(
    db: sqlite_utils.Database, stories: list[int]
) -> dict[int, list[tuple[str, str, str, int]]]:
    """Per story, (outlet, first and last published, reports) by outlet, first to report
    first."""
    marks = ", ".join("?" * len(stories))
    out: dict[int, list[tuple[str, str, str, int]]] = {}
    for story, outlet, first, last, n in db.execute(
        "SELECT items.story_id, feeds.name, min(items.published), max(items.published), "
        f"count(*) FROM items JOIN feeds ON feeds.id = items.feed_id WHERE items.story_id IN "
        f"({marks}) GROUP BY items.story_id, feeds.name ORDER BY 1, 3, 2",
        stories,
    ):
        out.setdefault(story, []).append((outlet, first, last, n))
    return out


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


def _minus_slack(stamp: str) -> str:
    """`stamp` less the future a stored date may claim; "" (walk on) if unreadable."""
    try:
        return iso(parse_iso(stamp) - SEARCH_SLACK)
    except ValueError:
        return ""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
