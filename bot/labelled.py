"""Labelled items (JSON lines) for `wirewatch eval`, backtests and training the relevance model.

One object per line: `title` (required), `description`, `published` (ISO 8601, RFC 2822 or
Unix seconds; needed to replay in publication order), `outlet`, `label` (deploy | withdraw |
other, any case), `ambiguous` (true/false, 1/0, or the words),
`story` and `thread` (slugs: items reporting one event share a story; items a newsroom
would follow in one thread share a thread), `id`, `split` (train | validation | test).
A line that is not such an object is refused with its line number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from bot.errors import UsageError

LABELS = ("deploy", "withdraw", "other")


@dataclass(frozen=True)
class LabelledItem:
    line: int
    id: str
    title: str
    description: str
    published: datetime | None
    outlet: str
    label: str | None
    ambiguous: bool
    story: str | None
    thread: str | None
    split: str | None
    source: str | None = None


def load_labelled(path: Path) -> list[LabelledItem]:
    """Every item of a JSONL file; WirewatchError naming the line for anything malformed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read labelled items from {path}: {why}") from None
    items = [_item(path, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not items:
        raise UsageError(f"{path}: no labelled items in the file")
    return items


def _item(path: Path, n: int, line: str) -> LabelledItem:
    where = f"{path}:{n}"
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON: {exc.args[0]}") from None
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply to be an item") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("title"), str):
        raise UsageError(f"{where}: expected an object with a text `title`")
    label = _label(raw.get("label"), where)
    return LabelledItem(
        line=n,
        id=str(raw.get("id") or n),
        title=raw["title"],
        description=_text(raw.get("description"), where, "description"),
        published=_published(raw.get("published"), where),
        outlet=_text(raw.get("outlet"), where, "outlet") or "unknown",
        label=label,
        ambiguous=_flag(raw.get("ambiguous"), where),
        story=_slug(raw.get("story")),
        thread=_slug(raw.get("thread")),
        split=raw.get("split"),
        source=raw.get("source"),
    )


def _label(value: object, where: str) -> str | None:
    """One of LABELS, whatever its case or surrounding spaces ("Deploy" is `deploy`)."""
    if value is None:
        return None
    label = value.strip().lower() if isinstance(value, str) else value
    if label not in LABELS:
        raise UsageError(f"{where}: label {value!r} is not one of {', '.join(LABELS)}")
    return str(label)


_TRUE, _FALSE = ("true", "yes", "1", "y", "t"), ("false", "no", "0", "n", "f", "")


def _flag(value: object, where: str) -> bool:
    """`ambiguous` as JSON writes it (true/false, 1/0) or as text ("false" is not true)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise UsageError(f"{where}: `ambiguous` {value!r} is neither true nor false")


def _text(value: object, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{where}: `{key}` must be text")
    return value


def _slug(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _published(value: object, where: str) -> datetime | None:
    """ISO 8601 (a time without a zone is UTC), or as feeds and exports write times too: RFC
    2822 ("Tue, 05 Mar 2024 10:00:00 GMT"), Unix seconds or, as JavaScript writes them, Unix
    milliseconds (a number of 10^11 or more: as seconds, the year 5138)."""
    if value in (None, ""):
        return None
    when: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if abs(value) >= 1e11:
            value = value / 1000
        try:
            when = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    elif isinstance(value, str):
        text = value.strip()
        when = _iso_or_rfc2822(text)
        if when is None and re.fullmatch(r"-?\d+(\.\d+)?", text):  # Unix seconds as text
            return _published(float(text), where)
    if when is not None and not 1900 <= when.year <= 2200:  # story windows must fit after it
        raise UsageError(f"{where}: `published` {value!r} is not a year of news (1900-2200)")
    if when is None:
        raise UsageError(
            f"{where}: `published` {value!r} is not a time (ISO 8601, RFC 2822 or Unix seconds)"
        )
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso_or_rfc2822(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
