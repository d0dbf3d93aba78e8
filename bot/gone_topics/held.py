"""What is held for a topic that is gone: which subscriptions, how many alerts, how it is said."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from bot.redecide.channel import topic_exists
from bot.store import HELD_FOR_GONE, SubscriptionRow, subscriptions
from bot.wording import counted

# The error of an alert held for that reason: what `bot.redecide.finishing.resume` leaves held.
GONE = HELD_FOR_GONE.replace("%", "{}")


@dataclass(frozen=True)
class Gone:
    """A channel's subscription to a topic that no longer exists, and what waits for it."""

    channel: str
    topic: str
    held: int


def gone_subscriptions(db: sqlite_utils.Database, channel: str | None = None) -> list[Gone]:
    """Subscriptions in force (of `channel`, else of every channel) whose topic is gone."""
    return [
        Gone(s.channel, s.topic, held_count(db, s))
        for s in subscriptions(db, channel)
        if s.paused_reason != "unsubscribed" and not topic_exists(db, s.topic)
    ]


def gone_line(g: Gone) -> str:
    """How `status` and the subscription list say it, with the two ways out."""
    return (
        f"`{g.topic}` was removed from the config: {counted(g.held, 'alert')} held for it, "
        f"none posted (put it back in the config, or `/wirewatch unsubscribe {g.topic}`)"
    )


def held_for(db: sqlite_utils.Database, topic: str) -> int:
    """How many story alerts, in every channel, are held since a topic of this name left."""
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'held' AND error = ? AND kind IN "
            "('new', 'update')",
            [GONE.format(topic)],
        ).fetchone()[0]
    )


def held_count(db: sqlite_utils.Database, sub: SubscriptionRow) -> int:
    """The story alerts held for its topic (their edits and marks not counted)."""
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE subscription_id = ? AND status = 'held' "
            "AND error = ? AND kind IN ('new', 'update')",
            [sub.id, GONE.format(sub.topic)],
        ).fetchone()[0]
    )
