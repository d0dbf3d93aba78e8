"""Write a poll's new items: items, stories, matches, deliveries, a transaction at a time.

This is the outbox's producer: an item, its matches and the deliveries it causes commit
together or not at all, so a crash between fetch and send loses nothing and repeats nothing.
A poll commits a chunk of items per transaction (`store_front`, one turn of the event
loop's time); a replay a whole cycle's (`store_batch`).
Deciding what an item is (match, summary, entities) happens before, in `bot.pipeline`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlite_utils

from bot import storyterms, storyvectors
from bot.clock import iso
from bot.corroboration_store import Rule, mark_if_corroborated
from bot.db import write
from bot.edits import report_words, same_report, shared_share
from bot.feed_store import FeedRow
from bot.model import Entry, TopicMatch
from bot.narrow import narrow_subscriptions
from bot.prepare import feed_terms
from bot.store import LIVE as LIVE  # what counts as told: edit_store reads it here too
from bot.store import SubscriptionRow, dumps, subscriptions, told_story
from bot.stories import StoryDoc, StoryIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewItem:
    """An item decided on by the pipeline, ready to store."""

    entry: Entry
    published: datetime
    text: str | None
    alert_summary: str
    entities: tuple[str, ...]
    matches: tuple[TopicMatch, ...]
    alertable: bool
    terms: dict[str, float] | None = None  # the story index's terms, when computed already
    wire: str | None = None  # the agency whose copy it is (bot.corroboration.wire_of)
    vector: bytes | None = None  # its sentence vector (bot.sentencevectors), when given


@dataclass(frozen=True)
class Ingested:
    items: int
    stories_new: int
    deliveries: int


def store_new_items(
    db: sqlite_utils.Database,
    feed: FeedRow,
    items: list[NewItem],
    index: StoryIndex,
    now: datetime,
    rule: Rule | None = None,
) -> Ingested:
    """Store one feed's `items` and enqueue their deliveries; all or nothing."""
    return store_batch(db, [(feed, item) for item in items], index, now, rule).get(
        feed.id, Ingested(0, 0, 0)
    )


def store_batch(
    db: sqlite_utils.Database,
    batch: list[tuple[FeedRow, NewItem]],
    index: StoryIndex,
    now: datetime,
    rule: Rule | None = None,
) -> dict[int, Ingested]:
    """Store items of one or more feeds in publication order; all or nothing. By feed id.

    Publication order, whichever feed answered first: of several reports of a story that
    arrive in one poll, the earliest-published one leads the story and is the alert. Ties
    break on feed and identity, so the same input always gives the same alerts. An item
    that brings its story to `rule`'s independent outlets marks it corroborated.
    """
    out = store_front(db, sorted(batch, key=publication_order), index, now, rule)
    log_stored(batch, out)
    return out


def store_front(
    db: sqlite_utils.Database,
    pairs: list[tuple[FeedRow, NewItem]],
    index: StoryIndex,
    now: datetime,
    rule: Rule | None = None,
) -> dict[int, Ingested]:
    """Store `pairs` (in publication order) in one transaction, all or nothing; by feed id.

    A poll stores a wave's items a chunk at a time (`bot.pipeline`), letting the event
    loop run in between; each item commits with its matches and deliveries, never without.
    """
    rule = rule or Rule()
    counts: dict[int, list[int]] = {}
    with write(db):
        subs = [s for s in subscriptions(db) if s.paused_reason != "unsubscribed"]
        for feed, item in pairs:
            new_story, sent = _store_one(db, subs, feed, item, index, now, rule)
            tally = counts.setdefault(feed.id, [0, 0, 0])
            tally[0], tally[1], tally[2] = tally[0] + 1, tally[1] + new_story, tally[2] + sent
    return {fid: Ingested(*tally) for fid, tally in counts.items()}


def log_stored(batch: list[tuple[FeedRow, NewItem]], out: dict[int, Ingested]) -> None:
    log.info(
        "ingest.stored feeds=%s items=%d stories_new=%d deliveries=%d",
        ",".join(sorted({feed.name for feed, _ in batch})),
        sum(i.items for i in out.values()),
        sum(i.stories_new for i in out.values()),
        sum(i.deliveries for i in out.values()),
    )


