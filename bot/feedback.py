"""Editors' feedback on alerts: "Not relevant" and "Wrong story", recorded once per person.

A click (a button under an alert, `/wirewatch feedback ...` or `wirewatch feedback ...`)
names a delivery: one alert as posted in one channel. Recording copies what a labelled
corpus needs (the item's title, feed summary, date and outlet, the topic, the story it was
grouped into), so a label outlives `db prune` of its alert. A click counts only from the
channel (or the thread) where that alert was posted; the console, the operator's own
terminal, may label any alert.

Deliberately not here: buttons (each adapter renders its own), answering the clicker
(adapters do, visible to the clicker only), and the export as a labelled corpus
(bot.feedback_export).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, iso_short, parse_stored, utcnow
from bot.db import write

log = logging.getLogger(__name__)

# What each kind is called on a button; the keys are how commands and the CLI spell them.
KINDS = {"not-relevant": "Not relevant", "wrong-story": "Wrong story"}
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    """What became of one click: recorded, already recorded, unknown alert, wrong channel."""

    status: str  # "recorded" | "already" | "unknown" | "elsewhere" | "unposted"
    kind: str
    delivery_id: int
    title: str = ""
    topic: str = ""
    story_title: str = ""
    at: str | None = None  # when this person's label was (first) recorded


@dataclass(frozen=True)
class TopicWeek:
    """One topic's last seven days: alerts posted, and editors' clicks on them."""

    topic: str
    alerts: int
    not_relevant: int
    wrong_story: int


@dataclass(frozen=True)
class _Posted:
    """An alert as stored: where it went, and what a label needs of its item and story."""

    channel: str
    thread: str | None
    story_id: int
    story_title: str
    item_id: int
    topic: str
    title: str
    description: str
    published: str
    outlet: str
    url: str | None
    # Posted on its own with buttons: a sent alert, update or edit (not one waiting, muted,
    # given up, or listed in a digest, whose number nobody in the channel was shown).
    shown: bool


_POSTED = (
    "SELECT d.channel, d.thread_id, d.story_id, coalesce(st.title, ''), d.item_id, s.topic, "
    "i.title, i.summary, i.published, f.name, i.url, d.status = 'sent' AND d.kind IN "
    "('new', 'update', 'edit') AND d.digest_of IS NULL, i.first_seen FROM deliveries d "
    "JOIN items i ON i.id = d.item_id JOIN feeds f ON f.id = i.feed_id "
    "JOIN subscriptions s ON s.id = d.subscription_id "
    "LEFT JOIN stories st ON st.id = d.story_id WHERE d.id = ?"
)


def _posted(db: sqlite_utils.Database, delivery_id: int) -> _Posted | None:
    row = db.execute(_POSTED, [delivery_id]).fetchone()
    if row is None:
        return None
    *fields, first_seen = row
    posted = _Posted(*fields)
    # A damaged stored date must not lose the label: first-seen, then now, stand in.
    when = parse_stored(posted.published, parse_stored(first_seen, utcnow()))
    return replace(posted, published=iso(when), shown=bool(posted.shown))


def record_label(
    db: sqlite_utils.Database,
    kind: str,
    delivery_id: int,
    *,
    platform: str,
    user: str,
    channel: str,
    now: datetime | None = None,
) -> Outcome:
    """Record `user`'s label on the alert of `delivery_id`, once; never changes the alert."""
    if kind not in KINDS:
        raise ValueError(f"unknown feedback kind {kind!r}")
    alert = _posted(db, delivery_id)
    if alert is None:
        return Outcome("unknown", kind, delivery_id)
    facts = dict(title=alert.title, topic=alert.topic, story_title=alert.story_title)
    if platform != "console" and channel not in (alert.channel, f"{platform}:{alert.thread}"):
        return Outcome("elsewhere", kind, delivery_id, **facts)
    if platform != "console" and not alert.shown:  # the operator may label any alert
        return Outcome("unposted", kind, delivery_id, **facts)
    at = iso(now or utcnow())
    with write(db):
        try:
            _insert(db, alert, kind, delivery_id, platform, user, at)
        except sqlite3.IntegrityError:  # this person labelled this alert so already
            first = db.execute(
                "SELECT at FROM feedback WHERE delivery_id = ? AND kind = ? AND platform = ? "
                "AND user = ?",
                [delivery_id, kind, platform, user],
            ).fetchone()
            return Outcome("already", kind, delivery_id, **facts, at=first[0])
    log.info(
        "feedback.recorded delivery=%d kind=%s platform=%s user=%s topic=%s",
        delivery_id,
        kind,
        platform,
        user,
        alert.topic,
    )
    return Outcome("recorded", kind, delivery_id, **facts, at=at)


