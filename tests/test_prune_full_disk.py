"""`wirewatch db prune` on a disk without room for VACUUM (what a prune is often run to
fix): the items go, VACUUM is skipped and said, exit 0. It ended in a traceback after the
deletes, its failed VACUUM having grown the WAL over what was free. A real tmpfs, filled by
a real file (tests/test_storage_faults.py)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_database
from tests.test_ops import _seed
from tests.test_storage_faults import tmpfs_in


@pytest.fixture
def disk(tmp_path) -> Iterator[Path]:
    """A 16 MiB disk of its own (a tmpfs: needs root, else the test is skipped)."""
    yield from tmpfs_in(tmp_path, "16m")


def test_prune_on_a_disk_without_room_for_vacuum_prunes_and_says_so(disk, capsys):
    database = disk / "w.db"
    db = open_database(database)
    _seed(db, datetime.now(UTC))
    db.execute("CREATE TABLE archive (blob BLOB)")  # what an archive holds besides: 6 MiB
    db.conn.executemany("INSERT INTO archive VALUES (randomblob(65536))", [()] * 96)
    db.conn.commit()
    db.close()
    with open(disk / "filler", "wb") as f:  # 3 MiB left: less than the file's size
        f.write(b"\0" * (shutil.disk_usage(disk).free - 3 * 2**20))
    config = disk.parent / "c.yaml"
    config.write_text(f"database: {database}\nfeeds: []\n", encoding="utf-8")
    assert main(["db", "prune", "--older-than", "90d", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pruned 1 item, 1 story, 0 deliveries")
    assert "the file keeps its size: VACUUM skipped: it needs about 6 MiB free" in out
    with sqlite3.connect(database) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")] == [2, 3, 4]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert shutil.disk_usage(disk).free > 2**20  # not filled up by the prune itself
    (disk / "filler").unlink()  # with room, the next prune runs its VACUUM
    assert main(["db", "prune", "--older-than", "90d", "--config", str(config)]) == 0
    assert "VACUUM" not in capsys.readouterr().out
