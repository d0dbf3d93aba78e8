"""The command line's commands over stored data: `feeds` (list, OPML in and out) and `db`
(backup, prune).

bot.cli parses the arguments and loads the config, then calls in here. What each command
only reads (listing and exporting feeds, backups, a dry run) writes nothing, and opens the
database read-only where it cannot be written, so a read-only volume does not stop it.
Only the bot applies the config's feed list to the database (at start): a listing run with
another config (`docker compose exec` without `--config`, say) must not disable the feeds
the running bot polls. Listings mark what the config given would change instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from bot.clock import iso_short, minute_utc, parse_iso, parse_stored, utcnow
from bot.config_feed_store import ConfigFeed, plan_config_feeds
from bot.db import no_database, open_database, open_existing, open_read_only
from bot.durations import format_duration, parse_duration
from bot.errors import UsageError
from bot.feed_store import add_feed, feed_item_counts, find_feed, list_feeds
from bot.filewrite import replace_text
from bot.health import REMOVED
from bot.health_store import FeedHealth, feeds_health
from bot.maintenance import MIN_PRUNE_AGE, backup, prune
from bot.onebot import running_bot
from bot.opml import OpmlFeed, import_feeds, read_opml, write_opml
from bot.settings import Settings
from bot.status import is_overdue
from bot.wording import counted


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def open_for_reading(settings: Settings):
    """The database without applying the config to it: migrated where it can be written,
    else read-only (as the bot last stored it). A missing one is an error, never created:
    a listing from the wrong folder must not answer from a new, empty database."""

    path = Path(settings.database)
    require_database(path)
    if path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return open_read_only(path)
    return open_database(path)


def require_database(path: Path) -> None:
    """StoreError when there is no database at `path`; a relative path is relative to the
    current folder, so the message says which file that was."""
    if str(path) == ":memory:" or path.exists():
        return
    raise no_database(path)


def _feeds_with_config(db, settings: Settings) -> list[ConfigFeed]:
    """Stored feeds, with what applying this config would change marked, not applied."""
    return plan_config_feeds(list_feeds(db), [(f.name, f.url, f.interval) for f in settings.feeds])


def feeds_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch feeds [import FILE | export [FILE]]`."""

    if args.feeds_command == "import":
        return _feeds_import(settings, args.file)
    if args.feeds_command == "export":
        return _feeds_export(settings, args.file)
    if args.feeds_command == "enable":
        return _feeds_enable(settings, args.feed)
    db = open_for_reading(settings)
    now = utcnow()
    try:
        counts = feed_item_counts(db)
        healths = feeds_health(db, settings)
        rows = [_feed_row(f, counts, healths, now) for f in _feeds_with_config(db, settings)]
    finally:
        db.close()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if args.json else _feed_text(row))
    return 0


def _feed_row(
    f: ConfigFeed, counts: dict[int, int], healths: dict[int, FeedHealth], now: datetime
) -> dict:
    """`config`: what the bot will change once it starts with this config (`ConfigFeed`);
    `overdue`: not polled when due, as chat's `status` says POLLING HAS STOPPED."""
    row = f.row
    return {
        "name": f.name,
        "url": f.url,
        "items": counts.get(row.id, 0) if row else 0,
        "last_polled": iso_short(parse_iso(row.last_polled)) if row and row.last_polled else None,
        "next_poll": iso_short(parse_stored(row.next_poll, now)) if row else None,
        "overdue": is_overdue(row, now) if row else False,
        "last_error": row.last_error if row else None,
        "failures": row.failures if row else 0,
        "disabled": bool(row.disabled) if row else False,
        "disabled_reason": row.disabled_reason if row else None,
        "config": f.change,
        **_health_fields(healths.get(row.id) if row else None),
    }


_CHANGES = {
    "leaving": " · not in this config: disabled once the bot starts with it",
    "returning": " · back in this config: polled again once the bot starts with it",
}


