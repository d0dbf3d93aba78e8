"""The command line's `status` and `search`: chat's two lookups, asked on the bot's host.

Neither changes what is stored; both open the database as `feeds` does (`open_for_reading`:
never created, an older schema migrated where the file can be written).
`status` asks bot.status the questions chat's `status` asks, for every channel at once, and
bot.runstate what the running bot, or cron's last `poll`, recorded of itself (its last poll
cycle, its workers);
`search` is chat's own `search` (bot.commands.overview), same syntax, same answer, spelled
for a terminal. Nothing here writes a query of its own.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli_store import open_for_reading
from bot.clock import iso_short, minute_utc, parse_stored, steady_clock, utcnow
from bot.durations import format_duration
from bot.errors import CommandError, UsageError
from bot.feed_store import list_feeds
from bot.migrations import SCHEMA_VERSION
from bot.onebot import running_bot
from bot.runstate import CYCLED, LOADING, POLL, BotState, bot_state, lock_taken, read_record
from bot.status import (
    PlatformDeliveries,
    deliveries_by_platform,
    digests_waiting,
    feed_counts,
    last_failure,
    overdue_feeds,
)
from bot.text.invisible import quoted
from bot.wording import counted

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.gazetteer import Gazetteer
    from bot.settings import Settings


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch status [--json]`: the bot's health as one object, or lines for a person."""
    db = open_for_reading(settings)
    try:
        report = _status(db, settings, utcnow())
    finally:
        db.close()
    print(json.dumps(report, ensure_ascii=False) if args.json else "\n".join(_lines(report)))
    return 0


