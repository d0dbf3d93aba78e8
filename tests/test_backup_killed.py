"""A `wirewatch db backup` killed half way (a cron's timeout, `docker compose exec` ended,
SIGTERM) leaves nothing at the backup's name: it left its half there, which SQLite opened as
an empty database, so a restore from it started the bot from nothing. A real subprocess,
killed while it copies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.db import open_database

ROOT = Path(__file__).resolve().parent.parent


def _database(path: Path) -> int:
    """A wirewatch database of about 120 MB (a copy takes a while); its item count."""
    open_database(path).close()
    with sqlite3.connect(path) as conn:  # bulk a real archive would hold: what takes time
        conn.execute("CREATE TABLE padding (blob BLOB)")
        conn.executemany("INSERT INTO padding VALUES (randomblob(1048576))", [()] * 120)
    conn.close()
    return 120


def _backup(config: Path, target: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "db", "backup", str(target), "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_backup_killed_while_it_copies_leaves_no_backup_and_the_next_one_is_whole(tmp_path):
    source = tmp_path / "w.db"
    rows = _database(source)
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {source}\nfeeds: []\n", encoding="utf-8")
    target = tmp_path / "backups" / "w-2026-12-08.db"
    started = _backup(config, target)
    deadline = time.monotonic() + 60
    while not any(p.exists() for p in target.parent.glob("w-2026-12-08.db*")):
        assert started.poll() is None and time.monotonic() < deadline, started.stderr
        time.sleep(0.002)
    started.send_signal(signal.SIGKILL)  # while it copies
    started.wait(10)
    if target.exists():  # only ever the whole copy
        with sqlite3.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM padding").fetchone() == (rows,)
        conn.close()
        target.unlink()
    again = _backup(config, target)
    assert again.wait(60) == 0, again.stderr
    with sqlite3.connect(target) as conn:  # the leftover of the killed one neither stops nor
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)  # spoils it
        assert conn.execute("SELECT count(*) FROM padding").fetchone() == (rows,)
    conn.close()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