def _store_one(
    db: sqlite_utils.Database,
    subs: list[SubscriptionRow],
    feed: FeedRow,
    item: NewItem,
    index: StoryIndex,
    now: datetime,
    rule: Rule,
) -> tuple[bool, int]:
    """One item, its story, matches and deliveries (inside the caller's transaction):
    (whether it started a story, deliveries queued)."""
    # The story is decided before the item is written, so the row is written once.
    probe = _story_doc(item)
    copy_of = _same_article(db, feed, item, index.window)
    story_id = (
        copy_of
        if copy_of is not None
        else index.assign(
            probe,
            _alerted_for(db, item) if item.alertable else None,
            lambda ids: storyvectors.read(db, ids),
        )
    )
    new_story = story_id is None
    if story_id is None:
        story_id = _new_story(db, item, now)
    else:
        db.execute("UPDATE stories SET last_seen = ? WHERE id = ?", [iso(now), story_id])
    item_id = _insert_item(db, feed, item, story_id, now)
    if new_story:
        db.execute("UPDATE stories SET first_item = ? WHERE id = ?", [item_id, story_id])
    stored = replace(probe, item_id=item_id)
    index.add(stored, story_id)
    storyterms.save(db, [stored])  # for a rebuild of the index without tokenising
    storyvectors.save(db, item_id, item.vector)  # for later items compared with it
    insert_matches(db, item_id, item.matches)
    # Another feed's copy of an article already in the story is one more source of
    # it (shown when the alert is next edited), never a post of its own.
    sent = 0
    if item.alertable and copy_of is None:
        sent = _enqueue(db, subs, item, item_id, story_id, now)
    if not new_story:
        mark_if_corroborated(db, story_id, item_id, rule, now)
    return new_story, sent


def _alerted_for(
    db: sqlite_utils.Database, item: NewItem
) -> Callable[[list[int]], set[int]] | None:
    """Which of some stories hold a report that matched one of the item's topics (strictly:
    what made them alerts); None when the item matches no topic strictly."""
    topics = sorted({m.topic for m in item.matches if m.strict})
    if not topics:
        return None

    def alerted(stories: list[int]) -> set[int]:
        among, of = ",".join("?" * len(stories)), ",".join("?" * len(topics))
        rows = db.execute(
            "SELECT DISTINCT items.story_id FROM items JOIN matches ON matches.item_id = items.id "
            f"WHERE items.story_id IN ({among}) AND matches.topic IN ({of})",
            [*stories, *topics],
        )
        return {r[0] for r in rows}

    return alerted


def _same_article(
    db: sqlite_utils.Database, feed: FeedRow, item: NewItem, window: timedelta
) -> int | None:
    """The story of an item stored with this item's link (or URL guid): one report.

    The same article in two feeds of one outlet ("World" and "Asia") is one report, and so is
    the feed's own article given a new guid by its CMS, when it says the same (`same_report`,
    told by enough words). Not another report of a feed that gives one link (its home page)
    or one guid to all (`bot.revisions`). Only stories still open count: a link reused years
    later is news again.
    """
    e = item.entry
    keys = [("url", e.url)] if e.url else []
    if e.identity.startswith(("guid:http://", "guid:https://")):
        keys.append(("identity", e.identity))  # a numeric guid may repeat across outlets
    since = iso(item.published - window)
    said: frozenset[str] | None = None
    for column, value in keys:
        rows = db.execute(
            f"SELECT story_id, feed_id, title, summary FROM items WHERE {column} = ? "
            "AND story_id IS NOT NULL AND published >= ? ORDER BY id LIMIT 20",
            [value, since],
        ).fetchall()
        for story_id, feed_id, title, summary in rows:
            if feed_id != feed.id:
                return int(story_id)
            said = said if said is not None else report_words(e.title, e.summary)
            before = report_words(title, summary)
            if shared_share(before, said) is not None and same_report(before, said):
                return int(story_id)  # the feed's own article under a new guid
    return None


def publication_order(pair: tuple[FeedRow, NewItem]) -> tuple:
    feed, item = pair
    return (item.published, feed.name, item.entry.identity)


def grouping_text(summary: str, text: str | None, alert_summary: str) -> str:
    """What grouping compares: the feed's own text, never the article page.

    The join model (bot.grouping) learned from headlines and feed summaries; an article's
    datelines and house phrases ("SEOUL, Dec. 2 (Yonhap) --") made unrelated reports of one
    outlet look alike. `text` and `alert_summary` stay in the signature for callers' sake.
    """
    del text, alert_summary
    return summary


def _story_doc(item: NewItem) -> StoryDoc:
    """The item as the story index sees it, its terms computed once (or already, by a worker)."""
    text = grouping_text(item.entry.summary, item.text, item.alert_summary)
    # No entities: the names it is filed under are in its terms (`feed_terms`: the feed
    # text's), while `item.entities` may hold its article page's too.
    doc = StoryDoc(
        0, item.entry.title, text, (), item.published, terms=item.terms, vector=item.vector
    )
    return doc if doc.terms is not None else replace(doc, terms=feed_terms(doc))


def _insert_item(
    db: sqlite_utils.Database, feed: FeedRow, item: NewItem, story_id: int, now: datetime
) -> int:
    e = item.entry
    cur = db.execute(
        "INSERT INTO items (feed_id, identity, url, title, summary, text, alert_summary, "
        "entities, published, first_seen, story_id, wire, digest) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            feed.id,
            e.identity,
            e.url,
            e.title,
            e.summary,
            item.text,
            item.alert_summary,
            dumps(list(item.entities)),
            iso(item.published),
            iso(now),
            story_id,
            item.wire,
            e.digest,
        ],
    )
    return _inserted_id(cur)


