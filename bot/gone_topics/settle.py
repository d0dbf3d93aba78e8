"""At start: what waits for a gone topic held, what was held for one that is back given back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.gone_topics.giving_back import IN_CONFIG, giving_back
from bot.gone_topics.holding import holding
from bot.gone_topics.notices import departure_key, told
from bot.gone_topics.tally import GIVING_BACK, HOLDING, Tally, tally_marks
from bot.narrow import Redecision
from bot.redecide.channel import topic_exists
from bot.redecide.slices import AT_START, finished, sliced
from bot.store import HELD_FOR_GONE, subscriptions


def settle_gone_topics(
    db: sqlite_utils.Database,
    max_age: float,
    now: datetime | None = None,
    again: Redecision | None = None,
    stop: threading.Event | None = None,
) -> None:
    """At start, once topics and config subscriptions are synced: hold what waits for a
    topic that is gone, give back what was held for one that is back (decided again by
    `again`, from `returning`, first); tell each channel.

    Off the event loop (`bot.startup._gone_at_start`), a story at a time in slices (`sliced`;
    seconds at thousands held): a `stop` ends it between two (StoppingError), and the next
    start finishes it, as an uninterrupted one would have. Each subscription's counts so
    far are kept with the slices (`Tally`), and its channel is told once, when its hold or
    give-back is whole, with the counts of the whole of it."""
    since = iso((now or utcnow()) - timedelta(seconds=max_age))
    with write(db):
        subs = [s for s in subscriptions(db) if s.paused_reason != "unsubscribed"]
        held = {  # through the status index: a subscription's sent history is not read
            r[0]
            for r in db.execute(
                "SELECT DISTINCT subscription_id FROM deliveries WHERE status = 'held' AND "
                "error LIKE ?",
                [HELD_FOR_GONE],
            )
        }
        marks = {(u["kind"], u["subscription_id"]): u for u in tally_marks(db)}
        units: list[Callable[[], int]] = []
        lasts: list[Callable[[], None]] = []
        for sub in subs:
            if not topic_exists(db, sub.topic):
                work = holding(db, sub, subs, Tally.of(db, marks.pop((HOLDING, sub.id), None)))
            elif (
                sub.id in held
                or (GIVING_BACK, sub.id) in marks
                or told(db, f"topic-gone:{departure_key(db, sub)}")
            ):
                mark = marks.pop((GIVING_BACK, sub.id), None)
                tally = Tally.of(db, mark, GIVING_BACK, sub.id)
                work = giving_back(db, sub, since, max_age, IN_CONFIG, again, tally)
            else:
                continue
            units += work[0]
            lasts.append(work[1])
        # A hold or give-back cut short whose topic went the other way (or whose
        # subscription ended) since: its channel was told nothing of it, and is not.
        finished(db, *(u["id"] for u in marks.values()))

    def last() -> int:
        for finish in lasts:
            finish()
        return 0

    sliced(db, units, last, stop, AT_START)
