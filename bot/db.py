"""Open the SQLite file safely: ours or refused, migrated forward, never silently repaired.

One connection in autocommit mode; writes go through `write()`, which takes the write lock up
front (`BEGIN IMMEDIATE`) so a read-then-write transaction never fails half-way on a lock,
after this process's other writers of the file, in the order they asked (`WriteTurns`).
Schema changes are plain named steps (`bot.migrations`), run here in order; `user_version`
records how far we are. The chat commands' own connection, on a thread of its own, is
`bot.store_thread`'s.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from bot.errors import StoppingError, StoreError
from bot.migrations import MIGRATIONS, SCHEMA_VERSION
from bot.onebot import running_bot

log = logging.getLogger(__name__)

APPLICATION_ID = 0x57495245  # "WIRE": marks the file as a wirewatch database


def open_database(path: str | Path, *, check_bulk: bool = True) -> sqlite_utils.Database:
    """Open (creating when absent) and migrate; raise StoreError for anything not ours.

    `check_bulk=False` checks every table but the bulk ones (items, stories, full text)
    before returning: on a large database their check takes seconds per GB, so `wirewatch
    run` does it in the background instead (`BulkCheck`) and stops if it finds damage.
    """
    path = Path(path)
    if str(path) != ":memory:":
        _refuse_what_is_not_a_database(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {path.parent}: {exc}") from None
    wal = path.with_name(path.name + "-wal")
    logged = str(path) != ":memory:" and wal.exists() and wal.stat().st_size > 0
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise StoreError(_explain(exc, path)) from None
    db = sqlite_utils.Database(conn)
    try:
        _configure(db, path, check_bulk)
        _migrate(db, path)
    except (sqlite3.DatabaseError, StoreError) as exc:
        # A refused file is left as found: without -wal/-shm beside it when it had none,
        # and with its -wal unread into it when it had one (`_close_untouched`).
        if logged:
            _close_untouched(conn, path)
        else:
            conn.close()
        if isinstance(exc, StoreError):
            raise
        raise StoreError(_explain(exc, path)) from None
    return db


def no_database(path: Path) -> StoreError:
    """The error of a command on stored data where there is none: a relative path is
    relative to the current folder, so it says which file that was (run from another
    folder than the bot's, the command looked elsewhere)."""
    where = "" if path.is_absolute() else f" (that is {path.resolve()}: relative to this folder)"
    return StoreError(
        f"no database at {path} yet{where}: wirewatch creates it when it first runs, and "
        "`wirewatch check` shows the database the config names"
    )


def open_existing(path: str | Path) -> sqlite_utils.Database:
    """`open_database` for commands that work on what the bot stored (labelling an alert,
    a backtest, a prune): a path with no database yet is an error, not a new empty file
    that the command would then report on as if it were the bot's."""
    if str(path) != ":memory:" and not Path(path).exists():
        raise no_database(Path(path))
    return open_database(path)


def open_read_only(path: str | Path, *, migrated: bool = True) -> sqlite_utils.Database:
    """Open an existing database for reading only: nothing is created, migrated or written.

    For commands that only read (`feeds` on a read-only volume, `db backup`). `migrated`
    asks for the schema this wirewatch writes; without it any of our schemas is accepted
    (a backup taken before an upgrade must not upgrade the file first).
    """
    path = Path(path)
    _refuse_what_is_not_a_database(path)
    if not path.is_file():
        raise no_database(Path(path))
    try:
        conn = _connect_read_only(path)
        db = sqlite_utils.Database(conn)
        _check_ours(db, path)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(_explain(exc, path)) from None
    if migrated and version != SCHEMA_VERSION:
        conn.close()
        if version > SCHEMA_VERSION:
            raise StoreError(_newer(path, version))
        raise StoreError(
            f"{path} has schema version {version} and this wirewatch writes {SCHEMA_VERSION}; "
            "it is migrated the first time wirewatch runs with write access to it"
        )
    return db


def _close_untouched(conn: sqlite3.Connection, path: Path) -> None:
    """Close without the checkpoint SQLite makes when the last connection to a WAL file
    closes: refusing a backup copied back beside a newer -wal, it wrote that log into the
    file, and the damaged mix was the file for good (moving the -wal aside no longer helped).
    A read-only connection open meanwhile keeps `conn` from being the last, and cannot
    checkpoint itself."""
    keep = None
    with suppress(sqlite3.Error):
        keep = _connect_read_only(path)
    conn.close()
    if keep is not None:
        keep.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, also where SQLite cannot create the WAL's `-shm` beside it.

    On a read-only volume a WAL database is readable only if its `-shm` file exists (a
    writer has it open elsewhere). When none exists and no `-wal` holds pending commits,
    nobody is writing: the file is complete as it is and may be read as immutable.
    """
    uri = f"file:{quote(str(path.resolve()))}"
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        if shm.exists() or (wal.exists() and wal.stat().st_size > 0):
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def _refuse_what_is_not_a_database(path: Path) -> None:
    """Say what the path is when it plainly is not a database: a folder, a config file."""
    if path.is_dir():
        raise StoreError(
            f"{path} is a directory, not a database file: `database:` (or WIREWATCH_DB) "
            f"names the SQLite file itself, such as {path / 'wirewatch.db'}"
        )
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if not head or head.startswith(b"SQLite format 3\x00"):
        return
    if path.suffix.lower() in (".yaml", ".yml") or _looks_like_yaml(head):
        raise StoreError(
            f"{path} is a YAML file (a config file?), not a database: `database:` (or "
            "WIREWATCH_DB) names the SQLite file, such as data/wirewatch.db; --config names "
            "the YAML"
        )


def _looks_like_yaml(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(lines) and re.match(r"^[A-Za-z_][\w-]*:(\s|$)", lines[0]) is not None


def _configure(db: sqlite_utils.Database, path: Path, check_bulk: bool = True) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _check_ours(db, path, check_bulk)
    if str(path) != ":memory:" and db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    _per_connection(db)


BUSY_TIMEOUT_MS = 5000  # how long a write waits for another connection's lock


def _per_connection(db: sqlite_utils.Database) -> None:
    """What each connection sets for itself (WAL is the file's, set once)."""
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")


def _check_ours(db: sqlite_utils.Database, path: Path, check_bulk: bool = True) -> None:
    """Refuse a file another program wrote, or a damaged one, before anything touches it."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id != APPLICATION_ID and (app_id != 0 or tables):
        raise StoreError(
            f"{path} is not a wirewatch database (it holds other data); "
            "point WIREWATCH_DB or `database:` at a new file"
        )
    _refuse_damaged(db, path, None if check_bulk else _small_tables(db))


def _refuse_damaged(db: sqlite_utils.Database, path: Path, tables: list[str] | None) -> None:
    """Stop before the first write when the file is damaged: writing would spread the damage.

    `quick_check` reads every page (a third of a second for 300 MB; `tables` limits it to
    those); repairing is a person's decision (restore a backup, or `.recover` by hand). The
    small tables (what waits: deliveries, notices, subscriptions) get `integrity_check`,
    which also matches each index to its table: a backup copied over the file while its
    newer `-wal` stayed beside it reads as a mix of both that quick_check passes (each page
    sound) and integrity_check does not (an index naming rows the table no longer has).
    On a 300 MB file, a start's check took 9 ms instead of 4 at 1,700 deliveries, 0.12 s
    instead of 0.03 at 30,000, 0.58 s instead of 0.07 at 100,000; the bulk tables' would
    take seconds (the whole file's integrity_check: 0.9-2 s, against quick_check's 0.35).
    """
    small = _small_tables(db) if tables is None else tables
    if tables is None and running_bot(str(path)) is not None:
        # A running bot's start checked them, and a backup cannot have been copied back
        # beside its -wal since: asked again by every `status` a monitor runs beside it,
        # the check grows with the deliveries (0.55 s at 100,000, 5 s at a million).
        small = []
    checks = (["PRAGMA quick_check(3)"] if tables is None else []) + [
        f"PRAGMA integrity_check('{name}')" for name in small
    ]
    for sql in checks:
        problems = [row[0] for row in db.execute(sql).fetchall()]
        if problems != ["ok"]:
            raise StoreError(_damage(problems, path))


def _damage(problems: list[str], path: Path | str) -> str:
    lines = [line.strip() for row in problems for line in row.splitlines()]
    found = "; ".join(line for line in lines if line and not line.startswith("***"))
    return (
        f"{path} is corrupt ({found[:300]}); restore a backup (wirewatch does not repair databases)"
    )


def _is_bulk(table: str) -> bool:
    bulk = ("items", "stories", "story_terms", "story_vectors")
    return table in bulk or table.startswith("items_fts")


def _small_tables(db: sqlite_utils.Database) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return [name for (name,) in rows if not _is_bulk(name) and name.isidentifier()]


class BulkCheck:
    """The whole file's `quick_check`, on a read-only connection of its own, off the loop.

    `run()` blocks (call it in a thread) and returns None when the file is sound, else the
    same message a refused start gives; `cancel()` interrupts it from any thread.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn = _connect_read_only(self.path)

    def run(self) -> str | None:
        try:
            problems = [row[0] for row in self._conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                return None  # cancelled: nothing found, nothing claimed
            return _explain(exc, self.path)
        except sqlite3.DatabaseError as exc:
            return _explain(exc, self.path)
        finally:
            self._conn.close()
        return None if problems == ["ok"] else _damage(problems, self.path)

    def cancel(self) -> None:
        with suppress(sqlite3.ProgrammingError):  # already finished and closed
            self._conn.interrupt()


def _connect_again(path: Path) -> sqlite_utils.Database:
    """Another connection to a database `open_database` opened: same settings, no check."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)  # this thread's alone
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _per_connection(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(_explain(exc, path)) from None
    return db


def _migrate(db: sqlite_utils.Database, path: Path) -> None:
    """Every step from the file's version to ours, each in its own transaction; one log
    line for the lot (each step's own at debug): a new database is 22 steps."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(_newer(path, version))
    for number in range(version, SCHEMA_VERSION):
        step = MIGRATIONS[number]
        with write(db):
            step(db)
            db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        log.debug("db.migration step=%s version=%d", step.__name__, number + 1)
    if version == 0:
        log.info("db.created database=%s version=%d", path, SCHEMA_VERSION)
    elif version < SCHEMA_VERSION:
        # A warning, so that every command says it (they log warnings only): whichever first
        # opens the file to write migrates it (`status`, a cron's `poll`), and from then on
        # the release before refuses the file: restoring the backup is the way back.
        log.warning("db.migrated database=%s from=%d to=%d", path, version, SCHEMA_VERSION)


def _newer(path: Path, version: int) -> str:
    return (
        f"{path} has schema version {version}, newer than this wirewatch understands "
        f"({SCHEMA_VERSION}); upgrade wirewatch or restore a backup"
    )


def _explain(exc: sqlite3.DatabaseError, path: Path) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{path} is corrupt or not a SQLite database ({text}); restore a backup"
    if "readonly" in text or "unable to open" in text:
        return f"cannot write {path} ({text}): check the volume and its permissions"
    if "locked" in text:
        return (
            f"{path} is locked by another connection ({text}): another wirewatch running, "
            "or a long write of a chat command of this one (a topic whose query changed "
            "decides its waiting alerts again); the next try may find it free"
        )
    # SHMSIZE: the -shm beside a WAL database could not be grown, as on a full disk; its
    # "disk I/O error" read as a failing disk.
    if "full" in text or getattr(exc, "sqlite_errorname", "") == "SQLITE_IOERR_SHMSIZE":
        return f"the disk holding {path} is full ({text})"
    return f"database error on {path}: {text}"


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid a plain INSERT just stored (a failed one raised instead)."""
    if cur.lastrowid is None:  # sqlite3 leaves it None only when no INSERT ran at all
        raise StoreError("an INSERT stored no row")
    return cur.lastrowid


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction holding the lock from its start; rolled back on any error.

    Writers of this process on the same file (the event loop's connection, the store
    thread's) take turns first (`WriteTurns`), in the order they asked: SQLite's busy
    handler polls with growing sleeps and would let a writer that commits and begins again
    at once (a command's sliced write) keep the lock from one that waits."""
    if db in _STOPPING:
        raise StoppingError("wirewatch is stopping: this write is left to the next start")
    turns = _turns_of(db)
    if turns is not None and not turns.take(BUSY_TIMEOUT_MS / 1000):
        raise StoreError(_explain(sqlite3.OperationalError("database is locked"), turns.path))
    try:
        with _transaction(db):
            yield db
    finally:
        if turns is not None:
            turns.give()


@contextmanager
def _transaction(db: sqlite_utils.Database) -> Iterator[None]:
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(_explain(exc, Path(db_path(db)))) from None
    try:
        yield
        db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        _rollback(db)
        raise StoreError(_explain(exc, Path(db_path(db)))) from None
    except BaseException:
        _rollback(db)
        raise


class WriteTurns:
    """The write transactions of one database file in this process, one at a time, first
    asked first served (SQLite's own lock still keeps other processes out).

    A thread already holding the turn takes it again (a write on a second connection from
    inside a first one fails on SQLite's lock, as it always did, instead of waiting here).
    """

    def __init__(self, path: Path):
        self.path = path
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[int] = deque()

    def take(self, timeout: float) -> bool:
        """Wait for the turn (at most `timeout` seconds); False when it did not come."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            self._queue.append(me)
            free = self._cond.wait_for(
                lambda: self._owner is None and self._queue[0] == me, timeout
            )
            self._queue.remove(me)
            if free:
                self._owner, self._depth = me, 1
            else:
                self._cond.notify_all()  # the next in line may be free now
            return free

    def give(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """How many writers wait for the turn (a long write lets them in between slices)."""
        with self._cond:
            return len(self._queue)


# Store-thread connections being closed while their work still runs (`StoreThread.close`).
_STOPPING: weakref.WeakSet[sqlite_utils.Database] = weakref.WeakSet()
_TURNS: dict[str, WriteTurns] = {}
_TURNS_OF: weakref.WeakKeyDictionary[sqlite_utils.Database, WriteTurns | None] = (
    weakref.WeakKeyDictionary()
)
_TURNS_LOCK = threading.Lock()


def _turns_of(db: sqlite_utils.Database) -> WriteTurns | None:
    """The turns of the file `db` is connected to (None for an in-memory database)."""
    try:
        return _TURNS_OF[db]
    except KeyError:
        pass
    name = db_path(db)
    with _TURNS_LOCK:
        turns = None
        if name and name != ":memory:":
            turns = _TURNS.setdefault(name, WriteTurns(Path(name)))
        _TURNS_OF[db] = turns
    return turns


def write_turns(db: sqlite_utils.Database) -> WriteTurns | None:
    """The turns `write` takes on `db`'s file (None for an in-memory database)."""
    return _turns_of(db)


def _rollback(db: sqlite_utils.Database) -> None:
    if db.conn.in_transaction:
        db.execute("ROLLBACK")


def read_error(exc: sqlite3.DatabaseError, db: sqlite_utils.Database) -> StoreError:
    """A database error met while reading, said the way a refused start says it."""
    return StoreError(_explain(exc, Path(db_path(db))))


def db_path(db: sqlite_utils.Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] or ":memory:"
