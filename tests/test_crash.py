"""`kill -9` at each step of a cycle, then a restart: no alert lost, none posted twice.

The process really dies: WIREWATCH_FAILPOINT makes `wirewatch poll --once` SIGKILL itself
after fetching, after storing items, after claiming a delivery, or after sending but before
marking it sent. What the dead process printed and what the restarted one prints together
must be what a cycle without a crash prints, and the database must pass integrity_check.

Stdout keeps no record a restarted process could ask, so the console can repeat the one
alert that was on its way out at a kill after sending (and only that one). A platform that
remembers what it was sent, as Slack (metadata) and Discord (nonce) do, is played here by a
journal file: through it the core's claim/reconcile protocol must deliver exactly once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sqlite3
import sys
import uuid
from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType

import pytest

from bot.failpoints import STEPS
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from tests.feedserver import FeedServer
from tests.runtime import console_runtime

NOW = datetime.now(UTC) - timedelta(minutes=10)
FEEDS = {
    "/a": [
        ("a1", "North Korea has sent more troops to Russia, South Korea says"),
        ("a2", "Britain deploys 500 troops to Estonia"),
    ],
    "/b": [
        ("b1", "N. Korea sends additional troops to Russia: Seoul spy agency"),
        ("b2", "Chess champion wins again"),
        ("b3", "Japan dispatches destroyers to the Gulf of Aden"),
    ],
}

# A chat platform that remembers, in a file that survives the kill, what it was sent.
DRIVER = """
import asyncio, json, os, sys
from bot.poll_cycle import poll_once
from bot.startup import open_runtime
from bot.model import MessageRef
from bot.settings import load_settings

class Journal:
    platform = "slack"

    def __init__(self, path):
        self.path = path

    def _post(self, channel, alert, thread):
        line = {"delivery": alert.delivery_id, "title": alert.title, "kind": alert.kind}
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\\n")
            f.flush()
            os.fsync(f.fileno())
        return MessageRef("slack", channel, f"m{alert.delivery_id}", thread)

    async def post_alert(self, channel, alert):
        return self._post(channel, alert, None)

    async def post_update(self, parent, alert):
        return self._post(parent.channel, alert, parent.message_id)

    async def find_posted(self, channel, delivery_id, thread=None, *, since=None):
        if os.path.exists(self.path):
            for line in open(self.path).read().splitlines():
                if json.loads(line)["delivery"] == delivery_id:
                    return MessageRef("slack", channel, f"m{delivery_id}")
        return None

    async def post_digest(self, channel, text, key):
        with open(self.path, "a") as f:
            f.write(json.dumps({"delivery": key, "title": text, "kind": "digest"}) + "\\n")
            f.flush()
            os.fsync(f.fileno())
        return MessageRef("slack", channel, f"d{key}")

    async def edit_alert(self, ref, alert): ...
    async def post_notice(self, channel, text, *, key=None): ...
    async def start(self, commands): ...
    async def stop(self): ...

async def cycle(config, journal, digest=False):
    async with open_runtime(load_settings(config), {"slack": Journal(journal)}) as rt:
        await poll_once(rt)
        if digest:
            from bot.digest import send_digests

            await send_digests(rt.db, rt.adapters)

if __name__ == "__main__":
    asyncio.run(cycle(sys.argv[1], sys.argv[2], digest=len(sys.argv) > 3))
"""


def _rss(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><link>https://x.example/{guid}</link>"
        f"<description>{title}.</description><pubDate>{format_datetime(NOW)}</pubDate></item>"
        for guid, title in items
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{body}</channel></rss>"
    )


def _config(folder: Path, server: FeedServer, channel: str, mode: str = "instant") -> Path:
    folder.mkdir(exist_ok=True)
    feeds = "".join(
        f"  - {{name: {path.strip('/').upper()}, url: '{server.url(path)}'}}\n" for path in FEEDS
    )
    path = folder / "wirewatch.yaml"
    path.write_text(
        f"database: {folder / 'w.db'}\narticles: {{fetch: false}}\nfeeds:\n{feeds}"
        f"subscriptions:\n  - {{topic: troop-deployments, channel: '{channel}', mode: {mode}}}\n",
        encoding="utf-8",
    )
    return path


async def _run(*args: str, failpoint: str | None = None) -> tuple[int, str]:
    """Run a wirewatch process to its end; a killed one must take its parse workers along."""
    mark = str(uuid.uuid4())
    env = {"PATH": "/usr/bin:/bin", "WIREWATCH_TEST_RUN": mark}
    if failpoint:
        env["WIREWATCH_FAILPOINT"] = failpoint
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=pipe, stderr=pipe
    )
    try:  # EOF on stdout needs every process holding it gone, orphaned workers included
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        survivors = _processes_marked(mark)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)  # only ever processes this test started
    assert survivors == [], "processes of the killed bot (parse workers?) outlived it"
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    return proc.returncode, out.decode()


def _processes_marked(mark: str) -> list[int]:
    """Processes carrying this run's mark in their environment (inherited by children)."""
    needle = f"WIREWATCH_TEST_RUN={mark}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with suppress(OSError):
            if needle in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
    return found


