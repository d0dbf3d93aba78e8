"""Open the SQLite file safely: ours or refused, migrated forward, never silently repaired.

One connection in autocommit mode; writes go through `write()`, which takes the write lock up
front (`BEGIN IMMEDIATE`) so a read-then-write transaction never fails half-way on a lock,
after this process's other writers of the file, in the order they asked (`WriteTurns`).
Schema changes are plain named steps in MIGRATIONS; `user_version` records how far we are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import sqlite_utils

from bot.errors import StoppingError, StoreError

log = logging.getLogger(__name__)

APPLICATION_ID = 0x57495245  # "WIRE": marks the file as a wirewatch database


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            interval REAL, origin TEXT NOT NULL DEFAULT 'config',
            etag TEXT, last_modified TEXT, next_poll TEXT NOT NULL,
            last_polled TEXT, last_success TEXT, last_error TEXT,
            failures INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0,
            disabled_reason TEXT, added_by TEXT, created TEXT NOT NULL
        );
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY, title TEXT NOT NULL, first_item INTEGER,
            first_seen TEXT NOT NULL, last_seen TEXT NOT NULL
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY, feed_id INTEGER NOT NULL REFERENCES feeds(id),
            identity TEXT NOT NULL, url TEXT, title TEXT NOT NULL, summary TEXT NOT NULL,
            text TEXT, alert_summary TEXT NOT NULL DEFAULT '', entities TEXT NOT NULL DEFAULT '[]',
            published TEXT NOT NULL, first_seen TEXT NOT NULL,
            story_id INTEGER REFERENCES stories(id),
            UNIQUE (feed_id, identity)
        );
        CREATE INDEX items_story ON items(story_id);
        CREATE INDEX items_first_seen ON items(first_seen);
        CREATE TABLE topics (
            name TEXT PRIMARY KEY, query TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL
        );
        CREATE TABLE matches (
            item_id INTEGER NOT NULL REFERENCES items(id), topic TEXT NOT NULL,
            matched TEXT NOT NULL, explanation TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (item_id, topic)
        );
        CREATE TABLE subscriptions (
            id INTEGER PRIMARY KEY, channel TEXT NOT NULL, topic TEXT NOT NULL,
            mode TEXT NOT NULL DEFAULT 'instant', workspace TEXT, muted_until TEXT,
            paused_reason TEXT, origin TEXT NOT NULL DEFAULT 'config', created TEXT NOT NULL,
            UNIQUE (channel, topic)
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL REFERENCES subscriptions(id),
            channel TEXT NOT NULL, story_id INTEGER NOT NULL REFERENCES stories(id),
            item_id INTEGER NOT NULL REFERENCES items(id), kind TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt TEXT NOT NULL, claimed_at TEXT, message_id TEXT, thread_id TEXT,
            error TEXT, created TEXT NOT NULL, sent_at TEXT,
            UNIQUE (channel, story_id, item_id)
        );
        CREATE INDEX deliveries_status ON deliveries(status, next_attempt);
        CREATE INDEX deliveries_channel_story ON deliveries(channel, story_id);
        CREATE TABLE notices (
            id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, channel TEXT, text TEXT NOT NULL,
            created TEXT NOT NULL, sent_at TEXT
        );
        """
    )
    db.table("items").enable_fts(
        ["title", "summary", "text"], create_triggers=True, tokenize="porter"
    )


def _m002_open_deliveries_index(db: sqlite_utils.Database) -> None:
    # The outbox asks "is anything older still open in this channel?" for every candidate it
    # claims; without this index each question scans the channel, and a backlog of n
    # deliveries (a long chat outage) takes O(n^2) work per claim with the event loop held.
    db.execute(
        "CREATE INDEX deliveries_open ON deliveries(channel, id) "
        "WHERE status IN ('pending', 'claimed')"
    )


def _m003_cheaper_item_writes(db: sqlite_utils.Database) -> None:
    # sqlite-utils' update trigger re-indexed an item's full text on ANY update, so setting
    # an item's story_id paid the FTS cost twice per stored item; only text changes need it.
    # And new deliveries ask "which channels already heard of this story?" by story alone,
    # which the (channel, story_id) index cannot answer without a scan.
    # One statement per execute: executescript would commit the migration's transaction.
    db.execute("DROP TRIGGER IF EXISTS items_au")
    db.execute(
        "CREATE TRIGGER items_au AFTER UPDATE OF title, summary, text ON items BEGIN "
        "INSERT INTO items_fts (items_fts, rowid, title, summary, text) "
        "VALUES ('delete', old.rowid, old.title, old.summary, old.text); "
        "INSERT INTO items_fts (rowid, title, summary, text) "
        "VALUES (new.rowid, new.title, new.summary, new.text); END"
    )
    db.execute("CREATE INDEX deliveries_story ON deliveries(story_id)")