def _new_story(db: sqlite_utils.Database, item: NewItem, now: datetime) -> int:
    cur = db.execute(
        "INSERT INTO stories (title, first_seen, last_seen) VALUES (?, ?, ?)",
        [item.entry.title, iso(now), iso(now)],
    )
    return _inserted_id(cur)


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid a plain INSERT just stored (a failed one raised instead)."""
    if cur.lastrowid is None:  # sqlite3 leaves it None only when no INSERT ran at all
        raise RuntimeError("INSERT stored no row")
    return cur.lastrowid


def insert_matches(db: sqlite_utils.Database, item_id: int, matches: tuple[TopicMatch, ...]):
    for m in matches:
        # A relaxed match only lets an update through; it is not a match. It is kept apart,
        # as the reason shown on the update it let through.
        table = "matches" if m.strict else "relaxed_matches"
        db.execute(
            f"INSERT OR REPLACE INTO {table} (item_id, topic, matched, explanation) "
            "VALUES (?, ?, ?, ?)",
            [item_id, m.topic, dumps(list(m.matched)), m.explanation],
        )


def _enqueue(
    db: sqlite_utils.Database,
    subs: list[SubscriptionRow],
    item: NewItem,
    item_id: int,
    story_id: int,
    now: datetime,
) -> int:
    """One delivery per channel: 'new' for a channel's first of the story, else 'update'.

    A strict match alerts its subscribers. A channel already told of the story hears of a
    later item only when the item matches one of the topics that channel follows itself, at
    least at that topic's relaxed bar and through that subscription's --only/--except:
    what merely joined the story stays in the archive, not the channel.
    """
    strict = {m.topic for m in item.matches if m.strict}
    relaxed = {m.topic for m in item.matches}
    subs = narrow_subscriptions(subs, item)  # desk filters: --only / --except
    wanted: dict[str, SubscriptionRow] = {}
    for sub in subs:  # of a channel's matching subscriptions, the one that tells it soonest
        best = wanted.get(sub.channel)
        if sub.topic in strict and (best is None or _sooner(sub, best, now)):
            wanted[sub.channel] = sub
    for channel, first in _told(db, story_id).items():
        if channel in wanted:
            continue
        if follower := _following(db, subs, relaxed, channel, first, story_id, now):
            wanted[channel] = follower
    for channel, sub in wanted.items():
        insert_delivery(db, sub, channel, story_id, item_id, now)
    return len(wanted)


# How soon a new delivery reaches its channel, by the status it starts with.
_SOONEST = {"pending": 0, "held": 1, "digest": 2, "muted": 3}


def _sooner(sub: SubscriptionRow, than: SubscriptionRow, now: datetime) -> bool:
    """`sub` would tell the channel sooner: an instant subscription is not made a digest
    line by a digest one of the same channel whose topic happens to sort first."""
    return _SOONEST[delivery_status(sub, now)] < _SOONEST[delivery_status(than, now)]


def _told(db: sqlite_utils.Database, story_id: int) -> dict[str, int]:
    """channel -> the subscription of its first delivery, for channels told of the story."""
    told: dict[str, int] = {}
    for channel, sub_id in db.execute(
        "SELECT channel, subscription_id FROM deliveries WHERE story_id = ? AND digest_of IS "
        f"NULL AND status IN ({','.join('?' * len(LIVE))}) ORDER BY id",
        [story_id, *LIVE],
    ):
        told.setdefault(channel, sub_id)
    return told


def _following(
    db: sqlite_utils.Database,
    subs: list[SubscriptionRow],
    relaxed: set[str],
    channel: str,
    first: int,
    story_id: int,
    now: datetime,
) -> SubscriptionRow | None:
    """The subscription through which a told channel hears of a later item of the story:
    one whose topic the item matches at least at the relaxed bar (the one the story came
    through first, else by topic), and for which it is an update (a relaxed match never
    starts a story: an instant subscription does not follow a story only listed in a
    digest)."""
    following = sorted(
        (s for s in subs if s.channel == channel and s.topic in relaxed),
        key=lambda s: s.id != first,
    )
    return next(
        (s for s in following if told_story(db, channel, story_id, delivery_status(s, now))),
        None,
    )


def insert_delivery(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    channel: str,
    story_id: int,
    item_id: int,
    now: datetime,
) -> None:
    status = delivery_status(sub, now)
    kind = "update" if told_story(db, channel, story_id, status) else "new"
    db.execute(
        "INSERT OR IGNORE INTO deliveries (subscription_id, channel, story_id, item_id, kind, "
        "status, next_attempt, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [sub.id, channel, story_id, item_id, kind, status, iso(now), iso(now)],
    )


def delivery_status(sub: SubscriptionRow, now: datetime) -> str:
    """How a new delivery through `sub` starts: skipped while muted, held while paused."""
    if sub.muted_until and sub.muted_until > iso(now):
        return "muted"
    if sub.paused_reason:
        return "held"
    return "digest" if sub.mode == "digest" else "pending"