async def _poll_cli(config: Path, failpoint: str | None = None) -> tuple[int, list[tuple]]:
    argv = ["-m", "bot.cli", "poll", "--once", "--config", str(config), "--json"]
    code, out = await _run(*argv, failpoint=failpoint)
    return code, [(a["title"], a["kind"]) for a in map(json.loads, out.splitlines())]


def _settled(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
    finally:
        conn.close()


@pytest.fixture
async def wire():
    async with FeedServer() as server:
        for path, items in FEEDS.items():
            server.serve(path, _rss(items))
        yield server


async def _reference(tmp_path: Path, server: FeedServer) -> list[str]:
    """The same cycle without a crash, in this process."""
    config = _config(tmp_path / "reference", server, "console")
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
    kinds = Counter(a["kind"] for a in console.alerts())
    assert kinds == {"new": 3, "update": 1}  # which outlet's report is first varies
    return [a["title"] for a in console.alerts()]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
async def test_console_after_kill_9_loses_nothing_and_repeats_at_most_the_one_in_flight(
    tmp_path, wire, step
):
    expected = await _reference(tmp_path, wire)
    config = _config(tmp_path / "crash", wire, "console")
    code, before = await _poll_cli(config, failpoint=step)
    assert code == -signal.SIGKILL, "the failpoint did not fire"
    async with console_runtime(load_settings(config)) as (rt, console):  # the restart
        await poll_once(rt)
    after = [(a["title"], a["kind"]) for a in console.alerts()]
    seen = Counter(title for title, _ in before + after)
    assert set(seen) == set(expected), "an alert was lost"
    repeated = seen - Counter(expected)
    if step == "after_send":  # printed, then killed before it was marked: printed once more
        assert len(before) == 1 and repeated == Counter([before[0][0]])
    else:
        assert repeated == Counter()
    repeats = before if step == "after_send" else []
    kinds = Counter(kind for _, kind in before + after) - Counter(kind for _, kind in repeats)
    assert kinds == {"new": 3, "update": 1}  # one first alert per story, never a second
    assert _settled(tmp_path / "crash" / "w.db") == {"sent": len(expected)}


@pytest.mark.slow
async def test_a_platform_that_remembers_gets_every_alert_exactly_once(tmp_path, wire):
    expected = await _reference(tmp_path, wire)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    config = _config(tmp_path / "crash", wire, "slack:C1")
    journal = tmp_path / "journal.jsonl"
    code, _ = await _run(str(driver), str(config), str(journal), failpoint="after_send")
    assert code == -signal.SIGKILL, "the failpoint did not fire"
    await _load(driver).cycle(config, journal)  # the restart, with the same platform double
    posted = [json.loads(line) for line in journal.read_text().splitlines()]
    assert Counter(p["delivery"] for p in posted).most_common(1)[0][1] == 1, posted
    assert sorted(p["title"] for p in posted) == sorted(expected)
    assert Counter(p["kind"] for p in posted) == {"new": 3, "update": 1}
    assert _settled(tmp_path / "crash" / "w.db") == {"sent": len(expected)}


@pytest.mark.slow
async def test_a_digest_posted_then_killed_before_marked_is_not_posted_again(tmp_path, wire):
    """A digest keeps the outbox's promise: killed between its post and its mark, the
    restart finds it on the platform (by its key) and posts nothing twice, nothing lost."""
    expected = await _reference(tmp_path, wire)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    config = _config(tmp_path / "crash", wire, "slack:C1", mode="digest")
    journal = tmp_path / "journal.jsonl"
    argv = [str(driver), str(config), str(journal), "digest"]
    code, _ = await _run(*argv, failpoint="after_send")
    assert code == -signal.SIGKILL, "the failpoint did not fire"
    assert _settled(tmp_path / "crash" / "w.db").get("claimed") == len(expected)  # in doubt
    await _load(driver).cycle(config, journal, digest=True)  # the restart
    posted = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [p["kind"] for p in posted] == ["digest"], posted  # one message, once
    assert "· 3 stories" in posted[0]["title"].splitlines()[0]  # North Korea's, Britain's, Japan's
    assert _settled(tmp_path / "crash" / "w.db") == {"sent": len(expected)}


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"crash_driver_{uuid.uuid4().hex}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
