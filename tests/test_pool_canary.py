"""Worker processes that cannot start are the bot's failure, never a feed's.

Every worker dying as it starts (an import error, a broken install, a memory limit) used to
read as "the parse worker crashed on this input": each feed was counted failing and, after
`max_failures`, disabled. A canary (a tiny known-good feed, parsed by a fresh pool) now tells
that pool from a hostile input. WIREWATCH_FAILPOINT=worker_start has every worker of a real
`wirewatch` SIGKILL itself as it starts (bot.failpoints); feeds come from a real HTTP server
on 127.0.0.1 and state from the real SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.errors import WorkerError
from bot.workers import WorkersBroken, in_worker, pool_trouble
from tests.runtime import free_port, read_until, recent

TITLE = "Poland deploys 2,000 troops to the Belarus border"
FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item>"
    f"<title>{TITLE}</title><guid>w1</guid><link>https://w.example/1</link>"
    f"<description>Warsaw sent troops.</description><pubDate>{recent()}</pubDate>"
    "</item></channel></rss>"
)
BROKEN = {"WIREWATCH_FAILPOINT": "worker_start"}


def _config(tmp_path: Path, url: str) -> Path:
    """One feed, disabled by its first failure if it were blamed (`max_failures: 1`)."""
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\nmax_failures: 1\n"
        f"feeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    return path


def _env(**more: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), **more}


async def _poll(config: Path, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "poll", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode() + err.decode()


def _feed_state(tmp_path: Path) -> tuple[int, int, int]:
    """(failures, disabled, items) of the one feed."""
    with sqlite3.connect(tmp_path / "w.db") as db:
        failures, disabled = db.execute("SELECT failures, disabled FROM feeds").fetchone()
        [items] = db.execute("SELECT count(*) FROM items").fetchone()
    return failures, disabled, items


@pytest.mark.slow
async def test_a_poll_whose_workers_cannot_start_blames_no_feed_and_the_next_poll_gets_it_all(
    tmp_path, feed_server
):
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, feed_server.url("/rss"))
    said = await _poll(config, _env(**BROKEN))
    assert said.count("workers.broken") == 1, said  # loudly, once
    assert "the worker processes cannot work" in said.splitlines()[-1], said
    assert "crashed on this input" not in said
    assert _feed_state(tmp_path) == (0, 0, 0)  # not counted failing, nothing half stored
    # The install mended: the next poll (a cron's, a minute later) asks the feed again.
    said = await _poll(config, _env())
    assert "1 new item" in said, said
    assert _feed_state(tmp_path) == (0, 0, 1)
    assert TITLE in said  # alerted on the console
    assert len(feed_server.requests_to("/rss")) == 2


@pytest.mark.slow
async def test_healthz_says_the_workers_cannot_work_and_the_feed_is_not_counted_failing(
    tmp_path, feed_server
):
    feed_server.serve("/rss", FEED)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config",
        str(_config(tmp_path, feed_server.url("/rss"))),
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        env=_env(WIREWATCH_HTTP_PORT=str(port), **BROKEN),
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        said = await read_until(proc.stderr, "poll.unparsed feed=Wire", within=90)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as r,
        ):
            status, body = r.status, await r.json()
    finally:
        proc.terminate()
        await proc.wait()
    assert "poll.unparsed feed=Wire" in said, said
    assert said.count("workers.broken") == 1, said
    assert status == 503 and "the worker processes cannot work" in body["reason"], body
    assert _feed_state(tmp_path) == (0, 0, 0)


async def test_a_worker_crashing_on_its_input_is_still_that_input_s_failure():
    """The canary passes (the pool works): the input is blamed, and the next call works."""
    with pytest.raises(WorkerError, match="crashed on this input") as raised:
        await in_worker(60, "hostile", os._exit, 3)  # the worker dies on this input alone
    assert not isinstance(raised.value, WorkersBroken)
    assert pool_trouble() == ""
    assert await in_worker(60, "next", bytes, 3) == bytes(3)
