"""A topic back in the config with another query: what was held for it decided again first."""

from __future__ import annotations

import threading
from typing import Any

import sqlite_utils

from bot.gazetteer import Gazetteer
from bot.gone_topics.held import GONE
from bot.gone_topics.holding import move_on
from bot.model import Topic
from bot.narrow import Redecision, StoredItem, rematch
from bot.redecide.channel import stored_item, taker, topic_exists
from bot.redecide.topic_changes import stored_batches
from bot.store import HELD_FOR_GONE, SubscriptionRow, subscriptions, told_story


def returning(
    db: sqlite_utils.Database, topics: list[Topic], after: list[Topic], gazetteer: Gazetteer
) -> Redecision | None:
    """At start, before the topics are synced: what decides the alerts held for config
    topics that are back (`topics` has them, alerts are held for them) as they now read,
    among `after` (every topic as the sync leaves them); None when none is back. The
    encoder is asked about their items first, as `topic add` asks it, by the start
    (`bot.startup._topics_at_start`: off the loop, a batch at a time, a stop heard). Whether
    the store has them yet does not count: a start stopped after storing the topics and
    before giving back what was held left them stored, their alerts still held."""
    held = {  # one look at the held alerts, not one per config topic
        r[0]
        for r in db.execute(
            "SELECT DISTINCT error FROM deliveries WHERE status = 'held' AND error LIKE ? AND "
            "kind IN ('new', 'update')",
            [HELD_FOR_GONE],
        )
    }
    back = {t.name for t in topics if GONE.format(t.name) in held}
    return rematch(back, after, gazetteer) if back else None


def held_items(
    db: sqlite_utils.Database, back: Redecision, stop: threading.Event | None = None
) -> list[StoredItem]:
    """The items of the alerts still held for the topics `back` has (`returning`), which
    the give-back decides again (`decide_again`): what the start asks the encoder about
    (`bot.startup._topics_at_start`). Not every alert waiting through them: a give-back a
    stop cut short gave part back already, and asking about those again cost the next
    start 20-41 s at 1,700 given back. A `stop` set meanwhile ends the reading
    (StoppingError), nothing written."""
    wanted = {  # the give-back's: an unsubscribed one's are not given back
        (s.id, GONE.format(s.topic))
        for s in subscriptions(db)
        if s.topic in back.affected and s.paused_reason != "unsubscribed"
    }
    ids = (
        item
        for item, sub_id, error in db.execute(  # through the status index, as `returning`
            "SELECT item_id, subscription_id, error FROM deliveries WHERE status = 'held' AND "
            "error LIKE ? AND event_id = 0 AND kind IN ('new', 'update')",
            [HELD_FOR_GONE],
        ).fetchall()
        if (sub_id, error) in wanted
    )
    return [item for batch in stored_batches(db, ids, stop) for item in batch]


def decide_again(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    again: Redecision,
    others: list[SubscriptionRow],
    story: int,
) -> int:
    """The topic came back to the config with another query (or model): the story's held
    alerts, oldest first, stay held for the give-back if the topic as it now reads takes
    their item (strictly for the story's first alert here), else go on through another
    topic of the channel that takes it (`others`; `in_doubt_takers`), else are cancelled
    (the item stays in the archive). The first kept starts the story unless the channel was
    told of it otherwise. Not
    `bot.redecide.channel._redecide`: what the topic keeps stays held here for the give-back's
    `max_age` look, and what it refuses is counted apart for the channel's notice. How
    many were cancelled."""
    reason = f"topic {sub.topic} came back to the config no longer taking it"
    held = list(
        db.query(
            "SELECT id, subscription_id, channel, story_id, item_id, kind, status, digest_of "
            "FROM deliveries WHERE +subscription_id = ? AND +status = 'held' AND error = ? AND "
            "story_id = ? AND event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [sub.id, GONE.format(sub.topic), story],
        )
    )
    status = "digest" if sub.mode == "digest" else "pending"
    told: set[int] = set()
    refused = 0
    for d in held:
        story = d["story_id"]
        if story not in told and told_story(db, sub.channel, story, status, before=d["id"]):
            told.add(story)
        kind = "update" if story in told else "new"
        if taker([sub], again(stored_item(db, d["item_id"])), {**d, "kind": kind}) is not None:
            db.execute("UPDATE deliveries SET kind = ? WHERE id = ?", [kind, d["id"]])
            told.add(story)
        elif move_on(db, d, in_doubt_takers(d, others), sub.channel):
            told.add(story)
        else:
            refused += db.execute(
                "UPDATE deliveries SET status = 'cancelled', error = ? WHERE id = ?",
                [reason, d["id"]],
            ).rowcount
    return refused


def in_doubt_takers(d: dict[str, Any], subs: list[SubscriptionRow]) -> list[SubscriptionRow]:
    """Where a held alert may go on: one of a digest in doubt (its key in `digest_of`: it
    may be out) only to a digest subscription, where it stays with that digest and the
    platform is asked for it first (`bot.digest`). Handed to an instant one, it went out
    as an alert of its own, starting its story again (a digest's key tells of nothing)."""
    return subs if d["digest_of"] is None else [s for s in subs if s.mode == "digest"]


def other_takers(db: sqlite_utils.Database, sub: SubscriptionRow) -> list[SubscriptionRow]:
    """The channel's other subscriptions in force whose topic exists: what a held alert the
    topic back no longer takes may go on through."""
    return [
        s
        for s in subscriptions(db, sub.channel)
        if s.id != sub.id and s.paused_reason != "unsubscribed" and topic_exists(db, s.topic)
    ]
