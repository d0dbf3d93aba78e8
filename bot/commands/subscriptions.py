"""A channel's subscriptions: `subscribe TOPIC [mode] [--only Q] [--except Q]`, `unsubscribe`,
`list`.

Subscribing and unsubscribing decide the channel's waiting alerts again, in slices that a
stop ends in time (`bot.redecide`, run through `StoreCalls.until_stop`); the answer says how
many waiting alerts a new filter or the unsubscribe dropped.

Deliberately not here: deciding the alerts again (bot.redecide), what a filter matches
(bot.narrow), a channel's mute and edits switches (bot.commands.switches).
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from bot import metrics
from bot.clock import minute_utc, utcnow
from bot.commands.echo import dropped, shown
from bot.commands.grammar import Invocation
from bot.commands.lookups import (
    as_set,
    chat_changed,
    describe_sub,
    did_you_mean,
    in_config,
    known_topic,
    live,
    not_working,
    without_gone,
)
from bot.digest import channel_due, next_digest_at
from bot.durations import format_duration
from bot.edit_store import edits_enabled
from bot.errors import CommandError, QueryError
from bot.gone_topics import gone_line, gone_subscriptions
from bot.narrow import check_filter, effective_query
from bot.redecide import subscribe, unsubscribe
from bot.store import list_topics, subscriptions
from bot.topics.query import SMART_QUOTES
from bot.topics.refs import names_in
from bot.wording import counted

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.runtime import Runtime
    from bot.store import SubscriptionRow

MODES = ("instant", "digest")
_FLAG = re.compile(r"(?:^|\s)(?:--|[—–])([A-Za-z]+)(?=\s|$)")  # a typed "--" may become a dash
FLAGS = ("only", "except")


def subscribe_here(
    db: Database, rt: Runtime, inv: Invocation, rest: str, stop: threading.Event | None = None
) -> str:
    head, flags = _narrowing_flags(rest)
    args = head.split()
    if not 1 <= len(args) <= 2:
        raise CommandError("subscribe needs a topic and optionally a mode")
    topic = known_topic(db, args[0])
    mode = args[1].lower() if len(args) == 2 else "instant"
    if mode not in MODES:
        raise CommandError(f"mode must be instant or digest, not `{shown(args[1])}`")
    only, except_ = flags.get("only"), flags.get("except")
    for name, query in flags.items():
        try:
            check_filter(query, list_topics(db), rt.pipeline.gazetteer)
        except QueryError as exc:
            raise CommandError(f"--{name}: the query does not work: {exc}") from None
    if except_ and topic.name in names_in(except_):
        raise CommandError(
            f"--except names `topic:{topic.name}`, the topic this subscription follows: "
            "every alert it would send matches it. Leave it out of the query"
        )
    before = next((s for s in live(subscriptions(db, inv.channel)) if s.topic == topic.name), None)
    removed = _filters_removed(before, only, except_)
    done = subscribe(db, inv.channel, topic.name, mode, only, except_, stop)
    metrics.DROPPED.labels("filter changed").inc(done.dropped)
    held = done.resumed
    resumed = (
        f"; {counted(held, 'alert')} held while the channel was paused will now go out"
        if held
        else ""
    )
    narrowed = (
        f", narrowed to `{effective_query(topic.name, only, except_)}`" if only or except_ else ""
    )
    refused = (
        f"; {dropped(done.dropped, 'waiting to be posted that the new filter refuses')}"
        if done.dropped
        else ""
    )
    # A switch said as one: "(digest)" alone read as if nothing had been there before.
    was = f", was {before.mode}" if before and before.mode != mode else ""
    due = ""
    if mode == "digest":
        every = format_duration(rt.settings.digest_every)
        due = f"; next digest {minute_utc(next_digest(db, rt, inv.channel))}, then every {every}"
    config = in_config(rt.settings, inv.channel, topic.name)
    back = (
        f". The config file subscribes this channel to `{topic.name}` ({as_set(config)}): "
        "wirewatch's next start sets that back, so change it there to keep this"
        if config is not None and chat_changed(config, mode, only, except_)
        else ""
    )
    broken = not_working(db, rt.pipeline.gazetteer).get(topic.name)
    skipped = (
        f". But `{topic.name}` is NOT WORKING ({broken}): no alerts come through it until it "
        f"is mended, `/wirewatch topics {topic.name}` says how"
        if broken
        else ""
    )
    return (
        f"this channel now gets `{topic.name}` alerts ({mode}{was}){narrowed}{removed}{refused}"
        f"{resumed}{due}{back}{skipped}"
    )


def unsubscribe_here(
    db: Database, rt: Runtime, inv: Invocation, rest: str, stop: threading.Event | None = None
) -> str:
    if len(rest.split()) != 1:
        raise CommandError("unsubscribe needs one topic name")
    subs = {s.topic for s in live(subscriptions(db, inv.channel))}
    if rest not in subs:
        listed = ", ".join(f"`{t}`" for t in sorted(subs))
        has = f"its subscriptions: {listed}" if subs else "it has no subscriptions"
        meant = did_you_mean(rest, subs)
        raise CommandError(f"this channel is not subscribed to `{shown(rest)}`{meant} ({has})")
    ended = end_subscription(db, inv.channel, rest, stop)
    again = (
        f". The config file subscribes this channel to `{rest}`: wirewatch's next start "
        "subscribes it again, so remove it there to end it for good"
        if in_config(rt.settings, inv.channel, rest)
        else ""
    )
    return f"this channel {ended}{again}"


def end_subscription(
    db: Database, channel: str, topic: str, stop: threading.Event | None = None
) -> str:
    """End the channel's subscription to `topic`, its waiting alerts (held ones too)
    dropped: chat's `unsubscribe`, and `wirewatch subscriptions remove` on the host
    (bot.cli_subscriptions). What it did, as both say it after the channel's name."""
    gone = unsubscribe(db, channel, topic, stop)
    metrics.DROPPED.labels("unsubscribed").inc(gone or 0)
    waiting = f"; {dropped(gone, 'it still had waiting')}" if gone else ""
    return f"no longer gets `{topic}` alerts{waiting}"


