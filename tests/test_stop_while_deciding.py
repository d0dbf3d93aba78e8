"""SIGTERM while `topic add` of a changed query decides a backlog again: out in time, nothing
half done, and the same command after the restart does what it would have done.

The command decides every waiting alert's item before it takes the write lock (seconds at
thousands waiting, on the store thread). A stop that waited for that overran the store
thread's grace, and docker's SIGKILL came first; now the deciding notices the stop between
two batches and gives up before anything is written, and the moderator is told that
wirewatch is stopping and that the same command can be run again once it is back. A stop
that comes once the writing has begun (`subscribe --only`'s slices) ends it between two
slices, and the next start finishes the work, as after a kill there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bot.commands import Commands, Invocation
from bot.errors import StoppingError
from bot.feed_store import active_feeds
from bot.loop import run_forever, stop_adapters
from bot.pipeline import poll_many
from bot.redecide import subscribe
from bot.settings import Settings
from bot.startup import StartupStopped, open_runtime
from bot.store_thread import StoreThread
from tests.feedserver import FeedServer
from tests.runtime import Console, console_runtime
from tests.test_gone_topics import POLAND
from tests.test_gone_topics import _feed as gone_feed
from tests.test_write_wait import (
    BACKLOG,
    LONG_WRITES,
    TOPIC,
    _backlog,
    _backlog_states,
    _decided_anew,
    _settings,
)

COMMAND = LONG_WRITES["topic add"]
# The store thread's grace at a stop (`StoreThread.close`): the deciding of 10,000 waiting
# alerts takes longer than that alone (3-4 s here), a batch of it milliseconds.
GRACE = 2.0
DECIDING = 0.5  # how far into the command the stop comes: well inside its deciding


def _as_before(db: Path) -> None:
    """Nothing of the command written: the old query, every alert waiting as it was."""
    conn = sqlite3.connect(db)
    try:
        query = conn.execute("SELECT query FROM topics WHERE name = ?", [TOPIC]).fetchone()[0]
        marks = conn.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
    finally:
        conn.close()
    assert (query, marks) == ("backlog", 0)
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    kinds = {item: ("new" if (item - 1) % 3 == 0 else "update") for item in states}
    assert states == {item: ("digest", kinds[item], None) for item in states}


async def _locked(db: Path) -> bool:
    """Whether another connection holds the write lock now (the command's write began)."""
    probe = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


async def test_a_stop_while_topic_add_decides_a_backlog_ends_it_in_time_with_nothing_written(
    tmp_path: Path,
) -> None:
    db = _backlog(tmp_path / "w.db")
    stop = asyncio.Event()
    console = Console()
    async with open_runtime(_settings(db), {"console": console}) as rt:  # as `wirewatch run`
        runner = asyncio.create_task(run_forever(rt, stop))
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))  # its thread is up
        answer = asyncio.create_task(cmds.handle(Invocation("console", "console", "ed", COMMAND)))
        await asyncio.sleep(DECIDING)
        assert not answer.done() and not await _locked(db), "the stop must come while deciding"
        started = time.monotonic()
        stop.set()  # SIGTERM
        await runner
        await stop_adapters([console])
        reply = await answer
    took = time.monotonic() - started  # the store thread closed with the runtime

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    assert "run the same command again" in reply.text, reply.text
    _as_before(db)

    async with console_runtime(_settings(db)) as (rt, _):  # the restart
        again = await Commands(rt).handle(Invocation("console", "console", "ed", COMMAND))
    assert again.ok and f"{BACKLOG // 2} alerts waiting" in again.text, again.text
    _decided_anew(_backlog_states(db))  # as an uninterrupted run decides them


async def test_a_store_thread_closed_while_a_command_decides_closes_within_its_grace(
    tmp_path: Path,
) -> None:
    """Without a run's stop first (the store thread closing is all it is told), the same."""
    db = _backlog(tmp_path / "w.db")
    async with console_runtime(_settings(db)) as (rt, _):
        store = StoreThread(db)  # closed here: the runtime closes its own as it ends
        cmds = Commands(replace(rt, store=store))
        await cmds.handle(Invocation("console", "console", "ed", "list"))
        answer = asyncio.create_task(cmds.handle(Invocation("console", "console", "ed", COMMAND)))
        await asyncio.sleep(DECIDING)
        assert not answer.done() and not await _locked(db), "the close must come while deciding"
        started = time.monotonic()
        await store.close(grace=GRACE)
        took = time.monotonic() - started
        reply = await answer
    assert took < GRACE, f"the close took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    _as_before(db)


