"""A channel's waiting alerts decided again, as `bot.ingest` would queue them now, when what
let them through changed: a topic's query (`topic add` of a changed query, a config topic
changed at start), a subscription's --only/--except (`subscribe`), or the subscription
itself (`unsubscribe`, a config subscription removed). Each goes on through a subscription
of its channel that still takes it, else it is cancelled with the reason; the stories they
started there start with their next alert that may.

A command's long write goes in slices (`_sliced`) that a poll's writes go between, with a
row in `unfinished_writes` that a start finds and finishes (`sync_topics`,
`sync_config_subscriptions`); so does a start's own, after the config changed a topic or a
subscription's only/except, which a stop ends between two slices. `topic add`, and a start
after the config changed a topic, decide the items before their first write (seconds at
thousands waiting); a stop meanwhile ends them there, nothing written
(`_waiting_batches`), or between two slices. The plain queries on feeds, topics and
subscriptions are `bot.store`'s; nothing here matches text itself (`bot.narrow`) or sends.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.clock import iso, parse_stored, utcnow
from bot.db import inserted_id, write
from bot.errors import StoppingError, StoreError
from bot.failpoints import failpoint
from bot.model import Entry, Topic, TopicMatch
from bot.narrow import Redecision, StoredItem, narrow_subscriptions
from bot.store import (
    HELD_FOR_GONE,
    LIVE,
    REMOVED,
    SubscriptionRow,
    dumps,
    list_topics,
    live_sub,
    subscriptions,
    told_story,
    topic_row,
)

log = logging.getLogger(__name__)

_LIVE_SUB = live_sub()

# Seconds a command's long write (alerts decided again) holds the write lock at a time.
WRITE_SLICE = 0.025
# Waiting items read and decided before the write between two looks at a stop (12 ms).
DECIDE_BATCH = 32
NOTHING_CHANGED = (
    "wirewatch is stopping, so nothing was changed: run the same command again once it is back"
)
SAVED_FOR_START = (
    "wirewatch is stopping: the change is saved, and the alerts still waiting through it are "
    "decided again when it starts"
)

# What a subscription that ends takes with it: everything not sent yet.
WAITING = ("pending", "digest", "held", "muted")
# Alerts still to go out that a changed filter or topic query decides again (a muted one
# never goes out; a claimed one is in flight).
QUEUED = ("pending", "digest", "held")
# Why `topic add` of a changed query (or of a gone topic's name) cancels a waiting alert.
QUERY_CHANGED = "topic {}'s query changed: no longer let through"
# A queued alert's item decided again by a changed topic (`bot.narrow.rematch`).
Rematch = Callable[[StoredItem], StoredItem]


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
    unfinished = _unfinished(db, "topics")
    reason = "a topic changed in the config: no longer let through"
    if unfinished and not ours:
        reason = unfinished[-1]["reason"]
    if again is not None:
        _decide(db, again, stop)
    with write(db):
        _store_topics(db, topics)
        if again is None:
            return 0
        mark = _unfinish(db, "topics", reason, topics=sorted(again.affected))
        subs = [s.id for s in subscriptions(db) if again.touches(s)]
        stories = _queued_stories(db, subs, QUEUED)
    units = [
        functools.partial(_redecide_story, db, channel, story, subs, QUEUED, reason, again)
        for channel, story in stories
    ]
    done = (mark, *(u["id"] for u in unfinished))
    return _sliced(db, units, lambda: _finished(db, *done), stop)


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
    for row in _unfinished(db, "topics"):
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
    thousands waiting: once `stop` is set (wirewatch is stopping, `bot.db.StoreThread`),
    StoppingError at the next batch, nothing written, so that the stop keeps its grace."""
    ids = sorted(
        {
            d["item_id"]
            for sub in subscriptions(db)
            if again.touches(sub)
            for d in _queued(db, sub.id)
        }
    )
    for at in range(0, len(ids), DECIDE_BATCH):
        if stop is not None and stop.is_set():
            raise StoppingError(NOTHING_CHANGED)
        yield [stored_item(db, i) for i in ids[at : at + DECIDE_BATCH]]


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
    time); the writes then go in slices (`_sliced`), a story at a time, so that a poll's
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
            for u in _unfinished(db, "topics")
            if set(json.loads(u["topics"])) <= set(again.affected)
        ]
        mark = _unfinish(db, "topics", reason, topics=sorted(again.affected))
        subs = [s.id for s in subscriptions(db) if again.touches(s)]
        stories = _queued_stories(db, subs, QUEUED)
    units = [
        functools.partial(_redecide_story, db, channel, story, subs, QUEUED, reason, again)
        for channel, story in stories
    ]
    return _sliced(db, units, lambda: _finished(db, mark, *covered), stop)


