"""Storage faults: a clear error, nothing half-written, back to work once the fault clears.

The faults are real: another process holds SQLite's write lock, the disk is full (a small
tmpfs when the tests run as root, else SQLite's own `max_page_count`), the volume is
read-only (a tmpfs remounted read-only, or file modes for a non-root user), and files that
are not a healthy wirewatch database. A refused file is left byte for byte as it was:
wirewatch never "repairs" one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_database
from bot.errors import StoreError
from bot.feed_store import add_feed, due_feeds
from bot.loop import POLL_TICK, run_forever
from bot.migrations import SCHEMA_VERSION
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from tests.runtime import console_runtime

TITLES = ["Poland deploys 2,000 troops to the Belarus border", "Japan sends destroyers to the Gulf"]


def _filler(i: int) -> str:
    """Long text unlike any other item's (alike texts would group into one story)."""
    return " ".join(f"w{i}n{k}" for k in range(250))


OTHERS = [f"Chess champion wins round {n} of the open" for n in range(10)]  # stored, not alerted
FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
    + "".join(
        f"<item><title>{t}</title><guid>g{i}</guid><description>{t}. {_filler(i)}</description>"
        f"<pubDate>{format_datetime(datetime.now(UTC))}</pubDate></item>"
        for i, t in enumerate(TITLES + OTHERS)
    )
    + "</channel></rss>"
)


