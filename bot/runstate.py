"""What the running bot records of itself, for `wirewatch status` in another process.

/healthz, `poll`'s line and chat's `status` read the bot's own memory; `wirewatch status`
run from a shell reads only the database. So `wirewatch run`, and a one-off `wirewatch poll`
(cron's), keep one row there (`run_state`): which command, its pid, when it started, its
phase (LOADING its story index, FIRST_CYCLE running, CYCLED), when a poll cycle last ended
(an earlier process's, carried over until it ends one of its own: a start that dies does
not hide when feeds were last polled), and why its worker processes cannot work ("" while
they can). Each writes it as soon as it holds the database's lock
(bot.startup.open_runtime), so that `status` names it while it loads its story index; again
as its first poll begins; `run` as its loop starts, then at most once per poll cycle: at
once when the workers' state changed, else every RECORD_EVERY seconds; `poll` at the end of
each of its cycles. A failed write is logged once and tried again RECORD_EVERY later:
recording never stops a poll. One at the lock is logged only if the next write, as the
first poll begins, fails too: a database that cannot be written stops the start itself,
whose error then says so once (not a warning first and the same error after it).

`bot_state` decides from that row and the database's lock (bot.onebot) what the bot is
doing: a row whose pid does not hold the lock, or written before the lock was taken, is an
earlier run's; a row not written for STALE seconds is a loop that no longer polls. Neither is
shown as a running bot. How long ago the row was written is read on a clock no one sets
(`steady_clock`), also stored: after a wall-clock step back a stopped loop's row would
otherwise look fresh for as long as the step. Once no process holds the database, a `run`'s
row says only when its last cycle ended; a `poll`'s is a cron deployment's news, workers
included. Deliberately not here: the words (bot.cli_status) and the workers' verdict
(bot.workers).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot.clock import iso, parse_stored, steady_clock, utcnow
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
POLL = "poll"  # a one-off `wirewatch poll` (cron's); "run" is the bot
# The phases of a process, as its row says them: it holds the database and loads its story
# index (nothing polled yet); its first poll cycle runs; it ended a poll cycle of its own.
LOADING, FIRST_CYCLE, CYCLED = "loading", "first_cycle", "cycled"


@dataclass(frozen=True)
class RunRecord:
    """The row as the bot last wrote it."""

    pid: int
    started: datetime
    cycle_ended: datetime | None  # whichever process's (see `phase`); None: none ended one
    workers_broken: str  # why no worker process can work; "" while they can
    workers_since: datetime | None
    command: str = "run"  # or POLL
    steady: float | None = None  # steady_clock() at the write; None from a bot before schema 23
    # LOADING, FIRST_CYCLE or CYCLED; None from a bot before schema 25, whose `cycle_ended`
    # is its own
    phase: str | None = None

    @property
    def own_cycle(self) -> bool:
        """Whether the writer itself ended a poll cycle (`cycle_ended` is then its own)."""
        return self.phase == CYCLED or (self.phase is None and self.cycle_ended is not None)


@dataclass(frozen=True)
class BotState:
    """What `wirewatch status` says of the bot: `running` (finishing poll cycles now),
    `starting` (loading its story index, or a `run` that ended no poll cycle yet), `polling`
    (a one-off `poll` polls), `stalled` (the lock is held, but no cycle ended for STALE
    seconds) or `stopped` (no process holds the database)."""

    state: str
    pid: str | None  # the process holding the database's lock
    since: datetime | None  # when it started (or took the lock); stopped: the last poll's
    last_cycle: datetime | None  # also an earlier run's, when stopped or stalled
    workers_broken: str  # of a bot running or starting, or of the last poll: else ""
    workers_since: datetime | None
    command: str | None = None  # "run" or POLL: the holder's, else the last recorded one's
    quiet: float | None = None  # seconds since the holder last wrote its row (or took the lock)
    phase: str | None = None  # the holder's (or the last recorded one's); None: not recorded


class Recorder:
    """One process's writes of its row; it keeps what it last wrote, to write less."""

    def __init__(self, command: str = "run") -> None:
        self.command = command
        self.pid = os.getpid()
        self.started = utcnow()
        self._ended: datetime | None = None  # its own last cycle's end
        self._carried: datetime | None = None  # the earlier row's, until it ends one
        self._phase = LOADING
        self._started = False
        # monotonic; a failed write is not tried again sooner: on a database locked by
        # another process each try holds the event loop for the busy timeout (5 s)
        self._tried_at: float | None = None
        self._trouble = ""
        self._trouble_since: datetime | None = None
        self._failing = False
        self._unsaid = False  # a write at the lock failed and was not logged (see began)
        self._broken_before: datetime | None = None

    def start(self, db: sqlite_utils.Database, trouble: str) -> None:
        """The bot's start: an earlier run's row is replaced before its first cycle, keeping
        when a poll cycle last ended (a start that dies would otherwise leave `status` no
        word of it). A `poll` keeps since when no feed was read, when the last process
        could not either: each of cron's polls starts its workers afresh, and "since" its
        own start would hide that no feed was read for hours."""
        if not self._started:
            try:
                earlier = read_record(db)
            except (WirewatchError, sqlite3.DatabaseError):
                earlier = None  # only the carried times are lost; the write says the rest
            if earlier is not None:
                self._carried = earlier.cycle_ended
                if self.command == POLL and earlier.workers_broken:
                    self._broken_before = earlier.workers_since
        self._started = True
        self._write(db, trouble)

    def began(self, db: sqlite_utils.Database, trouble: str) -> None:
        """Its story index is loaded and its first poll begins: `status` stops saying it
        loads. Written by a process that recorded itself at the lock; else its loop's
        `start` is its first write, in this phase."""
        self._phase = FIRST_CYCLE
        if self._unsaid:  # the start went on: this write's failure is news, and logged
            self._failing = self._unsaid = False
        if self._started:
            self._write(db, trouble)

    def cycle_ended(self, db: sqlite_utils.Database, trouble: str) -> None:
        """A poll cycle ended, with the workers' verdict (`bot.workers.pool_trouble`). A
        `poll` writes each of its few: its last is what `status` reads once it exited."""
        first, self._ended = self._ended is None, utcnow()  # the first ends `starting`
        self._phase = CYCLED
        news = not self._failing and (first or trouble != self._trouble)
        news = news or self.command == POLL
        last = self._tried_at
        if news or last is None or time.monotonic() - last >= RECORD_EVERY:
            self._write(db, trouble)

    def _write(self, db: sqlite_utils.Database, trouble: str) -> None:
        since = self._trouble_since if self._trouble else None
        since = (since or self._broken_before or utcnow()) if trouble else None
        ended = _stamp(self._ended or self._carried)
        row = [self.pid, iso(self.started), ended, trouble, _stamp(since), self.command]
        self._tried_at = time.monotonic()
        try:
            with write(db):
                db.execute(
                    "INSERT OR REPLACE INTO run_state (id, pid, started, cycle_ended, "
                    "workers_broken, workers_since, command, steady, phase) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*row, steady_clock(), self._phase],
                )
        except (WirewatchError, sqlite3.DatabaseError) as exc:
            if self._phase == LOADING and not self._failing:
                self._unsaid = True  # said by the start's own error, if it stops the start
            elif not self._failing:  # the database's trouble is logged by what it stops
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
        "SELECT pid, started, cycle_ended, workers_broken, workers_since, command, steady, "
        "phase FROM run_state WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    started = parse_stored(row[1], datetime.min.replace(tzinfo=UTC))
    ended, since = parse_stored(row[2], None), parse_stored(row[4], None)
    steady = row[6] if isinstance(row[6], float | int) else None
    phase = row[7] if row[7] in (LOADING, FIRST_CYCLE, CYCLED) else None  # '': before 25
    command = row[5] or "run"
    return RunRecord(int(row[0]), started, ended, row[3] or "", since, command, steady, phase)


