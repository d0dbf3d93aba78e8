"""The Alert a delivery sends, read from its stored rows: item, outlet, match, story sources,
the independent outlets carrying the story, and for an edit what changed.

Pure reads; what to do when a row cannot be read is the outbox's business (it fails that
delivery alone). The summary of an item is made here, when an alert needs it, not per item,
and so is an edit's word diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import sqlite_utils

from bot.chat import split_channel
from bot.clock import parse_stored, utcnow
from bot.corroboration_store import ON_TOPIC, corroboration_of
from bot.edits import word_diff
from bot.model import Alert, Delivery, Edit, MessageRef, Source
from bot.text.summary import summarize
from bot.wording import counted


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
        Source(r["outlet"], r["title"], r["url"], _published(r["published"], r["first_seen"]))
        for r in db.query(
            "SELECT feeds.name AS outlet, items.title, items.url, items.published, "
            "items.first_seen FROM items JOIN feeds ON feeds.id = items.feed_id WHERE "
            f"items.story_id = ? AND items.id <= ? AND {ON_TOPIC} "
            "ORDER BY items.published, items.id",
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
        published=_published(item["published"], item["first_seen"]),
        summary=item["alert_summary"] or summarize(item["title"], item["summary"]),
        entities=tuple(json.loads(item["entities"])),
        matched=tuple(json.loads(match[0])) if match else (),
        explanation=match[1] if match else "",
        sources=sources,
        corroboration=corroboration_of(db, d.story_id, max(d.item_id, item["id"])),
        edit=edit,
    )


def _published(published: str | None, first_seen: str | None) -> datetime:
    """An item's date; a damaged stored date must not stop a delivery: the first-seen time
    stands in."""
    return parse_stored(published, parse_stored(first_seen, utcnow()))


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


def outlet_count(alert: Alert) -> str:
    """ "3 outlets", or "1 outlet (2 reports)" when the story has more reports than
    independent outlets (one outlet's two reports, wire copy run twice): the count every
    platform shows beside the outlets' names, so it agrees with the sources listed under it
    (Slack said "1 outlet: CNA" over two CNA sources)."""
    outlets = len(alert.corroboration.outlets) if alert.corroboration else 0
    count = counted(outlets, "outlet")
    if len(alert.sources) > outlets:
        count += f" ({counted(len(alert.sources), 'report')})"
    return count


# A stored explanation (bot.topics.match's reasons, then bot.relevance.reasons' verdict),
# read back for an editor. A reason of a shape not known here is shown as stored.
_VERDICT = re.compile(r"(?:^|; )relevance (\d\.\d\d) \((update bar \d\.\d\d|bar|words alone)")
_TERM = re.compile(r'(title|text) has (".*")')
_NEAR = re.compile(r'(".*") within \d+ words of (".*?")( in the title)?')
_ENTITY = re.compile(r"entity (.+)")
TEXT_TERMS = 3  # words found only in the text, beyond the title: the title's say more


def brief_why(explanation: str, matched: Sequence[str] = ()) -> str:
    """Why an alert fired, in a line an editor reads at a glance: the query's words that
    fired and where, the entities, and the relevance score ('"deploys" near "troops" in the
    title · relevance 0.98'); an update let through at the relaxed bar names it. The model's
    features stay out: `wirewatch topics test`, chat `test` and the JSON `explanation` say
    them in full."""
    found = _VERDICT.search(explanation)
    words = explanation[: found.start()] if found else explanation
    quoted = ", ".join(f'"{m}"' for m in matched)
    said = "; ".join(_grouped(words.split("; "))) if words else quoted
    if found is None:
        return said
    bar = found.group(2)
    verdict = f"relevance {found.group(1)}"
    if bar.startswith("update bar"):
        verdict += f" ({bar})"
    elif bar == "words alone":
        verdict += " (vetoed)"
    return f"{said} · {verdict}" if said else verdict


def _grouped(reasons: list[str]) -> list[str]:
    """Reasons as short phrases, in the order stored; the words found in the title, and
    those found in the text, each said once where the first of them was."""
    parts: list[str | list[str]] = []
    title: list[str] = []
    text: list[str] = []
    more = False
    for reason in reasons:
        if reason == "...":
            more = True
        elif term := _TERM.fullmatch(reason):
            group = title if term.group(1) == "title" else text
            if not group:
                parts.append(group)
            group.append(term.group(2))
        elif near := _NEAR.fullmatch(reason):
            parts.append(f"{near.group(2)} near {near.group(1)}{near.group(3) or ''}")
        elif entity := _ENTITY.fullmatch(reason):
            parts.append(entity.group(1))
        else:
            parts.append(reason)  # "topic NAME"
    more = more or len(text) > TEXT_TERMS
    del text[TEXT_TERMS:]
    out = [p if isinstance(p, str) else _terms(p, p is title) for p in parts]
    return [*out, "…"] if more else out


def _terms(quoted: list[str], in_title: bool) -> str:
    return f"{', '.join(quoted)} in the {'title' if in_title else 'text'}"