def _feed_text(row: dict) -> str:
    """One feed for a person: where, how busy it usually is, how it fares."""
    state = (
        f"DISABLED ({row['disabled_reason']})"
        if row["disabled"]
        else counted(row["failures"], "failure")
        if row["failures"]
        else "ok"
    )
    if row["state"] == "silent":
        state = f"SILENT for {format_duration(row['quiet_for'])}"
    if row["overdue"]:  # a stopped poll loop matters more than how the feed fared before
        late = format_duration((utcnow() - parse_iso(row["next_poll"])).total_seconds())
        state = f"NOT POLLED WHEN DUE {late} ago: polling has stopped (`wirewatch status`)" + (
            "" if state == "ok" else f" · {state}"
        )
    pace = (
        f"usually every {format_duration(row['usual_gap'])}"
        if row["usual_gap"]
        else "usual gap not known yet"
    )
    if row["config"] == "new":
        return (
            f"{row['name']}  {row['url']}\n    new in this config: not stored yet, polled "
            "once the bot starts with it"
        )
    return (
        f"{row['name']}  {row['url']}\n    items {row['items']} · {pace} · last poll "
        f"{_minute(row['last_polled'])} · {state}"
        + (f" · last error: {row['last_error']}" if _error_not_said(row) else "")
        + (_CHANGES.get(row["config"] or "", ""))
    )


def _minute(stamp: str | None) -> str:
    """A time as chat's replies and alerts show it (2025-06-08 02:43 UTC); `--json` keeps ISO."""
    return minute_utc(parse_iso(stamp)) if stamp else "never"


def _error_not_said(row: dict) -> bool:
    """A last error the line does not already carry: a disabled feed's reason ends with it."""
    error = row["last_error"]
    return bool(error) and not (row["disabled"] and error in (row["disabled_reason"] or ""))


def _health_fields(health: FeedHealth | None) -> dict[str, object]:
    """A feed's health for `feeds --json`: gaps in seconds, None while not known."""
    if health is None:
        return {"state": None, "usual_gap": None, "silent_after": None, "quiet_for": None}
    return {
        "state": health.state,
        "usual_gap": health.usual_gap,
        "silent_after": health.silent_after,
        "quiet_for": health.quiet_for,
    }


def _feeds_import(settings: Settings, path: Path) -> int:
    listed = read_opml(read_bytes(path))
    for reason in listed.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    where = Path(settings.database)
    if str(where) != ":memory:" and not where.exists():  # from the wrong folder, say so
        print(f"note: no database yet: creating {where.resolve()}", file=sys.stderr)
    db = open_database(where)  # the config's feeds are the bot's to apply
    try:
        done = import_feeds(db, listed.feeds, progress=progress_line("importing", "feeds"))
    finally:
        db.close()
    end_progress()
    print(
        f"{path}: {counted(done.new, 'new feed')}, {done.present} already present"
        + (f", {done.enabled} enabled again" if done.enabled else "")
        + (f", {counted(len(listed.skipped), 'outline')} skipped" if listed.skipped else "")
        + ("; new feeds are polled on the next cycle" if done.new + done.enabled else ""),
        file=sys.stderr,
    )
    return 0


def _feeds_export(settings: Settings, path: Path | None) -> int:
    db = open_for_reading(settings)
    try:
        listed = _feeds_with_config(db, settings)
    finally:
        db.close()
    # What the bot will poll once it starts with this config.
    text = write_opml([OpmlFeed(f.name, f.url, f.interval) for f in listed if f.polled])
    if path is None or str(path) == "-":
        sys.stdout.write(text)
    else:
        replace_text(path, text)  # all or nothing: a full disk leaves the last export whole
        print(f"wrote {counted(text.count('<outline'), 'feed')} to {path}", file=sys.stderr)
    return 0


