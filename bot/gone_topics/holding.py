"""A topic gone: what waits for it goes on through another topic of the channel, else is held."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.gone_topics.held import GONE, held_count
from bot.gone_topics.notices import gone_text, tell
from bot.gone_topics.tally import HOLDING, Tally
from bot.redecide.channel import stored_item, taker, topic_exists
from bot.send_errors import UNKNOWN_AFRESH
from bot.store import HELD_FOR_GONE, SubscriptionRow, told_story

log = logging.getLogger(__name__)

# What waits through a subscription: a paused channel's held alerts and a send cut short
# (claimed) too.
_WAITING = ("pending", "digest", "claimed", "held")


def holding(
    db: sqlite_utils.Database, sub: SubscriptionRow, subs: list[SubscriptionRow], tally: Tally
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """Its waiting alerts (not a digest's in doubt) go on through another subscription of
    the channel whose topic takes the item, else are held; one claimed by a send cut short,
    or in a digest in doubt, is held in doubt (the platform is asked before any resend, once
    the topic is back: `bot.digest` would have posted the digest again without it). All
    held in the caller's write; then a unit per story moving on what another takes, and
    the last that tells the channel."""
    others = [s for s in subs if s.channel == sub.channel and s.id != sub.id]
    takers = [s for s in others if topic_exists(db, s.topic)]
    # as they were: `_move` keeps a claim or a pause (none to read when nothing takes them)
    waiting = _waiting(db, sub.id) if takers else []
    db.execute(  # first, so that they tell the channel of no story (`told_story`)
        "UPDATE deliveries SET status = 'held', error = ?, maybe_posted = CASE WHEN status = "
        "'claimed' THEN 1 ELSE maybe_posted END WHERE subscription_id = ? AND status IN "
        f"({','.join('?' * len(_WAITING))})",
        [GONE.format(sub.topic), sub.id, *_WAITING],
    )
    stories: dict[int, list[dict[str, Any]]] = {}
    for d in waiting:
        stories.setdefault(d["story_id"], []).append(d)
    if stories:
        tally.marked(HOLDING, sub.id)

    def story(ds: list[dict[str, Any]]) -> int:
        tally.add("moved", sum(move_on(db, d, takers, sub.channel) for d in ds))
        return 0

    def last() -> None:
        held, moved = held_count(db, sub), tally["moved"]
        if held or moved:
            log.warning(
                "topic.gone channel=%s topic=%s held=%d moved=%d",
                sub.channel,
                sub.topic,
                held,
                moved,
            )
        tell(db, sub, "gone", gone_text(sub, held, moved))
        tally.done()

    return [functools.partial(story, ds) for ds in stories.values()], last


def _waiting(db: sqlite_utils.Database, sub_id: int) -> list[dict[str, Any]]:
    """The subscription's waiting story alerts (not edits or marks), oldest first."""
    return list(
        db.query(
            "SELECT id, subscription_id, story_id, item_id, kind, status FROM deliveries WHERE "
            "subscription_id = ? AND "
            f"status IN ({','.join('?' * len(_WAITING))}) AND digest_of IS NULL AND "
            "event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [sub_id, *_WAITING],
        )
    )


def move_on(
    db: sqlite_utils.Database, d: dict[str, Any], takers: list[SubscriptionRow], channel: str
) -> int:
    """Under the first of `takers` that takes it as `bot.ingest` would queue its item now
    (`bot.redecide.channel.taker`): an update of a story the channel is told of by an alert that
    goes out, else the story's first alert here (its topic matched strictly)."""
    item = stored_item(db, d["item_id"])
    for to in takers:
        status = "digest" if to.mode == "digest" else "pending"
        told = told_story(db, channel, d["story_id"], status, before=d["id"])
        # one claimed by a send cut short may be out as it was: it stays that
        kind = d["kind"] if d["status"] == "claimed" else "update" if told else "new"
        if taker([to], item, {**d, "kind": kind}) is not None:
            return _move(db, d, to, kind)
    return 0


def _move(db: sqlite_utils.Database, d: dict[str, Any], to: SubscriptionRow, kind: str) -> int:
    """Under `to`, as it takes alerts now; one held while the channel is paused, or claimed
    by a send cut short, stays so, without the gone topic's reason (held at an earlier
    start), which a resume would leave held. An unknown error's bounds start again
    (`bot.send_errors.met_unknown`), as when the topic itself gives it back (`giving_back`)."""
    status = d["status"]
    if status not in ("claimed", "held") or (status == "held" and not to.paused_reason):
        status = "digest" if to.mode == "digest" else "pending"
    return db.execute(
        "UPDATE deliveries SET subscription_id = ?, status = ?, kind = ?, error = CASE WHEN "
        f"error LIKE ? THEN NULL ELSE error END, {UNKNOWN_AFRESH} "
        "WHERE id = ?",
        [to.id, status, kind, HELD_FOR_GONE, d["id"]],
    ).rowcount
