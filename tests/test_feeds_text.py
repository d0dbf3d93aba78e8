"""`wirewatch feeds` as an ops person reads it: a feed's failures counted in plain words."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.cli import main
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from tests.runtime import console_runtime


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


async def test_one_failure_is_said_as_one_failure(tmp_path, feed_server, capfd) -> None:
    """README: `wirewatch feeds` shows each feed's consecutive failures; after the first
    it said "1 failures"."""
    feed_server.serve("/rss", "oops", status=500, content_type="text/plain")
    config = _config(tmp_path, feed_server.url("/rss"))
    async with console_runtime(load_settings(config)) as (rt, _):
        shown = []
        for _ in range(2):
            await poll_once(rt)
            capfd.readouterr()
            assert await asyncio.to_thread(main, ["feeds", "--config", str(config)]) == 0
            shown.append(capfd.readouterr().out)
    assert "· 1 failure · last error:" in shown[0] and "HTTP 500" in shown[0], shown[0]
    assert "· 2 failures · last error:" in shown[1], shown[1]