def _feeds_enable(settings: Settings, which: str) -> int:
    """`wirewatch feeds enable URL|NAME`: poll again a feed wirewatch disabled (failing, or
    gone), as chat's `feeds add` does; feeds removed on purpose stay the remover's call."""
    path = Path(settings.database)
    require_database(path)
    db = open_database(path)
    try:
        feed = find_feed(db, which)
        if feed is None:
            raise UsageError(f"no feed {which!r} (by URL or name): `wirewatch feeds` lists them")
        if not feed.disabled:
            print(f"{feed.name} ({feed.url}) is not disabled: nothing to do", file=sys.stderr)
            return 0
        if feed.disabled_reason in REMOVED:
            raise UsageError(_removed_on_purpose(feed.name, feed.disabled_reason or ""))
        add_feed(db, feed.url, feed.name, origin=feed.origin, interval=feed.interval)
    finally:
        db.close()
    print(
        f"enabled {feed.name} ({feed.url}) again: a running bot polls it within seconds, "
        "else the next `wirewatch poll` or start",
        file=sys.stderr,
    )
    return 0


def _removed_on_purpose(name: str, reason: str) -> str:
    if reason == "removed from config":
        return f"{name} was removed from the config: list it under `feeds` there again"
    return f"a moderator removed {name} from chat: `/wirewatch feeds add URL` adds it back"


def db_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch db backup PATH` and `wirewatch db prune --older-than AGE`."""
    if args.db_command == "backup":
        return _db_backup(settings, args.path)
    return _db_prune(settings, args)


def _db_backup(settings: Settings, target: Path) -> int:
    """Reads only: works on a read-only volume, and never migrates the file it copies."""

    db = open_read_only(settings.database, migrated=False)
    try:
        size = backup(db, target, progress=progress_line("backup", "pages"))
    finally:
        db.close()
    end_progress()
    print(f"backed up {settings.database} to {target} ({size:,} bytes)", file=sys.stderr)
    return 0


def _db_prune(settings: Settings, args: argparse.Namespace) -> int:
    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    if age < MIN_PRUNE_AGE and not args.force:
        raise UsageError(
            f"--older-than {args.older_than} would delete items published within the last "
            "day, alerts you may still need; add --force if that is what you want"
        )
    vacuum = not args.no_vacuum
    bot = None if args.dry_run or not vacuum else running_bot(settings.database)
    if bot is not None:  # VACUUM would hold the lock for seconds: the bot's writes would fail
        vacuum = False
        print(
            f"a wirewatch (pid {bot}) is running on {settings.database}: VACUUM skipped, so "
            "the file keeps its size; prune again with the bot stopped to give the space back",
            file=sys.stderr,
        )
    db = open_read_only(settings.database) if args.dry_run else open_existing(settings.database)
    try:
        done = prune(db, age, settings.story_window, vacuum=vacuum, dry_run=args.dry_run)
    finally:
        db.close()
    counts = (
        f"{counted(done.items, 'item')}, {counted(done.stories, 'story', 'stories')}, "
        f"{counted(done.deliveries, 'delivery', 'deliveries')}"
    )
    rule = (
        f"published before {done.cutoff[:16].replace('T', ' ')} UTC, in no story seen in the "
        f"last {format_duration(settings.story_window)}, with no alert waiting"
    )
    if done.dry_run:
        print(f"would prune {counts} ({rule}); nothing was changed")
    else:
        freed = done.bytes_before - done.bytes_after
        space = f"{freed:,} bytes reclaimed" if vacuum and freed > 0 else "the file keeps its size"
        if done.no_vacuum:
            space = f"the file keeps its size: {done.no_vacuum}"
        print(f"pruned {counts} ({rule}); {space}")
    return 0


def progress_line(label: str, unit: str):
    """Progress on one rewritten line, for a person at a terminal; nothing into a pipe or log."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total} {unit}", end="", file=sys.stderr, flush=True)

    return show


def end_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)
