"""Editors' feedback on alerts: "Not relevant" and "Wrong story", recorded once per person.

A click (a button under an alert, `/wirewatch feedback ...` or `wirewatch feedback ...`)
names a delivery: one alert as posted in one channel, or one story as a digest listed it
(its line shows `ref N`, the delivery of the item it shows: bot.digest; a digest has no
buttons, so the typed commands are how its readers label). Recording copies what a labelled
corpus needs (the item's title, feed summary, date and outlet, the topic, the story it was
grouped into), so a label outlives `db prune` of its alert. A click counts only from the
channel (or the thread) where that alert was posted, or the digest sent; the console, the
operator's own terminal, may label any alert, posted or not, and any story a sent digest
listed. Nobody may label what showed no number of its own: a corroboration mark or a
rewrite (the first message's number stands for the story), a story still waiting for its
digest, another report a digest's line counts ("+1 more outlet", "2 reports": the answer
names the line's number and headline). Nor may anyone call a story's first report "wrong
story" while nothing else was grouped with it: bot.feedback_export would give it a story
of its own, which it already has.

Deliberately not here: buttons (each adapter renders its own), answering the clicker
(adapters do, visible to the clicker only), and the export as a labelled corpus
(bot.feedback_export).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, minute_utc, parse_stored, utcnow
from bot.db import write
from bot.text.invisible import quoted

log = logging.getLogger(__name__)

# What each kind is called on a button; the keys are how commands and the CLI spell them.
KINDS = {"not-relevant": "Not relevant", "wrong-story": "Wrong story"}
WEEK = timedelta(days=7)
# An alert's number as it is copied from under the alert: `12`, `ref 12`, `#12`.
_NUMBER = re.compile(r"(?:ref\s*|#)?([0-9]{1,19})", re.IGNORECASE)
MAX_ALERT = 2**63 - 1  # SQLite's integers end there


def alert_number(text: str) -> int | None:
    """The number in `text` as chat and the command line both take it, or None (a number
    of 20 digits or more is none: no alert has it)."""
    m = _NUMBER.fullmatch(text.strip())
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Outcome:
    """What became of one click: recorded, already recorded, unknown alert, wrong channel."""

    # "recorded" | "already" | "unknown" | "elsewhere" | "unposted" | "no-alert" | "alone"
    # | "unlisted" (a report a digest's line counted but did not show)
    status: str
    kind: str
    delivery_id: int
    title: str = ""
    topic: str = ""
    story_title: str = ""
    at: str | None = None  # when this person's label was (first) recorded
    first: bool = False  # the story's first message in its channel (what wrong-story means)
    # "no-alert": the first message whose buttons label the story; "unlisted": the number
    # the digest's line for the story shows
    instead: int | None = None
    instead_title: str = ""  # "unlisted": the headline that line shows
    listed: bool = False  # a story a digest lists (or will): its line, not an alert, shows it

    @property
    def recorded(self) -> bool:
        """Whether the label is stored (now or by an earlier click of the same person)."""
        return self.status in ("recorded", "already")


@dataclass(frozen=True)
class Marked:
    """What editors labelled one way: each alert, or story's line in a digest, counted once
    however many people marked it; and how many people they were."""

    alerts: int = 0
    digest_lines: int = 0
    people: int = 0


@dataclass(frozen=True)
class TopicWeek:
    """One topic's last seven days: what was posted (alerts, each a message of its own; and
    digests, each one message whose lines list stories, a line standing for one or more
    reports), and what editors marked of it."""

    topic: str
    alerts: int
    not_relevant: Marked
    wrong_story: Marked
    digests: int = 0
    digest_lines: int = 0  # a story a digest listed: one line, however many reports
    digest_reports: int = 0


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
    # An alert, update or edit: a message with buttons of its own. Not a corroboration mark
    # or a rewrite, which change the story's first message and leave its buttons as they were.
    alert: bool
    # Posted on its own: sent, not listed in a digest (nor waiting, muted or given up: then
    # nobody in the channel was shown its number).
    shown: bool
    listed: bool  # in a digest, sent or waiting for one
    digest_sent: bool  # in a digest that was posted (not waiting, nor in doubt)
    # The number the digest's line for this story shows: its first delivery in that digest.
    line_ref: int | None


_OWN_BUTTONS = "d.kind IN ('new', 'update', 'edit')"
_LINE_REF = (
    "(SELECT min(e.id) FROM deliveries e WHERE e.channel = d.channel AND e.story_id = "
    "d.story_id AND e.digest_of = d.digest_of)"
)
# In a digest, sent or waiting for one: held too, for a paused channel or a topic that left
# the config, since a digest lists it once given back (never an alert with a number of its own).
_LISTED = (
    "(d.status = 'digest' OR d.digest_of IS NOT NULL OR (d.status = 'held' AND s.mode = 'digest'))"
)
_POSTED = (
    "SELECT d.channel, d.thread_id, d.story_id, coalesce(st.title, ''), d.item_id, s.topic, "
    f"i.title, i.summary, i.published, f.name, i.url, {_OWN_BUTTONS}, {_OWN_BUTTONS} AND "
    f"d.status = 'sent' AND d.digest_of IS NULL, {_LISTED}, "
    f"d.status = 'sent' AND d.digest_of IS NOT NULL, {_LINE_REF}, "
    "i.first_seen FROM deliveries d JOIN items i ON i.id = d.item_id "
    "JOIN feeds f ON f.id = i.feed_id "
    "JOIN subscriptions s ON s.id = d.subscription_id "
    "LEFT JOIN stories st ON st.id = d.story_id WHERE d.id = ?"
)


def _posted(db: sqlite_utils.Database, delivery_id: int) -> _Posted | None:
    row = db.execute(_POSTED, [delivery_id]).fetchone()
    if row is None:
        return None
    *fields, first_seen = row
    p = _Posted(*fields)
    # A damaged stored date must not lose the label: first-seen, then now, stand in.
    when = parse_stored(p.published, parse_stored(first_seen, utcnow()))
    return replace(
        p,
        published=iso(when),
        alert=bool(p.alert),
        shown=bool(p.shown),
        listed=bool(p.listed),
        digest_sent=bool(p.digest_sent),
    )


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
    """Record `user`'s label on the alert (or digest line) of `delivery_id`, once; never
    changes the alert."""
    if kind not in KINDS:
        raise ValueError(f"unknown feedback kind {kind!r}")
    alert = _posted(db, delivery_id)
    if alert is None:
        return Outcome("unknown", kind, delivery_id)
    facts: dict = dict(title=alert.title, topic=alert.topic, story_title=alert.story_title)
    facts["listed"] = alert.listed
    if platform != "console" and channel not in (alert.channel, f"{platform}:{alert.thread}"):
        return Outcome("elsewhere", kind, delivery_id, **facts)
    if not alert.alert:  # a mark or a rewrite: the first message's own number labels it
        instead = _first_message(db, alert.channel, alert.story_id)
        return Outcome("no-alert", kind, delivery_id, **facts, instead=instead)
    refused = _not_shown(alert, delivery_id, console=platform == "console")
    if refused is not None:
        if refused == "unlisted" and alert.line_ref is not None:
            line = (alert.line_ref, _title_of(db, alert.line_ref))
            return Outcome(
                refused, kind, delivery_id, **facts, instead=line[0], instead_title=line[1]
            )
        return Outcome(refused, kind, delivery_id, **facts)
    if kind == "wrong-story":
        facts["first"] = _opens_story(db, alert)
        others = _grouped_with_others(db, alert, posted=platform != "console")
        if facts["first"] and not others:
            return Outcome("alone", kind, delivery_id, **facts)
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


def _not_shown(a: _Posted, delivery_id: int, *, console: bool) -> str | None:
    """Why nobody could have read this number, or None. The operator may label any alert,
    even one not sent yet; a digest's story only once the digest was posted (waiting, no
    line showed its number yet), and only by the number its line shows."""
    if a.listed and not a.digest_sent:
        return "unposted"
    if a.listed and a.line_ref != delivery_id:
        return "unlisted"
    if not a.listed and not console and not a.shown:
        return "unposted"
    return None


def _title_of(db: sqlite_utils.Database, delivery_id: int) -> str:
    """The headline of the item a delivery is about (a digest line's: the one it shows)."""
    row = db.execute(
        "SELECT i.title FROM deliveries d JOIN items i ON i.id = d.item_id WHERE d.id = ?",
        [delivery_id],
    ).fetchone()
    return " ".join(row[0].split()) if row else ""


def _first_message(db: sqlite_utils.Database, channel: str, story_id: int) -> int | None:
    """The delivery that posted the story's first message in `channel` (its buttons stay
    on that message through every rewrite), if it was posted."""
    row = db.execute(
        "SELECT id FROM deliveries WHERE channel = ? AND story_id = ? AND kind = 'new' AND "
        "status = 'sent' AND digest_of IS NULL ORDER BY id LIMIT 1",
        [channel, story_id],
    ).fetchone()
    return row[0] if row else None


def _opens_story(db: sqlite_utils.Database, a: _Posted) -> bool:
    """Whether the alert's item is the one its story's first message in the channel is
    (or, not sent yet, will be) about, or the one a digest first listed the story under:
    "put in the wrong story" then means the reports grouped under it."""
    listed = "IS NOT NULL AND status = 'sent'" if a.listed else "IS NULL"
    row = db.execute(
        "SELECT item_id FROM deliveries WHERE channel = ? AND story_id = ? AND kind = 'new' "
        f"AND digest_of {listed} ORDER BY status = 'sent' DESC, id LIMIT 1",
        [a.channel, a.story_id],
    ).fetchone()
    return bool(row and row[0] == a.item_id)


def _grouped_with_others(db: sqlite_utils.Database, a: _Posted, *, posted: bool) -> bool:
    """Whether the channel has another report of the story (`posted`: one it was sent; for
    a story a digest listed, in a digest too, "+1 more outlet" or a follow-up): without
    one, a story's first report was grouped with nothing it could be wrongly with."""
    sent = " AND status = 'sent'" if posted else ""
    own = "" if a.listed else " AND digest_of IS NULL"
    row = db.execute(
        "SELECT 1 FROM deliveries WHERE channel = ? AND story_id = ? AND item_id != ? AND "
        f"kind IN ('new', 'update'){own}{sent} LIMIT 1",
        [a.channel, a.story_id, a.item_id],
    ).fetchone()
    return row is not None


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
    title, n = quoted(outcome.title), outcome.delivery_id
    story, instead = quoted(outcome.story_title), quoted(outcome.instead_title)
    if outcome.status == "unknown":
        return (
            f"wirewatch does not know alert {n}: check the number (`ref {n}` under the alert, "
            "or on a digest's line); "
            "one older than what the database keeps (`wirewatch db prune`), or posted by "
            "another wirewatch, is not known here either. Nothing was recorded."
        )
    if outcome.status == "elsewhere":
        return f"alert {n} was not posted in this channel, so nothing was recorded here."
    if outcome.status == "unposted" and outcome.listed:
        return (
            f"`ref {n}` is a story waiting for its channel's next digest: no digest has shown "
            "its number yet, so nothing was recorded."
        )
    if outcome.status == "unposted":
        return (
            f"alert {n} has not been posted here (it is waiting, muted or given up), so "
            "nothing was recorded."
        )
    if outcome.status == "unlisted":
        ref = f"`ref {outcome.instead}`"
        return (
            f'`ref {n}` ("{title}") is not a number a digest showed: the digest line {ref} '
            f'("{instead}") counts it among its story\'s reports without showing '
            f"it; label {ref} instead. Nothing was recorded."
        )
    if outcome.status == "no-alert":
        use = f": label alert {outcome.instead} instead" if outcome.instead else ""
        return (
            f"{n} is not an alert's number: it rewrote the first message of the story "
            f'"{story}" (a corroboration mark or its sources), whose buttons label that '
            f"message's own alert{use}. Nothing was recorded."
        )
    if outcome.status == "alone":
        where = "here" if privately else "in its channel"
        later = (
            "a later digest lists it as a follow-up"
            if outcome.listed
            else "it is added to its thread"
        )
        return (
            f'alert {n} is the first report of its story ("{title}") and no other report has '
            f"been grouped with it {where}, so it cannot be in the wrong story. Nothing was "
            f"recorded; if a report that does not belong to it comes in ({later}), mark that one."
        )
    if outcome.status == "already":
        when = minute_utc(parse_stored(outcome.at, utcnow()))
        return (
            f'You already marked "{title}" as {KINDS[outcome.kind].lower()} ({when}); '
            "nothing changed."
        )
    if outcome.kind == "not-relevant":
        what = f'"{title}" is not relevant to `{outcome.topic}`'
    elif outcome.first and outcome.listed:  # its line counts them: "+1 more outlet"
        what = (
            f'the reports grouped with "{title}" (those its line counts, follow-ups) are not '
            "its story"
        )
    elif outcome.first:  # the item stands for the story: the reports under it are wrong
        what = (
            f'the reports grouped under "{title}" are not the same story as it (if only some '
            "of them are not, mark those in its thread instead)"
        )
    else:
        what = f'"{title}" does not belong to the story "{story}"'
    if not privately:
        return f"Recorded (alert {n}): {what}."
    message = "digest" if outcome.listed else "alert"
    return (
        f"Recorded (alert {n}): {what}. Thank you: only you see this, and the {message} "
        "stays as it is for everyone else."
    )


def last_week(db: sqlite_utils.Database, now: datetime | None = None) -> list[TopicWeek]:
    """Per topic, over every channel: alerts and digests posted and what editors marked in the
    last 7 days. A report a digest listed is no alert of its own: counted as its line and
    its digest, not as one more message."""
    since = iso((now or utcnow()) - WEEK)
    # Items' own alerts (event_id 0): an edit or a corroboration mark is no further alert.
    # A digest's key is its first delivery's id, unique across channels.
    posted = {
        topic: counts
        for topic, *counts in db.execute(
            "SELECT s.topic, sum(d.digest_of IS NULL), count(DISTINCT d.digest_of), "
            "count(DISTINCT CASE WHEN d.digest_of IS NOT NULL THEN d.digest_of || '/' || "
            "d.story_id END), sum(d.digest_of IS NOT NULL) FROM deliveries d JOIN "
            "subscriptions s ON s.id = d.subscription_id WHERE d.sent_at >= ? AND "
            "d.status = 'sent' AND d.event_id = 0 GROUP BY s.topic",
            [since],
        ).fetchall()
    }
    # A label names a delivery: an alert in one channel, or a story's line in one digest.
    # One whose delivery `db prune` removed (its item published long before) counts as an alert.
    clicks: dict[tuple[str, str], Marked] = {
        (topic, kind): Marked(*counts)
        for topic, kind, *counts in db.execute(
            "SELECT f.topic, f.kind, count(DISTINCT CASE WHEN d.digest_of IS NULL THEN "
            "f.delivery_id END), count(DISTINCT CASE WHEN d.digest_of IS NOT NULL THEN "
            "f.delivery_id END), count(DISTINCT json_array(f.platform, f.user)) FROM feedback f "
            "LEFT JOIN deliveries d ON d.id = f.delivery_id WHERE f.at >= ? GROUP BY f.topic, "
            "f.kind",
            [since],
        ).fetchall()
    }
    weeks = []
    for t in sorted(set(posted) | {t for t, _ in clicks}):
        alerts, digests, lines, reports = posted.get(t, (0, 0, 0, 0))
        not_relevant, wrong_story = (clicks.get((t, k), Marked()) for k in KINDS)
        weeks.append(TopicWeek(t, alerts, not_relevant, wrong_story, digests, lines, reports))
    return weeks
