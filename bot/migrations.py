"""The schema's steps, oldest first: each a plain named function that changes a database of
the version before it into the next (`_m001_initial` creates the first schema), listed in
MIGRATIONS; SCHEMA_VERSION is how many there are.

A step is never edited once released (a database that ran it would not run it again): a
change is a new step at the end. Running them (each in its own transaction, `user_version`
recording how far a file is) and refusing a file newer than ours is `bot.db`'s; nothing here
opens, checks or locks a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils

from bot.errors import StoreError


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


def _m023_run_state_command(db: sqlite_utils.Database) -> None:
    # Which command wrote the row: 'run' (the bot) or 'poll' (a one-off poll, cron's), so that
    # `wirewatch status` tells a cron's last poll from a stopped bot; and the writer's steady
    # clock (bot.clock.steady_clock, which no one sets), so that a wall-clock step back
    # does not show a loop that stopped as running for as long as the step.
    db.execute("ALTER TABLE run_state ADD COLUMN command TEXT NOT NULL DEFAULT 'run'")
    db.execute("ALTER TABLE run_state ADD COLUMN steady REAL")


def _m024_unknown_errors(db: sqlite_utils.Database) -> None:
    # When a delivery first met an error its platform's adapter does not know, and how many
    # times it has: the outbox's bounds on retrying it (bot.send_errors.UNKNOWN_TRIES), kept on
    # disk so that a restart does not start them again (a crash loop retried it forever).
    db.execute("ALTER TABLE deliveries ADD COLUMN unknown_since TEXT")
    db.execute("ALTER TABLE deliveries ADD COLUMN unknown_tries INTEGER NOT NULL DEFAULT 0")


def _m025_run_state_phase(db: sqlite_utils.Database) -> None:
    # Where the process that wrote the row is (bot.runstate): 'loading' its story index
    # (nothing polled yet), its 'first_cycle' running, or 'cycled' (`cycle_ended` is then its
    # own; before, it is an earlier process's, carried over). '' from a wirewatch before this
    # step, whose `cycle_ended` is its own.
    db.execute("ALTER TABLE run_state ADD COLUMN phase TEXT NOT NULL DEFAULT ''")


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
    _m023_run_state_command,
    _m024_unknown_errors,
    _m025_run_state_phase,
]
SCHEMA_VERSION = len(MIGRATIONS)
