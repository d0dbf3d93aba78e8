"""The command line's side of editors' feedback: `wirewatch feedback KIND ALERT` (what the
console prints under each alert and each digest, since a terminal has no buttons; ALERT
is an alert's `ref`, or a digest line's) and `wirewatch eval
--feedback FILE.jsonl` (the recorded labels as labelled items).

bot.cli parses the arguments and loads the config, then calls in here; what a label is and
how it is exported live in bot.feedback and bot.feedback_export.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bot.catalog import configured_topics
from bot.db import open_existing, open_read_only
from bot.errors import UsageError
from bot.feedback import MAX_ALERT, alert_number, answer, record_label
from bot.feedback_export import export_feedback
from bot.settings import Settings
from bot.store import list_topics


def feedback_command(args: argparse.Namespace, settings: Settings) -> int:
    """Record a label as the console operator: 0 recorded (or already), 2 nothing recorded
    (no such alert, a number that is no alert's nor a digest line's, a story still waiting
    for its digest, a story's lone first report)."""
    number = _alert(args.alert)
    db = open_existing(settings.database)
    try:
        outcome = record_label(
            db, args.kind, number, platform="console", user=_who(args.by), channel="console"
        )
    finally:
        db.close()
    if outcome.status == "unknown":
        raise UsageError(f"{answer(outcome, privately=False)} {_where(settings)}")
    if not outcome.recorded:
        raise UsageError(answer(outcome, privately=False))
    print(answer(outcome, privately=False))
    return 0


def _where(settings: Settings) -> str:
    """Which database was asked: an alert printed by a bot run with another `--config` (or
    from another folder, for a relative `database`) is in another file."""
    database = Path(settings.database).resolve()
    return (
        f"(Looked in {database}, the database of {settings.source}: give the --config, "
        "and run from the folder, that the bot runs with.)"
    )


def _alert(words: list[str]) -> int:
    """ALERT as chat takes it (`12`, `ref 12`, `#12`): the console says `ref`, so do people."""
    given = " ".join(words)
    number = alert_number(given)
    if number is None:
        raise UsageError(f"ALERT is the alert's number (`ref 12` under it: 12), not {given!r}")
    if not 0 < number <= MAX_ALERT:
        raise UsageError(f"there is no alert {number}: alerts are numbered from 1")
    return number


def _who(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER and no passwd entry, as in some containers
        return "console"


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch eval --feedback FILE.jsonl [--topic T]`: write the labels, say how many."""
    if args.file is not None or args.split or args.titles_only:
        raise UsageError(
            "--feedback exports labels and measures nothing: give it without FILE.jsonl, "
            "--split or --titles-only"
        )
    db = open_read_only(Path(settings.database))
    try:
        topics = [t for (t,) in db.execute("SELECT DISTINCT topic FROM feedback ORDER BY 1")]
        known = {t.name for t in configured_topics(settings)} | {t.name for t in list_topics(db)}
        if args.topic not in known | set(topics):  # a typo would empty an earlier export
            raise UsageError(f"--topic {args.topic!r} is not a topic: {', '.join(sorted(known))}")
        done = export_feedback(db, args.topic, str(args.feedback))
    finally:
        db.close()
    where = "stdout" if str(args.feedback) == "-" else args.feedback
    print(
        f"{done.items} labelled items of topic {args.topic} written to {where}: "
        f"{done.not_relevant} not relevant (label other), {done.wrong_story} in a wrong story",
        file=sys.stderr,
    )
    if not done.items:
        others = ", ".join(topics) or "none yet"
        note = f"note: no feedback on {args.topic} (topics with feedback: {others})"
        print(note, file=sys.stderr)
    return 0
