"""Feed health, decided: a feed's rhythm, its state, and what to tell the ops channel.

A feed is `ok`, `failing` (`health.failures` failures in a row), `disabled` (after
`max_failures`), `silent` (it fetches fine but nothing new has come for longer than it ever
usually stays quiet) or `removed` (on purpose, from chat or the config: nothing to announce).

"Usually" is learned from the feed's own history, the publication dates of its newest items:
its usual gap is the median gap between them (robust: a few bursts or one long pause do not
move it), and it is silent after `silent_factor` times that, after its longest recent gap
(a wire that is busy by day and quiet at night is not silent every night), and never before
`silent_floor`. Items dated within a minute of each other count as one moment (a burst).
Silence counts only from when wirewatch first stored the feed: a new feed whose newest item
is old is not silent before wirewatch has polled it that long.

Pure functions over plain data: reading and writing them is `bot.health_store`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from bot.durations import format_duration
from bot.feed_store import FeedRow
from bot.settings import HealthSettings
from bot.wording import counted

HISTORY = 50  # gaps between the newest items that make a feed's rhythm
MIN_GAPS = 4  # fewer, and the feed's rhythm is not known yet: it is never called silent
SAME_MOMENT = 60.0  # seconds; closer items are one burst
REMOVED = ("removed", "removed from config")
STATES = ("ok", "failing", "disabled", "silent", "removed")


@dataclass(frozen=True)
class Rhythm:
    """How often a feed publishes; gaps in seconds, None while too little is known."""

    usual_gap: float | None = None
    longest_gap: float | None = None
    last_item: datetime | None = None


def rhythm(published: Iterable[datetime]) -> Rhythm:
    """The rhythm of a feed whose newest items were published at these times."""
    moments = sorted(set(published), reverse=True)[: HISTORY + 1]
    if not moments:
        return Rhythm()
    gaps = [(a - b).total_seconds() for a, b in zip(moments, moments[1:], strict=False)]
    gaps = [g for g in gaps if g >= SAME_MOMENT]
    if len(gaps) < MIN_GAPS:
        return Rhythm(last_item=moments[0])
    return Rhythm(median(gaps), max(gaps), moments[0])


def silent_after(r: Rhythm, settings: HealthSettings) -> float | None:
    """Seconds without a new item after which the feed counts as silent (None: unknown)."""
    if r.usual_gap is None or r.longest_gap is None:
        return None
    return max(settings.silent_factor * r.usual_gap, r.longest_gap, settings.silent_floor)


def quiet_for(r: Rhythm, now: datetime) -> float | None:
    """Seconds since the feed's newest item."""
    return None if r.last_item is None else max(0.0, (now - r.last_item).total_seconds())


def feed_state(
    feed: FeedRow, r: Rhythm, settings: HealthSettings, now: datetime, stored: datetime | None
) -> str:
    """One of STATES; failing outranks silent (a feed we cannot read says nothing new).

    Silence counts from `stored`, when wirewatch first stored the feed, at the earliest: a
    feed added today whose newest item is a year old was "gone silent" at its first poll,
    news of nothing wirewatch had watched."""
    if feed.disabled:
        return "removed" if feed.disabled_reason in REMOVED else "disabled"
    if feed.failures >= settings.failures:
        return "failing"
    limit, quiet = silent_after(r, settings), quiet_for(r, now)
    if quiet is not None and stored is not None:
        quiet = min(quiet, max(0.0, (now - stored).total_seconds()))
    if limit is not None and quiet is not None and quiet > limit:
        return "silent"
    return "ok"


def notice_text(
    feed: FeedRow, old: str, new: str, r: Rhythm, before: Rhythm, now: datetime
) -> str | None:
    """What the ops channel hears when a feed goes from `old` to `new` (None: nothing).

    `before` is the rhythm as it was before this poll (how long the silence lasted).
    Plain text: adapters escape it, and feed names, URLs and errors come from outside.
    """
    name = f"{feed.name} ({feed.url})"
    if new == "removed" or old == new:
        return None
    if new == "failing":
        return (
            f"feed {name} is failing: {counted(feed.failures, 'failure')} in a row; last error: "
            f"{feed.last_error}. wirewatch keeps retrying, less and less often."
        )
    if new == "disabled" and (feed.disabled_reason or "").startswith("gone: "):
        return (
            f"wirewatch disabled the feed {name}: its server says it is gone for good "
            f"({feed.last_error}). {_enable_again(feed)}"
        )
    if new == "disabled":
        return (
            f"wirewatch disabled the feed {name} after {counted(feed.failures, 'failure')} in a "
            f"row; last error: {feed.last_error}. {_enable_again(feed)}"
        )
    if new == "silent":
        pace = f"; it usually publishes every {_span(r.usual_gap)}" if r.usual_gap else ""
        return f"feed {name} has gone silent: nothing new for {_span(quiet_for(r, now))}{pace}."
    if old == "silent":
        return f"feed {name} is publishing again after {_span(quiet_for(before, now))} of silence."
    if old in ("failing", "disabled"):
        return f"feed {name} has recovered: it was polled fine again."
    return None  # from removed (added again on purpose) or a first look: nothing to say


def _enable_again(feed: FeedRow) -> str:
    """Both ways back: from chat, and on the bot's host for a console-only operator (a
    restart does not do it: a feed disabled for failing stays disabled)."""
    return (
        f"To poll it again: `/wirewatch feeds add {feed.url}` in chat, or "
        f"`wirewatch feeds enable {feed.url}` where wirewatch runs."
    )


def describe(
    state: str, usual_gap: float | None = None, quiet: float | None = None
) -> tuple[str, str]:
    """(pace, state) in words for people: ("usually every 14m", "silent for 9h")."""
    pace = f"usually every {_span(usual_gap)}" if usual_gap else "usual gap not known yet"
    if state == "silent":
        return pace, f"SILENT: nothing new for {_span(quiet)}"
    return pace, state


def _span(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "a while"