def _status(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    from bot.digest import next_digest_at

    feeds = feed_counts(db)
    overdue = overdue_feeds(db, now)
    digests = digests_waiting(db)
    due = next_digest_at(db, settings.digest_every, now) if digests else None
    pid = running_bot(settings.database)
    bot = bot_state(read_record(db), pid, lock_taken(settings.database), now, steady_clock())
    return {
        "database": _database(db, settings.database),
        "bot_pid": pid,
        "bot": _bot(bot),
        "feeds": {"polled": feeds.active, "failing": feeds.failing, "disabled": feeds.disabled},
        "failing": [f.name for f in list_feeds(db) if f.failures and not f.disabled],
        "last_poll": _iso(feeds.last_poll),
        "polling_stopped": (
            None if overdue is None else {"feeds": overdue[0], "first_due": iso_short(overdue[1])}
        ),
        "alerts": {p: vars(d) for p, d in deliveries_by_platform(db).items()},
        "latest_failure": last_failure(db, ""),  # no channel of its own: anyone's latest
        "digests": {
            "due": iso_short(due) if due else None,
            "channels": {c: {"stories": s, "reports": r} for c, (s, r) in digests.items()},
        },
    }


def _database(db: Database, where: str) -> dict[str, Any]:
    """The file, its size (its write-ahead log included) and schema against this version's."""
    path = Path(where)
    files = [path, path.with_name(path.name + "-wal")] if where != ":memory:" else []
    return {
        "path": str(path.resolve()) if files else where,
        "bytes": sum(f.stat().st_size for f in files if f.is_file()),
        "schema": db.execute("PRAGMA user_version").fetchone()[0],
        "schema_current": SCHEMA_VERSION,
    }


def _bot(bot: BotState) -> dict[str, Any]:
    """What the running bot (or cron's last `poll`) recorded of itself (bot.runstate), as
    far as it is current."""
    return {
        "state": bot.state,
        "pid": bot.pid,
        "since": _short(bot.since),
        "last_cycle": _short(bot.last_cycle),
        "workers_broken": bot.workers_broken or None,
        "workers_broken_since": _short(bot.workers_since),
        "command": bot.command,
        "recorded_ago": None if bot.quiet is None else round(max(0.0, bot.quiet)),
        "phase": bot.phase,
    }


def _short(when: datetime | None) -> str | None:
    return iso_short(when) if when else None


def _iso(stamp: str | None) -> str | None:
    found = parse_stored(stamp, None)
    return iso_short(found) if found else None


def _when(stamp: str | None) -> str:
    """As chat and alerts show a time: 2026-12-06 23:45 UTC."""
    found = parse_stored(stamp, None)
    return minute_utc(found) if found else "never"


def _lines(r: dict[str, Any]) -> list[str]:
    """The status for a person, the same words as chat's `status` where they say the same."""
    base = r["database"]
    schema = (
        "this wirewatch's"
        if base["schema"] == base["schema_current"]
        else f"this wirewatch writes {base['schema_current']}"
    )
    feeds = r["feeds"]
    lines = [
        f"database: {base['path']}, {base['bytes']:,} bytes, schema {base['schema']} ({schema})",
        *_bot_lines(r["bot"]),
        f"feeds: {feeds['polled']} polled, {feeds['failing']} failing, {feeds['disabled']} "
        f"disabled; last poll {_when(r['last_poll'])}",
    ]
    if stopped := r["polling_stopped"]:
        ago = (utcnow() - parse_stored(stopped["first_due"], utcnow())).total_seconds()
        lines.append(
            f"POLLING HAS STOPPED: {counted(stopped['feeds'], 'feed')} not polled when due, "
            f"the first due {format_duration(ago)} ago; {_why_stopped(r['bot_pid'], r['bot'])}"
        )
    if r["failing"]:
        names = ", ".join(r["failing"][:5]) + (" ..." if len(r["failing"]) > 5 else "")
        lines.append(f"failing: {names} (`wirewatch feeds` says why)")
    alerts = {p: PlatformDeliveries(**d) for p, d in r["alerts"].items()}
    lines.append(f"alerts waiting to be sent: {_per_platform(alerts, 'waiting')}")
    if any(d.held for d in alerts.values()):
        lines.append(f"alerts held while a channel is paused: {_per_platform(alerts, 'held')}")
    if any(d.failed for d in alerts.values()):
        lines.append(
            f"alerts given up on: {_per_platform(alerts, 'failed')}; latest: "
            f"{quoted(r['latest_failure'] or '')}"
        )
    lines += _digest_lines(r["digests"])
    return lines


def _why_stopped(holder: str | None, b: dict[str, Any]) -> str:
    """Why feeds wait past their due time, as far as the bot's row tells: under cron, a
    stopped bot is the usual state, and the last `poll`'s end is the news."""
    if b["workers_broken"]:
        return "no feed is read (above)"
    if b["state"] == "polling":
        return "a `wirewatch poll` is polling now (above)"
    if b["state"] == "starting" and b["phase"] == LOADING:
        return "it is loading its story index (above)"
    if holder:
        return "the log says why (`poll.` lines)"
    if b["command"] != POLL:
        return "no bot is running"
    if not _own_cycle(b):
        return "no bot is running, and the last `wirewatch poll` ended no poll cycle (above)"
    return (
        f"no bot is running, and the last `wirewatch poll` ended {_ago(b['last_cycle'])} ago: "
        "is cron still running it?"
    )


# Why the process holding the database may end no poll cycle, by its command (bot.runstate).
STALLED_WHY = {
    "run": "stuck, still starting, or an older wirewatch that does not record its cycles; its log",
    POLL: "stuck, or a poll of many feeds; its output",
}


def _bot_lines(b: dict[str, Any]) -> list[str]:
    """Whether a bot polls now, from what it recorded: a lock held by a process that ends
    no poll cycle reads `NOT POLLING`, never `running`; its workers' trouble as chat says it.
    Under cron, when and how the last one-off `poll` ended, its workers included."""
    pid, since, last = b["pid"], b["since"], b["last_cycle"]
    if b["state"] == "stopped" and b["command"] == POLL:
        line = _last_poll(since, last, _own_cycle(b))
    elif b["state"] == "stopped":
        line = "no `wirewatch run` on this database now" + (
            f"; the last poll cycle recorded ended {_when(last)}" if last else ""
        )
    elif b["state"] == "running":
        line = (
            f"running (pid {pid}) since {_when(since)}; last poll cycle ended {_when(last)} "
            f"({_ago(last)} ago)"
        )
    elif b["state"] == "polling":
        line = f"a one-off `wirewatch poll` (pid {pid}) is polling since {_when(since)}"
    elif b["state"] == "starting" and b["phase"] == LOADING:
        what = ", a one-off `wirewatch poll`" if b["command"] == POLL else ""
        line = f"starting (pid {pid}{what}) since {_when(since)}: loading its story index"
    elif b["state"] == "starting":
        line = f"starting (pid {pid}) since {_when(since)}: no poll cycle of it has ended yet"
    else:  # stalled: its row, or its taking the lock, is more than runstate.STALE ago
        quiet = format_duration(b["recorded_ago"] or 0)
        what = " (a one-off `wirewatch poll`)" if b["command"] == POLL else ""
        why = STALLED_WHY.get(b["command"], STALLED_WHY["run"])
        if b["phase"] == LOADING:
            told = "its output" if b["command"] == POLL else "its log"
            why = f"still loading its story index, or stuck; {told}"
        line = (
            f"NOT POLLING: pid {pid}{what} holds the database since {_when(since)} but has "
            f"ended no poll cycle for {quiet} ({why} says which)"
        )
    lines = [f"bot: {line}"]
    if b["workers_broken"]:
        lines.append(
            f"NO FEED IS READ since {_when(b['workers_broken_since'])}: {b['workers_broken']}; "
            + (
                "the last `wirewatch poll` read none; its output says why (`workers.broken`)"
                if b["state"] == "stopped"
                else "the log says why (`workers.broken`)"
            )
        )
    return lines


def _own_cycle(b: dict[str, Any]) -> bool:
    """Whether `last_cycle` is the recorded process's own (else an earlier one's, carried
    over: bot.runstate); a row from before schema 25 carries none."""
    return b["phase"] == CYCLED or (b["phase"] is None and bool(b["last_cycle"]))


def _last_poll(started: str | None, ended: str | None, own: bool) -> str:
    """Under cron, between polls: when the last one ended its cycle, or that it did not (and
    when an earlier process last ended one)."""
    return "no `wirewatch run` or `poll` on this database now; the last, a one-off " + (
        f"`wirewatch poll`, ended its poll cycle {_when(ended)} ({_ago(ended)} ago)"
        if own
        else f"`wirewatch poll` started {_when(started)}, ended no poll cycle (stopped, "
        "killed or failed: its output says which)"
        + (f"; the last poll cycle recorded ended {_when(ended)}" if ended else "")
    )


def _ago(stamp: str | None) -> str:
    found = parse_stored(stamp, None)
    return format_duration(max(0.0, (utcnow() - found).total_seconds())) if found else "?"


def _per_platform(alerts: dict[str, PlatformDeliveries], field: str) -> str:
    """ "3 (slack 2, discord 1)": the total, then each platform that has any."""
    each = {p: getattr(d, field) for p, d in alerts.items() if getattr(d, field)}
    total = sum(each.values())
    return f"{total} ({', '.join(f'{p} {n}' for p, n in each.items())})" if total else "0"


def _digest_lines(digests: dict[str, Any]) -> list[str]:
    if not digests["channels"]:
        return ["digests: none waiting"]
    due = parse_stored(digests["due"], None)
    when = "due now" if due is None or due <= utcnow() else f"due {minute_utc(due)}"
    return [
        f"digest for {channel}: {counted(c['stories'], 'story', 'stories')} "
        f"({counted(c['reports'], 'report')}) waiting, {when}"
        for channel, c in digests["channels"].items()
    ]


def search_command(args: argparse.Namespace, settings: Settings, gazetteer: Gazetteer) -> int:
    """`wirewatch search WORDS... [--channel CHANNEL] [--json [--reports]]`: chat's search,
    same words; `--json` the same page, an object per story; `--reports` one per report."""
    from bot.commands.found import search_reply

    if args.reports and not args.json:
        raise UsageError("--reports lists JSON objects: add --json")
    text = " ".join(args.words)
    db = open_for_reading(settings)
    try:
        if args.json:
            listed = _search_rows if args.reports else _search_stories
            rows = listed(db, gazetteer, text, args.channel or "")
            print("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), end="")
            print("" if not rows else "\n", end="")
            return 0
        reply = search_reply(db, gazetteer, args.channel or "", text)
    except CommandError as exc:  # a since: without a unit, an outlet no feed is called
        raise UsageError(_spelled(str(exc))) from None
    finally:
        db.close()
    print(_spelled(reply))
    return 0


def _spelled(reply: str) -> str:
    """Chat's reply spelled for the shell: `/wirewatch search x page:2` is `wirewatch search x
    page:2` here (as Discord's adapter respells it for its own client)."""
    return reply.replace("`/wirewatch ", "`wirewatch ")


def _search_stories(db: Database, gazetteer: Gazetteer, text: str, channel: str) -> list[dict]:
    """`--json`: the page chat's search shows, one object per line of it (a story, or an
    item no story holds): what the line says, in fields, and the report that placed it."""
    from bot.commands.found import search_found
    from bot.search_count_store import COUNT_CAP
    from bot.story_store import reports_shown

    found = search_found(db, gazetteer, channel, text, "wirewatch search")
    matched = reports_shown(db, [h.item for h in found.hits])
    rows: list[dict[str, Any]] = []
    for n, hit in enumerate(found.hits, found.scope.skip + 1):
        told, report = found.told.get(hit.item), matched.get(hit.item)
        if told is None or report is None:  # pruned between the queries, as the line says
            rows.append({"rank": n, "story_id": hit.story, "stored": False})
            continue
        rows.append(
            {
                "rank": n,
                "of": min(found.total, COUNT_CAP),
                "more": found.total > COUNT_CAP,
                "story_id": hit.story,
                "title": told.title,
                "url": told.url,
                "first_item_id": told.item,
                "outlets": list(told.outlets),
                "reports": told.reports,
                "first": _iso(told.first),
                "last": _iso(told.last),
                "matched": {
                    "item_id": hit.item,
                    "title": report["title"],
                    "outlet": report["outlet"],
                    "published": _iso(report["published"]),
                    "url": report["url"],
                    "first_has_words": hit.item not in found.later,
                },
                **_story_got(found.got.get(hit.story or -hit.item), channel),
            }
        )
    return rows


def _story_got(got: list[tuple[int, str, int | None]] | None, channel: str) -> dict[str, Any]:
    """With --channel: what it got of the story, as the line says it (`here`), and each of
    its deliveries (`refs`, oldest first: the id `feedback` takes, state, digest)."""
    from bot.commands.found import here

    if not channel:
        return {}
    refs = [{"delivery": r, "status": s, "digest": d} for r, s, d in got or []]
    return {"channel": channel, "here": here(got) or None, "refs": refs}


def _search_rows(db: Database, gazetteer: Gazetteer, text: str, channel: str) -> list[dict]:
    """`--json --reports`: each matching report of the page `search_items` walks (the
    listing `--json` was before it listed stories), one object each, with what
    `channel` got of it (`delivery`, `status`, `digest`: its ids and state), when given."""
    from bot.commands.found import search_scope
    from bot.commands.grammar import SEARCH_LIMIT
    from bot.search_count_store import count_matches
    from bot.search_store import search_items
    from bot.story_store import deliveries_of

    scope = search_scope(db, gazetteer, text, command="wirewatch search")
    query, feeds, since, skip = scope.query, scope.feeds, scope.since, scope.skip
    rows = search_items(db, query.terms, SEARCH_LIMIT, skip, feeds, since)
    total = count_matches(db, query.terms, feeds, since) if rows else 0
    got = deliveries_of(db, channel, [r["id"] for r in rows]) if channel else {}
    return [
        {
            "rank": skip + n,
            "of": total,
            "item_id": r["id"],
            "story_id": r["story_id"],
            "title": r["title"],
            "outlet": r["outlet"],
            "published": _iso(r["published"]),
            "url": r["url"],
            **_got(got.get(r["id"]) if channel else None, channel),
        }
        for n, r in enumerate(rows, 1)
    ]


def _got(got: tuple[int, str, int | None] | None, channel: str) -> dict[str, Any]:
    if not channel:
        return {}
    ref, state, digest = got or (None, None, None)
    return {"channel": channel, "delivery": ref, "status": state, "digest": digest}