def _m004_delivery_doubts(db: sqlite_utils.Database) -> None:
    # maybe_posted: the last send's answer was lost (timeout, reset, 5xx), so the platform is
    # asked before the next send. faults: failures on our side (an alert that cannot be built,
    # an adapter bug), counted apart from platform outages so that they alone are bounded.
    db.execute("ALTER TABLE deliveries ADD COLUMN maybe_posted INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE deliveries ADD COLUMN faults INTEGER NOT NULL DEFAULT 0")


def _m005_relevance_and_copies(db: sqlite_utils.Database) -> None:
    # A topic may name a learned relevance model that must agree before it matches.
    db.execute("ALTER TABLE topics ADD COLUMN relevance TEXT")
    # The same article from another feed is found by its link (or URL guid), in any feed.
    db.execute("CREATE INDEX items_url ON items(url)")
    db.execute("CREATE INDEX items_identity ON items(identity)")


def _m006_subscription_narrowing(db: sqlite_utils.Database) -> None:
    # `subscribe TOPIC --only QUERY --except QUERY`: which of the topic's items reach a channel.
    db.execute("ALTER TABLE subscriptions ADD COLUMN only_query TEXT")
    db.execute("ALTER TABLE subscriptions ADD COLUMN except_query TEXT")


def _m007_feed_health(db: sqlite_utils.Database) -> None:
    # The state each feed was last announced in (so a restart never repeats a notice) and
    # its rhythm: the median and longest gap between its items, and its newest item's date.
    db.execute(
        "CREATE TABLE feed_health (feed_id INTEGER PRIMARY KEY REFERENCES feeds(id), "
        "state TEXT NOT NULL, since TEXT NOT NULL, usual_gap REAL, longest_gap REAL, "
        "last_item TEXT)"
    )
    # The rhythm reads a feed's newest items by date: an index walk, not a scan of its history.
    db.execute("CREATE INDEX items_feed_published ON items(feed_id, published)")


def _m008_feedback(db: sqlite_utils.Database) -> None:
    # Editors' "Not relevant" / "Wrong story" clicks. No foreign keys, and the item's text
    # copied in: a label is training data and must outlive `db prune` of its alert.
    db.execute(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL, "
        "kind TEXT NOT NULL, platform TEXT NOT NULL, user TEXT NOT NULL, "
        "channel TEXT NOT NULL, topic TEXT NOT NULL, story_id INTEGER NOT NULL, "
        "story_title TEXT NOT NULL, item_id INTEGER NOT NULL, title TEXT NOT NULL, "
        "description TEXT NOT NULL, published TEXT NOT NULL, outlet TEXT NOT NULL, url TEXT, "
        "at TEXT NOT NULL, UNIQUE (delivery_id, kind, platform, user))"
    )
    db.execute("CREATE INDEX feedback_at ON feedback(at)")
    # `/wirewatch status` counts each topic's alerts of the last 7 days.
    db.execute("CREATE INDEX deliveries_sent ON deliveries(sent_at) WHERE sent_at IS NOT NULL")


