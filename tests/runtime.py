"""A pytest plugin: build real runtimes (SQLite file, fetcher, console adapter) for tests."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.console import ConsoleAdapter
from bot.app import Runtime, open_runtime
from bot.settings import Settings


def make_settings(db: Path, feeds: list[tuple[str, str]], **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "database": str(db),
        "feeds": [{"name": n, "url": u} for n, u in feeds],
        "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
    }
    data.update(extra)
    return Settings.model_validate(data)


class Console(ConsoleAdapter):
    """The real console adapter writing JSON lines to memory, so tests can read the alerts."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), json_lines=True)

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]


@asynccontextmanager
async def console_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, Console]]:
    console = Console()
    async with open_runtime(settings, {"console": console}) as rt:
        yield rt, console


@pytest.fixture
def runtime_factory():
    return console_runtime
