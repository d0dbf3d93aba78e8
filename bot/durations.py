"""Human durations ("90s", "5m", "24h", "90d", "1h30m") to seconds, and back.

Used by the config, the CLI and chat commands so that all three accept the same words.
"""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Ten years: no setting or command means more, and datetimes overflow not far beyond.
MAX_SECONDS = 3650 * 86400
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`. Raises ValueError saying the accepted form.

    A number without a unit is refused, in the config, on the command line and in chat
    alike: `--older-than 90` meant 90 seconds to the code and 90 days to the person.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
        raise _no_unit(f"{value:g}")
    text = value.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        raise _no_unit(text)
    if text.startswith("-"):
        raise ValueError("a duration cannot be negative")
    if not text or _PART.sub("", text) != "":
        hint = meant(value)
        also = f"; did you mean {hint}?" if hint else ""
        raise ValueError(f"{value!r} is not a duration: use forms such as 30s, 5m, 24h or 7d{also}")
    seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _PART.findall(text))
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise ValueError(f"{value.strip()[:40]!r} is too long a duration: at most 3650d")
    return seconds


# Units as people spell them out ("2 hours", "90 mins"): read only to say the short form.
_WORDS = {
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("wk", "wks", "week", "weeks"), "w"),
}
_SPELLED = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def meant(value: str) -> str:
    """The short form of a duration spelled out ("2 hours", "1 hour 30 mins": "2h", "1h30m"),
    or "" when `value` is not one. Only for saying so: the long forms stay refused, so the
    config, the command line and chat keep accepting the same words."""
    text = value.strip().lower()
    parts = _SPELLED.findall(text)
    if not parts or _SPELLED.sub("", text).strip(" ,") != "":
        return ""
    if any(u not in _WORDS and u not in _UNITS for _, u in parts):
        return ""
    return "".join(f"{n}{_WORDS.get(u, u)}" for n, u in parts)


def _no_unit(number: str) -> ValueError:
    return ValueError(f"{number} has no unit: write {number}s, {number}m, {number}h or {number}d")


def format_duration(seconds: float) -> str:
    """The shortest exact-ish words for `seconds`, e.g. 5400 -> '1h30m'."""
    seconds = int(round(seconds))
    if seconds <= 0:  # nothing, or a clock stepped back: no time has gone by that we can say
        return "0s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    first = next(n for n, (_, size) in enumerate(units) if seconds >= size)
    # The largest unit and the next one down, when it is not zero: "2h1s" (2 h 0 m 1 s)
    # would read as a slip; "2h" is what it means.
    parts = []
    for unit, size in units[first : first + 2]:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
