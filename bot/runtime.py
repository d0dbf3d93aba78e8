"""What a running bot holds: the database, the pipeline, the adapters and the run's state.

Made by bot.startup (`open_runtime`), run by bot.loop (`run_forever`) or bot.poll_cycle
(`poll_once`), read by the chat commands and /readyz (bot.readiness).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import sqlite_utils
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.chat import ChatAdapter
from bot.poll_context import Pipeline
from bot.runstate import Recorder
from bot.settings import Settings
from bot.store_thread import StoreThread


@dataclass
class Runtime:
    settings: Settings
    db: sqlite_utils.Database
    pipeline: Pipeline
    adapters: dict[str, ChatAdapter]
    busy: set[asyncio.Task] = field(default_factory=set)
    scheduler: AsyncIOScheduler | None = None
    # One drain at a time per platform: then any 'claimed' delivery of that platform seen at
    # its drain's start is a leftover. Each platform has its own, so one that hangs or waits
    # out a rate limit holds up only its own channels (`drain_lock`).
    drain_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    polling: set[asyncio.Task] = field(default_factory=set)
    woken: set[asyncio.Task] = field(default_factory=set)  # drains a poll wave asked for
    fatal: str | None = None  # why the bot stopped itself (a damaged database file)
    index_saved: tuple[int, int] | None = None  # (docs, newest item) at the last save
    # Chat commands' queries run here, off the event loop (None for `:memory:`: a second
    # connection could not see that database).
    store: StoreThread | None = None
    # What `run` records of itself for `wirewatch status` in another process (bot.runstate).
    record: Recorder = field(default_factory=Recorder)

    def drain_lock(self, platform: str) -> asyncio.Lock:
        return self.drain_locks.setdefault(platform, asyncio.Lock())
