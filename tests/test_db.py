"""The database file: ours or refused, migrated, locked writes fail clearly."""

from __future__ import annotations

import sqlite3

import pytest

from bot.db import APPLICATION_ID, SCHEMA_VERSION, open_database, write
from bot.errors import StoreError


def test_new_database_is_marked_and_versioned(tmp_path):
    db = open_database(tmp_path / "sub" / "w.db")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a wirewatch database"):
        open_database(path)
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["recipes"]


def test_garbage_file_is_refused_not_repaired(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="corrupt or not a SQLite database"):
        open_database(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "w.db"
    db = open_database(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this wirewatch"):
        open_database(path)


def test_write_lock_held_elsewhere_is_a_clear_error_and_changes_nothing(tmp_path):
    path = tmp_path / "w.db"
    db = open_database(path)
    db.execute("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="locked"), write(db):
        db.execute("INSERT INTO topics (name, query, origin) VALUES ('a', 'b', 'chat')")
    other.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM topics").fetchone()[0] == 0


def test_failed_transaction_leaves_nothing(tmp_path):
    db = open_database(tmp_path / "w.db")
    with pytest.raises(RuntimeError), write(db):
        db.execute("INSERT INTO topics (name, query, origin) VALUES ('a', 'b', 'chat')")
        raise RuntimeError("crash mid-transaction")
    assert db.execute("SELECT count(*) FROM topics").fetchone()[0] == 0
