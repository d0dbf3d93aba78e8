"""What the running bot records of itself, for `wirewatch status` in another process.

/healthz, `poll`'s line and chat's `status` read the bot's own memory; `wirewatch status`
run from a shell reads only the database. So `wirewatch run` keeps one row there
(`run_state`): its pid, when it started, when its last poll cycle ended, and why its worker
processes cannot work ("" while they can). Written at the start, then at most once per poll
cycle: at once when the workers' state changed, else every RECORD_EVERY seconds. A failed
write is logged once and tried again RECORD_EVERY later: recording never stops a poll.

`bot_state` decides from that row and the database's lock (bot.onebot) what the bot is
doing: a row whose pid does not hold the lock, or written before the lock was taken, is an
earlier run's; a row not written for STALE seconds is a loop that no longer polls. Neither is
shown as a running bot. Deliberately not here: the words (bot.cli_status) and the workers'
verdict (bot.workers).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot.clock import iso, parse_stored, utcnow
from bot.db import write
from bot.errors import WirewatchError

log = logging.getLogger(__name__)

RECORD_EVERY = 30.0  # seconds between the writes of an unchanged state
# A record this old is a loop that no longer finishes its poll cycles (stuck, or one cycle
# running that long): ten times RECORD_EVERY, so that a slow cycle of many feeds is not it.
STALE = 300.0
# The lock file's time and a start's record may be this far apart and still be one run's
# (file systems that keep whole seconds).
SAME_START = 2.0


@dataclass(frozen=True)
class RunRecord:
    """The row as the bot last wrote it."""

    pid: int
    started: datetime
    cycle_ended: datetime | None  # None before its first poll cycle ended
    workers_broken: str  # why no worker process can work; "" while they can
    workers_since: datetime | None


@dataclass(frozen=True)
class BotState:
    """What `wirewatch status` says of the bot: `running` (finishing poll cycles now),
    `starting` (no poll cycle yet), `stalled` (the lock is held, but no cycle ended for
    STALE seconds) or `stopped` (no process holds the database)."""

    state: str
    pid: str | None  # the process holding the database's lock
    since: datetime | None  # when it started (or took the lock)
    last_cycle: datetime | None  # also an earlier run's, when stopped or stalled
    workers_broken: str  # only of a bot running or starting: "" otherwise
    workers_since: datetime | None


class Recorder:
    """One process's writes of its row; it keeps what it last wrote, to write less."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.started = utcnow()
        self._ended: datetime | None = None
        # monotonic; a failed write is not tried again sooner: on a database locked by
        # another process each try holds the event loop for the busy timeout (5 s)
        self._tried_at: float | None = None
        self._trouble = ""
        self._trouble_since: datetime | None = None
        self._failing = False

    def start(self, db: sqlite_utils.Database, trouble: str) -> None:
        """The bot's start: an earlier run's row is replaced before its first cycle."""
        self._write(db, trouble)

    def cycle_ended(self, db: sqlite_utils.Database, trouble: str) -> None:
        """A poll cycle ended, with the workers' verdict (`bot.workers.pool_trouble`)."""
        first, self._ended = self._ended is None, utcnow()  # the first ends `starting`
        news = not self._failing and (first or trouble != self._trouble)
        last = self._tried_at
        if news or last is None or time.monotonic() - last >= RECORD_EVERY:
            self._write(db, trouble)

    def _write(self, db: sqlite_utils.Database, trouble: str) -> None:
        since = self._trouble_since if self._trouble else None
        since = (since or utcnow()) if trouble else None
        row = [self.pid, iso(self.started), _stamp(self._ended), trouble, _stamp(since)]
        self._tried_at = time.monotonic()
        try:
            with write(db):
                db.execute(
                    "INSERT OR REPLACE INTO run_state (id, pid, started, cycle_ended, "
                    "workers_broken, workers_since) VALUES (1, ?, ?, ?, ?, ?)",
                    row,
                )
        except (WirewatchError, sqlite3.DatabaseError) as exc:
            if not self._failing:  # the database's trouble is logged by what it stops
                log.warning("runstate.unrecorded error=%s", exc)
            self._failing = True
            return  # tried again RECORD_EVERY later
        self._failing = False
        self._trouble, self._trouble_since = trouble, since


def _stamp(when: datetime | None) -> str | None:
    return iso(when) if when else None


def read_record(db: sqlite_utils.Database) -> RunRecord | None:
    """The row, or None when no bot of this version has run here. A damaged time reads as
    absent (a start long ago: the row is then taken as stale)."""
    row = db.execute(
        "SELECT pid, started, cycle_ended, workers_broken, workers_since FROM run_state "
        "WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    started = parse_stored(row[1], datetime.min.replace(tzinfo=UTC))
    ended, since = parse_stored(row[2], None), parse_stored(row[4], None)
    return RunRecord(int(row[0]), started, ended, row[3] or "", since)


def lock_taken(database: str) -> datetime | None:
    """When the bot holding `<database>.lock` took it: `bot.onebot.one_bot` writes its pid
    there as it does, so the file's time is that moment."""
    try:
        return datetime.fromtimestamp(os.stat(f"{database}.lock").st_mtime, UTC)
    except OSError:
        return None


def bot_state(
    record: RunRecord | None, holder: str | None, taken: datetime | None, now: datetime
) -> BotState:
    """What the bot is doing, from its row, the pid holding the lock (`holder`,
    bot.onebot.running_bot) and when it took it (`taken`)."""
    last = record.cycle_ended if record else None
    if holder is None:
        return BotState("stopped", None, None, last, "", None)
    stale = now - timedelta(seconds=STALE)
    if record is None or not _holders(record, holder, taken):  # an earlier run's row
        took = taken or now
        return BotState("starting" if took >= stale else "stalled", holder, took, last, "", None)
    seen = max(record.started, last) if last else record.started
    if seen < stale:
        return BotState("stalled", holder, record.started, last, "", None)
    state = "running" if last else "starting"
    broken, since = record.workers_broken, record.workers_since
    return BotState(state, holder, record.started, last, broken, since if broken else None)


def _holders(record: RunRecord, holder: str, taken: datetime | None) -> bool:
    """Whether the row is the lock holder's: its pid, and written since it took the lock (in
    a container the bot is the same pid at every start)."""
    if str(record.pid) != holder:
        return False
    return taken is None or record.started >= taken - timedelta(seconds=SAME_START)
