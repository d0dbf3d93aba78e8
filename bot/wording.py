"""Counting words for people: `1 feed`, `2 feeds`.

Replies, CLI output and notices count one thing as often as several; one function keeps
"1 failures" out of all of them.
"""

from __future__ import annotations


def counted(count: int, one: str, many: str | None = None) -> str:
    """`1 feed`, `2 feeds`; `many` for the irregular ones (`stories`)."""
    return f"{count} {one}" if count == 1 else f"{count} {many or one + 's'}"
