"""One bot per database (bot.onebot): a look at the lock never refuses a bot's start."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.onebot import one_bot, running_bot


def test_a_bot_starting_while_a_command_looks_at_the_lock_is_not_refused(tmp_path: Path) -> None:
    # `wirewatch status`, every command opening the database and `run` before its port look
    # at the lock by holding it shared for an instant: a `run` or cron's `poll` starting in
    # that instant was refused, "another wirewatch (pid 4242) is running", of a pid gone.
    database = str(tmp_path / "w.db")
    lock = Path(f"{database}.lock")
    lock.write_text("4242\n")  # the last bot's, long gone
    look = os.open(lock, os.O_RDONLY)
    fcntl.flock(look, fcntl.LOCK_SH | fcntl.LOCK_NB)  # as running_bot holds it
    threading.Timer(0.05, os.close, [look]).start()  # a look's instant, drawn out
    with one_bot(database):
        assert lock.read_text() == f"{os.getpid()}\n"
        assert running_bot(database) == str(os.getpid())


def test_a_second_bot_is_still_refused_at_once_naming_the_first(tmp_path: Path) -> None:
    database = str(tmp_path / "w.db")
    with one_bot(database):
        began = time.monotonic()
        refused = rf"another wirewatch \(pid {os.getpid()}\)"
        with pytest.raises(StoreError, match=refused), one_bot(database):
            pass
        assert time.monotonic() - began < 0.2  # a bot holds it: no look's wait