def unfinished_topics(db: sqlite_utils.Database) -> set[str]:
    """Topics whose waiting alerts a command cut short was deciding again (a slice the
    database refused): the same `topic add` run again finishes them."""
    return {name for u in _unfinished(db, "topics") for name in json.loads(u["topics"])}


def sync_config_subscriptions(
    db: sqlite_utils.Database,
    subs: list[tuple[str, str, str, str | None, str | None]],
    stop: threading.Event | None = None,
) -> int:
    """Subscriptions in the config exist, narrowed as written there (channel, topic, mode,
    only, except); config ones no longer listed end, and the alerts they still had waiting
    are dropped, never posted; a changed only/except decides those it had waiting again,
    as `subscribe` from chat does. Returns how many were dropped.

    First, what a chat `subscribe` or `unsubscribe` left half done when the process
    stopped between two of its slices is finished (`unfinished_writes`), in slices a
    `stop` ends too (`_leftover_work`: one piece, it held a stop seconds). The deciding
    again of what waits through a subscription that ends or is narrowed goes as
    `sync_topics` goes (seconds at thousands waiting, and a stop must keep its grace): the
    subscriptions are stored with a row for each saying the work is unfinished, then a
    story at a time in slices (`_sliced`), the last deleting the rows; a `stop` set
    meanwhile ends it (StoppingError) between two slices, and the next start finishes what
    a start cut short left (`CONFIG_ENDED`, `CONFIG_NARROWED`)."""
    with write(db):
        leftovers = _chat_leftovers(db)
        chat = _leftover_work(db, leftovers)
    dropped = _sliced(db, *chat, stop) if leftovers else 0
    with write(db):
        _store_config_subscriptions(db, subs)
        marks = _unfinished(db, CONFIG_ENDED) + _unfinished(db, CONFIG_NARROWED)
        if not marks:
            return dropped
        rows, work = _config_work(db, marks)
        lost: dict[int, int] = {}  # dropped per ended subscription, for its log line

        def unit(sub_id: int, channel: str, story: int) -> int:
            reason, statuses = work[sub_id]
            n = _redecide_story(db, channel, story, [sub_id], statuses, reason)
            lost[sub_id] = lost.get(sub_id, 0) + n
            return n

        units = [
            functools.partial(unit, sub_id, channel, story)
            for sub_id, (_, statuses) in work.items()
            for channel, story in _queued_stories(db, [sub_id], statuses)
        ]

    def last() -> int:
        for sub_id, (reason, statuses) in work.items():
            if statuses == _ENDING:
                _end_rest(db, rows[sub_id], reason, statuses)
                _log_ended(rows[sub_id], reason, lost.get(sub_id, 0))
        return _finished(db, *(u["id"] for u in marks))

    return dropped + _sliced(db, units, last, stop)


