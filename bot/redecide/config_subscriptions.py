"""The config's subscriptions at start: stored as written, those it no longer lists ended.

What waits through one that ends, or whose only/except changed, is decided again a story
at a time in slices a stop ends (`bot.redecide.slices`), as chat's `subscribe` and
`unsubscribe` would; what chat's own cut short left is finished first
(`bot.redecide.leftovers`).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.redecide.channel import QUEUED, WAITING, queued_stories, redecide_story
from bot.redecide.finishing import end_rest, log_ended
from bot.redecide.leftovers import chat_leftovers, leftover_work
from bot.redecide.slices import AT_START, finished, sliced, unfinish, unfinished
from bot.store import LIVE_SUB, REMOVED

# A config subscription's only/except changed, or the subscription left the config, at
# start, its waiting alerts not all decided again yet (`sync_config_subscriptions`):
# finished by the next start, never by a chat command (`finish_subscriptions` finishes
# chat's own, and resumes the channel).
CONFIG_NARROWED, CONFIG_ENDED = "config-narrowed", "config-ended"
_NARROWED_REASON = "the subscription's new only/except in the config refuses it"
# What a config subscription that ends at start takes with it: a claimed one too (nothing
# is in flight at start).
_ENDING = (*WAITING, "claimed")


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
    `stop` ends too (`leftover_work`: one piece, it held a stop seconds). The deciding
    again of what waits through a subscription that ends or is narrowed goes as
    `sync_topics` goes (seconds at thousands waiting, and a stop must keep its grace): the
    subscriptions are stored with a row for each saying the work is unfinished, then a
    story at a time in slices (`sliced`), the last deleting the rows; a `stop` set
    meanwhile ends it (StoppingError) between two slices, and the next start finishes what
    a start cut short left (`CONFIG_ENDED`, `CONFIG_NARROWED`)."""
    with write(db):
        leftovers = chat_leftovers(db)
        chat = leftover_work(db, leftovers)
    dropped = sliced(db, *chat, stop, AT_START) if leftovers else 0
    with write(db):
        _store_config_subscriptions(db, subs)
        marks = unfinished(db, CONFIG_ENDED) + unfinished(db, CONFIG_NARROWED)
        if not marks:
            return dropped
        rows, work = _config_work(db, marks)
        lost: dict[int, int] = {}  # dropped per ended subscription, for its log line

        def unit(sub_id: int, channel: str, story: int) -> int:
            reason, statuses = work[sub_id]
            n = redecide_story(db, channel, story, [sub_id], statuses, reason)
            lost[sub_id] = lost.get(sub_id, 0) + n
            return n

        units = [
            functools.partial(unit, sub_id, channel, story)
            for sub_id, (_, statuses) in work.items()
            for channel, story in queued_stories(db, [sub_id], statuses)
        ]

    def last() -> int:
        for sub_id, (reason, statuses) in work.items():
            if statuses == _ENDING:
                end_rest(db, rows[sub_id], reason, statuses)
                log_ended(rows[sub_id], reason, lost.get(sub_id, 0))
        return finished(db, *(u["id"] for u in marks))

    return dropped + sliced(db, units, last, stop, AT_START)


def _store_config_subscriptions(
    db: sqlite_utils.Database, subs: list[tuple[str, str, str, str | None, str | None]]
) -> None:
    """The config's subscriptions as written, those it no longer lists ended (nothing more
    goes through them), each of those and each whose only/except changed marked to have
    its waiting alerts decided again (`unfinished_writes`). Inside the caller's write."""
    # One unsubscribed from chat is the config's again too: its row outlives the unsubscribe
    # when alerts refer to it, and left ended it got nothing while the config listed it.
    keep = {(channel, topic) for channel, topic, *_ in subs}
    now = iso(utcnow())
    filters = {
        (r["channel"], r["topic"]): (r["id"], r["only_query"], r["except_query"])
        for r in db.query(
            "SELECT id, channel, topic, only_query, except_query FROM subscriptions "
            f"WHERE {LIVE_SUB}"
        )
    }
    for row in list(
        db.query(
            "SELECT id, channel, topic FROM subscriptions WHERE origin = 'config' AND " + LIVE_SUB
        )
    ):
        if (row["channel"], row["topic"]) not in keep:
            db.execute(
                "UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [REMOVED, row["id"]]
            )
            unfinish(db, CONFIG_ENDED, REMOVED, subscription_id=row["id"])
    for channel, topic, mode, only, except_ in subs:
        db.execute(
            "INSERT INTO subscriptions (channel, topic, mode, origin, created, only_query, "
            "except_query) VALUES (?, ?, ?, 'config', ?, ?, ?) ON CONFLICT (channel, topic) "
            "DO UPDATE SET mode = excluded.mode, paused_reason = CASE WHEN paused_reason IN "
            "(?, 'unsubscribed') THEN NULL ELSE paused_reason END, "
            "only_query = excluded.only_query, except_query = excluded.except_query",
            [channel, topic, mode, now, only, except_, REMOVED],
        )
        sub_id, *before = filters.get((channel, topic), (None, only, except_))
        if sub_id is not None and tuple(before) != (only, except_):
            unfinish(db, CONFIG_NARROWED, _NARROWED_REASON, subscription_id=sub_id)


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