async def test_a_stop_while_subscribe_writes_its_slices_ends_them_and_the_start_finishes(
    tmp_path: Path,
) -> None:
    """`subscribe --only` decides the channel's waiting alerts again in 25 ms slices, a poll's
    writes between them: seconds at 10,000 waiting. A stop then ran it to its end, past the
    grace (and a SIGKILL may have cut it anywhere); now it ends at the next slice."""
    db = _backlog(tmp_path / "w.db")
    stop = asyncio.Event()
    console = Console()
    async with open_runtime(_settings(db), {"console": console}) as rt:
        runner = asyncio.create_task(run_forever(rt, stop))
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))
        answer = asyncio.create_task(
            cmds.handle(Invocation("console", "console", "ed", LONG_WRITES["subscribe --only"]))
        )
        while not await _marked(db):  # its first slice is written: the slices run
            assert not answer.done(), (await answer).text
            await asyncio.sleep(0.005)
        started = time.monotonic()
        stop.set()  # SIGTERM
        await runner
        await stop_adapters([console])
        reply = await answer
    took = time.monotonic() - started

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    assert "the change is saved" in reply.text, reply.text
    half = _backlog_states(db)
    assert len(half) == BACKLOG, "an alert was lost"
    assert any(s == "digest" and i % 2 == 0 for i, (s, _, _) in half.items()), (
        "the command ran to its end: the stop did not end it"
    )

    async with console_runtime(_settings(db)) as (rt, _):  # the restart finishes it
        left = rt.db.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0]
        only = rt.db.execute("SELECT only_query FROM subscriptions WHERE id = 1").fetchone()[0]
    assert (left, only) == (0, "NOT said")
    _decided_anew(_backlog_states(db))  # as an uninterrupted run decides them


async def _marked(db: Path) -> bool:
    """Whether the command's first slice is in: its row saying the work is unfinished."""
    conn = sqlite3.connect(db)
    try:
        return bool(conn.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0])
    except sqlite3.OperationalError:  # locked for a moment by the slice itself
        return False
    finally:
        conn.close()


# -- the start-up's re-deciding ----------------------------------------------------------

# How far into the start the SIGTERM comes while it decides (before its first write): the
# deciding of 10,000 alerts takes 2-3 s here, its writes as long again.
STARTING = 0.8
ASKING = 4.0  # the same, when the encoder is asked first (a minute's work)


def _config_backlog(tmp_path: Path, count: int = BACKLOG) -> Path:
    """The backlog with its topic a config topic, whose query the config now changes
    (`_changed_config`): the start decides its 10,000 (or `count`) waiting alerts again."""
    db = _backlog(tmp_path / "w.db", count)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE topics SET origin = 'config' WHERE name = ?", [TOPIC])
    conn.close()
    return db


