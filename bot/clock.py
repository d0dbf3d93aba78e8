"""Time in one format everywhere: aware UTC datetimes in code, ISO 8601 text in SQLite.

ISO text with a fixed width sorts like time, so SQL can compare it, and Datasette shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Fixed-width UTC text: 2025-02-27T08:00:00.000000Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def later(seconds: float, now: datetime | None = None) -> str:
    return iso((now or utcnow()) + timedelta(seconds=seconds))


def iso_short(dt: datetime) -> str:
    """ISO 8601 for people and JSON output: 2025-02-27T08:00:00Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
