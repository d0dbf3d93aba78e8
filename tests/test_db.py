"""The database file: ours or refused, migrated, locked writes fail clearly."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.clock import iso
from bot.db import APPLICATION_ID, open_database, write
from bot.errors import StoreError
from bot.migrations import SCHEMA_VERSION
from bot.onebot import one_bot
from bot.search_store import search_items


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


def _item(db, title: str, summary: str) -> int:
    from bot.feed_store import add_feed

    feed = add_feed(db, "https://outlet.example/feed", "outlet", origin="config")
    with write(db):
        cur = db.execute(
            "INSERT INTO items (feed_id, identity, title, summary, published, first_seen) "
            "VALUES (?, 'guid:1', ?, ?, '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z')",
            [feed.id, title, summary],
        )
    return int(cur.lastrowid)


def test_search_follows_text_edits_and_survives_story_changes(tmp_path):
    from bot.search_store import search_items

    db = open_database(tmp_path / "w.db")
    item = _item(db, "Troops sent to the border", "Battalions arrived on Monday.")
    with write(db):
        story = db.execute(
            "INSERT INTO stories (title, first_seen, last_seen) VALUES ('s', 'x', 'x')"
        ).lastrowid
        db.execute("UPDATE items SET story_id = ? WHERE id = ?", [story, item])
    assert [r["id"] for r in search_items(db, "battalions")] == [item]
    with write(db):
        db.execute("UPDATE items SET title = 'Ships sail to the coast' WHERE id = ?", [item])
    assert [r["id"] for r in search_items(db, "ships")] == [item]
    assert search_items(db, "troops") == []
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")  # raises if stale


def test_a_version_2_database_upgrades_with_its_items_searchable(tmp_path):
    from bot.migrations import MIGRATIONS
    from bot.search_store import search_items

    path = tmp_path / "w.db"
    plain = sqlite_utils.Database(path)  # the schema exactly as the previous release left it
    for step in MIGRATIONS[:2]:
        step(plain)
    plain.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    plain.execute("PRAGMA user_version = 2")
    plain.conn.commit()
    item = _item(plain, "Troops sent to the border", "Battalions arrived.")
    plain.close()
    db = open_database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with write(db):
        db.execute("UPDATE items SET summary = 'Brigades arrived.' WHERE id = ?", [item])
    assert [r["id"] for r in search_items(db, "brigades")] == [item]
    assert search_items(db, "battalions") == []
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")


def test_a_write_transaction_that_reads_first_survives_a_writer_in_between(tmp_path):
    """RELIABILITY.md: a deferred BEGIN that reads, then writes after another connection
    committed, fails at once with "database is locked" whatever the busy timeout; `write`
    takes the lock up front, so the other writer waits instead and both rows land."""
    import threading

    db = open_database(tmp_path / "w.db")
    other = sqlite3.connect(tmp_path / "w.db", timeout=5, check_same_thread=False)
    errors: list[Exception] = []

    def insert_elsewhere() -> None:
        try:
            other.execute("INSERT INTO notices (key, text, created) VALUES ('b', 'b', 'now')")
            other.commit()
        except Exception as exc:  # pragma: no cover - what the test is about
            errors.append(exc)

    with write(db):
        db.execute("SELECT count(*) FROM notices").fetchone()  # a read first
        writer = threading.Thread(target=insert_elsewhere)
        writer.start()
        writer.join(0.5)  # it waits for our lock
        db.execute("INSERT INTO notices (key, text, created) VALUES ('a', 'a', 'now')")
    writer.join(10)
    other.close()
    assert errors == []
    keys = [r[0] for r in db.execute("SELECT key FROM notices ORDER BY key")]
    assert keys == ["a", "b"]


def test_every_foreign_key_is_indexed(tmp_path):
    # Foreign keys are enforced: deleting a parent row checks its children, a whole-table
    # scan per row without an index (a year's prune held the write lock for 5 minutes).
    db = open_database(tmp_path / "w.db")
    unindexed = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        firsts = {
            db.execute(f"PRAGMA index_info('{index[1]}')").fetchone()[2]
            for index in db.execute(f"PRAGMA index_list('{table}')").fetchall()
        }
        key = [c[1] for c in db.execute(f"PRAGMA table_info('{table}')") if c[5] == 1]
        for fk in db.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
            if fk[3] not in firsts and key[:1] != [fk[3]]:
                unindexed.append(f"{table}.{fk[3]}")
    assert unindexed == []


@pytest.mark.parametrize("seed", range(5))
def test_search_gives_the_newest_published_hits_whatever_order_they_were_stored_in(tmp_path, seed):
    # Search walks hits newest-stored first and stops early: dates that run behind the
    # storing order (a late feed, a back catalogue) must not change its answer.
    rng = random.Random(seed)
    db = open_database(tmp_path / "w.db")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db.execute(
        "INSERT INTO feeds (id, url, name, next_poll, created) VALUES (1, 'u', 'F', ?, ?)",
        [iso(start), iso(start)],
    )
    expected = []
    for n in range(1, 400):
        seen = start + timedelta(minutes=7 * n)
        published = seen - timedelta(hours=rng.choice([0, 0, 1, 30, 24 * 40, 24 * 400]))
        if rng.random() < 0.05:
            published = seen + timedelta(hours=rng.uniform(0, 24))  # up to a day ahead
        word = "troops" if rng.random() < 0.8 else "markets"
        db.execute(
            "INSERT INTO items (id, feed_id, identity, title, summary, published, first_seen) "
            "VALUES (?, 1, ?, ?, 's', ?, ?)",
            [n, f"i{n}", f"{word} report {n}", iso(published), iso(seen)],
        )
        if word == "troops":
            expected.append((iso(published), n))
    found = [r["id"] for r in search_items(db, "troops", limit=10)]
    assert found == [n for _, n in sorted(expected, reverse=True)[:10]]


def _newer_wal_beside_a_backup(path: Path) -> None:
    """What a restore done wrong leaves: the file copied back from a backup while the -wal of
    the newer file stays beside it (two notices' rows changed in the log since)."""
    writer = f"""
import os, shutil, sqlite3
from bot.db import open_database
open_database({str(path)!r}).close()
c = sqlite3.connect({str(path)!r}, isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint = 0")
add = "INSERT INTO notices (key, channel, text, created) VALUES (?, 'slack:C1', ?, 'now')"
for n in range(300):
    c.execute(add, [f"k{{n}}", "x" * 200])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
shutil.copyfile({str(path)!r}, {str(path)!r} + ".backup")
for n in range(300, 600):
    c.execute(add, [f"k{{n}}", "y" * 200])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file moves on past the backup
c.execute("UPDATE notices SET key = key || 'u', sent_at = 'now' WHERE id IN (5, 150, 450)")
os._exit(0)  # stopped without a checkpoint: the newer -wal stays
"""
    subprocess.run([sys.executable, "-c", writer], check=True, cwd=Path(__file__).parent.parent)
    assert Path(f"{path}-wal").stat().st_size > 0
    shutil.copyfile(f"{path}.backup", path)


@pytest.mark.parametrize("check_bulk", [True, False])
def test_a_backup_copied_back_beside_the_newer_wal_is_refused(tmp_path, check_bulk):
    # quick_check passed the mix (each page is sound): the bot started on a file whose
    # indexes name rows its tables no longer have, and wrote on.
    path = tmp_path / "w.db"
    _newer_wal_beside_a_backup(path)
    wal = Path(f"{path}-wal")
    found = path.read_bytes(), wal.read_bytes()
    with pytest.raises(StoreError, match="is corrupt .*missing from index.*restore a backup"):
        open_database(path, check_bulk=check_bulk)
    # Left as found: the refusal once wrote the log into the file, the mix made for good.
    assert (path.read_bytes(), wal.read_bytes()) == found
    wal.rename(tmp_path / "aside-wal")
    Path(f"{path}-shm").unlink()
    open_database(path).close()  # the backup alone, as copied back: sound


def test_beside_a_running_bot_a_command_leaves_the_small_tables_check_to_its_start(tmp_path):
    """`wirewatch status` every minute from a monitor paid the small tables' integrity_check
    each time (0.55 s at 100,000 deliveries, growing with them), for a file the running bot's
    own start had checked and that nobody can have copied a backup over since. Seen here by
    what the check would have found: beside a bot the mixed file opens; without one, not."""
    path = tmp_path / "w.db"
    _newer_wal_beside_a_backup(path)
    with one_bot(str(path)):
        open_database(path).close()
    with pytest.raises(StoreError, match="is corrupt"):
        open_database(path)
