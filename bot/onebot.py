"""One running bot per database.

A second `wirewatch run` or `poll` beside the first would take the first's claimed
deliveries for a crash's leftovers, ask the platform too early, and post them again. The
lock is an flock on `<database>.lock`, which the kernel drops with the process, so a
`kill -9` never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from bot.errors import StoreError


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
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise StoreError(taken(database, other)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


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
