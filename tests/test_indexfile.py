"""The saved story index: loaded back at start, always in line with the store, never trusted
blindly (a stale, damaged, foreign or hostile file gives the index a rebuild would)."""

from __future__ import annotations

import asyncio
import logging
import pickle
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot import indexfile, stories
from bot.clock import utcnow
from bot.db import open_database
from bot.indexfile import index_path, load_index, read_index, save_index
from bot.stories import StoryDoc, StoryIndex
from tests.itemsdb import fill

WINDOW = timedelta(hours=72)


async def _load(path: Path, **kwargs) -> StoryIndex | None:
    db = open_database(path)
    try:
        return await load_index(db, str(path), WINDOW, **kwargs)
    finally:
        db.close()


def _probes(db_path: Path) -> list[StoryDoc]:
    """Documents worded like stored items (every third one), to ask the index about."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT title, summary FROM items WHERE id % 3 = 1 LIMIT 40").fetchall()
    conn.close()
    return [StoryDoc(0, title, summary, (), utcnow()) for title, summary in rows]


def _same(a: StoryIndex, b: StoryIndex, probes: list[StoryDoc]) -> None:
    assert a.members() == b.members()
    assert [a.assign(p) for p in probes] == [b.assign(p) for p in probes]


async def test_a_saved_index_loads_back_as_the_rebuild_would_give_it(tmp_path, caplog):
    db = fill(tmp_path / "w.db", 600)
    rebuilt = await _load(db)
    assert rebuilt is not None and len(rebuilt) == 600
    assert save_index(rebuilt, str(db))
    caplog.set_level(logging.INFO, logger="bot.indexfile")
    loaded = await _load(db)
    assert loaded is not None
    assert "source=file items=600 to_add=0 dropped=0" in caplog.text
    _same(loaded, rebuilt, _probes(db))
    assert all(story is not None for story in (loaded.assign(p) for p in _probes(db)))
    state = {k: v for k, v in vars(loaded).items() if k != "_last"}
    assert state == {k: v for k, v in vars(rebuilt).items() if k != "_last"}  # all of it


async def test_a_stale_file_is_brought_in_line_with_the_store(tmp_path):
    db = fill(tmp_path / "w.db", 600)
    index = await _load(db)
    assert index is not None
    save_index(index, str(db))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM items WHERE id <= 30")  # pruned while the bot was stopped
    conn.execute("UPDATE items SET story_id = 1 WHERE id = 100")  # regrouped
    conn.close()
    fill_more = fill(tmp_path / "more.db", 650)  # the same items, and 50 added after the save
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("ATTACH ? AS more", [str(fill_more)])
    conn.execute("INSERT INTO stories SELECT * FROM more.stories WHERE id > 200")
    conn.execute("INSERT INTO items SELECT * FROM more.items WHERE id > 600")
    conn.close()

    loaded = await _load(db)
    index_path(str(db)).unlink()
    rebuilt = await _load(db)
    assert loaded is not None and rebuilt is not None
    assert len(loaded) == 600 - 30 + 50 and loaded.members()[100] == 1
    _same(loaded, rebuilt, _probes(db))


def _evil() -> bytes:
    class Payload:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    return pickle.dumps(Payload())


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a header\n\x80\x05garbage",
        b'{"format": 1, "code": "someone else"}\n' + pickle.dumps(StoryIndex()),
        "header+evil",
        "truncated",
    ],
    ids=["empty", "garbage", "other-code", "hostile-pickle", "truncated"],
)
async def test_an_unusable_file_is_never_trusted_and_the_index_is_rebuilt(
    tmp_path, monkeypatch, content
):
    monkeypatch.chdir(tmp_path)
    db = fill(tmp_path / "w.db", 300)
    good = await _load(db)
    assert good is not None and save_index(good, str(db))
    saved = index_path(str(db))
    header, _, body = saved.read_bytes().partition(b"\n")
    if content == "header+evil":
        content = header + b"\n" + _evil()
    elif content == "truncated":
        content = header + b"\n" + body[: len(body) // 2]
    saved.write_bytes(content)
    assert read_index(saved) is None
    loaded = await _load(db)
    assert loaded is not None
    _same(loaded, good, _probes(db))
    assert not (tmp_path / "PWNED").exists()


_STORY_MODULES = sorted(p.name for p in Path(stories.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("module", _STORY_MODULES)
async def test_a_file_saved_by_other_story_index_code_is_not_used(
    tmp_path, monkeypatch, caplog, module
):
    """A change to any module of the story index (how it scores, what a text's terms are),
    not only to the package that names them all, makes a file saved before it stale."""
    db = fill(tmp_path / "w.db", 60)
    index = await _load(db)
    assert index is not None and save_index(index, str(db))
    copy = tmp_path / "stories"  # the package as an upgrade would install it
    shutil.copytree(Path(stories.__file__).parent, copy, ignore=shutil.ignore_patterns("__py*"))
    monkeypatch.setattr(stories, "__file__", str(copy / "__init__.py"))
    monkeypatch.setattr(indexfile, "_code_version", indexfile._code_version.__wrapped__)
    assert read_index(index_path(str(db))) is not None  # the same code: the file is used
    changed = copy / module
    changed.write_text(changed.read_text(encoding="utf-8") + "\nCHANGED = 1\n", "utf-8")
    caplog.set_level(logging.INFO, logger="bot.indexfile")
    assert read_index(index_path(str(db))) is None
    assert "reason=written by another version" in caplog.text


async def test_loading_stops_between_chunks_when_asked(tmp_path):
    db = fill(tmp_path / "w.db", 3000)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, stop.set)
    started = asyncio.get_running_loop().time()
    assert await _load(db, stop=stop) is None
    assert asyncio.get_running_loop().time() - started < 3