def _store_config_subscriptions(
    db: sqlite_utils.Database, subs: list[tuple[str, str, str, str | None, str | None]]
) -> None:
    """The config's subscriptions as written, those it no longer lists ended (nothing more
    goes through them), each of those and each whose only/except changed marked to have
    its waiting alerts decided again (`unfinished_writes`). Inside the caller's write."""
    keep = {(channel, topic) for channel, topic, *_ in subs}
    now = iso(utcnow())
    filters = {
        (r["channel"], r["topic"]): (r["id"], r["only_query"], r["except_query"])
        for r in db.query(
            "SELECT id, channel, topic, only_query, except_query FROM subscriptions "
            f"WHERE {_LIVE_SUB}"
        )
    }
    for row in list(
        db.query(
            "SELECT id, channel, topic FROM subscriptions WHERE origin = 'config' AND " + _LIVE_SUB
        )
    ):
        if (row["channel"], row["topic"]) not in keep:
            db.execute(
                "UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [REMOVED, row["id"]]
            )
            _unfinish(db, CONFIG_ENDED, REMOVED, subscription_id=row["id"])
    for channel, topic, mode, only, except_ in subs:
        db.execute(
            "INSERT INTO subscriptions (channel, topic, mode, origin, created, only_query, "
            "except_query) VALUES (?, ?, ?, 'config', ?, ?, ?) ON CONFLICT (channel, topic) "
            "DO UPDATE SET mode = excluded.mode, paused_reason = nullif(paused_reason, ?), "
            "only_query = excluded.only_query, except_query = excluded.except_query",
            [channel, topic, mode, now, only, except_, REMOVED],
        )
        sub_id, *before = filters.get((channel, topic), (None, only, except_))
        if sub_id is not None and tuple(before) != (only, except_):
            _unfinish(db, CONFIG_NARROWED, _NARROWED_REASON, subscription_id=sub_id)


def _config_work(
    db: sqlite_utils.Database, marks: list[dict[str, Any]]
) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[str, tuple[str, ...]]]]:
    """The marked subscriptions' rows, and for each whose alerts are decided again: the
    reason and the statuses decided (ended ones first). This start's marks and those a
    stopped start left: one ended since is not narrowed too; one back in the config since
    keeps what still waits through it."""
    ids = sorted({u["subscription_id"] for u in marks})
    rows = {
        r["id"]: r
        for r in db.query(
            "SELECT id, channel, topic, paused_reason FROM subscriptions WHERE id IN "
            f"({','.join('?' * len(ids))})",
            ids,
        )
    }
    work: dict[int, tuple[str, tuple[str, ...]]] = {}
    for u in marks:
        sub = rows.get(u["subscription_id"])
        ending = u["kind"] == CONFIG_ENDED
        if sub is not None and (sub["paused_reason"] == REMOVED) == ending:
            work.setdefault(sub["id"], (u["reason"], _ENDING if ending else QUEUED))
    return rows, work


# A config subscription's only/except changed, or the subscription left the config, at
# start, its waiting alerts not all decided again yet (`sync_config_subscriptions`):
# finished by the next start, never by a chat command (`_finish_subscriptions` finishes
# chat's own, and resumes the channel).
CONFIG_NARROWED, CONFIG_ENDED = "config-narrowed", "config-ended"
_NARROWED_REASON = "the subscription's new only/except in the config refuses it"
# What a config subscription that ends at start takes with it: a claimed one too (nothing
# is in flight at start).
_ENDING = (*WAITING, "claimed")


def _finish_subscriptions(db: sqlite_utils.Database) -> int:
    """Chat's subscription changes a stop cut short, done again whole (what their first
    slices decided stays as decided). Inside the caller's write; how many were dropped."""
    units, last = _leftover_work(db, _chat_leftovers(db))
    return sum(unit() for unit in units) + last()


