"""`wirewatch check` where the database's disk is full: a warning (`--strict`: exit 2), where
check used to say ok and `run` then stopped at start with "the disk holding ... is full".
The disk is a real tmpfs filled by a real file (tests/test_storage_faults.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_database
from tests.runtime import free_port
from tests.test_check_database import _check, _config
from tests.test_storage_faults import suppress_full, tmpfs_in


@pytest.fixture
def disk(tmp_path) -> Iterator[Path]:
    """A 4 MiB disk of its own (a tmpfs: needs root, else the test is skipped)."""
    yield from tmpfs_in(tmp_path, "4m")


def _fill(folder: Path) -> None:
    with suppress_full(), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


@pytest.mark.parametrize("left", ["open", "closed"])
def test_a_full_disk_is_named_before_the_start_fails_on_it(disk, capsys, monkeypatch, left):
    """`open`: the database as a killed bot (or one still running) leaves it, its -wal and
    -shm beside it: check said ok. `closed`: it said the bot would refuse the database for
    a "disk I/O error" (reading it needs a -shm, which a full disk cannot hold)."""
    database = disk / "w.db"
    db = open_database(database)
    if left == "closed":
        db.close()
    config = _config(disk.parent, database)
    _fill(disk)
    code, out = _check(config, capsys)
    assert code == 2 and out.startswith("error:")
    assert f"warning: the disk holding {database} has 0.0 MiB free" in out
    assert "would refuse the database" not in out
    db.close()
    monkeypatch.setenv("WIREWATCH_HTTP_PORT", str(free_port()))
    assert main(["run", "--config", str(config)]) == 1  # what check foretold, said plainly:
    err = capsys.readouterr().err  # it was a traceback (the lock file), or "disk I/O error"
    assert "error: " in err and ("is full" in err or "No space left on device" in err), err
    assert "database error on" not in err
    (disk / "filler").unlink()
    code, out = _check(config, capsys)  # a small disk with room: said, not refused
    assert "warning: the disk holding" in out and "MiB free" in out


def test_a_database_not_created_yet_on_a_full_disk_is_named(disk, capsys):
    _fill(disk)
    code, out = _check(_config(disk.parent, disk / "data" / "w.db"), capsys)
    assert code == 2 and f"warning: the disk holding {disk / 'data' / 'w.db'}" in out


def test_a_disk_with_room_says_nothing(tmp_path, capsys):
    code, out = _check(_config(tmp_path, tmp_path / "w.db"), capsys)
    assert code == 0 and "warning" not in out
