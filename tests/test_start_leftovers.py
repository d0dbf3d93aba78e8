"""What a start's sliced re-deciding leaves to the next start, and what it tells then.

A start decides again the alerts waiting through what the config changed (a topic's query,
a subscription's only/except, a topic gone or back), a story at a time in slices. When the
store refuses a slice (a full disk, another writer past the busy wait), the start exits 1
and its operator reads what to do: start again once the database is writable, nothing is
lost. There is no command to run again (a chat command's reply says that instead). And a
give-back a stop cut short, resumed by the next start, asks the encoder only about what is
still held, not again about what it gave back before the stop (a minute for thousands).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bot import db as dbmod
from bot.cli import main
from bot.commands import Commands, Invocation
from bot.redecide import slices
from bot.settings import Settings
from bot.startup import open_runtime
from tests.runtime import Console, console_runtime
from tests.test_stop_while_deciding import _stopped_start, _unfinished
from tests.test_storage_faults import tmpfs_in
from tests.test_write_wait import (
    TOPIC,
    _after_first_slice,
    _backlog,
    _backlog_states,
    _decided_anew,
    _settings,
)

COUNT = 300  # alerts waiting: a hundred stories, a slice each (WRITE_SLICE 0)
HELD = f"topic {TOPIC} removed from the config"


@pytest.fixture(autouse=True)
def story_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A story per slice, and the 5 s busy wait shortened: a writer that holds the lock
    for a second makes the next slice fail."""
    monkeypatch.setattr(slices, "WRITE_SLICE", 0.0)
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)


def _config_topic_backlog(path: Path, count: int = COUNT) -> Path:
    """The backlog (a digest of `desk` waiting, every other report saying "said") with
    `desk` a config topic."""
    db = _backlog(path, count)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE topics SET origin = 'config' WHERE name = ?", [TOPIC])
    conn.close()
    return db


def _fill(folder: Path) -> Callable[[], None]:
    def fill() -> None:
        try:
            with open(folder / "filler", "wb") as f:  # closing may hit it too
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC: the disk is full now

    return fill


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of our own, the backlog's size and a little more (needs root)."""
    yield from tmpfs_in(tmp_path, "24m")


@pytest.mark.parametrize("fault", ["locked", "full"])
async def test_a_start_whose_slice_the_store_refuses_says_to_start_again(
    tmp_path: Path, request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str], fault: str
) -> None:
    """The config changed `desk`'s query: the start decides its waiting alerts again in
    slices. A later slice meets a full disk or a lock held past the busy wait: the start
    exits 1 and says to start wirewatch again once the database is writable, nothing lost
    (it said to run "the same command" again, and there is none). Once the fault clears,
    that start finishes the work as an uninterrupted one does."""
    folder = request.getfixturevalue("tmpfs") if fault == "full" else tmp_path
    db = _config_topic_backlog(folder / "w.db")
    config = folder / "wirewatch.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": str(db),
                "topics": {TOPIC: {"query": "backlog AND NOT said"}},
                "articles": {"fetch": False},
                "sentence_vectors": False,
            }
        ),
        encoding="utf-8",
    )
    argv = ["poll", "--once", "--config", str(config)]
    meet = _fill(folder) if fault == "full" else lambda: time.sleep(1.0)
    other = _after_first_slice(db, meet)
    assert await asyncio.to_thread(main, argv) == 1
    await asyncio.to_thread(other.join)
    err = capfd.readouterr().err

    assert ("is full" if fault == "full" else "is locked by another connection") in err, err
    assert "Start wirewatch again once the database is writable" in err, err
    assert "nothing is lost" in err and "that start finishes the rest" in err, err
    assert "same command" not in err and "Traceback" not in err, err
    states = _backlog_states(db, COUNT)
    assert any(s == "cancelled" for s, _, _ in states.values()), "no slice was written"
    assert any(s == "digest" and i % 2 == 0 for i, (s, _, _) in states.items()), (
        "every slice was written: the fault came too late"
    )

    (folder / "filler").unlink(missing_ok=True)
    assert await asyncio.to_thread(main, argv) == 0  # started again, as it says
    _decided_anew(_backlog_states(db, COUNT), COUNT)
    assert _unfinished(db) == 0


