"""Labelled items (JSON lines) for `wirewatch eval`, backtests and training the relevance model.

One object per line: `title` (required), `description`, `published` (ISO 8601; needed to
replay in publication order), `outlet`, `label` (deploy | withdraw | other), `ambiguous`,
`story` and `thread` (slugs: items reporting one event share a story; items a newsroom
would follow in one thread share a thread), `id`, `split` (train | validation | test).
A line that is not such an object is refused with its line number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
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
        raise UsageError(f"cannot read labelled items from {path}: {exc}") from None
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
    if not isinstance(raw, dict) or not isinstance(raw.get("title"), str):
        raise UsageError(f"{where}: expected an object with a text `title`")
    label = raw.get("label")
    if label is not None and label not in LABELS:
        raise UsageError(f"{where}: label {label!r} is not one of {', '.join(LABELS)}")
    return LabelledItem(
        line=n,
        id=str(raw.get("id") or n),
        title=raw["title"],
        description=_text(raw.get("description"), where, "description"),
        published=_published(raw.get("published"), where),
        outlet=_text(raw.get("outlet"), where, "outlet") or "unknown",
        label=label,
        ambiguous=bool(raw.get("ambiguous", False)),
        story=_slug(raw.get("story")),
        thread=_slug(raw.get("thread")),
        split=raw.get("split"),
        source=raw.get("source"),
    )


def _text(value: object, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{where}: `{key}` must be text")
    return value


def _slug(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _published(value: object, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{where}: `published` {value!r} is not an ISO 8601 time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
