"""Time in one format everywhere: aware UTC datetimes in code, ISO 8601 text in SQLite.

ISO text with a fixed width sorts like time, so SQL can compare it, and Datasette shows it.
The year is always written with four digits (`0024-...`, never `24-...`), and reading a
stored timestamp that is not one is the caller's choice: `parse_iso` raises, `parse_stored`
falls back, so one damaged row never stops a poll, a delivery or a start-up.
`steady_clock` is the other clock: one no one sets, to measure how long ago across a step.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TypeVar

# What `iso` writes; the year may be short because wirewatch 0.1 wrote years before 1000
# without padding (`24-01-01T...`), and those rows are still read.
_STORED = re.compile(r"(\d{1,4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z")


_Default = TypeVar("_Default", datetime, None)


def utcnow() -> datetime:
    return datetime.now(UTC)


def steady_clock() -> float:
    """Seconds on a clock no one sets, the same in every process of the host: CLOCK_BOOTTIME
    on Linux, which also runs while the host sleeps, so a suspend is not taken for a wall-clock
    step (bot.clockwatch) and a row written before it is not read as fresh (bot.runstate)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


def iso(dt: datetime) -> str:
    """Fixed-width UTC text: 2025-02-27T08:00:00.000000Z."""
    # isoformat pads the year to four digits; strftime("%Y") does not on glibc.
    return dt.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    """Stored text back to an aware UTC datetime; ValueError when it is not a timestamp."""
    found = _STORED.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"not a wirewatch timestamp: {str(text)[:40]!r}")
    *numbers, fraction = found.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    year, month, day, hour, minute, second = map(int, numbers)
    # ValueError: 2025-13-40
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def parse_stored(text: str | None, default: _Default) -> datetime | _Default:
    """A stored timestamp, or `default` when the row holds something else (damage, a
    hand edit, another program's format): reading old data must never stop the bot."""
    try:
        return parse_iso(text)  # type: ignore[arg-type]  # None is refused like junk
    except ValueError:
        return default


def later(seconds: float, now: datetime | None = None) -> str:
    return iso((now or utcnow()) + timedelta(seconds=seconds))


def minute_utc(dt: datetime) -> str:
    """A time as alerts and replies show it to people: 2025-02-27 08:00 UTC."""
    return f"{dt.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso_short(dt: datetime) -> str:
    """ISO 8601 for people and JSON output: 2025-02-27T08:00:00Z."""
    return dt.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"
