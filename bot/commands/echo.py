"""How answers show what a user typed and what the store holds: one line, cut, safe to quote.

Replies repeat a user's input and stored text (feed titles, errors) inside `code` spans; each
answer words them through here the same way, and says "1 alert ... was dropped" right.

Deliberately not here: escaping for a platform (adapters do that last), counting nouns in
general (bot.wording).
"""

from __future__ import annotations

from bot.clock import iso, minute_utc, parse_iso, utcnow
from bot.text.clip import clip
from bot.text.invisible import quoted

SHOWN = 80  # characters of a user's input echoed back in an answer


def shown(text: str, limit: int = SHOWN) -> str:
    """A user's input as an answer repeats it: one line, cut (a 100 KB argument must not
    come back as a 100 KB reply), no backtick to break the code span it is shown in, no
    invisible or bidi control to reorder the rest of the line."""
    return clip(quoted(text), limit)


def one_line(text: str) -> str:
    return " ".join(text.split())


def now_iso() -> str:
    return iso(utcnow())


def when(stamp: str | None) -> str:
    """A stored time as alerts show it, "2025-02-27 08:00 UTC": `search` listed
    "2025-02-27T08:00:00Z" under alerts that said the former."""
    if not stamp:
        return "never"
    try:
        return minute_utc(parse_iso(stamp))
    except ValueError:
        return stamp


def dropped(n: int, which: str) -> str:
    """How many alerts were dropped, said right for one ("1 alert ... was dropped")."""
    return f"{n} alert {which} was dropped" if n == 1 else f"{n} alerts {which} were dropped"
