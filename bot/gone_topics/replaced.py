"""A config topic that takes the name of one made from chat: each channel following it told once."""

from __future__ import annotations

import logging

import sqlite_utils

from bot.db import write
from bot.model import Topic
from bot.store import queue_notice, subscriptions

log = logging.getLogger(__name__)


def tell_replaced(db: sqlite_utils.Database, topics: list[Topic]) -> list[str]:
    """At start, before the topics are synced (the sync replaces them): the config topics
    that take the name of a topic made from chat, each channel following it told once with
    the chat query it loses and how to keep it. Their names."""
    chat = dict(db.execute("SELECT name, query FROM topics WHERE origin = 'chat'").fetchall())
    replaced = [t for t in topics if t.name in chat]
    with write(db):
        for t in replaced:
            log.warning("topic.replaced name=%s by=config chat_query=%r", t.name, chat[t.name])
            for sub in subscriptions(db):
                if sub.topic == t.name and sub.paused_reason != "unsubscribed":
                    text = _replaced_text(t, chat[t.name], set(chat))
                    key = f"topic-replaced:{sub.channel}\n{t.name}\n{chat[t.name]}"
                    queue_notice(db, key, text, sub.channel)
    return [t.name for t in replaced]


def _replaced_text(topic: Topic, chat_query: str, taken: set[str]) -> str:
    """The channel's notice: the config's query now decides its `topic.name` alerts; the
    chat one may be added again under a free name, with a command that works as shown."""
    name, theirs, ours = topic.name, shown_query(chat_query), shown_query(topic.query)
    keep = f"{name}-chat"
    again = (
        f" To keep the chat one, add it under another name and follow that: "
        f"`/wirewatch topic add {keep} {theirs}`, then `/wirewatch subscribe {keep}`."
        if keep not in taken and len(keep) <= 64 and "`" not in chat_query
        else ""
    )
    return (
        f"wirewatch: wirewatch's config now has a topic `{name}`, which replaces the `{name}` "
        f"made from chat (the config wins a name both have): this channel's `{name}` alerts, "
        f"those waiting too, now follow the config's query `{ours}`, not `{theirs}`.{again}"
    )


def shown_query(query: str) -> str:
    """A query on one line, its backticks made quotes (they would pair ours in a notice)."""
    return " ".join(query.split()).replace("`", "'")
