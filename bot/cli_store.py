"""The command line's commands over stored data: `feeds` (list, OPML in and out) and `db`
(backup, prune).

bot.cli parses the arguments and loads the config, then calls in here. What each command
only reads (listing feeds, backups, a dry run) opens the database read-only where it cannot
be written, so a read-only volume does not stop it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bot.clock import iso_short, parse_iso
from bot.db import open_database, open_read_only
from bot.durations import format_duration, parse_duration
from bot.errors import UsageError
from bot.health_store import FeedHealth, feeds_health
from bot.maintenance import MIN_PRUNE_AGE, backup, prune
from bot.opml import OpmlFeed, import_feeds, read_opml, write_opml
from bot.settings import Settings
from bot.store import active_feeds, feed_item_counts, list_feeds, sync_config_feeds


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _open_db(settings: Settings):
    db = open_database(settings.database)
    sync_config_feeds(db, [(f.name, f.url, f.interval) for f in settings.feeds])
    return db


def _open_for_reading(settings: Settings):
    """The database as `_open_db` gives it, or read-only where it cannot be written.

    Listing feeds needs no write access: on a read-only volume the feeds are shown as last
    stored, and stderr says that config changes since then are not in the list.
    """

    path = Path(settings.database)
    if path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        print(
            f"note: {path} is read-only: feeds as the bot last stored them "
            "(config changes since then are not shown)",
            file=sys.stderr,
        )
        return open_read_only(path)
    return _open_db(settings)


def feeds_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch feeds [import FILE | export [FILE]]`."""

    if args.feeds_command == "import":
        return _feeds_import(settings, args.file)
    if args.feeds_command == "export":
        return _feeds_export(settings, args.file)
    db = _open_for_reading(settings)
    counts = feed_item_counts(db)
    healths = feeds_health(db, settings)
    rows = [
        {
            "name": f.name,
            "url": f.url,
            "items": counts.get(f.id, 0),
            "last_polled": iso_short(parse_iso(f.last_polled)) if f.last_polled else None,
            "last_error": f.last_error,
            "failures": f.failures,
            "disabled": bool(f.disabled),
            "disabled_reason": f.disabled_reason,
            **_health_fields(healths.get(f.id)),
        }
        for f in list_feeds(db)
    ]
    db.close()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if args.json else _feed_text(row))
    return 0


def _feed_text(row: dict) -> str:
    """One feed for a person: where, how busy it usually is, how it fares."""
    state = (
        f"DISABLED ({row['disabled_reason']})"
        if row["disabled"]
        else f"{row['failures']} failures"
        if row["failures"]
        else "ok"
    )
    if row["state"] == "silent":
        state = f"SILENT for {format_duration(row['quiet_for'])}"
    pace = (
        f"usually every {format_duration(row['usual_gap'])}"
        if row["usual_gap"]
        else "usual gap not known yet"
    )
    return (
        f"{row['name']}  {row['url']}\n    items {row['items']} · {pace} · last poll "
        f"{row['last_polled'] or 'never'} · {state}"
        + (f" · last error: {row['last_error']}" if row["last_error"] else "")
    )


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
    db = _open_db(settings)
    try:
        done = import_feeds(db, listed.feeds, progress=_progress("importing", "feeds"))
    finally:
        db.close()
    _end_progress()
    print(
        f"{path}: {done.new} new feeds, {done.present} already present"
        + (f", {done.enabled} enabled again" if done.enabled else "")
        + (f", {len(listed.skipped)} outlines skipped" if listed.skipped else "")
        + ("; new feeds are polled on the next cycle" if done.new + done.enabled else ""),
        file=sys.stderr,
    )
    return 0


def _feeds_export(settings: Settings, path: Path | None) -> int:
    db = _open_for_reading(settings)
    text = write_opml([OpmlFeed(f.name, f.url, f.interval) for f in active_feeds(db)])
    db.close()
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {text.count('<outline')} feeds to {path}", file=sys.stderr)
    return 0


def db_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch db backup PATH` and `wirewatch db prune --older-than AGE`."""
    if args.db_command == "backup":
        return _db_backup(settings, args.path)
    return _db_prune(settings, args)


def _db_backup(settings: Settings, target: Path) -> int:
    """Reads only: works on a read-only volume, and never migrates the file it copies."""

    db = open_read_only(settings.database, migrated=False)
    try:
        size = backup(db, target, progress=_progress("backup", "pages"))
    finally:
        db.close()
    _end_progress()
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
    db = open_read_only(settings.database) if args.dry_run else open_database(settings.database)
    try:
        done = prune(
            db, age, settings.story_window, vacuum=not args.no_vacuum, dry_run=args.dry_run
        )
    finally:
        db.close()
    counts = f"{done.items} items, {done.stories} stories, {done.deliveries} deliveries"
    rule = (
        f"published before {done.cutoff[:16].replace('T', ' ')} UTC, in no story seen in the "
        f"last {format_duration(settings.story_window)}, with no alert waiting"
    )
    if done.dry_run:
        print(f"would prune {counts} ({rule}); nothing was changed")
    else:
        print(f"pruned {counts} ({rule}); {done.bytes_before - done.bytes_after:,} bytes reclaimed")
    return 0


def _progress(label: str, unit: str):
    """Progress on one rewritten line, for a person at a terminal; nothing into a pipe or log."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total} {unit}", end="", file=sys.stderr, flush=True)

    return show


def _end_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)
