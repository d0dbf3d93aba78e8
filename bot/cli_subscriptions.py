"""The command line's `subscriptions`: every channel's subscriptions, and `subscriptions
remove CHANNEL [TOPIC]` to end a channel's chat subscriptions from the bot's host.

A channel that was deleted cannot be typed in, so chat's `unsubscribe` cannot end its
subscriptions: they and the alerts held for them stayed for good, and an operator had no
way out but SQL. `remove` ends them as chat's `unsubscribe` does (the same code,
`bot.commands.subscriptions.end_subscription`), its held alerts dropped; one from the
config file is refused, since the next start would subscribe it again: it is removed
there. Beside a running `wirewatch run` it writes as chat's commands do, in turns
(`bot.db.write`), slices a poll's writes go between (`bot.redecide.slices`).

bot.cli parses the arguments and loads the config, then calls in here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli_store import open_for_reading, require_database
from bot.clock import parse_stored, utcnow
from bot.db import open_existing
from bot.errors import UsageError
from bot.settings import Settings, known_channel
from bot.store import SubscriptionRow, subscriptions
from bot.wording import counted

if TYPE_CHECKING:
    from sqlite_utils import Database


def subscriptions_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch subscriptions [--json]` and `wirewatch subscriptions remove CHANNEL [TOPIC]`."""
    if args.subscriptions_command == "remove":
        return _remove(settings, args.channel, args.topic)
    db = open_for_reading(settings)
    try:
        rows = _rows(db)
    finally:
        db.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print("\n".join(_lines(rows)))
    return 0


def _rows(db: Database) -> list[dict[str, Any]]:
    """One object per subscription in force: what `--json` prints, and the lines say."""
    from bot.redecide.channel import topic_exists

    held = dict(
        db.execute(
            "SELECT subscription_id, count(*) FROM deliveries WHERE status = 'held' AND "
            "kind IN ('new', 'update') GROUP BY subscription_id"
        ).fetchall()
    )
    now = utcnow()
    rows = []
    for s in subscriptions(db):
        muted = parse_stored(s.muted_until, None)
        rows.append(
            {
                "channel": s.channel,
                "topic": s.topic,
                "mode": s.mode,
                "origin": s.origin,  # "config" or "chat"
                "paused": s.paused_reason is not None,
                "paused_reason": s.paused_reason,
                "held": held.get(s.id, 0),
                "muted_until": s.muted_until if muted and muted > now else None,
                "only": s.only_query,
                "except": s.except_query,
                "topic_gone": not topic_exists(db, s.topic),
            }
        )
    return rows


def _lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each channel, then a line per subscription: what it follows, how, and what holds it."""
    if not rows:
        return ["no subscriptions: the config's `subscriptions:`, or chat's `/wirewatch subscribe`"]
    lines: list[str] = []
    channels = list(dict.fromkeys(r["channel"] for r in rows))
    for channel in channels:
        lines.append(channel)
        lines += [f"  {_line(r)}" for r in rows if r["channel"] == channel]
    lines.append(
        f"{counted(len(rows), 'subscription')} in {counted(len(channels), 'channel')}"
        + (
            "; `wirewatch subscriptions remove CHANNEL [TOPIC]` ends a channel's chat "
            "subscriptions and their held alerts"
            if any(r["paused"] for r in rows)
            else ""
        )
    )
    return lines


def _line(r: dict[str, Any]) -> str:
    said = [r["topic"], r["mode"], f"from {r['origin']}"]
    if r["only"] or r["except"]:
        said += [f"--{k} {r[k]}" for k in ("only", "except") if r[k]]
    if r["muted_until"]:
        said.append(f"muted until {r['muted_until'][:16].replace('T', ' ')} UTC")
    if r["paused"]:
        said.append(f"PAUSED: {r['paused_reason']}")
    if r["topic_gone"]:
        said.append("its topic was removed from the config")
    if r["held"]:
        said.append(f"{counted(r['held'], 'alert')} held")
    return " · ".join(said)


def _remove(settings: Settings, given: str, topic: str | None) -> int:
    """End `given`'s chat subscriptions (to `topic`, else all): 0 all ended, 2 when one is
    the config file's (refused: it is removed there) or nothing matches."""
    from bot.commands.lookups import did_you_mean
    from bot.commands.subscriptions import end_subscription

    channel = _channel(given)
    require_database(Path(settings.database))
    db = open_existing(settings.database)
    try:
        subs = subscriptions(db, channel)
        if not subs:
            raise UsageError(_no_such_channel(db, channel))
        if topic is not None:
            subs = [s for s in subs if s.topic == topic]
            if not subs:
                topics = [s.topic for s in subscriptions(db, channel)]
                listed = ", ".join(f"`{t}`" for t in topics)
                raise UsageError(
                    f"{channel} is not subscribed to `{topic}`{did_you_mean(topic, topics)} "
                    f"(its subscriptions: {listed})"
                )
        config = [s for s in subs if s.origin == "config"]
        for s in subs:
            if s.origin != "config":
                print(f"{channel} {end_subscription(db, channel, s.topic)}")
    finally:
        db.close()
    for s in config:
        print(f"error: {_in_config(s, settings)}", file=sys.stderr)
    return 2 if config else 0


def _channel(given: str) -> str:
    """CHANNEL as `status` and the notices print it (slack:C0123, discord:123, console)."""
    try:
        return known_channel(given.strip())
    except ValueError as exc:
        raise UsageError(f"CHANNEL {given!r} {exc}") from None


def _no_such_channel(db: Database, channel: str) -> str:
    from bot.commands.lookups import did_you_mean

    others = sorted({s.channel for s in subscriptions(db)})
    listed = ", ".join(others) if others else "none"
    return (
        f"{channel} has no subscriptions{did_you_mean(channel, others)} (channels with "
        f"subscriptions: {listed}; `wirewatch subscriptions` lists them)"
    )


def _in_config(s: SubscriptionRow, settings: Settings) -> str:
    return (
        f"{s.channel}'s `{s.topic}` subscription is the config's: remove it from the config "
        f"file {settings.source} and restart wirewatch (the start ends it and drops its "
        "held alerts); ended here, the next start would subscribe it again"
    )
