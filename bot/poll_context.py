"""What a poll needs (`Pipeline`) and what it tells of each feed (`PollResult`).

One `Pipeline` per running bot, shared by every feed's poll: the database, the settings,
the fetcher, the matcher, the gazetteer, the story index, the loop's turns, the feeds held
back while the database cannot record their outcome, and the feeds being polled now.

Polling is bot.pipeline's, deciding a feed's new entries bot.decide's; nothing here
fetches, matches or stores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import sqlite_utils

from bot.corroboration_store import Rule
from bot.feed_store import FeedRow
from bot.feeds.fetch import Fetcher
from bot.gazetteer import Gazetteer
from bot.settings import Settings
from bot.stories import StoryIndex
from bot.topics.match import Matcher
from bot.turns import Turns

HOLD = 60.0  # seconds a feed waits whose poll's outcome the database could not record


@dataclass(frozen=True)
class PollResult:
    """One feed's poll: what it stored and queued, or why it failed."""

    feed: str
    ok: bool
    new_items: int = 0
    deliveries: int = 0
    error: str | None = None
    not_modified: bool = False
    # Not polled by this call: another poll of the feed was in flight (`poll_many`), and
    # what it stores and records is the feed's outcome.
    in_flight: bool = False


@dataclass
class Pipeline:
    """What a poll needs; one per running bot, shared by every feed's poll."""

    db: sqlite_utils.Database
    settings: Settings
    fetcher: Fetcher
    matcher: Matcher
    gazetteer: Gazetteer
    index: StoryIndex
    article_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    # The loop's time, taken in turns by the feeds deciding and the wave storing.
    turns: Turns = field(default_factory=lambda: Turns())
    # Called when a wave stored new or edited items, so the runner can send them now rather than at
    # its next outbox tick (a first poll of 1,000 feeds has many waves).
    on_queued: Callable[[], None] | None = None
    # Feed id -> monotonic time before which it is not fetched again: its last outcome could
    # not be recorded (the database failing: a full disk), so its `next_poll` never moved.
    held: dict[int, float] = field(default_factory=dict)
    # Feed id -> the outcome of its poll in flight, once known. A feed is polled once at a
    # time: two polls of it (the scheduler's wave and a `feeds add`'s first poll) both found
    # its items new, and the second to store failed on them, holding its whole wave.
    polling: dict[int, asyncio.Future[PollResult]] = field(default_factory=dict)

    def ready(self, feeds: list[FeedRow]) -> list[FeedRow]:
        """The due feeds not held back: a failing database must not have every feed fetched
        again in full on every scheduler tick."""
        now = time.monotonic()
        return [f for f in feeds if self.held.get(f.id, 0.0) <= now]

    def hold(self, feed: FeedRow) -> None:
        self.held[feed.id] = time.monotonic() + min(HOLD, self.interval(feed))

    def interval(self, feed: FeedRow) -> float:
        """The feed's own poll interval, else the config's."""
        return feed.interval or self.settings.poll_interval

    @property
    def rule(self) -> Rule:
        """When a story is corroborated (config `corroboration`)."""
        c = self.settings.corroboration
        return Rule(c.outlets, timedelta(seconds=c.window))
