"""A chat channel that is gone (deleted, archived): what its pause notice says, and the copy
for `ops_channel`.

"Fix it, then subscribe again" asked the impossible of a deleted channel: no one can type
in it, so its subscriptions and held alerts stayed for good. Its notice says how to end
them from the bot's host (`wirewatch subscriptions remove CHANNEL`, bot.cli_subscriptions),
or, for a channel that may come back (archived; Slack's not found, which may be a private
channel without the app), how to resume. The channel's own server or moderators get it
through the adapter's fallbacks; `ops_channel` gets a copy (`copy_to_ops`), since whoever
runs the host is the one who can end them.

Deliberately not here: pausing the channel and holding its alerts (bot.send_errors).
"""

from __future__ import annotations

import sqlite_utils

from bot.db import write
from bot.errors import Gone
from bot.store import LIVE_SUB, queue_notice
from bot.wording import counted

# The notice of a gone channel is keyed `gone:CHANNEL`; its copy for ops `ops:gone:CHANNEL`.
KEY = "gone:"
OPS_KEY = "ops:"


def gone_key(channel: str) -> str:
    return f"{KEY}{channel}"


def gone_notice(db: sqlite_utils.Database, channel: str, reason: str, gone: Gone) -> str:
    """What the notice of a gone channel says: what became of it, that its alerts are
    held, and the way out there is (resume where it may come back, else end them)."""
    held = db.execute(
        "SELECT count(*) FROM deliveries WHERE channel = ? AND status = 'held' AND "
        "kind IN ('new', 'update')",
        [channel],
    ).fetchone()[0]
    topics = [
        r[0]
        for r in db.execute(
            f"SELECT topic FROM subscriptions WHERE channel = ? AND {LIVE_SUB} ORDER BY topic",
            [channel],
        )
    ]
    end = (
        f"`wirewatch subscriptions remove {channel}` on wirewatch's host ends its "
        "subscriptions and their held alerts"
    )
    head = f"wirewatch paused alerts to {channel}: {reason}. "
    kept = f"Its alerts are held ({counted(held, 'alert')} so far)"
    if gone == "deleted":
        return f"{head}The channel was deleted, so no one can resume it. {kept}: {end}."
    again = "`/wirewatch subscribe TOPIC` there again" + (
        f" ({', '.join(f'`{t}`' for t in topics)})" if topics else ""
    )
    fix = "Unarchive it" if gone == "archived" else "If it is private, invite the app"
    left = "If it stays archived" if gone == "archived" else "If it was deleted"
    return f"{head}{kept}. {fix}, then {again} to resume: the held alerts are sent. {left}, {end}."


def copy_to_ops(db: sqlite_utils.Database, ops_channel: str | None) -> int:
    """Queue for `ops_channel` a copy of each gone channel's notice it has not had, while
    the channel is still paused; how many. Run by the bot before it sends notices (its
    outbox knows no config). Reads only, unless there is one to copy."""
    if not ops_channel:
        return 0
    rows = db.execute(
        "SELECT n.key, n.text FROM notices n WHERE n.key >= ? AND n.key < ? "
        "AND coalesce(n.channel, '') != ? AND NOT EXISTS (SELECT 1 FROM notices o "
        "WHERE o.key = ? || n.key) AND EXISTS (SELECT 1 FROM subscriptions s WHERE "
        f"s.channel = n.channel AND s.paused_reason IS NOT NULL AND {LIVE_SUB})",
        [KEY, KEY[:-1] + chr(ord(KEY[-1]) + 1), ops_channel, OPS_KEY],
    ).fetchall()
    if not rows:
        return 0
    with write(db):
        return sum(queue_notice(db, f"{OPS_KEY}{key}", text, ops_channel) for key, text in rows)
