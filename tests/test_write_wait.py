"""A chat command that writes for long does not hold the event loop through a poll's writes.

`topic add` of a changed query and `subscribe --only` decide a channel's waiting alerts
again on the command thread; with thousands waiting (a digest's day, a paused channel's
outage) that took one transaction of seconds, and every write the loop made meanwhile (a
poll storing its items, the outbox marking a send) waited for all of it in SQLite's busy
handler, on the loop: heartbeats, acknowledgements and /healthz with it. Now the command
writes in slices (`bot.redecide.slices.sliced`) and the loop's writes go in between
(`bot.db.WriteTurns`), and what it decides stays whole: every waiting alert decided the
new way, the poll's items all stored, each alert queued and sent once. A process killed
between two slices leaves a row saying so; the next start finishes the work.
bench/loop_stall.py measures the stalls.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.clock import iso, utcnow
from bot.commands import Commands, Invocation
from bot.db import open_database, write
from bot.poll_cycle import poll_once
from bot.settings import Settings
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, recent

pytestmark = pytest.mark.usefixtures("own_heap")  # its bounds time the loop

BACKLOG = 10_000  # alerts waiting for a busy desk's digest
NEW = 20  # the poll's new items, each alerted
TOPIC = "desk"
# What the loop may wait, with room for a loaded 2-core machine: a slice of the command's
# write is 25 ms, but its work shares the interpreter with the poll's (0.2 s seen). In one
# transaction, the loop waited for the rest of the command's write (0.8-1.7 s, here).
BOUND = 0.6
# The commands: each decides every waiting alert again; those about "said" no longer pass.
LONG_WRITES = {
    "topic add": f"topic add {TOPIC} backlog AND NOT said",
    "subscribe --only": f"subscribe {TOPIC} digest --only `NOT said`",
}


# Each report as deployment news, so that a topic with the built-in relevance model asks
# the encoder about it: it is not asked about items its opinion could not lift to a bar
# (`LinearModel.opinion_matters`), and the backlog's own words score near nothing.
SENT = ": more troops sent to the border"


def _words(rng: random.Random, k: int) -> str:
    return " ".join(f"w{rng.randrange(4000)}" for _ in range(k))


_BUILT: dict[int, Path] = {}  # count -> a backlog made once per test run, then copied


def _backlog(path: Path, count: int = BACKLOG) -> Path:
    """A database whose console channel has `count` alerts waiting for its digest of topic
    `desk`, three reports to a story; every other one says "said". Made once (2 s at
    10,000, and its priming 3-4 s) and copied: the same rows every time, its timestamps
    those of the first."""
    if count not in _BUILT:
        _BUILT[count] = _made_once(path, count)
    shutil.copyfile(_BUILT[count], path)
    return path


def _made_once(path: Path, count: int) -> Path:
    """The backlog of `count`, made by whichever pytest-xdist worker first needs it, in the
    folder the run's workers share (the parent of each one's `popen-gwN` under `path`); the
    other worker waits for it rather than making its own (with the tests spread over both
    workers, both needed the 10,000: 10 s of making twice, on a loaded machine). Without
    xdist, or outside its folders, made here."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = next((p.parent for p in path.parents if p.name == f"popen-{worker}"), None)
    if worker is None or shared is None:
        return _primed(_build_backlog(Path(tempfile.mkdtemp()) / "backlog.db", count))
    made = shared / f"backlog-{count}.db"
    with open(shared / f"backlog-{count}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if not made.exists():
            making = shared / f"backlog-{count}.{worker}.db"
            making.unlink(missing_ok=True)  # a making cut short (its test failed)
            _primed(_build_backlog(making, count))
            making.rename(made)
    return made


# A start's index load, run once on the made backlog: it stores the items' story terms, as it
# does for a bot that has run. Each copy's start then reads them (0.4 s) instead of
# computing 10,000 items' terms anew (3-4 s, after what these tests stop or check). In a
# process of its own: the load uses the worker pool, and the tests' loops are running.
_PRIME = """
import asyncio, sys
from datetime import timedelta
from bot.db import open_database
from bot.indexfile import load_index
from bot.workers import shutdown_workers
db = open_database(sys.argv[1])
asyncio.run(load_index(db, ":memory:", timedelta(days=3)))
shutdown_workers()
db.close()
"""


def _primed(path: Path) -> Path:
    subprocess.run([sys.executable, "-c", _PRIME, str(path)], check=True, timeout=120)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM story_terms").fetchone()[0] > 0
    finally:
        conn.close()
    return path


def _build_backlog(path: Path, count: int) -> Path:
    open_database(path).close()
    rng = random.Random(5)
    conn = sqlite3.connect(path, isolation_level=None)
    now = iso(utcnow())
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO feeds (id, url, name, origin, next_poll, created, disabled, "
        "disabled_reason) VALUES (1, 'https://old.example/rss', 'Old', 'chat', ?, ?, 1, "
        "'removed')",
        [now, now],
    )
    conn.execute(
        "INSERT INTO topics (name, query, description, origin) VALUES (?, 'backlog', '', 'chat')",
        [TOPIC],
    )
    conn.execute(
        "INSERT INTO subscriptions (id, channel, topic, mode, origin, created) VALUES "
        "(1, 'console', ?, 'digest', 'chat', ?)",
        [TOPIC, now],
    )
    for n in range(count):
        story = n // 3 + 1
        if n % 3 == 0:
            conn.execute(
                "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (?, 's', ?, ?)",
                [story, now, now],
            )
        verb = "said" if n % 2 else "told"
        conn.execute(
            "INSERT INTO items (id, feed_id, identity, url, title, summary, published, "
            "first_seen, story_id) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
            [n + 1, f"guid:old-{n}", f"https://old.example/{n}",
             f"Backlog report {n} {verb} {_words(rng, 8)}{SENT}", f"{_words(rng, 60)}.", now, now,
             story],
        )  # fmt: skip
        conn.execute(
            "INSERT INTO matches (item_id, topic, matched) VALUES (?, ?, '[\"backlog\"]')",
            [n + 1, TOPIC],
        )
        conn.execute(
            "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
            "next_attempt, created) VALUES (1, 'console', ?, ?, ?, 'digest', ?, ?)",
            [story, n + 1, "new" if n % 3 == 0 else "update", now, now],
        )
    conn.execute("COMMIT")
    conn.close()
    return path


def _feed(rng: random.Random) -> bytes:
    items = "".join(
        f"<item><title>Officials {i} {_words(rng, 8)}</title><description>Officials said "
        f"{_words(rng, 200)}.</description><guid>new-{i}</guid><pubDate>{recent(5)}</pubDate>"
        "</item>"
        for i in range(NEW)
    )
    return f"<rss version='2.0'><channel><title>F</title>{items}</channel></rss>".encode()


def _settings(db: Path, server: FeedServer | None = None) -> Settings:
    return Settings.model_validate(
        {
            "database": str(db),
            "feeds": [{"name": "F", "url": server.url("/f")}] if server else [],
            "topics": {"wire": {"query": "officials"}},
            "subscriptions": [{"topic": "wire", "channel": "console"}],
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


async def _write_locked(db: Path) -> None:
    """Until another connection holds the write lock: the command's write has begun."""
    probe = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        for _ in range(20_000):
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return
            probe.execute("ROLLBACK")
            await asyncio.sleep(0.001)
        raise AssertionError("the command never began its write")
    finally:
        probe.close()


def _backlog_states(db: Path, count: int = BACKLOG) -> dict[int, tuple]:
    """Every waiting alert of the backlog as decided: item -> (status, kind, reason)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT item_id, status, kind, error FROM deliveries WHERE item_id <= ? "
            "ORDER BY item_id",
            [count],
        ).fetchall()
    finally:
        conn.close()
    return {item: (status, kind, error) for item, status, kind, error in rows}


def _decided_anew(states: dict[int, tuple], count: int = BACKLOG) -> None:
    """Each waiting alert decided the new way: those saying "said" dropped with a reason,
    the others waiting for the digest, a story's first one that is left its `new`."""
    assert len(states) == count, "an alert was lost"
    for item, (status, kind, reason) in states.items():
        n = item - 1
        if n % 2:  # says "said"
            assert (status, bool(reason)) == ("cancelled", True), (item, status, kind, reason)
        else:
            assert status == "digest", (item, status, kind, reason)
            first_kept = n % 3 == 0 or (n % 3 == 1 and (n - 1) % 2)
            assert kind == ("new" if first_kept else "update"), (item, kind)


@pytest.mark.parametrize("command", sorted(LONG_WRITES))
async def test_the_loop_serves_while_a_command_decides_a_backlog_again_and_a_poll_stores(
    tmp_path: Path, feed_server: FeedServer, command: str
) -> None:
    feed_server.serve("/f", _feed(random.Random(9)))
    db = _backlog(tmp_path / "w.db")
    async with console_runtime(_settings(db, feed_server)) as (rt, console):
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))  # its thread is up
        lags: list[float] = []
        answer = asyncio.create_task(
            cmds.handle(Invocation("console", "console", "ed", LONG_WRITES[command]))
        )

        async def heartbeat() -> None:  # what Discord's gateway and Slack's acks need
            while not answer.done():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        async def poll() -> tuple:
            await _write_locked(db)
            return await poll_once(rt)

        beating = asyncio.create_task(heartbeat())
        (results, _), reply = await asyncio.gather(poll(), answer)
        await beating
        polled = rt.db.execute(
            "SELECT count(*), count(DISTINCT item_id) FROM deliveries WHERE item_id > ?",
            [BACKLOG],
        ).fetchone()

    assert reply.ok, reply.text
    assert f"{BACKLOG // 2} alerts waiting" in reply.text, reply.text
    # The poll was whole: every item stored, each alert queued once and sent once.
    assert [r.ok for r in results] == [True] and results[0].new_items == NEW
    assert tuple(polled) == (NEW, NEW)
    sent = [a["delivery_id"] for a in console.alerts()]
    assert len(sent) == len(set(sent)) == NEW
    # The backlog was decided whole, the new way.
    _decided_anew(_backlog_states(db))
    # And all along the loop served: the heartbeat never waited long.
    assert max(lags) < BOUND, (max(lags), sorted(lags)[-5:])


KILLED_COMMAND = """
import asyncio, sys
from pathlib import Path
from bot.redecide import slices
from bot.startup import open_runtime
from bot.commands import Commands, Invocation
from tests.runtime import Console
from tests.test_write_wait import _settings

slices.WRITE_SLICE = 0.0  # a story per slice: the kill comes after the first
async def main():
    async with open_runtime(_settings(Path(sys.argv[1])), {"console": Console()}) as rt:
        await Commands(rt).handle(Invocation("console", "console", "ed", sys.argv[2]))
asyncio.run(main())
"""


@pytest.mark.parametrize("command", sorted(LONG_WRITES))
async def test_a_kill_between_two_slices_is_finished_at_the_next_start(
    tmp_path: Path, command: str
) -> None:
    """`kill -9` (the failpoint) after the command's first slice: the topic or filter is
    changed and a row says the work is unfinished; the next start decides the rest, and
    the outcome is that of a command never interrupted."""
    db = _backlog(tmp_path / "w.db", 300)
    killed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_COMMAND,
        str(db),
        LONG_WRITES[command],
        env={**os.environ, "WIREWATCH_FAILPOINT": "between_slices"},
        cwd=Path(__file__).parent.parent,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(killed.communicate(), 120)
    assert killed.returncode == -signal.SIGKILL, err.decode()[-2000:]
    half = _backlog_states(db)
    assert any(s == "cancelled" for s, _, _ in half.values()), "nothing was decided before"
    assert any(s == "digest" and i % 2 == 0 for i, (s, _, _) in half.items()), (
        "everything was decided before the kill"
    )
    conn = sqlite3.connect(db)
    marks = conn.execute("SELECT kind, topics FROM unfinished_writes").fetchall()
    conn.close()
    kind = "topics" if command == "topic add" else "narrowed"
    assert [m[0] for m in marks] == [kind], marks

    async with console_runtime(_settings(db)) as (rt, _):  # the restart
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
        query = rt.db.execute("SELECT query FROM topics WHERE name = ?", [TOPIC]).fetchone()[0]
        only = rt.db.execute("SELECT only_query FROM subscriptions WHERE id = 1").fetchone()[0]
    assert left == 0
    assert (query, only) == (
        ("backlog AND NOT said", None) if command == "topic add" else ("backlog", "NOT said")
    )
    _decided_anew(_backlog_states(db, 300), 300)


async def test_an_unsubscribe_cut_between_two_slices_sends_nothing_more_of_it(
    tmp_path: Path,
) -> None:
    """`unsubscribe` decides the ended subscription's waiting alerts a story at a time. From
    its first slice on, none of them can go out (the outbox and the digest send only pending
    and digest ones), as none could once the command's one write began; a kill between two
    slices is finished at the next start: every one of them dropped."""
    db = _backlog(tmp_path / "w.db", 300)
    killed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_COMMAND,
        str(db),
        f"unsubscribe {TOPIC}",
        env={**os.environ, "WIREWATCH_FAILPOINT": "between_slices"},
        cwd=Path(__file__).parent.parent,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(killed.communicate(), 120)
    assert killed.returncode == -signal.SIGKILL, err.decode()[-2000:]
    half = _backlog_states(db)
    assert any(s == "cancelled" for s, _, _ in half.values()), "nothing was decided before"
    assert not [i for i, (s, _, _) in half.items() if s in ("pending", "digest")], (
        "alerts of the ended subscription were left to be sent"
    )
    async with console_runtime(_settings(db)) as (rt, _):  # the restart
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    assert left == 0
    assert {s for s, _, _ in _backlog_states(db, 300).values()} == {"cancelled"}


def _after_first_slice(db: Path, fault: Callable[[], None]) -> threading.Thread:
    """Once the work's first write is in (its row in `unfinished_writes`), another writer of
    this process takes its turn between two slices (`bot.db.WriteTurns`) and meets the
    slices with `fault`: holding the lock past their busy wait, or filling the disk."""

    def meet() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            while not conn.execute("SELECT 1 FROM unfinished_writes").fetchone():
                time.sleep(0.001)
        finally:
            conn.close()
        other = open_database(db)
        try:
            with write(other):
                fault()
        finally:
            other.close()

    thread = threading.Thread(target=meet)
    thread.start()
    return thread


def _hold_the_lock_after_the_first_slice(db: Path, seconds: float) -> threading.Thread:
    """Another writer of this process (as the loop's poll is) that asks for the write lock
    once the command's first slice is in and keeps it `seconds`: longer than the command's
    next slice waits for it, so that slice fails; what the first decided stays."""
    return _after_first_slice(db, lambda: time.sleep(seconds))


async def test_a_subscription_brought_back_after_an_unsubscribe_the_database_cut_short_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An `unsubscribe` whose later slice finds the database locked (`wirewatch db prune`
    from a shell, another writer past the 5 s wait) tells the moderator so and leaves its
    `unfinished_writes` row. A `subscribe` afterwards, in the same process, must not be
    undone by that row at the next start: the subscription stays, its alerts flow."""
    from bot import db as dbmod
    from bot.redecide import slices

    monkeypatch.setattr(slices, "WRITE_SLICE", 0.0)  # a story per slice
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)  # the 5 s wait, shortened
    db = _backlog(tmp_path / "w.db", 300)
    async with console_runtime(_settings(db)) as (rt, _):
        cmds = Commands(rt)
        holder = _hold_the_lock_after_the_first_slice(db, 1.0)
        cut = await cmds.handle(Invocation("console", "console", "ed", f"unsubscribe {TOPIC}"))
        await asyncio.to_thread(holder.join)
        assert not cut.ok and "locked" in cut.text, cut.text
        again = await cmds.handle(Invocation("console", "console", "ed", f"subscribe {TOPIC}"))
        assert again.ok, again.text
    async with console_runtime(_settings(db)) as (rt, _):  # the next start
        live = rt.db.execute(
            "SELECT count(*) FROM subscriptions WHERE channel = 'console' AND topic = ? AND "
            "paused_reason IS NULL",
            [TOPIC],
        ).fetchone()[0]
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    assert (live, left) == (1, 0), "the subscription made again was ended at the start"


async def test_a_topic_add_the_database_cut_short_still_matches_polls_with_its_new_query(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`topic add` of a changed query stores the query with its first slice. When a later
    slice finds the database locked, the moderator is told, and the topic as stored (what
    `topic list` shows, what the next start matches with) is what polls match with from
    then on, not the query it replaced."""
    from bot import db as dbmod
    from bot.redecide import slices

    monkeypatch.setattr(slices, "WRITE_SLICE", 0.0)
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)
    feed_server.serve("/f", _feed(random.Random(9)))
    db = _backlog(tmp_path / "w.db", 300)
    async with console_runtime(_settings(db, feed_server)) as (rt, _):
        cmds = Commands(rt)
        holder = _hold_the_lock_after_the_first_slice(db, 1.0)
        add = Invocation("console", "console", "ed", f"topic add {TOPIC} officials")
        cut = await cmds.handle(add)
        await asyncio.to_thread(holder.join)
        assert not cut.ok and "locked" in cut.text, cut.text
        assert "run the same command again" in cut.text, cut.text
        results, _ = await poll_once(rt)
        matched = rt.db.execute(
            "SELECT count(*) FROM matches WHERE item_id > 300 AND topic = ?", [TOPIC]
        ).fetchone()[0]
        assert [r.new_items for r in results] == [NEW]
        assert matched == NEW, "the poll matched with the query the topic no longer has"
        # The same command again, as the reply says, finishes the rest, without a restart.
        again = await cmds.handle(add)
        assert again.ok, again.text
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    assert left == 0
    states = _backlog_states(db, 300)  # no backlog item says "officials": none waits now
    assert {s for s, _, _ in states.values()} == {"cancelled"}, states
