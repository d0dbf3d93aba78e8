"""A long command reply as message-sized chunks, for every chat platform.

Chunks end at line ends when they can. A line too long for one message is cut where the
platform allows (its `cut`: never inside a grapheme on Discord, never inside an entity on
Slack), and a `code` span cut in two is closed at the end of one chunk and reopened at the
start of the next: otherwise each half shows a stray backtick, and the second half's code
(a query's `*` and `_`) is read as markdown. No chat library is imported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CODE_SPAN = re.compile(r"`[^`\n]*`")

Measure = Callable[[str], int]
Cut = Callable[[str, int], str]  # (text, limit) -> its longest prefix the platform may end at


def split_lines(
    text: str,
    limit: int,
    *,
    cut: Cut,
    size: Measure = len,
    spans: re.Pattern[str] = CODE_SPAN,
) -> list[str]:
    """Chunks of at most `limit` (by `size`), cut at line ends when possible; each chunk's
    code spans are whole (see the module's docstring)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if size(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while size(line) > limit:
            head, line = _cut_line(line, limit, cut, spans)
            chunks.append(head)
        current = line
    return [*chunks, current] if current or not chunks else chunks


def _cut_line(line: str, limit: int, cut: Cut, spans: re.Pattern[str]) -> tuple[str, str]:
    """A too-long line's first chunk and the rest; a code span cut in two is closed in the
    first and reopened in the rest (a backtick each)."""
    head = cut(line, limit)
    span = next((m for m in spans.finditer(line) if m.start() < len(head) < m.end()), None)
    if span is None:
        return head, line[len(head) :]
    start, end = span.span()
    closed = cut(line, limit - 1)  # room for the closing backtick
    if len(closed) <= start + 1:  # no code would be left in this chunk: cut before the span
        return (line[:start], line[start:]) if start else (head, line[len(head) :])
    if len(closed) >= end - 1:  # only the span's own closing backtick was left out
        return line[:end], line[end:]
    return closed + "`", "`" + line[len(closed) :]
