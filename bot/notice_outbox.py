"""Moderator notices (a channel paused, a topic broken) sent once each, through the
platform they concern, retried with the outbox's backoff; one that may have been posted
before a restart is looked for first.
"""

from __future__ import annotations

import logging

import sqlite_utils

from bot.chat import ChatAdapter, split_channel
from bot.clock import iso, later, parse_stored, utcnow
from bot.db import write
from bot.delivery_rows import retry_delay
from bot.errors import DeliveryError

# Logged as the outbox, as before it was split: operators' filters and greps name bot.outbox.
log = logging.getLogger("bot.outbox")

NOTICE_ATTEMPTS = 10  # some 40 minutes of retries (5 s doubling, capped at 15 min)

# How long a notice in doubt waits for a platform that says "ask later" (Slack's history
# limit for apps outside its Marketplace: a read a minute) before it is sent again unseen.
NOTICE_LOOKUP_PATIENCE = 3600.0

# A notice sent this long after it was queued says when it was: health notices ("has gone
# silent", "is failing") carry no date, and one that waited days for its platform's token
# (or for a bot that was down) read as news of now.
NOTICE_DATED_AFTER = 3600.0


async def deliver_notices(
    db: sqlite_utils.Database, adapters: dict[str, ChatAdapter], *, only: str | None = None
) -> int:
    """Send queued moderator notices once each, through the platform they concern; one for
    a platform with no adapter here (its token not set) waits in the database, as its
    alerts do, until wirewatch runs with it: `check` and the start-up log say so, and
    printed on the console instead it was marked sent and never reached the channel.
    `only`: those that go through that platform.
    One the platform refuses is tried again, backing off as alerts do, NOTICE_ATTEMPTS
    times in all; then it is given up, loudly in the log. A try that began before (cut by a
    shutdown, its answer lost) may have posted it: the platform is asked first."""
    sent = 0
    due = db.query(
        "SELECT id, channel, text, attempts, next_attempt, created FROM notices "
        "WHERE sent_at IS NULL AND (next_attempt IS NULL OR next_attempt <= ?)",
        [iso(utcnow())],
    )
    for row in list(due):
        platform, ident = split_channel(row["channel"] or "console")
        adapter = adapters.get(platform)
        if adapter is None or (only is not None and platform != only):
            continue
        if row["next_attempt"] is not None:
            found = await _notice_found(adapter, ident, row)
            if isinstance(found, float):  # the platform says: ask again then
                with write(db):
                    db.execute(
                        "UPDATE notices SET next_attempt = ? WHERE id = ?",
                        [later(found), row["id"]],
                    )
                continue
            if found:
                _notice_sent(db, row["id"])
                sent += 1
                continue
        _notice_begun(db, row["id"])
        try:
            await adapter.post_notice(ident, _dated(row), key=row["id"])
        except Exception as exc:
            attempts = row["attempts"] + 1
            if attempts < NOTICE_ATTEMPTS:
                log.warning("notice.failed id=%d attempt=%d error=%s", row["id"], attempts, exc)
                with write(db):
                    db.execute(
                        "UPDATE notices SET attempts = ?, next_attempt = ? WHERE id = ?",
                        [attempts, later(retry_delay(attempts, None)), row["id"]],
                    )
                continue
            log.error("notice.given_up id=%d error=%s text=%s", row["id"], exc, row["text"])
        _notice_sent(db, row["id"])
        sent += 1
    return sent


def _dated(row: dict) -> str:
    """The notice's text, with when it was queued if that was NOTICE_DATED_AFTER ago."""
    queued = parse_stored(row["created"], None)
    if queued is None or (utcnow() - queued).total_seconds() < NOTICE_DATED_AFTER:
        return str(row["text"])
    return f"(queued {queued:%Y-%m-%d %H:%M} UTC) {row['text']}"


def _notice_begun(db: sqlite_utils.Database, notice_id: int) -> None:
    """A try begins: from now on the notice may be on the platform (`next_attempt` set is
    the mark; a retry's wait sets it later), so a restart asks before sending it again."""
    with write(db):
        db.execute("UPDATE notices SET next_attempt = ? WHERE id = ?", [iso(utcnow()), notice_id])


def _notice_sent(db: sqlite_utils.Database, notice_id: int) -> None:
    with write(db):
        db.execute("UPDATE notices SET sent_at = ? WHERE id = ?", [iso(utcnow()), notice_id])


async def _notice_found(adapter: ChatAdapter, ident: str, row: dict) -> bool | float:
    """An earlier try's notice, already on the platform? When it cannot tell, it is sent
    again: a notice twice is better than one that says why alerts stopped, lost. When it can
    tell later (a rate limit's Retry-After), the seconds to wait: for up to
    NOTICE_LOOKUP_PATIENCE after the notice was queued, then it is sent again unseen."""
    since = parse_stored(row["created"], None)  # never posted before it was queued
    try:
        found = await adapter.find_notice(ident, row["id"], since=since)
    except DeliveryError as exc:
        age = (utcnow() - since).total_seconds() if since is not None else 0.0
        if exc.retry_after is not None and age + exc.retry_after <= NOTICE_LOOKUP_PATIENCE:
            log.info("notice.lookup_later id=%d retry_in=%gs", row["id"], exc.retry_after)
            return float(max(exc.retry_after, 1.0))
        log.warning("notice.in_doubt id=%d error=%s: sending it again", row["id"], exc)
        return False
    except Exception as exc:
        log.warning("notice.in_doubt id=%d error=%s: sending it again", row["id"], exc)
        return False
    if found:
        log.info("notice.found_posted id=%d", row["id"])
    return found
