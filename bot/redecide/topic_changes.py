"""A topic's query changed (`topic add`, the config at start): what waits through it decided again.

The items are decided first, nothing written (seconds at thousands waiting), a batch at a
time so that a stop is heard (`_waiting_batches`); then the writes go in slices
(`bot.redecide.slices`), the topic stored with the first, with a mark a start finishes
from (`changed_topics`, `unfinished_topics`).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlite_utils

from bot.db import write
from bot.errors import StoppingError
from bot.model import Topic
from bot.narrow import Redecision, StoredItem
from bot.redecide.channel import QUEUED, queued_stories, redecide_story, stored_item
from bot.redecide.slices import AT_START, finished, sliced, unfinish, unfinished
from bot.store import list_topics, subscriptions, topic_row

# Waiting items read and decided before the write between two looks at a stop (12 ms).
DECIDE_BATCH = 32
NOTHING_CHANGED = (
    "wirewatch is stopping, so nothing was changed: run the same command again once it is back"
)
# Why `topic add` of a changed query (or of a gone topic's name) cancels a waiting alert.
QUERY_CHANGED = "topic {}'s query changed: no longer let through"


def sync_topics(
    db: sqlite_utils.Database,
    topics: list[Topic],
    again: Redecision | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Built-in and config topics replace their stored copies; chat-made topics stay. With
    `again` (`changed_topics` at start: `bot.narrow.rematch`), the alerts still waiting
    through a changed topic, or through one or a filter referring to it, are decided again
    (and so are those a chat command left half decided: `unfinished_writes`); returns how
    many it dropped.

    As `save_topic` does it, for the same reason (seconds at thousands waiting, and a stop
    must keep its grace): the items decided first, nothing written, then the writes in
    slices, the topics stored with the first and a row saying the work is unfinished, which
    the last deletes. A `stop` set meanwhile ends it (StoppingError) before its first write
    or between two slices; the next start decides again what is still waiting
    (`changed_topics`), those decided already as they are."""
    ours, _ = _config_changed(db, topics)
    cut_short = unfinished(db, "topics")
    reason = "a topic changed in the config: no longer let through"
    if cut_short and not ours:
        reason = cut_short[-1]["reason"]
    if again is not None:
        _decide(db, again, stop)
    with write(db):
        _store_topics(db, topics)
        if again is None:
            return 0
        mark, units = _planned(db, again, reason)
    done = (mark, *(u["id"] for u in cut_short))
    return sliced(db, units, lambda: finished(db, *done), stop, AT_START)


def _store_topics(db: sqlite_utils.Database, topics: list[Topic]) -> None:
    """Built-in and config topics as given, those no longer given deleted; chat's stay.
    Inside the caller's write."""
    names = {t.name for t in topics}
    for row in list(db.query("SELECT name FROM topics WHERE origin != 'chat'")):
        if row["name"] not in names:
            db.table("topics").delete(row["name"])
    for t in topics:
        db.table("topics").upsert(topic_row(t), pk="name")


def _decide(db: sqlite_utils.Database, again: Redecision, stop: threading.Event | None) -> None:
    """Every waiting item `again` decides anew, decided (remembered by text: the writes only
    read the verdicts), a batch at a time; StoppingError once `stop` is set."""
    for batch in _waiting_batches(db, again, stop):
        for item in batch:
            again(item)


def changed_topics(db: sqlite_utils.Database, topics: list[Topic]) -> tuple[set[str], list[Topic]]:
    """Which stored topics `sync_topics(db, topics)` would give another query or relevance
    model, and every topic as it would leave them. Topics whose waiting alerts a chat
    command was deciding again when the process stopped count as changed: the start
    finishes that."""
    changed, after = _config_changed(db, topics)
    for row in unfinished(db, "topics"):
        changed |= set(json.loads(row["topics"]))
    return changed, after


def _config_changed(db: sqlite_utils.Database, topics: list[Topic]) -> tuple[set[str], list[Topic]]:
    stored = {t.name: t for t in list_topics(db)}
    changed = {
        t.name
        for t in topics
        if t.name in stored
        and (stored[t.name].query, stored[t.name].relevance) != (t.query, t.relevance)
    }
    names = {t.name for t in topics}
    chat = [t for t in stored.values() if t.origin == "chat" and t.name not in names]
    return changed, [*topics, *chat]


