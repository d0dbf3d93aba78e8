"""The wall clock stepping under the running bot: notice it, and keep every wait as it was.

The scheduler's next run times and the stored due times (a feed's next poll, a delivery's or
a notice's next attempt) are wall-clock instants, while asyncio's timers run on the monotonic
clock. When the wall clock steps back an hour (NTP correcting it, a VM restored from a
snapshot, a clock set by hand), each of those instants moves an hour further away: APScheduler
sleeps an hour, and nothing polls or posts. `watch_clock` compares how far the wall clock and a
clock no one sets have advanced, once a second; a difference past STEP_THRESHOLD is a step,
logged `clock.stepped by=-3600s`. After a step back, every waiting instant moves back by the
step (`keep_waits`), so each keeps the wait it had. A step forward moves nothing stored: what
was waiting is due at once, polled or sent early once, which harms nothing; the scheduler
runs each job once, not once per tick it missed. `catch_up` does the same at start for a
step back while the bot was stopped, as far as the feeds' last polls tell; they move back
with the waits, so that a step is kept once, not again at each start.

It never corrects the clock, and leaves the instants people set (a mute's end) alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlite_utils
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import iso, parse_stored, steady_clock, utcnow
from bot.db import write

log = logging.getLogger(__name__)

STEP_THRESHOLD = 5.0  # seconds; NTP slews smaller offsets instead of stepping
CHECK_EVERY = 1.0

# (table, due column, which rows wait): the wall-clock instants the bot stores to wait for.
_WAITS = (
    ("feeds", "next_poll", "disabled = 0"),
    ("deliveries", "next_attempt", "status = 'pending'"),
    ("notices", "next_attempt", "sent_at IS NULL"),
)
# The feeds' last polls, which `catch_up` reads a step from: moved with the waits, so that a
# start after a step kept while running does not take them for a second one.
_SEEN = ("feeds", "last_polled", "last_polled IS NOT NULL")


async def watch_clock(
    on_step: Callable[[float], None],
    *,
    every: float = CHECK_EVERY,
    threshold: float = STEP_THRESHOLD,
) -> None:
    """Call `on_step(seconds)` (negative: back) each time the wall clock steps; runs until
    cancelled. A busy loop is no step: both clocks advance through it alike. A call that
    fails (the database locked by another process, or full) is made again at each look
    until one does not: forgotten, the step would leave every wait longer by it."""
    wall, steady = time.time(), steady_clock()
    owed = 0.0  # the steps not kept yet
    while True:
        await asyncio.sleep(every)  # on the monotonic clock: a step does not stretch it
        now_wall, now_steady = time.time(), steady_clock()
        by = (now_wall - wall) - (now_steady - steady)
        wall, steady = now_wall, now_steady
        stepped = abs(by) >= threshold
        if stepped:
            log.warning("clock.stepped by=%+.0fs", by)
            owed += by
        if owed:
            try:
                on_step(owed)
            except Exception:  # said once a step, not at each look while the lock is held
                level = logging.ERROR if stepped else logging.DEBUG
                log.log(level, "clock.step_not_kept by=%+.0fs", owed, exc_info=True)
            else:
                owed = 0.0


def after_step(db: sqlite_utils.Database, scheduler: BaseScheduler, by: float) -> None:
    """What a step of `by` seconds changes: the scheduler's next run times either way (first:
    they need no database), and stored waits after a step back."""
    now = utcnow()
    keep_jobs(scheduler, by, now)
    if by < 0:
        keep_waits(db, by, now)


def keep_waits(db: sqlite_utils.Database, by: float, now: datetime) -> int:
    """Move each stored instant still ahead of `now` by `by` seconds (a step back's); returns
    how many moved. A damaged timestamp is left as it is (bot.clock.parse_stored)."""
    with write(db):
        moved = sum(_shift(db, *wait, by, now) for wait in _WAITS)
        _shift(db, *_SEEN, by, now)
    log.info("clock.waits_kept by=%+.0fs moved=%d", by, moved)
    return moved


def _shift(
    db: sqlite_utils.Database, table: str, column: str, which: str, by: float, now: datetime
) -> int:
    """`column` of the rows `which` still ahead of `now`, moved by `by` seconds."""
    rows = db.execute(
        f"SELECT id, {column} FROM {table} WHERE {which} AND {column} > ?", [iso(now)]
    ).fetchall()
    shifted = [
        (iso(due + timedelta(seconds=by)), row_id)
        for row_id, text in rows
        if (due := parse_stored(text, None)) is not None
    ]
    db.conn.executemany(f"UPDATE {table} SET {column} = ? WHERE id = ?", shifted)
    return len(shifted)


class Every(IntervalTrigger):
    """APScheduler's interval trigger, but one a step forward left far behind goes on from
    the last tick before now, not from each tick it missed in turn.

    APScheduler 3 lists every missed run time before it runs a job (`Job._get_run_times`;
    `coalesce` only keeps the last of them, and `misfire_grace_time` is read after; see
    agronholm/apscheduler#526, #1066): after a step of a month, 1.3 million for a 2 s job,
    a second or more of the event loop at once. `keep_jobs` moves the jobs first only
    when the watchdog's look comes before the scheduler's timer; this holds either way."""

    def __init__(self, seconds: float):
        super().__init__(seconds=seconds)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            behind = (now - previous_fire_time) // self.interval  # whole ticks missed
            if behind > 1:
                previous_fire_time += self.interval * (behind - 1)
        return super().get_next_fire_time(previous_fire_time, now)


def keep_jobs(scheduler: BaseScheduler, by: float, now: datetime) -> None:
    """Each interval job's next run moves back with a step back, and is never more than its
    interval away; one a step forward left behind runs now, once (and should the
    scheduler's timer come first, `Every` keeps it from counting each tick it missed)."""
    for job in scheduler.get_jobs():
        every = getattr(job.trigger, "interval", None)
        if job.next_run_time is None or not isinstance(every, timedelta):
            continue  # paused, or not an interval job
        due = job.next_run_time + timedelta(seconds=min(by, 0.0))
        job.modify(next_run_time=max(min(due, now + every), now))


def catch_up(db: sqlite_utils.Database, *, threshold: float = STEP_THRESHOLD) -> float:
    """At start: a feed polled "later" than now means the clock stepped back while the bot
    was stopped, by at least that much; the stored waits move back by it. Returns the step
    found (0.0: none)."""
    (newest,) = db.execute("SELECT max(last_polled) FROM feeds").fetchone()
    now = utcnow()
    polled = parse_stored(newest, None)
    if polled is None or (polled - now).total_seconds() < threshold:
        return 0.0
    by = (now - polled).total_seconds()
    log.warning("clock.stepped by=%+.0fs while=stopped", by)
    keep_waits(db, by, now)
    return by