def _insert(
    db: sqlite_utils.Database,
    a: _Posted,
    kind: str,
    delivery_id: int,
    platform: str,
    user: str,
    at: str,
) -> None:
    db.execute(
        "INSERT INTO feedback (delivery_id, kind, platform, user, channel, topic, story_id, "
        "story_title, item_id, title, description, published, outlet, url, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [delivery_id, kind, platform, user, a.channel, a.topic, a.story_id, a.story_title]
        + [a.item_id, a.title, a.description, a.published, a.outlet, a.url, at],
    )


def answer(outcome: Outcome, *, privately: bool = True) -> str:
    """The answer for the person who clicked (plain text with `code` spans); `privately`:
    in chat, where only the clicker sees it."""
    title, n = " ".join(outcome.title.split()), outcome.delivery_id
    if outcome.status == "unknown":
        return (
            f"wirewatch does not know alert {n}: check the number (`ref {n}` under the alert); "
            "one older than what the database keeps (`wirewatch db prune`), or posted by "
            "another wirewatch, is not known here either. Nothing was recorded."
        )
    if outcome.status == "elsewhere":
        return f"alert {n} was not posted in this channel, so nothing was recorded here."
    if outcome.status == "unposted":
        return (
            f"alert {n} has not been posted here (it is waiting, muted, given up or was listed "
            "in a digest), so nothing was recorded."
        )
    if outcome.status == "already":
        when = iso_short(parse_stored(outcome.at, utcnow()))
        return (
            f'You already marked "{title}" as {KINDS[outcome.kind].lower()} ({when}); '
            "nothing changed."
        )
    if outcome.kind == "not-relevant":
        what = f'"{title}" is not relevant to `{outcome.topic}`'
    else:
        story = " ".join(outcome.story_title.split())
        what = f'"{title}" does not belong to the story "{story}"'
    if not privately:
        return f"Recorded (alert {n}): {what}."
    return (
        f"Recorded (alert {n}): {what}. Thank you: only you see this, and the alert stays "
        "as it is for everyone else."
    )


def last_week(db: sqlite_utils.Database, now: datetime | None = None) -> list[TopicWeek]:
    """Per topic, over every channel: alerts posted and clicks received in the last 7 days."""
    since = iso((now or utcnow()) - WEEK)
    # Items' own alerts (event_id 0): an edit or a corroboration mark is no further alert.
    alerts = dict(
        db.execute(
            "SELECT s.topic, count(*) FROM deliveries d JOIN subscriptions s ON "
            "s.id = d.subscription_id WHERE d.sent_at >= ? AND d.status = 'sent' "
            "AND d.event_id = 0 GROUP BY s.topic",
            [since],
        ).fetchall()
    )
    clicks: dict[tuple[str, str], int] = {
        (topic, kind): n
        for topic, kind, n in db.execute(
            "SELECT topic, kind, count(*) FROM feedback WHERE at >= ? GROUP BY topic, kind",
            [since],
        ).fetchall()
    }
    topics = sorted(set(alerts) | {t for t, _ in clicks})
    return [TopicWeek(t, alerts.get(t, 0), *(clicks.get((t, k), 0) for k in KINDS)) for t in topics]