def lock_taken(database: str) -> datetime | None:
    """When the bot holding `<database>.lock` took it: `bot.onebot.one_bot` writes its pid
    there as it does, so the file's time is that moment."""
    try:
        return datetime.fromtimestamp(os.stat(f"{database}.lock").st_mtime, UTC)
    except OSError:
        return None


def bot_state(
    record: RunRecord | None,
    holder: str | None,
    taken: datetime | None,
    now: datetime,
    steady: float | None = None,
) -> BotState:
    """What the bot is doing, from its row, the pid holding the lock (`holder`,
    bot.onebot.running_bot), when it took it (`taken`) and `steady_clock()` now."""
    last = record.cycle_ended if record else None
    if holder is None:
        if record is not None and record.command == POLL:  # cron's last poll: still the news
            broken, since = record.workers_broken, record.workers_since
            since = since if broken else None
            return BotState(
                "stopped", None, record.started, last, broken, since, POLL, None, record.phase
            )
        if record is None:
            return BotState("stopped", None, None, None, "", None)
        return BotState("stopped", None, None, last, "", None, record.command, None, record.phase)
    if record is None or not _holders(record, holder, taken):  # an earlier run's row
        took = taken or now
        quiet = (now - took).total_seconds()
        state = "starting" if quiet <= STALE else "stalled"
        return BotState(state, holder, took, last, "", None, None, quiet)
    quiet, phase = _quiet(record, now, steady), record.phase
    if quiet > STALE:
        return BotState(
            "stalled", holder, record.started, last, "", None, record.command, quiet, phase
        )
    state = "polling" if record.command == POLL else "running" if record.own_cycle else "starting"
    state = "starting" if phase == LOADING else state  # nothing polled yet, `run` or `poll`
    broken, since = record.workers_broken, record.workers_since
    since = since if broken else None
    return BotState(
        state, holder, record.started, last, broken, since, record.command, quiet, phase
    )


def _quiet(record: RunRecord, now: datetime, steady: float | None) -> float:
    """Seconds since the holder last wrote its row: on the steady clock when the row has it
    (the holder runs on this host's, so the two compare), else by the wall clock."""
    if record.steady is not None and steady is not None and steady >= record.steady:
        return steady - record.steady
    seen = max(record.started, record.cycle_ended) if record.cycle_ended else record.started
    return (now - seen).total_seconds()


def _holders(record: RunRecord, holder: str, taken: datetime | None) -> bool:
    """Whether the row is the lock holder's: its pid, and written since it took the lock (in
    a container the bot is the same pid at every start)."""
    if str(record.pid) != holder:
        return False
    return taken is None or record.started >= taken - timedelta(seconds=SAME_START)