def _m009_story_events(db: sqlite_utils.Database) -> None:
    # Corroboration and edits (issue 13). items.wire: the news agency whose copy an item is
    # (its byline or dateline), so wire copy on several sites counts as one outlet.
    # items.digest: a hash of the words of title and summary, so a changed item is found
    # without reading its text back (filled here for the items already stored).
    from bot.text.versions import digest

    db.execute("ALTER TABLE items ADD COLUMN wire TEXT")
    db.execute("ALTER TABLE items ADD COLUMN digest TEXT")
    db.conn.create_function("wirewatch_digest", 2, digest, deterministic=True)
    db.execute("UPDATE items SET digest = wirewatch_digest(title, summary)")
    # What happened to a story that channels hear of: an item's edit (its text before and
    # after, the topics it started or stopped matching; `reported` 0 when it was applied
    # silently), or the story's corroboration (once per story: the unique index).
    db.execute(
        "CREATE TABLE story_events (id INTEGER PRIMARY KEY, "
        "story_id INTEGER NOT NULL REFERENCES stories(id), "
        "item_id INTEGER NOT NULL REFERENCES items(id), kind TEXT NOT NULL, "
        "created TEXT NOT NULL, old_title TEXT, old_summary TEXT, new_title TEXT, "
        "new_summary TEXT, old_digest TEXT, new_digest TEXT, started TEXT, stopped TEXT, "
        "reported INTEGER NOT NULL DEFAULT 1, outlets INTEGER)"
    )
    db.execute("CREATE INDEX story_events_item ON story_events(item_id)")
    db.execute(
        "CREATE UNIQUE INDEX story_events_corroborated ON story_events(story_id) "
        "WHERE kind = 'corroborated'"
    )
    # `/wirewatch edits on|off`: per channel, on unless a row says otherwise.
    db.execute("CREATE TABLE channel_settings (channel TEXT PRIMARY KEY, edits INTEGER NOT NULL)")
    _deliveries_with_events(db)


def _deliveries_with_events(db: sqlite_utils.Database) -> None:
    """deliveries.event_id (a story_events row, 0 for an item's own alert), and the table
    rebuilt so that one item may be delivered once as itself and once per event: SQLite
    cannot change a UNIQUE constraint in place. Columns and indexes are carried over as
    they are (whatever earlier migrations added), in SQLite's documented rebuild order."""
    db.execute("ALTER TABLE deliveries ADD COLUMN event_id INTEGER NOT NULL DEFAULT 0")
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'deliveries'").fetchone()[0]
    old_key = re.compile(r"UNIQUE\s*\(\s*channel,\s*story_id,\s*item_id\s*\)")
    if not old_key.search(sql):
        raise StoreError("deliveries has an unexpected schema; restore a backup")
    new_sql = old_key.sub("UNIQUE (channel, story_id, item_id, event_id)", sql)
    new_sql = re.sub(r"^CREATE TABLE \"?deliveries\"?", "CREATE TABLE deliveries_new", new_sql)
    indexes = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' "
            "AND sql IS NOT NULL"
        )
    ]
    db.execute(new_sql)
    db.execute("INSERT INTO deliveries_new SELECT * FROM deliveries")
    db.execute("DROP TABLE deliveries")
    db.execute("ALTER TABLE deliveries_new RENAME TO deliveries")
    for index in indexes:
        db.execute(index)


def _m010_story_terms(db: sqlite_utils.Database) -> None:
    # The story index's terms of each item in the story window (bot.storyterms), so that a
    # start without a saved index reads them instead of tokenising the window again. Rows
    # go with their item, or when what its terms are made of changes (an outlet's edit: the
    # next rebuild tokenises it again); those of items out of the window now and then.
    db.execute(
        "CREATE TABLE story_terms (item_id INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
        "published REAL NOT NULL, names TEXT NOT NULL, weights BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX story_terms_published ON story_terms(published)")
    db.execute(
        "CREATE TRIGGER story_terms_ad AFTER DELETE ON items BEGIN "
        "DELETE FROM story_terms WHERE item_id = old.id; END"
    )
    db.execute(
        "CREATE TRIGGER story_terms_au AFTER UPDATE OF title, summary, text, alert_summary, "
        "entities, published ON items BEGIN DELETE FROM story_terms WHERE item_id = old.id; END"
    )


def _m011_relaxed_matches(db: sqlite_utils.Database) -> None:
    # An item that matched a topic only at its relaxed bar: not a match (search, digests and
    # backtests never count it), but the reason an update of an alerted story was posted,
    # shown on that update. Rows go with their item (prune) or its revision.
    db.execute(
        "CREATE TABLE relaxed_matches (item_id INTEGER NOT NULL REFERENCES items(id), "
        "topic TEXT NOT NULL, matched TEXT NOT NULL, explanation TEXT NOT NULL DEFAULT '', "
        "PRIMARY KEY (item_id, topic))"
    )


def _m012_story_vectors(db: sqlite_utils.Database) -> None:
    # Each item's sentence vector (bot.storyvectors), read for the few story members a new
    # item is compared with. Rows go with their item, or when its headline changes (the
    # vector reads the headline); those of items out of the window with their story terms.
    db.execute("CREATE TABLE story_vectors (item_id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    db.execute(
        "CREATE TRIGGER story_vectors_ad AFTER DELETE ON items BEGIN "
        "DELETE FROM story_vectors WHERE item_id = old.id; END"
    )
    db.execute(
        "CREATE TRIGGER story_vectors_au AFTER UPDATE OF title ON items BEGIN "
        "DELETE FROM story_vectors WHERE item_id = old.id; END"
    )


