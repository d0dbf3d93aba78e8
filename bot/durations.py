"""Human durations ("90s", "5m", "24h", "90d", "1h30m") to seconds, and back.

Used by the config, the CLI and chat commands so that all three accept the same words.
"""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`; a bare number is seconds. Raises ValueError with the accepted form."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ValueError("a duration must be a finite number")
    elif not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _PART.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration: use forms such as 30s, 5m, 24h or 7d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact-ish words for `seconds`, e.g. 5400 -> '1h30m'."""
    seconds = int(round(seconds))
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])