def _config(folder: Path, url: str) -> Path:
    path = folder / "wirewatch.yaml"
    path.write_text(
        f"database: {folder / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _healthy(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextmanager
def write_lock_held_elsewhere(path: Path) -> Iterator[None]:
    """Another process (a second wirewatch, a sqlite3 shell) holds the write lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("release\n", timeout=10)


@pytest.fixture
def small_tmpfs(tmp_path) -> Iterator[Path]:
    """A 4 MiB tmpfs of our own (needs root); skipped where mounting is not allowed."""
    yield from tmpfs_in(tmp_path, "4m")


def tmpfs_in(tmp_path: Path, size: str) -> Iterator[Path]:
    """For a fixture: a tmpfs of `size` mounted in `tmp_path` (needs root), unmounted after;
    the test skipped where mounting is not allowed."""
    where = tmp_path / "volume"
    where.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)])
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_write_lock_held_elsewhere_fails_cleanly_and_the_next_poll_recovers(
    tmp_path, feed_server
):
    feed_server.serve("/rss", FEED)
    settings = load_settings(_config(tmp_path, feed_server.url("/rss")))
    async with console_runtime(settings) as (rt, console):
        rt.db.execute("PRAGMA busy_timeout = 200")  # the default 5 s wait, shortened
        with write_lock_held_elsewhere(tmp_path / "w.db"):
            with pytest.raises(StoreError, match="locked by another connection"):
                await poll_once(rt)
            assert (_count(rt.db, "items"), _count(rt.db, "deliveries")) == (0, 0)
        assert console.alerts() == []
        await poll_once(rt)
        await poll_once(rt)
    assert sorted(a["title"] for a in console.alerts()) == sorted(TITLES)
    _healthy(tmp_path / "w.db")


@pytest.mark.slow
async def test_a_locked_database_at_startup_is_named_and_the_retry_works(
    tmp_path, feed_server, capfd, monkeypatch
):
    from bot import db as dbmod

    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 500)  # the default 5 s wait, shortened
    feed_server.serve("/rss", FEED)
    argv = ["poll", "--once", "--json", "--config", str(_config(tmp_path, feed_server.url("/rss")))]
    assert await asyncio.to_thread(main, argv) == 0  # creates the database
    capfd.readouterr()
    feed_server.serve("/rss", FEED.replace("<guid>g0<", "<guid>lv<").replace("Poland", "Latvia"))
    with write_lock_held_elsewhere(tmp_path / "w.db"):
        assert await asyncio.to_thread(main, argv) == 1  # after SQLite's busy wait
        out, err = capfd.readouterr()
    assert out == "" and "is locked by another connection" in err and "Traceback" not in err
    assert await asyncio.to_thread(main, argv) == 0
    assert [line for line in capfd.readouterr().out.splitlines() if "Latvia" in line]


def _fill_disk_with_max_page_count(db, path: Path) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def _fill_disk_for_real(db, path: Path) -> None:
    with suppress_full(), open(path.parent / "filler", "wb") as f:  # closing may hit it too
        while True:
            f.write(b"\0" * 65536)
            f.flush()


@contextmanager
def suppress_full() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC: the disk is full now


def _free_disk(db, path: Path) -> None:
    (path.parent / "filler").unlink(missing_ok=True)
    db.execute("PRAGMA max_page_count = 1073741823")


@pytest.mark.parametrize("how", ["max_page_count", "tmpfs"])
async def test_a_full_disk_fails_the_poll_cleanly_and_the_next_poll_recovers(
    tmp_path, feed_server, request, how
):
    folder = request.getfixturevalue("small_tmpfs") if how == "tmpfs" else tmp_path
    feed_server.serve("/rss", FEED)
    settings = load_settings(_config(folder, feed_server.url("/rss")))
    async with console_runtime(settings) as (rt, console):
        fill = _fill_disk_for_real if how == "tmpfs" else _fill_disk_with_max_page_count
        fill(rt.db, folder / "w.db")
        results, stats = await poll_once(rt)
        assert "is full" in (results[0].error or ""), results
        assert (_count(rt.db, "items"), _count(rt.db, "deliveries")) == (0, 0)
        assert console.alerts() == []
        _free_disk(rt.db, folder / "w.db")
        await poll_once(rt)
        await poll_once(rt)
    assert sorted(a["title"] for a in console.alerts()) == sorted(TITLES)
    _healthy(folder / "w.db")


async def test_a_full_disk_does_not_have_every_feed_fetched_again_on_every_tick(
    tmp_path, feed_server
):
    # The poll's outcome cannot be recorded, so the feed stays due: the running bot holds it
    # back for a while instead of fetching it in full on every 2 s scheduler tick.
    feed_server.serve("/rss", FEED)
    settings = load_settings(_config(tmp_path, feed_server.url("/rss")))
    async with console_runtime(settings) as (rt, console):
        _fill_disk_with_max_page_count(rt.db, tmp_path / "w.db")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3 * POLL_TICK + 0.5, stop.set)
        await run_forever(rt, stop)
        assert due_feeds(rt.db) and console.alerts() == []
    assert len(feed_server.requests_to("/rss")) == 1


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The volume holding `folder` turns read-only: a remount as root, file modes otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


async def test_a_read_only_volume_is_named_and_changes_nothing(
    tmp_path, feed_server, capfd, request
):
    folder = request.getfixturevalue("small_tmpfs") if os.geteuid() == 0 else tmp_path
    feed_server.serve("/rss", FEED)
    argv = ["poll", "--once", "--json", "--config", str(_config(folder, feed_server.url("/rss")))]
    open_database(folder / "w.db").close()
    before = (folder / "w.db").read_bytes()
    with read_only(folder):
        assert await asyncio.to_thread(main, argv) == 1
        out, err = capfd.readouterr()
    assert out == "" and "check the volume and its permissions" in err
    assert "Traceback" not in err and (folder / "w.db").read_bytes() == before
    assert await asyncio.to_thread(main, argv) == 0
    assert len(capfd.readouterr().out.splitlines()) == len(TITLES)


@contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """The database file alone turns read-only, its folder still writable: immutable
    (`chattr +i`) as root, a file mode otherwise; skipped where neither holds."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("this file system cannot make a file immutable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_a_read_only_database_file_is_named_once(tmp_path, feed_server, capfd):
    # The run's own record (bot.runstate) is the first write: its failure was logged as a
    # warning, then the start's error said the same again.
    feed_server.serve("/rss", FEED)
    argv = ["poll", "--once", "--config", str(_config(tmp_path, feed_server.url("/rss")))]
    open_database(tmp_path / "w.db").close()
    with read_only_file(tmp_path / "w.db"):
        assert await asyncio.to_thread(main, argv) == 1
        out, err = capfd.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.count("cannot write") == 1 and "check the volume and its permissions" in err


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not sqlite at all\n" * 400)


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT, steps TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('bread', 'knead')")
    conn.commit()
    conn.close()


def _ours(path: Path, feeds: int = 150) -> None:
    db = open_database(path)
    for i in range(feeds):
        add_feed(db, f"https://f{i}.example/rss", f"Feed {i} " + "x" * 400, origin="config")
    db.close()


def _newer(path: Path) -> None:
    _ours(path, feeds=1)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def _damaged(path: Path) -> None:
    """Valid header and schema, scribbled-over table pages: opening alone would not notice."""
    _ours(path)
    data = bytearray(path.read_bytes())
    for offset in range(len(data) - 4096 * 8, len(data), 4096):
        data[offset : offset + 64] = b"\xde\xad\xbe\xef" * 16
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    _ours(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_garbage, "is corrupt or not a SQLite database"),
        (_foreign, "is not a wirewatch database"),
        (_newer, "newer than this wirewatch understands"),
        (_damaged, "is corrupt"),
        (_truncated, "is corrupt"),
    ],
    ids=["garbage", "foreign", "newer-schema", "damaged-pages", "truncated"],
)
@pytest.mark.parametrize("command", ["poll", "feeds"])
async def test_a_file_that_is_not_a_healthy_wirewatch_database_is_refused_untouched(
    tmp_path, capfd, spoil, message, command
):
    config = _config(tmp_path, "https://wire.example/rss")
    spoil(tmp_path / "w.db")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("w.db")}
    assert await asyncio.to_thread(main, [command, "--config", str(config)]) == 1
    out, err = capfd.readouterr()
    assert message in err and "Traceback" not in err and out == ""
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("w.db")}
    assert after == before