def _m013_vectors_kept_when_headline_kept(db: sqlite_utils.Database) -> None:
    # An edit rewrites every column, so `UPDATE OF title` fired on summary edits too and took
    # the vector of a headline that had not changed. Now only a changed headline's goes (an
    # edit stores the new headline's, bot.edit_store).
    db.execute("DROP TRIGGER story_vectors_au")
    db.execute(
        "CREATE TRIGGER story_vectors_au AFTER UPDATE OF title ON items "
        "WHEN old.title IS NOT new.title BEGIN "
        "DELETE FROM story_vectors WHERE item_id = old.id; END"
    )


def _m014_digest_messages(db: sqlite_utils.Database) -> None:
    # The digest message a digest delivery went out in, named by its first delivery's id (the
    # key the platform finds it by after a crash, as an alert by its delivery id): claimed,
    # in doubt or sent together (bot.digest).
    db.execute("ALTER TABLE deliveries ADD COLUMN digest_of INTEGER")


def _m015_items_by_words(db: sqlite_utils.Database) -> None:
    # A feed with no links that mints new guids every poll is known again by its words
    # (bot.pipeline._unseen), without reading the feed's whole history.
    db.execute("CREATE INDEX items_digest ON items(digest)")


def _m016_config_urls(db: sqlite_utils.Database) -> None:
    # The URL the config names a feed by: a 301 moves the feed's own `url`, and the config
    # (still naming the old one) must find it again at the next start, not add it twice.
    db.execute("ALTER TABLE feeds ADD COLUMN config_url TEXT")
    db.execute("UPDATE feeds SET config_url = url WHERE origin = 'config'")


def _m017_notice_retries(db: sqlite_utils.Database) -> None:
    # A notice the platform refused is tried again later (a paused channel's notice is the
    # one thing that says why alerts stopped), not marked sent as if it had arrived.
    db.execute("ALTER TABLE notices ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE notices ADD COLUMN next_attempt TEXT")


def _m018_deliveries_by_item(db: sqlite_utils.Database) -> None:
    # Foreign keys are enforced: deleting an item (`db prune`) or a subscription checks the
    # deliveries naming it, a scan of the whole table without these (2-3 ms per pruned item
    # at 50,000 deliveries: a year's prune held the write lock for 5 minutes).
    db.execute("CREATE INDEX deliveries_item ON deliveries(item_id)")
    db.execute("CREATE INDEX deliveries_subscription ON deliveries(subscription_id)")


def _m019_unfinished_writes(db: sqlite_utils.Database) -> None:
    # A chat command's long write (alerts decided again after a topic's query or a
    # subscription changed) commits a slice at a time, so that the poll's writes go in
    # between; this row, written with its first slice and deleted with its last, says what
    # a start must finish when the process died between two (bot.redecide).
    db.execute(
        "CREATE TABLE unfinished_writes (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
        "topics TEXT, subscription_id INTEGER, reason TEXT NOT NULL, created TEXT NOT NULL)"
    )


def _m020_unfinished_counts(db: sqlite_utils.Database) -> None:
    # A start's hold or give-back of a gone topic's alerts keeps its counts so far with its
    # row (bot.gone_topics.tally: the channel's one notice counts the whole of it), in a
    # column of their own; NULL for the other kinds. A row an earlier version's start left
    # carries them in `topics` (such a row names no topics): moved here, so that the next
    # start's notice still counts what went before the upgrade.
    db.execute("ALTER TABLE unfinished_writes ADD COLUMN counts TEXT")
    db.execute(
        "UPDATE unfinished_writes SET counts = topics, topics = NULL "
        "WHERE kind IN ('topic-gone', 'topic-back')"
    )


def _m021_who_added_topics(db: sqlite_utils.Database) -> None:
    # Who added a chat topic (`platform:user id`, and the name the platform showed) and
    # when, for `topics NAME`: a topic everyone's alerts go through should have an owner to
    # ask. NULL for topics added before this step (and for built-in and config ones).
    db.execute("ALTER TABLE topics ADD COLUMN added_by TEXT")
    db.execute("ALTER TABLE topics ADD COLUMN added_by_name TEXT")
    db.execute("ALTER TABLE topics ADD COLUMN added_at TEXT")


