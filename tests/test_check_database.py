"""`wirewatch check` where the bot runs: a database the bot would refuse, or could not write
or create, is a warning (`--strict`: exit 2), where check used to say ok and `run` then
failed at start. The files and the read-only volume are real (tests/test_storage_faults.py)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_database
from bot.migrations import SCHEMA_VERSION
from tests.test_storage_faults import read_only, tmpfs_in


def _config(folder: Path, database: Path | str) -> Path:
    path = folder / "wirewatch.yaml"
    path.write_text(
        f"database: {database}\nfeeds:\n  - {{name: Wire, url: 'https://wire.example/rss'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


def _check(config: Path, capsys, *, strict: bool = True) -> tuple[int, str]:
    code = main(["check", "--config", str(config), *(["--strict"] if strict else [])])
    return code, capsys.readouterr().out


@pytest.fixture
def volume(tmp_path) -> Iterator[Path]:
    """A folder whose volume a test may turn read-only: a tmpfs as root, else tmp_path.
    Larger than check's low-room mark (bot.check.LOW_ROOM), so only what a test does warns."""
    if os.geteuid() == 0:
        yield from tmpfs_in(tmp_path, "128m")
    else:
        yield tmp_path


def test_a_database_of_a_newer_wirewatch_is_named_before_the_start_refuses_it(tmp_path, capsys):
    database = tmp_path / "w.db"
    open_database(database).close()
    with sqlite3.connect(database) as conn:  # as a newer wirewatch's migration leaves it
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    config = _config(tmp_path, database)
    code, out = _check(config, capsys)
    assert code == 2 and out.startswith("error:")
    assert (
        f"warning: the bot would refuse the database: it has schema version {SCHEMA_VERSION + 1}"
        in out
    )
    code, out = _check(config, capsys, strict=False)
    assert code == 0 and "newer than this wirewatch understands" in out
    assert main(["run", "--config", str(config)]) == 1  # what check foretold


def test_another_programs_database_is_named(tmp_path, capsys):
    database = tmp_path / "theirs.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    code, out = _check(_config(tmp_path, database), capsys)
    assert code == 2 and "is not a wirewatch database" in out
    assert [r[0] for r in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")] == [
        "invoices"
    ]


def test_a_database_on_a_read_only_volume_is_named(volume, capsys):
    open_database(volume / "w.db").close()
    config = _config(volume.parent, volume / "w.db")
    with read_only(volume):
        code, out = _check(config, capsys)
    assert code == 2 and f"warning: the bot cannot write {volume / 'w.db'}" in out
    code, out = _check(config, capsys)
    assert code == 0 and "warning" not in out  # writable again: nothing to say


def test_a_database_that_cannot_be_created_is_named(tmp_path, volume, capsys):
    (tmp_path / "notes").write_text("a file, not a folder\n")
    code, out = _check(_config(tmp_path, tmp_path / "notes" / "data" / "w.db"), capsys)
    assert code == 2 and f"cannot create the database: {tmp_path / 'notes'} is not a folder" in out
    with read_only(volume):
        code, out = _check(_config(tmp_path, volume / "data" / "w.db"), capsys)
    assert code == 2 and f"cannot create the database: no write access to {volume}" in out
    assert not (volume / "data").exists()
    # A path only the server has, checked on a laptop: said to be fine if the bot runs there.
    assert "(fine if the bot runs elsewhere" in out