def _chat_leftovers(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """What a chat `subscribe` (narrowed) or `unsubscribe` (ended) cut short left."""
    return _unfinished(db, "narrowed") + _unfinished(db, "ended")


def _leftover_work(
    db: sqlite_utils.Database, leftovers: list[dict[str, Any]]
) -> tuple[list[Callable[[], int]], Callable[[], int]]:
    """Chat's cut-short subscription changes as `_sliced` takes them: a unit per story
    still waiting through each (decided again as the command would have), and the last,
    which resumes a narrowed one's channel, hands on an ended one's edits and deletes the
    marks. A start runs them in slices a stop ends (the marks stay for the next start); a
    chat command, whole, first (`_finish_subscriptions`)."""
    units: list[Callable[[], int]] = []
    ends: list[Callable[[], None]] = []
    for u in leftovers:
        row = db.execute(
            "SELECT id, channel, topic FROM subscriptions WHERE id = ?", [u["subscription_id"]]
        ).fetchone()
        if row is not None:
            mine, end = _leftover(db, u, {"id": row[0], "channel": row[1], "topic": row[2]})
            units += mine
            ends.append(end)

    def last() -> int:
        for end in ends:
            end()
        return _finished(db, *(u["id"] for u in leftovers))

    return units, last


def _leftover(
    db: sqlite_utils.Database, mark: dict[str, Any], sub: dict[str, Any]
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """One cut-short change's units and end (`_leftover_work`)."""
    reason, ended = mark["reason"], mark["kind"] == "ended"
    statuses = WAITING if ended else QUEUED
    if ended:  # retired for the reason (the command's first write did so already)
        db.execute("UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [reason, sub["id"]])
    lost = 0

    def unit(story: int) -> int:
        nonlocal lost
        n = _redecide_story(db, sub["channel"], story, [sub["id"]], statuses, reason)
        lost += n
        return n

    def end() -> None:
        if ended:
            _end_rest(db, sub, reason, WAITING)
            _log_ended(sub, reason, lost)
        else:
            _resume(db, sub["channel"])

    stories = _queued_stories(db, [sub["id"]], statuses)
    return [functools.partial(unit, story) for _, story in stories], end


def _end_rest(
    db: sqlite_utils.Database, row: dict[str, Any], reason: str, statuses: tuple[str, ...]
) -> None:
    """An ended subscription's alerts decided: its edits and events handed on, and the row
    deleted unless deliveries refer to it. Inside the caller's write."""
    _hand_on_rest(db, row["id"], reason, statuses)
    db.execute(
        "DELETE FROM subscriptions WHERE id = ? AND NOT EXISTS "
        "(SELECT 1 FROM deliveries WHERE subscription_id = ?)",
        [row["id"], row["id"]],
    )


def _log_ended(row: dict[str, Any], reason: str, dropped: int) -> None:
    log.log(
        logging.WARNING if dropped else logging.INFO,
        "subscription.ended channel=%s topic=%s reason=%s dropped=%d",
        row["channel"],
        row["topic"],
        reason,
        dropped,
    )


def _hand_on_rest(
    db: sqlite_utils.Database, sub_id: int, reason: str, statuses: tuple[str, ...]
) -> None:
    """An ended subscription's waiting edits and story events: under the subscription its
    story's alerts in the channel go out through now, else cancelled (not counted)."""
    waiting = ",".join("?" * len(statuses))
    live = ",".join("?" * len(LIVE))
    now_through = (
        "FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE d.channel = "
        "deliveries.channel AND d.story_id = deliveries.story_id AND d.event_id = 0 AND "
        f"d.kind IN ('new', 'update') AND d.status IN ({live}) AND d.subscription_id != ? "
        f"AND {live_sub('s')}"
    )
    rest = (
        f"subscription_id = ? AND status IN ({waiting}) AND NOT (event_id = 0 AND kind IN "
        "('new', 'update'))"
    )
    db.execute(
        f"UPDATE deliveries SET subscription_id = (SELECT d.subscription_id {now_through} "
        f"ORDER BY d.id LIMIT 1) WHERE {rest} AND EXISTS (SELECT 1 {now_through})",
        [*LIVE, sub_id, sub_id, *statuses, *LIVE, sub_id],
    )
    db.execute(
        f"UPDATE deliveries SET status = 'cancelled', error = ? WHERE {rest}",
        [reason, sub_id, *statuses],
    )


def stored_item(db: sqlite_utils.Database, item_id: int) -> StoredItem:
    """An item as stored, with the topics it matched (strictly, or at the relaxed bar)."""
    row = db.execute(
        "SELECT identity, url, title, summary, text, published, digest FROM items WHERE id = ?",
        [item_id],
    ).fetchone()
    identity, url, title, summary, text, published, said = row
    matches = tuple(
        TopicMatch(topic, (), (), strict=bool(strict))
        for topic, strict in db.execute(
            "SELECT topic, 1 FROM matches WHERE item_id = ? UNION ALL "
            "SELECT topic, 0 FROM relaxed_matches WHERE item_id = ?",
            [item_id, item_id],
        )
    )
    # Its digest as stored with it (kept with title and summary by edits): not made again.
    entry = Entry(
        identity, url, title, summary or "", parse_stored(published, None), digest=said or ""
    )
    return StoredItem(entry, text, matches)


# -- long writes, in slices -------------------------------------------------------------


def _sliced(
    db: sqlite_utils.Database,
    units: Sequence[Callable[[], int]],
    last: Callable[[], int],
    stop: threading.Event | None = None,
) -> int:
    """Run `units` (each a consistent step: one story's alerts in one channel), as many per
    transaction as fit in WRITE_SLICE seconds, and `last` in the transaction of the last
    one; returns the sum of what they return. Between two transactions the writers that
    asked meanwhile (a poll storing, the outbox) go first (`bot.db.WriteTurns`). Once `stop`
    is set (wirewatch is stopping), StoppingError between two slices: the caller's first
    write left the row that the next start finishes the work from (`unfinished_writes`),
    as after a kill there, and the stop keeps its grace."""
    total, todo, first = 0, iter(units), True
    unit = next(todo, None)
    while True:
        if not first:
            failpoint("between_slices")  # tests: a kill here is finished by the next start
            if stop is not None and stop.is_set():
                raise StoppingError(SAVED_FOR_START)
        first = False
        try:
            with write(db):
                until = time.monotonic() + WRITE_SLICE
                while unit is not None:
                    total += unit()
                    unit = next(todo, None)
                    if time.monotonic() >= until:
                        break
                if unit is None:
                    return total + last()
        except StoreError as exc:  # the change is stored (the caller's first write), in part
            raise StoreError(
                f"{exc}. The change is saved, but not all the alerts waiting through it are "
                "decided again yet: run the same command again to finish (a restart does too)"
            ) from exc


def _queued_stories(
    db: sqlite_utils.Database, sub_ids: list[int], statuses: tuple[str, ...]
) -> list[tuple[str, int]]:
    """(channel, story) of the alerts waiting (`statuses`) through these subscriptions,
    the story with the oldest such alert first."""
    if not sub_ids:
        return []
    rows = db.execute(
        "SELECT channel, story_id FROM deliveries WHERE subscription_id IN "
        f"({','.join('?' * len(sub_ids))}) AND status IN ({','.join('?' * len(statuses))}) "
        "AND event_id = 0 AND kind IN ('new', 'update') GROUP BY channel, story_id "
        "ORDER BY min(id)",
        [*sub_ids, *statuses],
    )
    return [(channel, story) for channel, story in rows]


def _redecide_story(
    db: sqlite_utils.Database,
    channel: str,
    story_id: int,
    sub_ids: list[int],
    statuses: tuple[str, ...],
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """`_redecide` of one story's alerts in the channel still waiting through these
    subscriptions, as they are now (some may have been sent since the plan was made)."""
    waiting = list(
        db.query(
            "SELECT id, subscription_id, channel, story_id, item_id, kind, status, error FROM "
            "deliveries WHERE channel = ? AND story_id = ? AND subscription_id IN "
            f"({','.join('?' * len(sub_ids))}) AND status IN ({','.join('?' * len(statuses))}) "
            "AND event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [channel, story_id, *sub_ids, *statuses],
        )
    )
    return _redecide(db, channel, waiting, reason, rematch) if waiting else 0


def _unfinish(
    db: sqlite_utils.Database,
    kind: str,
    reason: str,
    *,
    topics: list[str] | None = None,
    subscription_id: int | None = None,
) -> int:
    """Note, inside the first slice's transaction, a long write a start must finish if
    the process stops before its last slice."""
    return inserted_id(
        db.execute(
            "INSERT INTO unfinished_writes (kind, topics, subscription_id, reason, created) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                kind,
                dumps(topics) if topics is not None else None,
                subscription_id,
                reason,
                iso(utcnow()),
            ],
        )  # fmt: skip
    )


def _finished(db: sqlite_utils.Database, *ids: int) -> int:
    for mark in ids:
        db.execute("DELETE FROM unfinished_writes WHERE id = ?", [mark])
    return 0


def _unfinished(db: sqlite_utils.Database, kind: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM unfinished_writes WHERE kind = ? ORDER BY id", [kind]))


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


def _redecide(
    db: sqlite_utils.Database,
    channel: str,
    queued: list[dict[str, Any]],
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """Decide queued alerts of `channel` again as `bot.ingest` would decide them now (after
    a filter or a topic's query changed): each goes on through a subscription of the
    channel that still takes its item (its own first), else it is cancelled with `reason`,
    and the stories it started here start with their next alert that may. Inside the
    caller's write; returns how many were cancelled."""
    subs = subscriptions(db, channel)
    # A subscription to a topic removed from the config keeps what it holds, and takes
    # nothing more: an alert handed to it would be posted under a topic that is gone.
    gone = {s.id for s in subs if not topic_exists(db, s.topic)}
    stories: set[int] = set()
    cancelled = 0
    for d in queued:
        item = stored_item(db, d["item_id"])
        mine = [s for s in subs if s.id not in gone or s.id == d["subscription_id"]]
        sub = taker(mine, rematch(item) if rematch else item, d)
        if sub is None:
            cancelled += _cancel(db, d["id"], _held_reason(d, reason))
        elif sub.id != d["subscription_id"]:
            # Held stays held only where its new subscription is paused too (the channel
            # is): `unsubscribe` holds its alerts while it decides them, not the channel's.
            # Held for a topic that is gone, it is not for that reason under its new one.
            held = d["status"] == "held" and sub.paused_reason is None
            status = d["status"] if d["status"] in _KEPT and not held else _mode_status(sub)
            db.execute(
                "UPDATE deliveries SET subscription_id = ?, status = ?, error = CASE WHEN "
                "error LIKE ? THEN NULL ELSE error END WHERE id = ?",
                [sub.id, status, HELD_FOR_GONE, d["id"]],
            )
        if sub is None or sub.id != d["subscription_id"]:
            stories.add(d["story_id"])
    return cancelled + sum(_restart(db, channel, s, reason, rematch) for s in sorted(stories))


def taker(
    subs: list[SubscriptionRow], item: StoredItem, d: dict[str, Any]
) -> SubscriptionRow | None:
    """The subscription a queued alert of `item` goes out through now: one whose topic the
    item matches (strictly for a story's first alert, at least at the relaxed bar for an
    update) and whose --only/--except let it through; the one it was queued under first."""
    bar = {m.topic for m in item.matches if m.strict or d["kind"] == "update"}
    taking = [s for s in narrow_subscriptions(subs, item) if s.topic in bar]
    mine = [s for s in taking if s.id == d["subscription_id"]]
    return next(iter(mine or taking), None)


def topic_exists(db: sqlite_utils.Database, topic: str) -> bool:
    """Whether `topic` is in the config or made from chat (not removed from the config)."""
    return db.execute("SELECT 1 FROM topics WHERE name = ?", [topic]).fetchone() is not None


# What an alert moved to another subscription keeps: held (the channel is paused), muted (it
# was skipped), claimed (a claim left by a crash, seen at start only).
_KEPT = ("held", "muted", "claimed")


def _mode_status(sub: SubscriptionRow) -> str:
    return "digest" if sub.mode == "digest" else "pending"


def _cancel(db: sqlite_utils.Database, delivery_id: int, reason: str) -> int:
    """Cancelled, never deleted: the row is the history of what the channel was not sent."""
    return db.execute(
        "UPDATE deliveries SET status = 'cancelled', error = ? WHERE id = ?",
        [reason, delivery_id],
    ).rowcount


def _restart(
    db: sqlite_utils.Database,
    channel: str,
    story_id: int,
    reason: str,
    rematch: Rematch | None = None,
) -> int:
    """A story whose queued alerts in the channel changed: each still queued is its first
    alert here unless an older one told of it, as when it was queued; one that only cleared
    the relaxed bar cannot start it (it was let through as an update) and is cancelled, and
    so are the queued edits of a story the channel is no longer told of. Returns how many
    alerts were cancelled (edits not counted)."""
    cancelled = 0
    for d in db.query(
        "SELECT d.id, d.kind, d.status, d.item_id, d.story_id, d.subscription_id, d.error, "
        "s.topic FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE "
        "d.channel = ? AND "
        "d.story_id = ? AND d.event_id = 0 AND d.kind IN ('new', 'update') AND d.status IN "
        f"({','.join('?' * len(QUEUED))}) ORDER BY d.id",
        [channel, story_id, *QUEUED],
    ):
        if told_story(db, channel, story_id, d["status"], before=d["id"]) or _held_with(db, d):
            kind = "update"
        elif _strict(db, d["item_id"], d["topic"], rematch):
            kind = "new"
        else:
            cancelled += _cancel(db, d["id"], _held_reason(d, reason))
            continue
        db.execute("UPDATE deliveries SET kind = ? WHERE id = ?", [kind, d["id"]])
    if not told_story(db, channel, story_id, "pending"):
        db.execute(
            "UPDATE deliveries SET status = 'cancelled', error = ? WHERE channel = ? AND "
            f"story_id = ? AND kind = 'edit' AND status IN ({','.join('?' * len(QUEUED))})",
            [reason, channel, story_id, *QUEUED],
        )
    return cancelled


def _held_reason(d: dict[str, Any], reason: str) -> str:
    """Why an alert is cancelled: for one held for a topic that is gone, that reason first,
    so that the topic's return tells the channel how many its query refused
    (`bot.gone_topics`: `topic add` of its name decides them before they are given back)."""
    held = d["status"] == "held" and _GONE.fullmatch(d.get("error") or "")
    return f"{d['error']}; {reason}" if held else reason


def _held_with(db: sqlite_utils.Database, d: dict[str, Any]) -> bool:
    """Whether an older alert of its story is held with it for a topic that is gone (they
    go out together when it is back, `bot.gone_topics`): that one tells of the story, which
    `told_story` does not count, since it may never go out."""
    if d["status"] != "held" or d["error"] is None or not _GONE.fullmatch(d["error"]):
        return False
    return (
        db.execute(
            "SELECT 1 FROM deliveries WHERE subscription_id = ? AND story_id = ? AND id < ? AND "
            "status = 'held' AND error = ? AND event_id = 0 AND kind IN ('new', 'update') LIMIT 1",
            [d["subscription_id"], d["story_id"], d["id"], d["error"]],
        ).fetchone()
        is not None
    )


_GONE = re.compile(re.escape(HELD_FOR_GONE).replace("%", ".+"))


def _strict(db: sqlite_utils.Database, item_id: int, topic: str, rematch: Rematch | None) -> bool:
    """Whether the item matches `topic` strictly (as stored, or as decided again)."""
    item = stored_item(db, item_id)
    item = rematch(item) if rematch else item
    return any(m.topic == topic and m.strict for m in item.matches)


@dataclass(frozen=True)
class Subscribed:
    """What subscribing did to the channel's waiting alerts."""

    resumed: int  # held while the channel was paused: they go out now
    dropped: int  # refused by the subscription's changed --only/--except


def subscribe(
    db: sqlite_utils.Database,
    channel: str,
    topic: str,
    mode: str,
    only: str | None = None,
    except_: str | None = None,
    stop: threading.Event | None = None,
) -> Subscribed:
    """From chat, as given: mode and narrowing are replaced, not merged; a retired
    subscription comes back as chat's, so the config no longer ends it. The alerts it still
    has waiting go through a changed narrowing too (`Subscribed.dropped`), in slices
    (`_sliced`) that a poll's writes go between; a paused channel stays paused, holding
    what comes meanwhile, until the last slice resumes it. A start finishes what a stop
    left half done (`sync_config_subscriptions`), and so does this command: what one cut
    short in this process left (a slice the database refused) is done first, whole."""
    with write(db):
        _finish_subscriptions(db)
        before = db.execute(
            "SELECT id, only_query, except_query, paused_reason FROM subscriptions WHERE "
            f"channel = ? AND topic = ? AND {_LIVE_SUB}",
            [channel, topic],
        ).fetchone()
        db.execute(
            "INSERT INTO subscriptions (channel, topic, mode, origin, created, only_query, "
            "except_query) VALUES (?, ?, ?, 'chat', ?, ?, ?) ON CONFLICT (channel, topic) DO "
            "UPDATE SET mode = excluded.mode, paused_reason = NULL, origin = CASE WHEN "
            f"{_LIVE_SUB} THEN origin ELSE 'chat' END, only_query = excluded.only_query, "
            "except_query = excluded.except_query",
            [channel, topic, mode, iso(utcnow()), only, except_],
        )
        # A channel muted until later is muted for the topic it now takes on as well.
        now = iso(utcnow())
        db.execute(
            "UPDATE subscriptions SET muted_until = (SELECT max(muted_until) FROM subscriptions "
            f"WHERE channel = ? AND {_LIVE_SUB} AND muted_until > ?) WHERE channel = ? "
            "AND topic = ? AND (muted_until IS NULL OR muted_until < ?)",
            [channel, now, channel, topic, now],
        )
        if before is None or tuple(before[1:3]) == (only, except_):
            return Subscribed(_resume(db, channel), 0)
        sub_id, paused = before[0], before[3]
        db.execute("UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [paused, sub_id])
        reason = "the subscription's new --only/--except refuses it"
        mark = _unfinish(db, "narrowed", reason, subscription_id=sub_id)
        stories = _queued_stories(db, [sub_id], QUEUED)
    units = [
        functools.partial(_redecide_story, db, channel, story, [sub_id], QUEUED, reason)
        for _, story in stories
    ]
    resumed: list[int] = []

    def last() -> int:
        resumed.append(_resume(db, channel))
        return _finished(db, mark)

    dropped = _sliced(db, units, last, stop)
    return Subscribed(resumed[0], dropped)


def _resume(db: sqlite_utils.Database, channel: str) -> int:
    """A channel that was paused by a permanent error gets its held backlog back, each
    alert to the way its subscription takes it now (a digest's in the next digest); how
    many. Not those held for a topic that is gone (`bot.gone_topics`). Inside the caller's
    write."""
    db.execute(
        f"UPDATE subscriptions SET paused_reason = NULL WHERE channel = ? AND {_LIVE_SUB}",
        [channel],
    )
    return int(
        db.execute(
            "UPDATE deliveries SET status = CASE WHEN (SELECT mode FROM subscriptions s WHERE "
            "s.id = deliveries.subscription_id) = 'digest' AND event_id = 0 THEN 'digest' "
            "ELSE 'pending' END WHERE channel = ? AND status = 'held' AND "
            "coalesce(error, '') NOT LIKE ?",
            [channel, HELD_FOR_GONE],
        ).rowcount
    )


def unsubscribe(
    db: sqlite_utils.Database, channel: str, topic: str, stop: threading.Event | None = None
) -> int | None:
    """End the channel's subscription: how many alerts it had waiting to be posted were
    dropped (held ones of a paused channel included), or None when the channel had no such
    subscription. In slices (`_sliced`) a poll's writes go between: the subscription ends
    in the first (nothing new is queued through it), its waiting alerts are decided a story
    at a time, and a start finishes what a stop left half done (so does this command, first,
    for one a refused slice cut short in this process: `subscribe`)."""
    with write(db):
        _finish_subscriptions(db)
        rows = list(
            db.query(
                "SELECT id, channel, topic FROM subscriptions WHERE channel = ? AND topic = ? "
                f"AND {_LIVE_SUB}",
                [channel, topic],
            )
        )
        if not rows:
            return None
        row = rows[0]
        # A muted alert was skipped already ("not saved"): ending it drops nothing more.
        skipped = [
            r[0]
            for r in db.execute(
                "SELECT id FROM deliveries WHERE subscription_id = ? AND status = 'muted'",
                [row["id"]],
            )
        ]
        db.execute(
            "UPDATE subscriptions SET paused_reason = 'unsubscribed' WHERE id = ?", [row["id"]]
        )
        # Its waiting alerts are held at once: the outbox (and the digest) post none of them
        # between two slices, as none was once the command's one write began. (Its edits
        # and marks concern messages the channel has; they are handed on in the last slice.)
        db.execute(
            "UPDATE deliveries SET status = 'held' WHERE subscription_id = ? AND "
            "status IN ('pending', 'digest') AND event_id = 0 AND kind IN ('new', 'update')",
            [row["id"]],
        )
        mark = _unfinish(db, "ended", "unsubscribed", subscription_id=row["id"])
        stories = _queued_stories(db, [row["id"]], WAITING)
    units = [
        functools.partial(_redecide_story, db, channel, story, [row["id"]], WAITING, "unsubscribed")
        for _, story in stories
    ]

    def last() -> int:
        _end_rest(db, row, "unsubscribed", WAITING)
        return _finished(db, mark)

    dropped = _sliced(db, units, last, stop)
    _log_ended(row, "unsubscribed", dropped)
    return dropped - sum(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'cancelled' AND id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        ).fetchone()[0]
        for chunk in _chunks(skipped)
    )


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """Ids in slices a query's parameters hold."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]
