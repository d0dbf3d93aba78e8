"""Stored topics compiled into the matcher; one that no longer compiles (or a desk filter)
is skipped, and each channel that follows it is told once, not left with alerts that stop.

Built at start (bot.startup) and again when a chat command changes a topic
(bot.commands.topic_admin).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

import sqlite_utils

from bot.gazetteer import Gazetteer
from bot.gone_topics import shown_query
from bot.narrow import filter_error
from bot.store import add_notice, list_topics, subscriptions
from bot.topics.match import Matcher
from bot.topics.usable import usable_topics

log = logging.getLogger(__name__)


def build_matcher(db: sqlite_utils.Database, gazetteer: Gazetteer) -> Matcher:
    """All stored topics; one that no longer compiles (or refers to one that does not) is
    skipped loudly, never fatal."""
    good, problems = usable_topics(list_topics(db), gazetteer, stored=True)
    for name, exc in problems.items():
        log.error("topic.invalid name=%s error=%s", name, exc)
    tell_broken(db, {name: str(exc) for name, exc in problems.items()})
    return Matcher(good, gazetteer)


def tell_broken(db: sqlite_utils.Database, topics: Mapping[str, str]) -> None:
    """Tell each channel once that a topic it follows, or its own desk filter, no longer
    compiles (saved under an older version whose query language was looser, or a config
    topic it refers to is gone): skipped quietly, its alerts would simply stop."""
    queries = {t.name: t.query for t in list_topics(db)}
    for sub in subscriptions(db):
        earlier: tuple[str, ...] = ()  # how it was worded before (`_told_broken`)
        if sub.topic in topics:
            part = "topic"
            what, why = f"topic `{sub.topic}`", topics[sub.topic]
            earlier = (f"`/wirewatch topic add {sub.topic} QUERY` with a query that works",)
            # Its own query, to mend where the reason says: as shown it is refused, never
            # saved as a placeholder's word would be (`topic add NAME QUERY` taken verbatim).
            query = shown_query(queries.get(sub.topic, ""))
            fix = (
                f"`/wirewatch topic add {sub.topic} {query}`, its query mended where that "
                f"says (as shown it is refused); to stop following it: `/wirewatch "
                f"unsubscribe {sub.topic}`"
            )
        elif (error := filter_error(sub.only_query, sub.except_query)) is not None:
            part, why = "filter", str(error)
            what = f"the `--only`/`--except` filter of `{sub.topic}` here"
            fix = f"`/wirewatch subscribe {sub.topic}` with filters that work"
        else:
            continue
        said = why.replace("`", "'")  # the stored query quoted: its backticks would pair ours
        texts = [_broken_text(what, w, f) for f in (fix, *earlier) for w in (said, why)]
        # Once per what it tells (this channel, this topic or filter, what is broken), not
        # per wording: reworded, it is not sent again; nor where an earlier wording was sent.
        told = f"{sub.channel}\n{part}\n{sub.topic}\n{why}"
        if not _told_broken(db, sub.channel, texts):
            add_notice(db, f"broken:{_hashed(told)}", texts[0], sub.channel)


def _broken_text(what: str, why: str, fix: str) -> str:
    return (
        f"wirewatch: {what} no longer works ({why}), so it is skipped: this channel "
        f"gets no alerts through it until it is fixed with {fix}."
    )


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _told_broken(db: sqlite_utils.Database, channel: str, texts: list[str]) -> bool:
    """Whether the channel was told, under a key older versions made of the notice's text
    (this one's and its earlier wordings): then not told again."""
    keys = [f"broken:{_hashed(channel + chr(10) + text)}" for text in texts]
    return (
        db.execute(
            f"SELECT 1 FROM notices WHERE key IN ({','.join('?' * len(keys))}) LIMIT 1", keys
        ).fetchone()
        is not None
    )