def _m022_run_state(db: sqlite_utils.Database) -> None:
    # What the running bot records of itself (bot.runstate), one row: its pid, when it
    # started, when its last poll cycle ended, and why its worker processes cannot work
    # ('' while they can); `wirewatch status` in another process reads it.
    db.execute(
        "CREATE TABLE run_state (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, "
        "started TEXT NOT NULL, cycle_ended TEXT, workers_broken TEXT NOT NULL DEFAULT '', "
        "workers_since TEXT)"
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m001_initial,
    _m002_open_deliveries_index,
    _m003_cheaper_item_writes,
    _m004_delivery_doubts,
    _m005_relevance_and_copies,
    _m006_subscription_narrowing,
    _m007_feed_health,
    _m008_feedback,
    _m009_story_events,
    _m010_story_terms,
    _m011_relaxed_matches,
    _m012_story_vectors,
    _m013_vectors_kept_when_headline_kept,
    _m014_digest_messages,
    _m015_items_by_words,
    _m016_config_urls,
    _m017_notice_retries,
    _m018_deliveries_by_item,
    _m019_unfinished_writes,
    _m020_unfinished_counts,
    _m021_who_added_topics,
    _m022_run_state,
]
SCHEMA_VERSION = len(MIGRATIONS)


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
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise StoreError(_explain(exc, path)) from None
    db = sqlite_utils.Database(conn)
    try:
        _configure(db, path, check_bulk)
        _migrate(db, path)
    except (sqlite3.DatabaseError, StoreError) as exc:
        conn.close()  # a refused file is left as found, without -wal/-shm beside it
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

    `quick_check` reads every page (a quarter of a second for 300 MB; `tables` limits it to
    those); repairing is a person's decision (restore a backup, or `.recover` by hand).
    """
    checks = (
        ["PRAGMA quick_check(3)"]
        if tables is None
        else [f"PRAGMA quick_check('{name}')" for name in tables]
    )
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


R = TypeVar("R")


class StoreThread:
    """A second connection to the bot's database, used on one thread of its own, so that
    chat commands' queries never hold the event loop that polls, sends and acknowledges.

    The file was checked and migrated by `open_database` already: the connection is opened
    (in that thread, which alone uses it) without doing either again. Reads see the last
    commit of either connection (WAL) and block nobody; writes take the lock up front
    (`write`), and a writer on the other connection waits for it (`WriteTurns`), so a
    command's long write goes in slices (`bot.redecide`). One thread: commands' writes never
    race each other.
    """

    def __init__(self, path: str | Path):
        if str(path) == ":memory:":
            raise ValueError("a second connection to :memory: is another, empty database")
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="wirewatch-store")
        self._db: sqlite_utils.Database | None = None
        # Set once wirewatch begins to stop (`close`, or the run's stop relayed by
        # `bot.commands`): work that only prepares a write, a command deciding thousands of
        # waiting alerts again before its first (`bot.redecide`), gives up at its next look,
        # with nothing written, rather than hold the stop for seconds.
        self.stopping = threading.Event()
        self._closed = False

    async def run(self, fn: Callable[..., R], *args: object) -> R:
        """`fn(db, *args)` on the store thread with its connection; the loop runs meanwhile.
        Cancelling the caller does not stop it: a write it started still commits whole."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)

    def _call(self, fn: Callable[..., R], args: tuple[object, ...]) -> R:
        if self._db is None:
            self._db = _connect_again(self.path)
        return fn(self._db, *args)

    async def close(self, grace: float = 2.0) -> None:
        """Let the work already asked for finish, then close the connection in its thread.
        Work still running after `grace` seconds (a search of a large archive takes seconds)
        is interrupted, so that a shutdown keeps to compose's 10 s: a read just ends, a write
        is rolled back whole, as when the process is killed (a long write in slices stops
        before its next slice; the next start finishes it, `bot.redecide`). Work that only
        prepares a write gives up at once (`stopping`). A second close does nothing."""
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        self._pool.submit(self._close)
        done = asyncio.ensure_future(asyncio.to_thread(self._pool.shutdown, wait=True))
        try:
            await asyncio.wait_for(asyncio.shield(done), grace)
        except TimeoutError:
            db = self._db
            if db is not None:
                _STOPPING.add(db)  # a long write's next slice is not begun
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                    db.conn.interrupt()
            await done

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


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
    if "disk is full" in text or "full" in text:
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
