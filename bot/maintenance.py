"""Database upkeep for ops: online backup and retention pruning.

Backup uses SQLite's online backup API, so the bot may keep running. Pruning removes items
published before a cutoff but never those of a story still open (seen within the story
window) and never an item with a delivery still waiting; nothing else is "repaired". It also
removes the deliveries skipped while muted older than the cutoff and than a recap's reach
(bot.told.REACH): only `digest SINCE` reads them, and a story open for weeks kept all of a
muted channel's, one a report.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import db_path, write
from bot.errors import StoreError, UsageError
from bot.told import REACH

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
MIN_PRUNE_AGE = 86400.0  # a younger cutoff deletes what a newsroom may still need: --force
# Items deleted per write transaction, and FTS5 pages merged per step: a bot running beside
# a prune waits about a second at most for the lock, well inside its busy timeout (one
# transaction held it 5 minutes on a year's archive, and every write of the bot failed).
PRUNE_BATCH = 2000
FTS_MERGE_PAGES = 500


def backup(db: sqlite_utils.Database, target: str | Path, progress: Progress | None = None) -> int:
    """Copy the live database to `target` (a new file); returns its size in bytes.

    The copy is written as `<target>.partial` and renamed once whole: a backup killed half
    way (a cron's timeout, SIGTERM, Ctrl-C) left its half at `target`, which SQLite then
    opened as an empty database: restored, a bot started from nothing."""
    target = Path(target)
    if target.exists():
        # A bad argument (exit 2), not a failure: nothing was tried, and the file is kept.
        raise UsageError(f"{target} exists; choose a new file name for the backup")
    partial = target.with_name(target.name + ".partial")
    dest = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_partial(partial)  # a killed backup's leftover, journal included
        dest = sqlite3.connect(partial)
        with dest:
            db.conn.backup(dest, pages=256, progress=_pages(progress))
        dest.close()
        partial.rename(target)
    except BaseException as exc:
        if dest is not None:
            dest.close()
        with suppress(OSError):  # nothing to remove where the path cannot even be a file
            _remove_partial(partial)
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise StoreError(f"backup to {target} failed: {exc}") from None
        raise
    return target.stat().st_size


def _remove_partial(partial: Path) -> None:
    for path in (partial, partial.with_name(partial.name + "-journal")):
        path.unlink(missing_ok=True)


def _pages(progress: Progress | None):
    if progress is None:
        return None
    return lambda _status, remaining, total: progress(total - remaining, total)


@dataclass(frozen=True)
class Pruned:
    items: int
    stories: int
    deliveries: int
    bytes_before: int
    bytes_after: int
    cutoff: str  # items published before this (ISO 8601 UTC) were pruned
    dry_run: bool = False
    no_vacuum: str = ""  # why VACUUM, asked for, was not done (the disk's room)


# Items published before the cutoff, in no story seen since `open_since`, with nothing left
# to deliver. An item's `published` is its feed's date, or when it was stored when the feed
# gave none (or a date in the future), so a 2016 article stored today is 2016's.
_DOOMED = (
    "SELECT items.id FROM items LEFT JOIN stories ON stories.id = items.story_id "
    "WHERE items.published < :cutoff "
    "AND (stories.last_seen IS NULL OR stories.last_seen < :open_since) AND NOT EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.item_id = items.id AND d.status IN "
    "('pending', 'claimed', 'held', 'digest'))"
)


def prune(
    db: sqlite_utils.Database,
    older_than: float,
    story_window: float,
    *,
    vacuum: bool = True,
    dry_run: bool = False,
) -> Pruned:
    """Delete items published more than `older_than` seconds ago that no open story needs.

    `dry_run` counts what would go and changes nothing (it takes no write lock).
    """
    now = utcnow()
    window = {
        "cutoff": iso(now - timedelta(seconds=older_than)),
        "open_since": iso(now - timedelta(seconds=story_window)),
        "muted_before": iso(now - timedelta(seconds=max(older_than, REACH))),
    }
    before = _size(db)
    if dry_run:
        return _count_doomed(db, window, before)
    candidates = [r[0] for r in db.execute(_DOOMED, window)]  # a read: no lock taken
    items = deliveries = 0
    for start in range(0, len(candidates), PRUNE_BATCH):
        batch = json.dumps(candidates[start : start + PRUNE_BATCH])
        gone = _prune_batch(db, {**window, "batch": batch})
        items, deliveries = items + gone[0], deliveries + gone[1]
    deliveries += _prune_muted(db, window)
    with write(db):
        stories = db.execute(
            "DELETE FROM stories WHERE NOT EXISTS (SELECT 1 FROM items WHERE "
            "items.story_id = stories.id)"
        ).rowcount
    _merge_fts(db)
    no_vacuum = _vacuum(db) if vacuum else ""
    log.info("db.pruned items=%d stories=%d deliveries=%d", items, stories, deliveries)
    return Pruned(items, stories, deliveries, before, _size(db), window["cutoff"], False, no_vacuum)


def _vacuum(db: sqlite_utils.Database) -> str:
    """VACUUM where the disk has room for it; else why not. It writes the whole compacted
    file through the WAL: on a disk without that room it failed with a traceback and left
    the WAL grown over what was free, the disk full where a prune was run to free it."""
    page_size, pages, free_pages = (
        db.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("page_size", "page_count", "freelist_count")
    )
    needed = (pages - free_pages) * page_size
    path = db_path(db)
    room = shutil.disk_usage(Path(path).parent).free if path != ":memory:" else needed
    why = ""
    if room < needed:
        why = (
            f"VACUUM skipped: it needs about {needed / 2**20:.0f} MiB free beside the "
            f"database, the disk has {room / 2**20:.0f} MiB"
        )
    else:
        try:
            db.execute("VACUUM")
        except sqlite3.OperationalError as exc:  # the room ran out all the same
            why = f"VACUUM failed ({exc}); it needs about {needed / 2**20:.0f} MiB free"
    # VACUUM in WAL mode writes the new file through the WAL: fold it back, so the disk
    # space is given back now (a failed one's too) and the size reported is the real one.
    # Folding may need room too (the pruned file's own pages): else the WAL waits for the
    # next checkpoint, as it did.
    with suppress(sqlite3.OperationalError):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return why


def _prune_batch(db: sqlite_utils.Database, args: dict[str, str]) -> tuple[int, int]:
    """One transaction: the batch's items that are still doomed (checked again under the
    lock: a delivery may have been queued since they were read), with what hangs on them."""
    with write(db):
        db.execute(
            f"CREATE TEMP TABLE doomed AS {_DOOMED} "
            "AND items.id IN (SELECT value FROM json_each(:batch))",
            args,
        )
        deliveries = db.execute(
            "DELETE FROM deliveries WHERE item_id IN (SELECT id FROM doomed)"
        ).rowcount
        db.execute("DELETE FROM matches WHERE item_id IN (SELECT id FROM doomed)")
        db.execute("DELETE FROM relaxed_matches WHERE item_id IN (SELECT id FROM doomed)")
        db.execute("DELETE FROM story_events WHERE item_id IN (SELECT id FROM doomed)")
        db.execute(
            "UPDATE stories SET first_item = NULL WHERE first_item IN (SELECT id FROM doomed)"
        )
        items = db.execute("DELETE FROM items WHERE id IN (SELECT id FROM doomed)").rowcount
        db.execute("DROP TABLE doomed")
    return items, deliveries


# Deliveries skipped while muted that a recap no longer reaches, whatever their item.
_MUTED_GONE = "SELECT id FROM deliveries WHERE status = 'muted' AND created < :muted_before"


def _prune_muted(db: sqlite_utils.Database, window: dict[str, str]) -> int:
    """The muted deliveries `_MUTED_GONE` picks, PRUNE_BATCH a transaction."""
    gone = 0
    while True:
        with write(db):
            n = db.execute(
                f"DELETE FROM deliveries WHERE id IN ({_MUTED_GONE} LIMIT :batch)",
                {**window, "batch": PRUNE_BATCH},
            ).rowcount
        gone += n
        if n < PRUNE_BATCH:
            return gone


def _merge_fts(db: sqlite_utils.Database) -> None:
    """FTS5 only marks deleted rows in its index; merging the segments drops them, else the
    full-text index keeps its size (87 % of items pruned left it at 100 %). A step at a time
    (`optimize` in one go held the lock for seconds), until a step finds nothing to do."""
    while True:
        with write(db):
            before = db.conn.total_changes
            db.execute(
                "INSERT INTO items_fts(items_fts, rank) VALUES ('merge', ?)", [-FTS_MERGE_PAGES]
            )
            if db.conn.total_changes - before < 2:
                return


def _count_doomed(db: sqlite_utils.Database, window: dict[str, str], size: int) -> Pruned:
    """What `prune` would delete, counted with reads only (the same rules, nothing written)."""
    items, deliveries = db.execute(
        f"SELECT count(*), (SELECT count(*) FROM deliveries WHERE item_id IN ({_DOOMED}) "
        f"OR id IN ({_MUTED_GONE})) FROM ({_DOOMED})",
        window,
    ).fetchone()
    stories = db.execute(
        "SELECT count(*) FROM stories WHERE NOT EXISTS (SELECT 1 FROM items WHERE "
        f"items.story_id = stories.id AND items.id NOT IN ({_DOOMED}))",
        window,
    ).fetchone()[0]
    return Pruned(items, stories, deliveries, size, size, window["cutoff"], dry_run=True)


def _size(db: sqlite_utils.Database) -> int:
    path = db_path(db)
    if path == ":memory:":
        return 0
    return sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