async def test_feeds_backup_and_a_dry_run_need_only_read_access(
    tmp_path_factory, feed_server, capfd, request
):
    """`feeds`, `db backup` and `db prune --dry-run` read; a read-only volume must not stop them."""
    root = os.geteuid() == 0
    folder = request.getfixturevalue("small_tmpfs") if root else tmp_path_factory.mktemp("ro")
    elsewhere = tmp_path_factory.mktemp("backups")
    feed_server.serve("/rss", FEED)
    config = str(_config(folder, feed_server.url("/rss")))
    assert await asyncio.to_thread(main, ["poll", "--once", "--config", config]) == 0
    capfd.readouterr()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with read_only(folder):
        assert await asyncio.to_thread(main, ["feeds", "--json", "--config", config]) == 0
        out, err = capfd.readouterr()
        (row,) = map(json.loads, out.splitlines())
        assert row["name"] == "Wire" and row["items"] == len(TITLES + OTHERS)
        assert row["state"] == "ok" and "usual_gap" in row  # its health, read too
        assert row["config"] is None and "Traceback" not in err  # the config is as stored
        argv = ["db", "backup", str(elsewhere / "copy.db"), "--config", config]
        assert await asyncio.to_thread(main, argv) == 0
        argv = ["db", "prune", "--older-than", "1d", "--dry-run", "--config", config]
        assert await asyncio.to_thread(main, argv) == 0
        assert capfd.readouterr().out.startswith("would prune 0 items")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    copy = open_database(elsewhere / "copy.db")
    assert _count(copy, "items") == len(TITLES + OTHERS)
    copy.close()


async def test_backup_copies_an_older_schema_as_it_is(tmp_path, capfd):
    """A backup taken before an upgrade must be of the old file, not migrated first."""
    config = _config(tmp_path, "https://wire.example/rss")
    _ours(tmp_path / "w.db", feeds=3)
    conn = sqlite3.connect(tmp_path / "w.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    before = (tmp_path / "w.db").read_bytes()
    argv = ["db", "backup", str(tmp_path / "copy.db"), "--config", str(config)]
    assert await asyncio.to_thread(main, argv) == 0
    assert (tmp_path / "w.db").read_bytes() == before
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    copy.close()


def _a_directory(path: Path) -> None:
    path.mkdir()


def _the_config(path: Path) -> None:
    path.write_text("database: data/w.db\nfeeds: []\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "name", "says"),
    [
        (_a_directory, "data", "is a directory, not a database file"),
        (_the_config, "wirewatch.yml", "is a YAML file (a config file?), not a database"),
        (_the_config, "w.db", "is a YAML file (a config file?), not a database"),
    ],
    ids=["directory", "yaml-by-name", "yaml-by-content"],
)
@pytest.mark.parametrize("command", ["poll", "feeds", "backup"])
async def test_a_path_that_is_not_a_database_is_named_for_what_it_is(
    tmp_path, capfd, make, name, says, command
):
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {tmp_path / name}\nfeeds: []\n", encoding="utf-8")
    make(tmp_path / name)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = {"poll": ["poll"], "feeds": ["feeds"], "backup": ["db", "backup", str(tmp_path / "b")]}
    code = await asyncio.to_thread(main, [*argv[command], "--config", str(config)])
    # A directory is a config mistake `check` names (exit 2); a file's content is found on
    # opening it (exit 1).
    assert code == (2 if make is _a_directory else 1)
    err = capfd.readouterr().err
    assert f"{tmp_path / name} {says}" in err, err
    assert "corrupt" not in err and "check the volume" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


async def test_a_chat_command_on_a_locked_database_says_so_and_changes_nothing(
    tmp_path, feed_server, monkeypatch
):
    """A moderator's command whose write finds the database locked by another process is
    told why (the lock, and who may hold it), not "something went wrong"; nothing changed,
    and the same command works once the lock is gone."""
    from bot import db as dbmod
    from bot.commands import Commands, Invocation

    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)  # the default 5 s wait, shortened
    feed_server.serve("/rss", FEED)
    settings = load_settings(_config(tmp_path, feed_server.url("/rss")))
    async with console_runtime(settings) as (rt, _):
        commands = Commands(rt)
        add = Invocation("console", "console", "ed", "topic add navy warship OR frigate")
        with write_lock_held_elsewhere(tmp_path / "w.db"):
            reply = await commands.handle(add)
        assert not reply.ok
        assert "locked" in reply.text and "something went wrong" not in reply.text, reply.text
        assert rt.db.execute("SELECT 1 FROM topics WHERE name = 'navy'").fetchone() is None
        reply = await commands.handle(add)
        assert reply.ok, reply.text
        assert rt.db.execute("SELECT 1 FROM topics WHERE name = 'navy'").fetchone() is not None
