"""One running bot per database.

A second `wirewatch run` or `poll` beside the first would take the first's claimed
deliveries for a crash's leftovers, ask the platform too early, and post them again. The
lock is an flock on `<database>.lock`, which the kernel drops with the process, so a
`kill -9` never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bot.errors import StoreError

# How long a start waits out a look at the lock (`running_bot`: `status`, any command
# opening the database, `run` before its port): a look holds it shared for an instant, and
# a start landing in that instant was refused, naming the last holder's pid, long gone.
LOOK_PATIENCE = 0.5


@contextmanager
def one_bot(database: str) -> Iterator[None]:
    """Hold the database's bot lock; StoreError naming the other bot when it is taken."""
    if database == ":memory:":
        yield
        return
    path = f"{database}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    try:
        _take(fd, database)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk: said, where it was a traceback
            raise StoreError(f"cannot write {path}: {exc.strerror}") from None
        yield
    finally:
        os.close(fd)


def _take(fd: int, database: str) -> None:
    """The lock, exclusive; StoreError at once when a bot holds it (a bot holds it
    exclusively), after a look's instant when only a look does (held shared)."""
    deadline = time.monotonic() + LOOK_PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not _only_looked_at(fd) or time.monotonic() > deadline:
                other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                raise StoreError(taken(database, other)) from None
            time.sleep(0.005)


def _only_looked_at(fd: int) -> bool:
    """Whether the lock is free of a bot: held shared (a look), or not at all any more."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def taken(database: str, other: str) -> str:
    """Why this bot cannot start: said alike by the lock and by `run` before it listens."""
    return (
        f"another wirewatch (pid {other}) is running on {database}: stop it first, "
        "or give this one a database of its own"
    )


def running_bot(database: str) -> str | None:
    """The pid of a bot holding the database's lock now, or None when none does (for
    upkeep that may run beside it but should spare it long locks)."""
    if database == ":memory:":
        return None
    try:
        fd = os.open(f"{database}.lock", os.O_RDONLY)
    except OSError:  # no lock file: no bot ever ran here, or it cannot be read
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
    finally:
        os.close(fd)  # closing drops a lock taken here
    return None
