"""A long write in slices a poll's writes go between, and the marks a start finishes it from.

A chat command's re-deciding of thousands of waiting alerts, or a start's, holds the write
lock a story at a time, WRITE_SLICE seconds of them per transaction (`sliced`); its first
write notes in `unfinished_writes` what is under way (`unfinish`), its last deletes the
note (`finished`), and a start reads what a stop or a kill left (`unfinished`). A slice
the store refuses (a full disk, a lock held past the busy wait) ends the write with what
to do next: run the same command again (`BY_COMMAND`), or start again (`AT_START`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import inserted_id, write
from bot.errors import StoppingError, StoreError
from bot.failpoints import failpoint
from bot.store import dumps

# Seconds a command's long write (alerts decided again) holds the write lock at a time.
WRITE_SLICE = 0.025
SAVED_FOR_START = (
    "wirewatch is stopping: the change is saved, and the alerts still waiting through it are "
    "decided again when it starts"
)
# After a refused slice, what finishes the rest, told to whoever can do it: a moderator can
# run the command again; a start has no command to repeat, and its operator reads this on
# stderr as wirewatch exits.
BY_COMMAND = (
    "The change is saved, but not all the alerts waiting through it are decided again yet: "
    "run the same command again to finish (a restart does too)"
)
AT_START = (
    "wirewatch did not start: it had decided again part of the alerts waiting through a "
    "change (the config's, or a chat command's cut short), and nothing is lost. Start "
    "wirewatch again once the database is writable (space freed on its disk, the other "
    "writer done): that start finishes the rest"
)


def sliced(
    db: sqlite_utils.Database,
    units: Sequence[Callable[[], int]],
    last: Callable[[], int],
    stop: threading.Event | None = None,
    refused: str = BY_COMMAND,
) -> int:
    """Run `units` (each a consistent step: one story's alerts in one channel), as many per
    transaction as fit in WRITE_SLICE seconds, and `last` in the transaction of the last
    one; returns the sum of what they return. Between two transactions the writers that
    asked meanwhile (a poll storing, the outbox) go first (`bot.db.WriteTurns`). Once `stop`
    is set (wirewatch is stopping), StoppingError between two slices: the caller's first
    write left the row that the next start finishes the work from (`unfinished_writes`),
    as after a kill there, and the stop keeps its grace. A slice the store refuses ends it
    (StoreError) with `refused` appended: what to do to finish it."""
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
            raise StoreError(f"{exc}. {refused}") from exc


def unfinish(
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


def finished(db: sqlite_utils.Database, *ids: int) -> int:
    for mark in ids:
        db.execute("DELETE FROM unfinished_writes WHERE id = ?", [mark])
    return 0


def unfinished(db: sqlite_utils.Database, kind: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM unfinished_writes WHERE kind = ? ORDER BY id", [kind]))