def waiting_items(
    db: sqlite_utils.Database, again: Redecision, stop: threading.Event | None = None
) -> list[StoredItem]:
    """The items of the alerts still waiting that `again` decides anew (to consult on); a
    `stop` set meanwhile ends the reading (`_waiting_batches`)."""
    return [item for batch in _waiting_batches(db, again, stop) for item in batch]


def _waiting_batches(
    db: sqlite_utils.Database, again: Redecision, stop: threading.Event | None
) -> Iterator[list[StoredItem]]:
    """`waiting_items` DECIDE_BATCH at a time. Reading and deciding them takes seconds at
    thousands waiting: once `stop` is set (wirewatch is stopping, `bot.store_thread.StoreThread`),
    StoppingError at the next batch, nothing written, so that the stop keeps its grace."""
    subs = [sub for sub in subscriptions(db) if again.touches(sub)]
    return stored_batches(db, (d["item_id"] for sub in subs for d in _queued(db, sub.id)), stop)


def stored_batches(
    db: sqlite_utils.Database, ids: Iterable[int], stop: threading.Event | None
) -> Iterator[list[StoredItem]]:
    """The items of `ids`, in id order, DECIDE_BATCH at a time: StoppingError at the next
    batch once `stop` is set, nothing written."""
    todo = sorted(set(ids))
    for at in range(0, len(todo), DECIDE_BATCH):
        if stop is not None and stop.is_set():
            raise StoppingError(NOTHING_CHANGED)
        yield [stored_item(db, i) for i in todo[at : at + DECIDE_BATCH]]


def _queued(db: sqlite_utils.Database, sub_id: int) -> list[dict[str, Any]]:
    """A subscription's alerts still to go out (stories' items, not edits or marks)."""
    return list(
        db.query(
            "SELECT id, subscription_id, channel, story_id, item_id, kind, status FROM "
            f"deliveries WHERE subscription_id = ? AND status IN ({','.join('?' * len(QUEUED))}) "
            "AND event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [sub_id, *QUEUED],
        )
    )


def save_topic(
    db: sqlite_utils.Database,
    topic: Topic,
    again: Redecision | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Store a topic; with `again` (its query changed: `bot.narrow.rematch`), the alerts
    still waiting through it, or through a topic or a filter referring to it, are decided
    again, and those no longer let through are dropped. Returns how many were dropped.

    Deciding is done first, without the lock (the items' text matched anew: most of the
    time); the writes then go in slices (`sliced`), a story at a time, so that a poll's
    writes go in between. The topic is stored with the first slice, with a row saying
    that its alerts are being decided again, deleted with the last: a start that finds it
    decides them again (`changed_topics`), those decided already as they are. A `stop` set
    while deciding ends the command before its first write (`_waiting_batches`)."""
    if again is None:
        with write(db):
            db.table("topics").upsert(topic_row(topic), pk="name")
        return 0
    _decide(db, again, stop)
    reason = QUERY_CHANGED.format(topic.name)
    with write(db):
        db.table("topics").upsert(topic_row(topic), pk="name")
        covered = [  # what an earlier try, cut short, left of the same topics: done here too
            u["id"]
            for u in unfinished(db, "topics")
            if set(json.loads(u["topics"])) <= set(again.affected)
        ]
        mark, units = _planned(db, again, reason)
    return sliced(db, units, lambda: finished(db, mark, *covered), stop)


def _planned(
    db: sqlite_utils.Database, again: Redecision, reason: str
) -> tuple[int, list[Callable[[], int]]]:
    """Inside the first write (`sync_topics`, `save_topic`): the mark a start finishes the
    work from, and a unit per story still waiting through what `again` touches, for
    `sliced`."""
    mark = unfinish(db, "topics", reason, topics=sorted(again.affected))
    subs = [s.id for s in subscriptions(db) if again.touches(s)]
    units: list[Callable[[], int]] = [
        functools.partial(redecide_story, db, channel, story, subs, QUEUED, reason, again)
        for channel, story in queued_stories(db, subs, QUEUED)
    ]
    return mark, units


def unfinished_topics(db: sqlite_utils.Database) -> set[str]:
    """Topics whose waiting alerts a command cut short was deciding again (a slice the
    database refused): the same `topic add` run again finishes them."""
    return {name for u in unfinished(db, "topics") for name in json.loads(u["topics"])}
