"""The Alert a delivery sends, read from its stored rows: item, outlet, match, story sources,
the independent outlets carrying the story, and for an edit what changed.

Pure reads; what to do when a row cannot be read is the outbox's business (it fails that
delivery alone). The summary of an item is made here, when an alert needs it, not per item,
and so is an edit's word diff.
"""

from __future__ import annotations

import json
from dataclasses import replace

import sqlite_utils

from bot.chat import split_channel
from bot.clock import parse_stored, utcnow
from bot.corroboration_store import corroboration_of
from bot.edits import word_diff
from bot.model import Alert, Delivery, Edit, MessageRef, Source
from bot.text.summary import summarize


def parent_ref(db: sqlite_utils.Database, channel: str, story_id: int) -> MessageRef | None:
    """The story's first message in `channel`, once sent, with its thread if one exists.

    A platform that threads lazily (Discord) reports the thread with the first update.
    """
    row = db.execute(
        "SELECT message_id, coalesce(thread_id, (SELECT e.thread_id FROM deliveries e WHERE "
        "e.channel = d.channel AND e.story_id = d.story_id AND e.status = 'sent' AND "
        "e.digest_of IS NULL AND e.thread_id IS NOT NULL ORDER BY e.id LIMIT 1)) FROM deliveries "
        "d WHERE d.channel = ? AND d.story_id = ? AND d.kind = 'new' AND d.status = 'sent' "
        "AND d.digest_of IS NULL ORDER BY d.id LIMIT 1",
        [channel, story_id],
    ).fetchone()
    if not row or not row[0]:
        return None
    platform, ident = split_channel(channel)
    return MessageRef(platform, ident, row[0], row[1])


def first_message_alert(db: sqlite_utils.Database, d: Delivery) -> Alert:
    """The story's first message in d's channel as `d` rewrites it (a later update adds to
    its sources, a 'corroborated' delivery adds the mark): that message's item, and its
    feedback buttons still labelling the delivery that posted it."""
    row = db.execute(
        "SELECT id, item_id FROM deliveries WHERE channel = ? AND story_id = ? AND "
        "kind = 'new' AND status = 'sent' AND digest_of IS NULL ORDER BY id LIMIT 1",
        [d.channel, d.story_id],
    ).fetchone()
    if row is None:
        raise LookupError("the story's first message in this channel was never sent")
    return replace(build_alert(db, d, item_id=row[1]), shown_delivery=row[0])


def build_alert(db: sqlite_utils.Database, d: Delivery, item_id: int | None = None) -> Alert:
    """The Alert for delivery `d`, about `item_id` (default its own), sources up to d's item."""
    item = next(
        db.query(
            "SELECT items.*, feeds.name AS outlet FROM items "
            "JOIN feeds ON feeds.id = items.feed_id "
            "WHERE items.id = ?",
            [item_id or d.item_id],
        )
    )
    topic = db.execute(
        "SELECT topic FROM subscriptions WHERE id = ?", [d.subscription_id]
    ).fetchone()
    topic_name = topic[0] if topic else ""
    # An update let through at the topic's relaxed bar shows why it was (relaxed_matches).
    match = db.execute(
        "SELECT matched, explanation, 0 AS relaxed FROM matches WHERE item_id = ? AND topic = ? "
        "UNION ALL SELECT matched, explanation, 1 FROM relaxed_matches WHERE item_id = ? "
        "AND topic = ? ORDER BY relaxed LIMIT 1",
        [item["id"], topic_name, item["id"], topic_name],
    ).fetchone()
    # Every topic of this channel the item matched: one message, each topic named on it.
    others = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT m.topic FROM matches m JOIN subscriptions s ON s.topic = m.topic "
            "WHERE m.item_id = ? AND s.channel = ? ORDER BY m.topic",
            [item["id"], d.channel],
        )
    ]
    topics = tuple(dict.fromkeys([topic_name, *others] if topic_name else others))
    sources = tuple(
        Source(r["outlet"], r["title"], r["url"])
        for r in db.query(
            "SELECT feeds.name AS outlet, items.title, items.url FROM items JOIN feeds ON "
            "feeds.id = items.feed_id WHERE items.story_id = ? AND items.id <= ? ORDER BY "
            "items.published, items.id",
            [d.story_id, max(d.item_id, item["id"])],
        )
    )
    edit = _edit(db, d) if d.kind == "edit" and item_id is None else None
    return Alert(
        delivery_id=d.id,
        kind=d.kind if item_id is None or d.kind == "corroborated" else "new",
        story_id=d.story_id,
        topic=topic_name,
        topics=topics,
        channel=d.channel,
        title=item["title"],
        url=item["url"],
        outlet=item["outlet"],
        # A damaged stored date must not stop this delivery: the first-seen time stands in.
        published=parse_stored(item["published"], parse_stored(item["first_seen"], utcnow())),
        summary=item["alert_summary"] or summarize(item["title"], item["summary"]),
        entities=tuple(json.loads(item["entities"])),
        matched=tuple(json.loads(match[0])) if match else (),
        explanation=match[1] if match else "",
        sources=sources,
        corroboration=corroboration_of(db, d.story_id, max(d.item_id, item["id"])),
        edit=edit,
    )


def _edit(db: sqlite_utils.Database, d: Delivery) -> Edit:
    """The edit a delivery tells of, as a word diff; of the topics it started or stopped
    matching, those the channel is subscribed to."""
    row = db.execute(
        "SELECT old_title, old_summary, new_title, new_summary, started, stopped "
        "FROM story_events WHERE id = ? AND kind = 'edit'",
        [d.event_id],
    ).fetchone()
    if row is None:
        raise LookupError(f"no edit {d.event_id} for this delivery")
    old_title, old_summary, new_title, new_summary, started, stopped = row
    subscribed = db.execute("SELECT topic FROM subscriptions WHERE channel = ?", [d.channel])
    topics = {r[0] for r in subscribed}
    return Edit(
        title=word_diff(old_title, new_title),
        summary=word_diff(old_summary, new_summary),
        started=tuple(t for t in json.loads(started or "[]") if t in topics),
        stopped=tuple(t for t in json.loads(stopped or "[]") if t in topics),
    )