def list_here(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    subs = live(subscriptions(db, inv.channel))
    if not subs:
        return (
            "this channel has no subscriptions: `/wirewatch subscribe TOPIC` "
            "(moderators); `/wirewatch topics` lists the topics"
        )
    # One whose topic left the config is its own line, saying so and the ways out: listed
    # with the others too, it read as working ("`x` (instant)"), then as gone.
    gone = gone_subscriptions(db, inv.channel)
    broken = not_working(db, rt.pipeline.gazetteer)
    lines = [f"this channel is subscribed to {len(subs)}:"]
    lines += [
        f"- {describe_sub(s, rt.settings, broken)}: "
        f"`{effective_query(s.topic, s.only_query, s.except_query)}`"
        for s in without_gone(subs, gone)
    ]
    lines += [f"- {gone_line(g)}" for g in gone]
    edits = "on" if edits_enabled(db, inv.channel) else "off"
    lines.append(f"edits of stories: {edits} (`/wirewatch edits on|off`)")
    return "\n".join(lines)


def _narrowing_flags(rest: str) -> tuple[str, dict[str, str]]:
    """`TOPIC [mode] --only QUERY --except QUERY` -> ("TOPIC [mode]", {"only": ..., ...})."""
    head, *pairs = _FLAG.split(rest)
    flags: dict[str, str] = {}
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = name.lower()
        if name not in FLAGS:
            raise CommandError(f"unknown option `--{name}`: subscribe takes --only and --except")
        if name in flags:
            raise CommandError(f"--{name} is given twice")
        query = value.strip().strip("`").strip().translate(SMART_QUOTES)
        last = value.split()[-1].lower() if value.split() else ""
        if last in ("instant", "digest") and not value.rstrip().endswith("`"):
            raise CommandError(
                f"is `{last}` the mode or part of the --{name} query? Put the mode first "
                f"(`subscribe TOPIC {last} --{name} QUERY`), or the query in backticks"
            )
        if not query:
            raise CommandError(f"--{name} needs a query, like --{name} `entity:Russia`")
        flags[name] = query
    return head, flags


def next_digest(db: Database, rt: Runtime, channel: str | None = None) -> datetime:
    """When the next digest goes out: the running scheduler's own next run of the digest
    job (`bot.loop.run_forever`), else when a start would send the first (`next_digest_at`);
    of `channel`, the run after that one when it will skip the channel (`channel_due`)."""
    every = rt.settings.digest_every
    job = rt.scheduler.get_job("digest") if rt.scheduler and rt.scheduler.running else None
    if job is not None and job.next_run_time is not None:
        due = job.next_run_time
    else:
        due = next_digest_at(db, every, utcnow(), rt.adapters)
    return channel_due(db, channel, every, due) if channel else due


def _filters_removed(before: SubscriptionRow | None, only: str | None, except_: str | None) -> str:
    """Subscribing again replaces the narrowing: a filter the channel had and the new
    command leaves out is dropped, and the reply says so rather than doing it silently."""
    if before is None:
        return ""
    old_new = (("only", before.only_query, only), ("except", before.except_query, except_))
    gone = [f"--{name}" for name, old, new in old_new if old and not new]
    if not gone:
        return ""
    return f"; its {'/'.join(gone)} filter{'s are' if len(gone) > 1 else ' is'} removed"
