"""What anyone may ask to find their way: help, the bot's status, a search of stored items.

They only read: `status` and `search` run whole on the store thread (`bot.commands.calls`);
`help` needs no query at all.

Deliberately not here: the health and search queries themselves (bot.status, bot.search_store), and
any command that changes something.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.clock import iso, minute_utc, utcnow
from bot.commands.echo import one_line, when
from bot.commands.found import search_reply
from bot.commands.grammar import ALIASES, SUBCOMMANDS, Invocation
from bot.commands.lookups import describe_sub, live, not_working, without_gone
from bot.commands.rights import is_moderator, rights_mark
from bot.commands.subscriptions import next_digest
from bot.delivery_rows import pending_count
from bot.durations import format_duration
from bot.feed_store import list_feeds
from bot.feedback import Marked, TopicWeek, last_week
from bot.gone_topics import gone_line, gone_subscriptions
from bot.status import (
    Posted,
    digest_waiting,
    health,
    overdue_feeds,
    posted_since,
    without_vectors,
)
from bot.store import RETIRED, SubscriptionRow, list_topics, subscriptions
from bot.wording import counted
from bot.workers import pool_trouble

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.commands.calls import StoreCalls
    from bot.runtime import Runtime

FIRST_TOPIC = "troop-deployments"  # the built-in topic: what a new channel most likely wants


async def show_help(calls: StoreCalls, inv: Invocation, rest: str) -> str:
    lines = ["wirewatch watches news feeds and posts an alert here when a topic fires."]
    also = {name: alias for alias, name in ALIASES.items()}  # `feeds list`, as users type it
    for sub in SUBCOMMANDS:
        alias = f" (or `/wirewatch {also[sub.name]}`)" if sub.name in also else ""
        lines.append(f"- `{sub.usage}`{alias}: {sub.help}{rights_mark(sub)}")
    settings = calls.rt.settings
    if is_moderator(settings, inv, bot_wide=True):
        role = "a moderator of the whole bot"
    elif is_moderator(settings, inv):
        role = "a moderator of this channel (not of the whole bot)"
    else:
        role = "not a moderator"
    lines.append(
        f"You are {role} here. DURATION: 30m, 2h, 1d. Queries: "
        '`entity:"North Korea" AND (troops OR soldiers)`, `deploy* NEAR/5 troops`, '
        "`topic:troop-deployments AND NOT drill*` (topic:NAME: the item matches that topic)."
    )
    return "\n".join(lines)


def search(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    """One line per story the words found (bot.commands.found)."""
    return search_reply(db, rt.pipeline.gazetteer, inv.channel, rest)


def status(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    h = health(db, inv.channel)
    now = utcnow()
    lines = [
        f"- feeds: {h.feeds.active} polled, {h.feeds.failing} failing, "
        f"{h.feeds.disabled} disabled; last poll {when(h.feeds.last_poll)}",
        *_workers_line(),
        *_stalled(db, now),
        f"- alerts waiting to be sent: {pending_count(db)} "
        f"(this channel: {h.channel_waiting}, held while paused: {h.channel_held})",
        _posted(posted_since(db, inv.channel, now - timedelta(days=1))),
    ]
    subs = live(subscriptions(db, inv.channel))
    lines += _digest_line(db, rt, subs, inv.channel)
    if h.failed:
        lines.append(
            f"- alerts given up on: {h.failed} (this channel: {h.channel_failed}); "
            f"latest: {one_line(h.last_failure or '')}"
        )
    gone = gone_subscriptions(db, inv.channel)
    if working := without_gone(subs, gone):
        broken = not_working(db, rt.pipeline.gazetteer)
        described = (describe_sub(s, rt.settings, broken) for s in working)
        lines.append("- this channel: " + "; ".join(described))
    elif not subs:
        lines.append("- this channel: " + _first_step(db))
    lines += [f"- {gone_line(g)}" for g in gone]
    failing = [f for f in list_feeds(db) if f.failures and not f.disabled][:5]
    lines += [f"- failing: `{f.name}`: {f.last_error}" for f in failing]
    open_since = utcnow() - timedelta(seconds=rt.settings.story_window)
    missing, looked = without_vectors(db, open_since)
    if missing:
        lines.append(
            f"- grouping by words alone: {missing} of the last {looked} items have no "
            "sentence vector (encoder weights not installed, a worker failing, or "
            "`sentence_vectors: false`; the log says which: `vectors.unavailable`)"
        )
    return "\n".join(lines + _week_lines(last_week(db)))


def _workers_line() -> list[str]:
    """While the worker processes cannot start, no feed is read: said next to the feeds
    (only /healthz, `poll` and the log said it, and the feeds line read as all well)."""
    trouble = pool_trouble()
    return [f"- NO FEED IS READ: {trouble}; tell whoever runs wirewatch"] if trouble else []


def _digest_line(db: Database, rt: Runtime, subs: list[SubscriptionRow], channel: str) -> list[str]:
    """The channel's next digest, or why none goes out: a time alone reads as a promise, and
    an editor asking why no digest came wants the pause (until a moderator resumes it) or
    the mute (until when, and that it skips what waits) said where the digest is."""
    stories, reports = digest_waiting(db, channel)
    if not stories and not any(s.mode == "digest" for s in subs):
        return []
    waiting = (
        f"{counted(stories, 'story', 'stories')} ({counted(reports, 'report')}) waiting for it"
        if stories
        else "nothing waiting for it yet"
    )
    paused = next((s.paused_reason for s in subs if s.paused_reason not in (None, *RETIRED)), "")
    if paused:  # the whole channel's (bot.send_errors.hold_channel), as the digest job reads it
        return [
            f"- this channel's digest: PAUSED ({paused}): none goes out until a moderator "
            f"fixes that and subscribes again; {waiting}"
        ]
    due = next_digest(db, rt, channel)
    muted = max((s.muted_until or "" for s in subs if s.mode == "digest"), default="")
    if muted > iso(due):  # a mute is the channel's (`mute`): the digest job skips its lines
        skipped = (
            f" and skips the {counted(stories, 'story', 'stories')} waiting" if stories else ""
        )
        return [
            f"- this channel's digest: muted until {when(muted)}: the next "
            f"({minute_utc(due)}) posts nothing{skipped}. `/wirewatch unmute` ends it"
        ]
    return [f"- this channel's next digest: {minute_utc(due)}, {waiting}"]


def _stalled(db: Database, now: datetime) -> list[str]:
    """A line when polling has stopped while the bot still answers chat."""
    overdue = overdue_feeds(db, now)
    if overdue is None:
        return []
    n, due = overdue
    return [
        f"- POLLING HAS STOPPED: {counted(n, 'feed')} not polled when due, the first due "
        f"{format_duration((now - due).total_seconds())} ago; the log says why (`poll.` lines)"
    ]


def _posted(p: Posted) -> str:
    """What this channel was sent in the last 24 hours: "what has it done today"."""
    sent = [counted(p.alerts, "alert")] + ([counted(p.digests, "digest")] if p.digests else [])
    latest = f"; last sent {when(p.latest)}" if p.latest else "; nothing sent here yet"
    return f"- sent to this channel in the last 24 hours: {' and '.join(sent)}{latest}"


def _first_step(db: Database) -> str:
    """A channel without subscriptions: what to type next, not only that it has none."""
    names = [t.name for t in list_topics(db)]
    topic = FIRST_TOPIC if FIRST_TOPIC in names else "TOPIC"
    return (
        f"no subscriptions: `/wirewatch subscribe {topic}` (moderators), "
        "or `/wirewatch topics` to see the topics"
    )


def _week_lines(weeks: list[TopicWeek]) -> list[str]:
    """Per topic, the messages posted: alerts (one report each, or an update) and digests
    (one message whose lines each stand for a story and as many reports as it counts)."""
    if not weeks:
        return ["- last 7 days: no alerts or digests posted"]
    return [
        f"- last 7 days, `{w.topic}` (every channel): {counted(w.alerts, 'alert')} posted, "
        f"{_digests(w)}{_marked(w.not_relevant, 'not relevant')}, "
        f"{_marked(w.wrong_story, 'wrong story')}"
        for w in weeks
    ]


def _marked(m: Marked, kind: str) -> str:
    """ "2 alerts marked not relevant (by 3 people)": each alert (or digest line) once,
    however many marked it, so three people marking one alert do not read as three alerts;
    the people only when they are not one an alert."""
    marked = [counted(m.alerts, "alert")] if m.alerts else []
    marked += [counted(m.digest_lines, "digest line")] if m.digest_lines else []
    if not marked:
        return f"0 marked {kind}"
    people = m.people != m.alerts + m.digest_lines
    by = f" (by {counted(m.people, 'person', 'people')})" if people else ""
    return f"{' and '.join(marked)} marked {kind}{by}"


def _digests(w: TopicWeek) -> str:
    """ "2 digests posted listing 3 stories (5 reports), ", or nothing without one."""
    if not w.digests:
        return ""
    listed = counted(w.digest_lines, "story", "stories")
    reports = counted(w.digest_reports, "report")
    return f"{counted(w.digests, 'digest')} posted listing {listed} ({reports}), "
