"""Every page of a search, by story and by item, is the archive's matching stories (or
items) newest first: an editor paging back through `search harbour` must see each story
once, on the page its newest report puts it, with ties in publication time broken the same
way on every page (the later-stored report first), none lost between pages.

The archive is stored through the store, as polls store it (`store_new_items`, the story
index grouping what it groups), over three days, each poll bringing a backlog of reports
published up to a day and a half before it (so the walk, newest stored first, meets
reports newer than the ones before it), on the hour (so publication times tie). A third of
the items are then taken out of their stories, as in an archive stored before the story
index. The expected pages are worked out here from the rows themselves.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.db import open_database
from bot.ingest import NewItem, store_new_items
from bot.model import Entry, TopicMatch
from bot.redecide import subscribe
from bot.store import FeedRow, Hit, add_feed, search_items, search_stories
from bot.stories import StoryIndex
from bot.text import versions

START = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = 10
# A handful of stories told again and again (the index groups these), and one-offs.
RETOLD = [
    "Harbour pilots strike over night shifts at the container port",
    "Harbour authority closes the north basin after a tanker leak",
    "Navy frigates dock in the harbour for a joint exercise",
]


def _item(rng: random.Random, n: int, when: datetime) -> NewItem:
    if rng.random() < 0.5:
        title = f"{rng.choice(RETOLD)}, officials say"
    else:
        title = f"Harbour report {n}: {rng.choice(['ferry', 'crane', 'dredger'])} number {n}"
    text = f"{title}. The harbour was busy" + (", a rare sight." if n % 7 == 0 else ".")
    entry = Entry(
        f"g{n}", f"https://port.example/{n}", title, text, when, digest=versions.digest(title, text)
    )
    matches = (TopicMatch("t", ("harbour",), (), "", strict=True),)
    return NewItem(entry, when, None, text, (), matches, True)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[sqlite_utils.Database, FeedRow]:
    rng = random.Random(7)
    db = open_database(Path(tmp_path_factory.mktemp("order")) / "w.db")
    feeds = [
        add_feed(db, f"https://port{f}.example/rss", f"Port {f}", origin="config") for f in range(3)
    ]
    db.execute("INSERT INTO topics (name, query, origin) VALUES ('t', 'harbour', 'config')")
    subscribe(db, "chat:A", "t", "instant")
    index = StoryIndex()
    n = 0
    for poll in range(36):  # every two hours for three days
        now = START + timedelta(hours=2 * poll)
        for feed in feeds:
            items = []
            for _ in range(rng.randint(1, 5)):
                n += 1
                hours = rng.randint(0, 36)
                items.append(_item(rng, n, now.replace(minute=0) - timedelta(hours=hours)))
            store_new_items(db, feed, items, index, now)
    ids = [r[0] for r in db.execute("SELECT id FROM items ORDER BY id")]
    loose = rng.sample(ids, len(ids) // 3)
    db.execute(
        f"UPDATE items SET story_id = NULL WHERE id IN ({', '.join('?' * len(loose))})", loose
    )
    db.conn.commit()
    return db, feeds[1]


def _rows(db: sqlite_utils.Database, word: str) -> list[tuple[str, int, int | None, int]]:
    """(published, id, story, feed) of the items whose title or text has `word`."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute("SELECT published, id, story_id, feed_id, title, summary FROM items")
        if word in f"{r[4]} {r[5]}".lower().replace(",", " ").replace(".", " ").split()
    ]


def _expected_lines(rows: list[tuple[str, int, int | None, int]]) -> list[Hit]:
    """One line per story (an item no story holds alone), placed by its newest report,
    newest first; a tie in publication time goes to the later-stored report."""
    newest: dict[object, tuple[str, int]] = {}
    for published, item, story, _ in rows:
        key = ("story", story) if story is not None else ("item", item)
        if key not in newest or (published, item) > newest[key]:
            newest[key] = (published, item)
    story_of = {item: story for _, item, story, _ in rows}
    lines = sorted(newest.values(), reverse=True)
    return [Hit(story_of[item], item, published) for published, item in lines]


def _pages_of(lines: list, count: int) -> list[list]:
    return [lines[p * PAGE : (p + 1) * PAGE] for p in range(count)]


def test_the_archive_has_what_this_test_is_about(
    archive: tuple[sqlite_utils.Database, FeedRow],
) -> None:
    db, _ = archive
    rows = _rows(db, "harbour")
    stamps = [published for published, *_ in rows]
    assert len(rows) > 300
    assert len(set(stamps)) < len(stamps) / 3  # ties in publication time, many
    assert any(story is None for _, _, story, _ in rows)
    sizes: dict[int, int] = {}
    for _, _, story, _ in rows:
        if story is not None:
            sizes[story] = sizes.get(story, 0) + 1
    assert max(sizes.values()) > 5  # stories of many reports
    by_id = sorted(rows, key=lambda r: r[1])
    assert any(a[0] > b[0] for a, b in zip(by_id, by_id[1:], strict=False))  # backlogs


@pytest.mark.parametrize("word", ["harbour", "rare"])
def test_every_page_by_story_is_the_archive_newest_first(
    archive: tuple[sqlite_utils.Database, FeedRow], word: str
) -> None:
    db, _ = archive
    lines = _expected_lines(_rows(db, word))
    pages = -(-len(lines) // PAGE) + 1  # and one page past the last
    got = [search_stories(db, ((word,),), PAGE, p * PAGE) for p in range(pages)]
    assert got == _pages_of(lines, pages)
    assert got[-1] == []


def test_every_page_of_one_outlet_and_from_a_start(
    archive: tuple[sqlite_utils.Database, FeedRow],
) -> None:
    """`outlet:` and `from:` narrow the rows, not the order."""
    db, feed = archive
    rows = _rows(db, "harbour")
    since = sorted(published for published, *_ in rows)[len(rows) // 2]
    for feeds, start, kept in (
        ([feed.id], None, [r for r in rows if r[3] == feed.id]),
        (None, since, [r for r in rows if r[0] >= since]),
    ):
        lines = _expected_lines(kept)
        pages = -(-len(lines) // PAGE) + 1
        got = [
            search_stories(db, (("harbour",),), PAGE, p * PAGE, feeds, start) for p in range(pages)
        ]
        assert got == _pages_of(lines, pages)


def test_every_page_by_item_is_the_archive_newest_first(
    archive: tuple[sqlite_utils.Database, FeedRow],
) -> None:
    """The CLI's `wirewatch search`: one line per report, ties to the later-stored one."""
    db, _ = archive
    items = [item for _, item, _, _ in sorted(_rows(db, "harbour"), reverse=True)]
    pages = -(-len(items) // PAGE) + 1
    got = [[r["id"] for r in search_items(db, "harbour", PAGE, p * PAGE)] for p in range(pages)]
    assert got == _pages_of(items, pages)
