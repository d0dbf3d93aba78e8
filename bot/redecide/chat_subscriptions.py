"""Chat's `subscribe` and `unsubscribe`: the subscription changed, what waits decided again.

In slices (`bot.redecide.slices`) that a poll's writes go between; what one cut short left
is finished first (`bot.redecide.leftovers`).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.redecide.channel import QUEUED, WAITING, queued_stories, redecide_story
from bot.redecide.finishing import end_rest, log_ended, resume
from bot.redecide.leftovers import finish_subscriptions
from bot.redecide.slices import finished, sliced, unfinish
from bot.store import LIVE_SUB


@dataclass(frozen=True)
class Subscribed:
    """What subscribing did to the channel's waiting alerts."""

    resumed: int  # held while the channel was paused: they go out now
    dropped: int  # refused by the subscription's changed --only/--except


def subscribe(
    db: sqlite_utils.Database,
    channel: str,
    topic: str,
    mode: str,
    only: str | None = None,
    except_: str | None = None,
    stop: threading.Event | None = None,
) -> Subscribed:
    """From chat, as given: mode and narrowing are replaced, not merged; a retired
    subscription comes back as chat's, so the config no longer ends it. The alerts it still
    has waiting go through a changed narrowing too (`Subscribed.dropped`), in slices
    (`sliced`) that a poll's writes go between; a paused channel stays paused, holding
    what comes meanwhile, until the last slice resumes it. A start finishes what a stop
    left half done (`sync_config_subscriptions`), and so does this command: what one cut
    short in this process left (a slice the database refused) is done first, whole."""
    with write(db):
        finish_subscriptions(db)
        before = db.execute(
            "SELECT id, only_query, except_query, paused_reason FROM subscriptions WHERE "
            f"channel = ? AND topic = ? AND {LIVE_SUB}",
            [channel, topic],
        ).fetchone()
        db.execute(
            "INSERT INTO subscriptions (channel, topic, mode, origin, created, only_query, "
            "except_query) VALUES (?, ?, ?, 'chat', ?, ?, ?) ON CONFLICT (channel, topic) DO "
            "UPDATE SET mode = excluded.mode, paused_reason = NULL, origin = CASE WHEN "
            f"{LIVE_SUB} THEN origin ELSE 'chat' END, only_query = excluded.only_query, "
            "except_query = excluded.except_query",
            [channel, topic, mode, iso(utcnow()), only, except_],
        )
        # A channel muted until later is muted for the topic it now takes on as well.
        now = iso(utcnow())
        db.execute(
            "UPDATE subscriptions SET muted_until = (SELECT max(muted_until) FROM subscriptions "
            f"WHERE channel = ? AND {LIVE_SUB} AND muted_until > ?) WHERE channel = ? "
            "AND topic = ? AND (muted_until IS NULL OR muted_until < ?)",
            [channel, now, channel, topic, now],
        )
        if before is None or tuple(before[1:3]) == (only, except_):
            return Subscribed(resume(db, channel), 0)
        sub_id, paused = before[0], before[3]
        db.execute("UPDATE subscriptions SET paused_reason = ? WHERE id = ?", [paused, sub_id])
        reason = "the subscription's new --only/--except refuses it"
        mark = unfinish(db, "narrowed", reason, subscription_id=sub_id)
        stories = queued_stories(db, [sub_id], QUEUED)
    units = [
        functools.partial(redecide_story, db, channel, story, [sub_id], QUEUED, reason)
        for _, story in stories
    ]
    resumed: list[int] = []

    def last() -> int:
        resumed.append(resume(db, channel))
        return finished(db, mark)

    dropped = sliced(db, units, last, stop)
    return Subscribed(resumed[0], dropped)


def unsubscribe(
    db: sqlite_utils.Database, channel: str, topic: str, stop: threading.Event | None = None
) -> int | None:
    """End the channel's subscription: how many alerts it had waiting to be posted were
    dropped (held ones of a paused channel included), or None when the channel had no such
    subscription. In slices (`sliced`) a poll's writes go between: the subscription ends
    in the first (nothing new is queued through it), its waiting alerts are decided a story
    at a time, and a start finishes what a stop left half done (so does this command, first,
    for one a refused slice cut short in this process: `subscribe`)."""
    with write(db):
        finish_subscriptions(db)
        rows = list(
            db.query(
                "SELECT id, channel, topic FROM subscriptions WHERE channel = ? AND topic = ? "
                f"AND {LIVE_SUB}",
                [channel, topic],
            )
        )
        if not rows:
            return None
        row = rows[0]
        # A muted alert was skipped already ("not saved"): ending it drops nothing more.
        skipped = [
            r[0]
            for r in db.execute(
                "SELECT id FROM deliveries WHERE subscription_id = ? AND status = 'muted'",
                [row["id"]],
            )
        ]
        db.execute(
            "UPDATE subscriptions SET paused_reason = 'unsubscribed' WHERE id = ?", [row["id"]]
        )
        # Its waiting alerts are held at once: the outbox (and the digest) post none of them
        # between two slices, as none was once the command's one write began. (Its edits
        # and marks concern messages the channel has; they are handed on in the last slice.)
        db.execute(
            "UPDATE deliveries SET status = 'held' WHERE subscription_id = ? AND "
            "status IN ('pending', 'digest') AND event_id = 0 AND kind IN ('new', 'update')",
            [row["id"]],
        )
        mark = unfinish(db, "ended", "unsubscribed", subscription_id=row["id"])
        stories = queued_stories(db, [row["id"]], WAITING)
    units = [
        functools.partial(redecide_story, db, channel, story, [row["id"]], WAITING, "unsubscribed")
        for _, story in stories
    ]

    def last() -> int:
        end_rest(db, row, "unsubscribed", WAITING)
        return finished(db, mark)

    dropped = sliced(db, units, last, stop)
    log_ended(row, "unsubscribed", dropped)
    return dropped - sum(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'cancelled' AND id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        ).fetchone()[0]
        for chunk in _chunks(skipped)
    )


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """Ids in slices a query's parameters hold."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]