async def test_a_chat_command_whose_slice_the_store_refuses_says_to_run_it_again(
    tmp_path: Path,
) -> None:
    """The same refusal in a chat command's slices: the moderator is told to run the same
    command again (a restart does too), which finishes it."""
    db = _backlog(tmp_path / "w.db", COUNT)
    command = f"subscribe {TOPIC} digest --only `NOT said`"
    async with console_runtime(_settings(db)) as (rt, _):
        cmds = Commands(rt)
        other = _after_first_slice(db, lambda: time.sleep(1.0))
        cut = await cmds.handle(Invocation("console", "console", "ed", command))
        await asyncio.to_thread(other.join)
        assert not cut.ok and "locked" in cut.text, cut.text
        assert "run the same command again to finish (a restart does too)" in cut.text, cut.text
        assert "Start wirewatch again" not in cut.text, cut.text
        again = await cmds.handle(Invocation("console", "console", "ed", command))
        assert again.ok, again.text
    _decided_anew(_backlog_states(db, COUNT), COUNT)


# -- a give-back a stop cut short, resumed -------------------------------------------------

GIVE_BACK = COUNT  # alerts held for `desk`: 100 stories, a slice each (and one backlog made)


def _back_config(db: Path) -> Settings:
    """`desk` back in the config, narrower than it left (of its held alerts those saying
    "said" are refused), and a topic referring to it with the built-in relevance model:
    the start asks the encoder about the held items it takes before deciding them."""
    return Settings.model_validate(
        {
            "database": str(db),
            "topics": {
                TOPIC: {"query": "backlog AND NOT said"},
                "tracked": {"query": f"topic:{TOPIC}", "relevance": "deployments"},
            },
            "articles": {"fetch": False},
            "sentence_vectors": False,
        }
    )


def _held(db: Path) -> list[int]:
    """The items of the alerts still held for `desk` (none locked out: WAL readers)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT item_id FROM deliveries WHERE status = 'held' AND error = ?", [HELD]
        )
        return [item for (item,) in rows]
    finally:
        conn.close()


def _asked(caplog: pytest.LogCaptureFixture) -> int:
    """How many texts the encoder was asked about, as the relevance stage logs them."""
    return sum(
        int(m.group(1))
        for r in caplog.records
        if (m := re.match(r"encoder\.asked model=\S+ texts=(\d+)", r.getMessage()))
    )


async def test_a_give_back_a_stop_cut_short_asks_the_encoder_only_about_what_is_still_held(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`desk` left the config (its alerts held) and is back: the start asks the encoder
    about the held items (5,000 at 10,000 held: most of a minute), then gives them back a
    story at a time. A SIGTERM half way through the give-back; the next start finishes it,
    and asked the encoder again about every alert the first had given back already, as
    they still wait for the digest. Now it asks only about those still held."""
    db = _config_topic_backlog(tmp_path / "w.db", GIVE_BACK)
    gone = {"database": str(db), "articles": {"fetch": False}, "sentence_vectors": False}
    async with open_runtime(Settings.model_validate(gone), {}):
        pass  # desk removed: its alerts held
    assert len(_held(db)) == GIVE_BACK
    await _stopped_start(_back_config(db), lambda: len(_held(db)) < GIVE_BACK * 2 // 3)
    left = _held(db)
    assert 0 < len(left) < GIVE_BACK * 2 // 3, "the stop did not come half way"
    assert _unfinished(db) == 1, "the next start would not finish it"
    taken = [i for i in left if (i - 1) % 2 == 0]  # not saying "said": the encoder is asked

    caplog.clear()  # only what the second start asks (log_cli would keep the first's)
    caplog.set_level(logging.DEBUG, logger="bot.opinions")
    async with open_runtime(_back_config(db), {"console": Console()}):  # finishes it
        pass
    assert _asked(caplog) == len(taken), "asked about alerts given back before the stop"
    _decided_anew(_backlog_states(db, GIVE_BACK), GIVE_BACK)
    assert (_held(db), _unfinished(db)) == ([], 0)
