"""What a chat `subscribe` or `unsubscribe` cut short left: finished as the command would have.

The marks (`narrowed`, `ended`) a stop or a refused slice left are finished by a start, in
slices a stop ends (`bot.redecide.config_subscriptions`), or by the next chat command,
whole and first (`finish_subscriptions`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.redecide.channel import QUEUED, WAITING, queued_stories, redecide_story
from bot.redecide.finishing import end_rest, log_ended, resume
from bot.redecide.slices import finished, unfinished


def finish_subscriptions(db: sqlite_utils.Database) -> int:
    """Chat's subscription changes a stop cut short, done again whole (what their first
    slices decided stays as decided). Inside the caller's write; how many were dropped."""
    units, last = leftover_work(db, chat_leftovers(db))
    return sum(unit() for unit in units) + last()


def chat_leftovers(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """What a chat `subscribe` (narrowed) or `unsubscribe` (ended) cut short left."""
    return unfinished(db, "narrowed") + unfinished(db, "ended")


def leftover_work(
    db: sqlite_utils.Database, leftovers: list[dict[str, Any]]
) -> tuple[list[Callable[[], int]], Callable[[], int]]:
    """Chat's cut-short subscription changes as `sliced` takes them: a unit per story
    still waiting through each (decided again as the command would have), and the last,
    which resumes a narrowed one's channel, hands on an ended one's edits and deletes the
    marks. A start runs them in slices a stop ends (the marks stay for the next start); a
    chat command, whole, first (`finish_subscriptions`)."""
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
        return finished(db, *(u["id"] for u in leftovers))

    return units, last


def _leftover(
    db: sqlite_utils.Database, mark: dict[str, Any], sub: dict[str, Any]
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """One cut-short change's units and end (`leftover_work`)."""
    reason, ended = mark["reason"], mark["kind"] == "ended"
    statuses = WAITING if ended else QUEUED
    if ended:  # retired for the reason (the command's first write did so already)
        db.execute("UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [reason, sub["id"]])
    lost = 0

    def unit(story: int) -> int:
        nonlocal lost
        n = redecide_story(db, sub["channel"], story, [sub["id"]], statuses, reason)
        lost += n
        return n

    def end() -> None:
        if ended:
            end_rest(db, sub, reason, WAITING)
            log_ended(sub, reason, lost)
        else:
            resume(db, sub["channel"])

    stories = queued_stories(db, [sub["id"]], statuses)
    return [functools.partial(unit, story) for _, story in stories], end
