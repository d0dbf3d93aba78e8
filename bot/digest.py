"""Digest subscriptions: their alerts wait as 'digest' deliveries and go out as one message.

Every `digest_every` the run loop gathers each channel's waiting stories into one plain-text
list (headline, first outlet, how many more, link) and posts it through the adapter, which
escapes it like any feed text. Nothing is marked sent unless the post succeeded.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import sqlite_utils

from bot.chat import ChatAdapter, split_channel
from bot.clock import iso, utcnow
from bot.db import write

log = logging.getLogger(__name__)

MAX_STORIES = 25  # one readable message; the rest wait for the next digest


def digest_text(topic_rows: list[dict]) -> str:
    """The message for one channel: one line per story, newest last."""
    topics = sorted({r["topic"] for r in topic_rows})
    stories: dict[int, list[dict]] = defaultdict(list)
    for r in topic_rows:
        stories[r["story_id"]].append(r)
    lines = [f"wirewatch digest · {', '.join(topics)} · {len(stories)} stories"]
    for rows in stories.values():
        first = rows[0]
        more = len({r["outlet"] for r in rows}) - 1
        extra = f" +{more} more outlet{'s' if more > 1 else ''}" if more > 0 else ""
        lines.append(f"- {first['title']} ({first['outlet']}{extra}) {first['url'] or ''}".rstrip())
    return "\n".join(lines)


async def send_digests(db: sqlite_utils.Database, adapters: dict[str, ChatAdapter]) -> int:
    """Post one digest per channel with waiting digest deliveries; returns how many posted."""
    posted = 0
    channels = [
        r[0] for r in db.execute("SELECT DISTINCT channel FROM deliveries WHERE status = 'digest'")
    ]
    for channel in channels:
        platform, ident = split_channel(channel)
        adapter = adapters.get(platform)
        if adapter is None:
            continue
        rows = _waiting(db, channel)
        try:
            await adapter.post_notice(ident, digest_text(rows))
        except Exception as exc:  # the digest waits for the next round, nothing is lost
            log.warning("digest.failed channel=%s error=%s", channel, exc)
            continue
        with write(db):
            db.conn.executemany(
                "UPDATE deliveries SET status = 'sent', sent_at = ? WHERE id = ?",
                [(iso(utcnow()), r["id"]) for r in rows],
            )
        posted += 1
    return posted


def _waiting(db: sqlite_utils.Database, channel: str) -> list[dict]:
    story_ids = [
        r[0]
        for r in db.execute(
            "SELECT story_id FROM deliveries WHERE channel = ? AND status = 'digest' "
            "GROUP BY story_id ORDER BY min(id) LIMIT ?",
            [channel, MAX_STORIES],
        )
    ]
    marks = ",".join("?" * len(story_ids))
    return list(
        db.query(
            "SELECT d.id, d.story_id, s.topic, i.title, i.url, f.name AS outlet FROM deliveries d "
            "JOIN subscriptions s ON s.id = d.subscription_id JOIN items i ON i.id = d.item_id "
            "JOIN feeds f ON f.id = i.feed_id WHERE d.channel = ? AND d.status = 'digest' "
            f"AND d.story_id IN ({marks}) ORDER BY d.id",
            [channel, *story_ids],
        )
    )