def _changed_config(db: Path, model: bool = False) -> Settings:
    """With `model`, also a config topic that refers to the backlog's and has the built-in
    relevance model: the encoder scores the 5,000 items still let through (a minute here),
    a batch at a time, before anything is decided."""
    topics = {TOPIC: {"query": "backlog AND NOT said"}}
    if model:
        topics["tracked"] = {"query": f"topic:{TOPIC}", "relevance": "deployments"}
    return Settings.model_validate(
        {
            "database": str(db),
            "topics": topics,
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


def _unfinished(db: Path) -> int:
    """Rows saying a long write is under way (or was cut short): its first slice is in."""
    conn = sqlite3.connect(db, timeout=0)
    try:
        return int(conn.execute("SELECT count(*) FROM unfinished_writes").fetchone()[0])
    except sqlite3.OperationalError:  # locked for a moment by a slice
        return 0
    finally:
        conn.close()


def _sigterm_when(ready: Callable[[], bool], sent: list[float]) -> threading.Thread:
    """SIGTERM to this process, from a thread, once `ready()`: as `kill` or docker sends
    it, whatever the event loop is doing."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _after(seconds: float) -> Callable[[], bool]:
    """True from `seconds` after now."""
    began = time.monotonic()
    return lambda: time.monotonic() > began + seconds


async def _stopped_start(settings: Settings, ready: Callable[[], bool]) -> float:
    """A start as `wirewatch run` makes it (SIGTERM sets its stop) sent a real SIGTERM once
    `ready()`: it must end with StartupStopped. How long it took after the signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sent: list[float] = []
    _sigterm_when(ready, sent)
    try:
        with pytest.raises(StartupStopped):
            async with open_runtime(settings, {"console": Console()}, stop=stop):
                pass
        return time.monotonic() - sent[0]
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _decided_stories(states: dict[int, tuple]) -> int:
    """How many stories (three alerts each) were decided anew; each either wholly so (its
    reports saying "said" dropped) or not at all (every alert as it was)."""
    decided = 0
    for first in range(1, BACKLOG + 1, 3):
        story = range(first, min(first + 3, BACKLOG + 1))
        said = [states[i][0] == "cancelled" for i in story if i % 2 == 0]  # item n+1, n odd
        if said and all(said):
            decided += 1
            continue
        assert not any(said), f"the story of item {first} half decided"
        before = [("digest", "new" if i == first else "update", None) for i in story]
        assert [states[i] for i in story] == before, f"the story of item {first} half decided"
    return decided


@pytest.mark.parametrize("phase", ["deciding", "asking the encoder", "writing"])
async def test_a_sigterm_while_the_start_decides_a_backlog_ends_it_and_the_next_start_finishes(
    tmp_path: Path, phase: str
) -> None:
    """A config topic's query changed while wirewatch was stopped: the start decides the
    10,000 alerts waiting through it again (5 s here). It did so on the event loop, deaf to
    SIGTERM, in one transaction, and the stop came once it was all done (4.5 s after the
    SIGTERM); now the start ends at the next batch or slice, nothing half done, and the
    next start finishes the work."""
    db = _config_backlog(tmp_path)
    settings = _changed_config(db, model=phase == "asking the encoder")
    ready = {  # asking the encoder: the items read (1-2 s), the encoder at work
        "deciding": _after(STARTING),
        "asking the encoder": _after(ASKING),
    }.get(phase, lambda: _unfinished(db) > 0)  # else once its first slice is written
    took = await _stopped_start(settings, ready)

    assert took < GRACE, f"the stop took {took:.1f} s"
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    decided = _decided_stories(states)
    assert decided < len(range(1, BACKLOG + 1, 3)), "the stop did not end the deciding"
    assert phase == "writing" or decided == 0, "written before the deciding was done"
    assert _unfinished(db) == (phase == "writing"), "the next start would not finish it"
    if phase == "asking the encoder":
        return  # nothing written: as after the deciding, the next start does it all

    async with open_runtime(settings, {"console": Console()}):  # the next start finishes it
        pass
    _decided_anew(_backlog_states(db))  # as an uninterrupted start decides them
    assert _unfinished(db) == 0


# -- topic add's encoder part ------------------------------------------------------------


def _with_model(db: Path) -> Settings:
    """The backlog's config, with a config topic that refers to its topic and has the
    built-in relevance model (the encoder's opinion, asked of a worker, counts): the
    waiting items that still match are scored by the encoder before anything is written."""
    data = _settings(db).model_dump(mode="json", exclude_unset=True)
    data["topics"]["tracked"] = {"query": f"topic:{TOPIC}", "relevance": "deployments"}
    return Settings.model_validate(data)


async def _store_free(store: StoreThread) -> bool:
    """Whether the store thread is idle (answers a trivial call at once): the command read
    the waiting items already and has not begun to decide them there."""
    try:
        await asyncio.wait_for(store.run(lambda db: None), 0.2)
        return True
    except TimeoutError:
        return False


async def test_a_stop_while_topic_add_asks_the_encoder_ends_it_between_batches(
    tmp_path: Path,
) -> None:
    """The encoder scores the 5,000 waiting items the new query still lets through (many
    seconds), a batch at a time, on a worker, before the command's first write: a stop
    meanwhile ends it at the next batch, nothing written, the moderator told."""
    db = _backlog(tmp_path / "w.db")
    stop = asyncio.Event()
    console = Console()
    async with open_runtime(_with_model(db), {"console": console}) as rt:
        assert rt.store is not None
        runner = asyncio.create_task(run_forever(rt, stop))
        cmds = Commands(rt)
        await cmds.handle(Invocation("console", "console", "ed", "list"))  # its thread is up
        answer = asyncio.create_task(cmds.handle(Invocation("console", "console", "ed", COMMAND)))
        await asyncio.sleep(DECIDING)
        while not await _store_free(rt.store):  # reading the waiting items
            assert not answer.done(), (await answer).text
        await asyncio.sleep(1.0)  # the encoder well into its batches
        assert not answer.done() and not await _locked(db), "the stop must come while asking"
        assert await _store_free(rt.store), "the stop must come while asking the encoder"
        started = time.monotonic()
        stop.set()  # SIGTERM
        await runner
        await stop_adapters([console])
        reply = await answer
        took = time.monotonic() - started

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert not reply.ok and "wirewatch is stopping" in reply.text, reply.text
    assert "run the same command again" in reply.text, reply.text
    _as_before(db)


# -- a topic back in the config, met by a stop -------------------------------------------

RETURNING = 2_000  # desk's waiting alerts: its slices still run when the SIGTERM comes


def _poland_config(db: Path, url: str | None, *, desk: str | None, poland: str | None) -> Settings:
    """The backlog's config topic `desk` and a topic `poland` with a feed of its own, as
    they read (None: removed from the config)."""
    topics = {n: {"query": q} for n, q in ((TOPIC, desk), ("poland", poland)) if q is not None}
    return Settings.model_validate(
        {
            "database": str(db),
            "topics": topics,
            "feeds": [{"name": "Wire", "url": url}] if url else [],
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


async def test_a_topic_back_with_another_query_decides_what_was_held_after_a_stopped_start(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`poland` is back in the config with a narrower query, in the same change as `desk`'s
    new one. A SIGTERM while the start writes desk's slices came after the topics were
    stored (the first slice) and before poland's held alerts were decided: the next start
    gave them back as they were, since `poland` was no longer missing from the store, and
    posted the report its query no longer takes. Desk's slices need only outlast the
    SIGTERM: 2,000 waiting is dozens of them (without the fix, it fails so too)."""
    db = _config_backlog(tmp_path, RETURNING)
    feed_server.serve("/w", gone_feed(POLAND))
    url = feed_server.url("/w")
    was = "troops AND entity:Poland"
    async with console_runtime(_poland_config(db, url, desk="backlog", poland=was)) as (rt, _):
        subscribe(rt.db, "console", "poland", "instant")
        await poll_many(rt.pipeline, active_feeds(rt.db))
    async with open_runtime(_poland_config(db, url, desk="backlog", poland=None), {}):
        pass  # poland removed: its two alerts held
    back = _poland_config(db, url, desk="backlog AND NOT said", poland="sends AND entity:Poland")
    await _stopped_start(back, lambda: _unfinished(db) > 0)

    async with open_runtime(back, {"console": Console()}):  # the next start finishes it
        pass
    conn = sqlite3.connect(db)
    try:
        poland = conn.execute(
            "SELECT i.title, d.kind, d.status, d.error FROM deliveries d JOIN items i ON "
            "i.id = d.item_id JOIN subscriptions s ON s.id = d.subscription_id WHERE "
            "s.topic = 'poland' ORDER BY d.id"
        ).fetchall()
    finally:
        conn.close()
    assert poland == [
        (POLAND[0], "new", "cancelled", "topic poland came back to the config no longer taking it"),
        (POLAND[1], "new", "pending", None),
    ]
    _decided_anew(_backlog_states(db, RETURNING), RETURNING)


async def test_a_sigterm_while_the_start_asks_the_encoder_about_a_returning_topic_ends_it(
    tmp_path: Path,
) -> None:
    """`desk` was removed from the config, its 10,000 waiting alerts held; it is back with
    the built-in relevance model, so the start asks the encoder about what was held (minutes
    of work) before deciding it. That asking was on the event loop's side of the start,
    with no look at the stop: a SIGTERM waited for all of it, well past docker's 10 s. Now
    the start ends at the next batch, nothing written: the next start does it all."""
    db = _config_backlog(tmp_path)
    async with open_runtime(_poland_config(db, None, desk=None, poland=None), {}):
        pass  # desk removed: its alerts held
    back = Settings.model_validate(
        {
            "database": str(db),
            "topics": {TOPIC: {"query": "backlog", "relevance": "deployments"}},
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )
    took = await _stopped_start(back, _after(ASKING))

    assert took < GRACE, f"the stop took {took:.1f} s"
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT count(*) FROM topics WHERE name = ?", [TOPIC]).fetchone()
        held = conn.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'held' AND error = ?",
            [f"topic {TOPIC} removed from the config"],
        ).fetchone()
    finally:
        conn.close()
    assert (stored[0], held[0]) == (0, BACKLOG), "written before the asking was done"


# -- a config subscription's --only/--except changed between starts ----------------------


def _config_subscription_backlog(path: Path) -> Path:
    """The backlog with its topic and its subscription the config's (`_narrowed`): the
    start decides its 10,000 waiting alerts again when the config narrows it."""
    db = _backlog(path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE topics SET origin = 'config' WHERE name = ?", [TOPIC])
        conn.execute("UPDATE subscriptions SET origin = 'config' WHERE id = 1")
    conn.close()
    return db


async def _narrowable(folder: Path) -> Path:
    return _config_subscription_backlog(_made(folder) / "w.db")


_WHOLE: dict[str, Path] = {}


async def _whole(
    name: str,
    tmp: pytest.TempPathFactory,
    make: Callable[[Path], Awaitable[Path]],
    config: Callable[[Path], Settings],
) -> Path:
    """The database `make` gives after one uninterrupted start with `config`: what a stopped
    start and the next must come to. Made once per test process (a 10,000-alert start takes
    seconds) and only read: each phase of a stopped start is held to the same one."""
    if name not in _WHOLE:
        db = await make(tmp.mktemp("whole") / "db")
        async with open_runtime(config(db), {"console": Console()}):
            pass
        _WHOLE[name] = db
    return _WHOLE[name]


def _narrowed(db: Path) -> Settings:
    """The console's digest of `desk`, now with `except: said` in the config."""
    return Settings.model_validate(
        {
            "database": str(db),
            "topics": {TOPIC: {"query": "backlog"}},
            "subscriptions": [
                {"topic": TOPIC, "channel": "console", "mode": "digest", "except": "said"}
            ],
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


@pytest.mark.parametrize("phase", ["early", "writing"])
async def test_a_sigterm_while_the_start_narrows_a_config_subscription_ends_it_in_time(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, phase: str
) -> None:
    """The config gave the console's subscription `except: said` while wirewatch was
    stopped: the start decides the 10,000 alerts waiting through it again. It did so on the
    event loop in one transaction, deaf to SIGTERM: the stop came once it was all done.
    Now the start ends at the next slice, nothing half done, and the next start finishes
    the work as an uninterrupted start does it."""
    whole = await _whole("narrowed", tmp_path_factory, _narrowable, _narrowed)
    db = _config_subscription_backlog(tmp_path / "w.db")
    settings = _narrowed(db)
    # Early, or once its first slice is written:
    ready = _after(STARTING) if phase == "early" else lambda: _unfinished(db) > 0
    took = await _stopped_start(settings, ready)

    assert took < GRACE, f"the stop took {took:.1f} s"
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    decided = _decided_stories(states)
    assert decided < len(range(1, BACKLOG + 1, 3)), "the stop did not end the deciding"
    assert _unfinished(db) == 1, "the next start would not finish it"

    async with open_runtime(settings, {"console": Console()}):  # the next start finishes it
        pass
    assert _backlog_states(db) == _backlog_states(whole)
    _decided_anew(_backlog_states(db))
    assert _unfinished(db) == 0


async def test_a_sigterm_while_the_start_ends_a_config_subscription_ends_it_in_time(
    tmp_path: Path,
) -> None:
    """The config no longer lists the console's subscription: the start ends it, and the
    10,000 alerts waiting through it are dropped (none goes on: the channel follows nothing
    else). That was one transaction, a SIGTERM waiting for all of it; now it ends at the
    next slice, and the next start finishes it as an uninterrupted start does."""
    unlisted = {"topics": {TOPIC: {"query": "backlog"}}, "articles": {"fetch": False}}

    def config(db: Path) -> Settings:
        return Settings.model_validate({"database": str(db), **unlisted})

    whole = _config_subscription_backlog(tmp_path / "whole.db")
    async with open_runtime(config(whole), {"console": Console()}):
        pass
    db = _config_subscription_backlog(tmp_path / "w.db")
    took = await _stopped_start(config(db), lambda: _unfinished(db) > 0)  # once it is ended

    assert took < GRACE, f"the stop took {took:.1f} s"
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    left = [i for i, (status, _, _) in states.items() if status != "cancelled"]
    assert left, "the stop did not end the deciding"
    assert all(states[i][0] == "digest" for i in left), "a story half decided"
    async with open_runtime(config(db), {"console": Console()}):  # the next start finishes it
        pass
    assert _backlog_states(db) == _backlog_states(whole)
    assert {s for s, _, _ in _backlog_states(db).values()} == {"cancelled"}
    assert _unfinished(db) == 0


# -- a topic back in the config gives back thousands held for it -------------------------


def _desk_back(db: Path) -> Settings:
    """`desk` back in the config, narrower than it left: of its 10,000 held alerts the
    5,000 saying "said" are refused, the others given back."""
    return _poland_config(db, None, desk="backlog AND NOT said", poland=None)


async def _desk_gone(folder: Path) -> Path:
    """The backlog with `desk` a config topic, then removed from the config by a start: its
    10,000 waiting alerts held, the channel told."""
    db = _config_backlog(_made(folder))
    async with open_runtime(_poland_config(db, None, desk=None, poland=None), {}):
        pass
    return db


def _made(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _told(db: Path, kind: str) -> list[str]:
    """The channel's notices of one kind ("topic-back": is back; "topic-gone": removed)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT text FROM notices WHERE key LIKE ? ORDER BY id", [f"{kind}:%"])
        return [text for (text,) in rows]
    finally:
        conn.close()


def _told_back(db: Path) -> list[str]:
    return _told(db, "topic-back")


@pytest.mark.parametrize("phase", ["early", "writing"])
async def test_a_sigterm_while_the_start_gives_back_held_alerts_ends_it_and_tells_once(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, phase: str
) -> None:
    """`desk` left the config (10,000 alerts held) and is back with a narrower query: the
    start decides and gives back what was held. That ran on the event loop in one
    transaction (3-4 s here), a SIGTERM waiting for all of it; now the start ends at the
    next slice, each story wholly given back or wholly still held. The next start
    finishes it as an uninterrupted start does, and the channel is told once, with the
    counts of the whole give-back."""
    whole = await _whole("desk back", tmp_path_factory, _desk_gone, _desk_back)
    db = await _desk_gone(tmp_path / "stopped")
    # Early, or once its first slice is written:
    ready = _after(STARTING) if phase == "early" else lambda: _unfinished(db) > 0
    took = await _stopped_start(_desk_back(db), ready)

    assert took < GRACE, f"the stop took {took:.1f} s"
    held = f"topic {TOPIC} removed from the config"
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    left = {i for i, (status, _, error) in states.items() if (status, error) == ("held", held)}
    assert left, "the stop did not end the give-back"
    for first in range(1, BACKLOG + 1, 3):  # a story wholly given back, or wholly held
        story = set(range(first, min(first + 3, BACKLOG + 1)))
        assert story <= left or not story & left, f"the story of item {first} half given back"
    assert _unfinished(db) == 1, "the next start would not finish it"
    assert _told_back(db) == [], "told before the give-back was whole"

    async with open_runtime(_desk_back(db), {"console": Console()}):  # finishes it
        pass
    assert _backlog_states(db) == _backlog_states(whole)
    assert _told_back(db) == _told_back(whole)
    [told] = _told_back(db)
    assert "5000 alerts held for it go in this channel's next digest" in told
    assert "5000 alerts its query no longer takes were dropped" in _told_back(db)[0]
    assert _unfinished(db) == 0


# -- chat's own subscription change, cut short, finished by a start -----------------------


async def test_a_sigterm_while_the_start_finishes_a_cut_short_subscribe_ends_it_in_time(
    tmp_path: Path,
) -> None:
    """`subscribe --only` was stopped after its first slice: the start finishes it. It did
    so in one piece (off the loop, 2-3 s for 10,000 here), a SIGTERM waiting for all of it;
    now in slices a stop ends, and the start after finishes it as the command would have."""
    db = _backlog(tmp_path / "w.db")
    async with console_runtime(_settings(db)) as (rt, _):
        stopped = threading.Event()
        stopped.set()  # the stop comes with the first slice: the rest is left to a start
        with pytest.raises(StoppingError):
            subscribe(rt.db, "console", TOPIC, "digest", only="NOT said", stop=stopped)
    assert _unfinished(db) == 1
    took = await _stopped_start(_settings(db), _after(STARTING))

    assert took < GRACE, f"the stop took {took:.1f} s"
    states = _backlog_states(db)
    assert len(states) == BACKLOG, "an alert was lost"
    assert any(s == "digest" and i % 2 == 0 for i, (s, _, _) in states.items()), (
        "the start finished it: the stop did not end it"
    )
    assert _unfinished(db) == 1, "the next start would not finish it"

    async with open_runtime(_settings(db), {"console": Console()}):  # the next start
        pass
    _decided_anew(_backlog_states(db))  # as the command, uninterrupted, decides them
    assert _unfinished(db) == 0


def _with_other_topic(folder: Path) -> Path:
    """The backlog with `desk` a config topic and the console following `said` from chat
    too, a config topic its "said" reports matched: when `desk` leaves the config, those
    5,000 go on through `said`, the others are held."""
    db = _config_backlog(_made(folder))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO topics (name, query, origin) VALUES ('said', 'said', 'config')")
        conn.execute(
            "INSERT INTO subscriptions (id, channel, topic, mode, origin, created) VALUES "
            "(2, 'console', 'said', 'digest', 'chat', '2026-01-01T00:00:00Z')"
        )
        conn.execute(  # the reports saying "said" (item n + 1, n odd) matched it too
            "INSERT INTO matches (item_id, topic, matched) SELECT item_id, 'said', '[\"said\"]' "
            "FROM matches WHERE topic = ? AND item_id % 2 = 0",
            [TOPIC],
        )
    conn.close()
    return db


def _desk_left(db: Path) -> Settings:
    return Settings.model_validate(
        {
            "database": str(db),
            "topics": {"said": {"query": "said"}},
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


def _told_gone(db: Path) -> list[str]:
    return _told(db, "topic-gone")


async def test_a_sigterm_while_the_start_holds_a_gone_topics_alerts_tells_the_moves_in_full(
    tmp_path: Path,
) -> None:
    """`desk` left the config; the console follows `said` too, which takes half of the
    10,000 alerts waiting through `desk`: the start moves those on a story at a time and
    holds the rest. A SIGTERM once it began ends it at the next slice; the next start
    finishes it as an uninterrupted one does, and the channel's one notice counts every
    alert moved on, those moved before the stop too."""
    whole = _with_other_topic(tmp_path / "whole")
    async with open_runtime(_desk_left(whole), {"console": Console()}):
        pass
    db = _with_other_topic(tmp_path / "stopped")
    took = await _stopped_start(_desk_left(db), lambda: _unfinished(db) > 0)

    assert took < GRACE, f"the stop took {took:.1f} s"
    assert (_unfinished(db), _told_gone(db)) == (1, []), "told before the hold was whole"
    conn = sqlite3.connect(db)
    try:
        moved = conn.execute("SELECT count(*) FROM deliveries WHERE subscription_id = 2")
        assert 0 < moved.fetchone()[0] < BACKLOG // 2, "the stop came before or after the moves"
    finally:
        conn.close()
    async with open_runtime(_desk_left(db), {"console": Console()}):  # finishes it
        pass
    assert _backlog_states(db) == _backlog_states(whole)
    assert _told_gone(db) == _told_gone(whole)
    assert "5000 alerts waiting for it went on through another topic" in _told_gone(db)[0]
    assert _unfinished(db) == 0
