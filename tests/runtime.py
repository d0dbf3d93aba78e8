"""A pytest plugin: build real runtimes (SQLite file, fetcher, console adapter) for tests,
and the small helpers tests of a real `wirewatch` subprocess share."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.console import ConsoleAdapter
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime


def recent(minutes: float = 5) -> str:
    """An RSS date `minutes` ago: fresh enough to be alerted (an undated item of a feed's
    first poll is back catalogue, never alerted)."""
    return format_datetime(datetime.now(UTC) - timedelta(minutes=minutes), usegmt=True)


def make_settings(db: Path, feeds: list[tuple[str, str]], **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "database": str(db),
        "feeds": [{"name": n, "url": u} for n, u in feeds],
        "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
    }
    data.update(extra)
    return Settings.model_validate(data)


# Titles of demo items that must never be alerted (bot/demo/feeds/*.xml).
DEMO_DISTRACTORS = (
    "BOK cuts",
    "BLACKPINK",
    "SK Telecom",
    "Premium pass",
    "OPEC",
    "Merz",
    "ballistic missile",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def read_until(stream: asyncio.StreamReader, needle: str, within: float) -> str:
    """Lines of a subprocess's output until `needle` appears or `within` seconds pass."""
    seen = ""
    deadline = time.monotonic() + within
    while needle not in seen:
        line = await asyncio.wait_for(stream.readline(), deadline - time.monotonic())
        if not line:
            break
        seen += line.decode()
    return seen


class Console(ConsoleAdapter):
    """The real console adapter writing JSON lines to memory, so tests can read the alerts."""

    def __init__(self) -> None:
        self.written = io.StringIO()
        super().__init__(self.written, json_lines=True)

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.written.getvalue().splitlines() if line]


@asynccontextmanager
async def console_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, Console]]:
    console = Console()
    async with open_runtime(settings, {"console": console}) as rt:
        yield rt, console


@pytest.fixture
def runtime_factory():
    return console_runtime
