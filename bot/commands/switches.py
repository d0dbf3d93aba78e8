"""A channel's switches: `mute DURATION`, `unmute`, `edits on|off`.

Each runs whole on the store thread (`bot.commands.calls`): one write, then the answer.

Deliberately not here: what a mute or the edits switch do to alerts on their way out
(bot.outbox, bot.edit_store), and subscribing (bot.commands.subscriptions).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.clock import iso, later, utcnow
from bot.commands.echo import SHOWN, shown, when
from bot.commands.grammar import Invocation
from bot.durations import format_duration, meant, parse_duration
from bot.edit_store import edits_enabled, set_edits
from bot.errors import CommandError
from bot.store import set_muted, subscriptions

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.runtime import Runtime

MAX_MUTE = 90 * 86400.0


# One part of a duration: a number and its unit; a duration's units go largest first.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_ORDER = "wdhms"
_MUTE_RANGE = "a mute lasts at least 1s and at most 90d"
# Zero, with a unit or none (`0`, `0s`, `0.0 h`): what someone typing it means is no mute.
_ZERO = re.compile(
    r"0+(?:\.0*)?\s*(?:[smhd]|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?)?", re.IGNORECASE
)


def mute(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    if not rest:
        raise CommandError("mute needs a DURATION, like 30m, 2h or 1d")
    if _ZERO.fullmatch(rest.strip()):  # told to add a unit, `0s` was then refused too
        raise CommandError("a mute of 0 holds nothing back: `/wirewatch unmute` ends a mute")
    refuse_two_durations(rest, "mute", "duration")  # `12h 12h`: a mute of 1d no one typed
    seconds = read_duration(rest, 1, MAX_MUTE, _MUTE_RANGE)
    until = later(seconds)
    now = iso(utcnow())
    # A mute replaces the one running, shorter or not: said, so a shortened one is no surprise.
    running = max(
        (
            s.muted_until
            for s in subscriptions(db, inv.channel)
            if s.muted_until and s.muted_until > now
        ),
        default=None,
    )
    if not set_muted(db, inv.channel, until):
        raise CommandError(
            "this channel has no subscriptions to mute: a mute holds back the alerts of "
            "the channel's subscriptions (and of those added while it lasts), so subscribe "
            "first"
        )
    was = f", was until {when(running)}" if running else ""
    return (
        f"muted until {when(until)} ({format_duration(seconds)}){was}; "
        "alerts meanwhile are skipped. `/wirewatch unmute` ends it early"
    )


def refuse_two_durations(text: str, command: str, what: str) -> None:
    """A CommandError for two durations typed together (`two_durations`), saying the first
    as the command takes it: `mute 12h 12h` and `digest 12h 12h` added up to 1d."""
    if first := two_durations(text):
        raise CommandError(
            f"one {what} at a time: `/wirewatch {command} {shown(first)}` (a {what} of "
            "several parts goes largest first, like `1d12h`)"
        )


def two_durations(text: str) -> str:
    """The first of two durations typed together (`12h 12h`, `12h12h`, `30m 1h`), which
    parse_duration adds up; "" for one (`1h30m`, `1d 12h`: its parts largest first) or for
    what is no duration at all (read_duration says what is wrong with it)."""
    words = text.lower().replace(" ", "")
    parts = _DURATION_PART.findall(words)
    if not parts or _DURATION_PART.sub("", words):
        return ""
    units = [_UNIT_ORDER.index(unit) for _, unit in parts]
    for i, (earlier, later_) in enumerate(zip(units, units[1:], strict=False)):
        if later_ <= earlier:
            return "".join(n + u for n, u in parts[: i + 1])
    return ""


def read_duration(rest: str, least: float, most: float, in_range: str) -> float:
    """`rest` as seconds from `least` to `most`, read as every command reads a duration;
    a CommandError saying what is wrong ("2 hours": did you mean `2h`?), `in_range` when
    it is out of range."""
    try:
        seconds = parse_duration(rest)
    except ValueError as exc:
        if hint := meant(rest):  # "2 hours": the short form, which is what commands take
            # ...unless that is out of range too: "100 days" told `100d` was then refused.
            try:
                fits = least <= parse_duration(hint) <= most
            except ValueError:  # "99999d": past any duration at all, not only this range
                raise CommandError(in_range) from None
            hinted = f"did you mean `{hint}`?" if fits else f"`{hint}`, but {in_range}"
            raise CommandError(f"`{shown(rest)}` is not a duration: {hinted}") from None
        if _ZERO.fullmatch(rest.strip()):  # "write 0s, 0m": every one of them out of range
            raise CommandError(in_range) from None
        if len(rest) <= SHOWN:  # its own words say what is wrong ("30 has no unit")
            raise CommandError(str(exc)) from None
        raise CommandError(
            f"`{shown(rest)}` is not a duration: a number and a unit, like 30s, 5m, 24h or 7d"
        ) from None
    if not least <= seconds <= most:
        raise CommandError(in_range)
    return seconds


def unmute(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    now = iso(utcnow())
    # Said, not done: "unmuted" where nothing was muted reads as if alerts had been held back.
    was_muted = any(s.muted_until and s.muted_until > now for s in subscriptions(db, inv.channel))
    if not set_muted(db, inv.channel, None):
        raise CommandError("this channel has no subscriptions")
    reasons = [s.paused_reason for s in subscriptions(db, inv.channel)]
    paused = next((r for r in reasons if r), None)
    if paused:  # unmuting does not resume a channel a platform refused
        done = "unmuted, but" if was_muted else "this channel was not muted, and"
        return (
            f"{done} alerts here are still paused: {paused}. Fix that, then subscribe "
            "again to resume; held alerts are kept"
        )
    if not was_muted:
        return "this channel was not muted: its alerts come as they are found"
    return "unmuted: new alerts come again"


def edits(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    word = rest.strip().lower()
    if word not in ("", "on", "off"):
        raise CommandError(f"edits takes on or off, not `{shown(rest)}`")
    dropped = set_edits(db, inv.channel, word == "on") if word else 0
    on = edits_enabled(db, inv.channel)
    if on:
        return (
            "edits are on here: when an outlet changes an item this channel was told of, "
            "the words it deleted and inserted are posted in the story's thread"
        )
    waiting = f"; {dropped} waiting to be posted were dropped" if dropped else ""
    return f"edits are off here: outlets' changes to items are stored, not posted{waiting}"
