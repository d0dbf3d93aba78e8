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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.db import open_database
from bot.feed_store import FeedRow, add_feed
from bot.ingest import NewItem, store_new_items
from bot.model import Entry, TopicMatch
from bot.redecide import subscribe
from bot.search_count_store import count_matches, count_stories
from bot.search_store import Hit, _newest_hits, fts_query, search_items, search_stories
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
def archive(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[sqlite_utils.Database, FeedRow, FeedRow]:
    rng = random.Random(7)
    db = open_database(Path(tmp_path_factory.mktemp("order")) / "w.db")
    feeds = [
        add_feed(db, f"https://port{f}.example/rss", f"Port {f}", origin="config") for f in range(3)
    ]
    gazette = add_feed(db, "https://gazette.example/rss", "Port Gazette", origin="config")
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
        if poll % 6 == 5:  # a small outlet: one report every half day
            n += 1
            store_new_items(
                db, gazette, [_item(rng, n, now - timedelta(hours=poll % 5))], index, now
            )
    ids = [r[0] for r in db.execute("SELECT id FROM items ORDER BY id")]
    loose = rng.sample(ids, len(ids) // 3)
    db.execute(
        f"UPDATE items SET story_id = NULL WHERE id IN ({', '.join('?' * len(loose))})", loose
    )
    db.conn.commit()
    return db, feeds[1], gazette


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
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow],
) -> None:
    db, _, _ = archive
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
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow], word: str
) -> None:
    db, _, _ = archive
    lines = _expected_lines(_rows(db, word))
    pages = -(-len(lines) // PAGE) + 1  # and one page past the last
    got = [search_stories(db, ((word,),), PAGE, p * PAGE) for p in range(pages)]
    assert got == _pages_of(lines, pages)
    assert got[-1] == []


def test_every_page_of_one_outlet_and_from_a_start(
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow],
) -> None:
    """`outlet:` and `from:` narrow the rows, not the order."""
    db, feed, _ = archive
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
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow],
) -> None:
    """The CLI's `wirewatch search`: one line per report, ties to the later-stored one."""
    db, _, _ = archive
    items = [item for _, item, _, _ in sorted(_rows(db, "harbour"), reverse=True)]
    pages = -(-len(items) // PAGE) + 1
    got = [[r["id"] for r in search_items(db, "harbour", PAGE, p * PAGE)] for p in range(pages)]
    assert got == _pages_of(items, pages)


def _cost(db: sqlite_utils.Database, ask: Callable[[], object]) -> int:
    """SQLite's virtual machine steps (in hundreds) that `ask` takes: work done, counted
    the same on any machine, where a time would not be."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(tick, 100)
    try:
        ask()
    finally:
        db.conn.set_progress_handler(None, 100)
    return steps[0]


def test_a_small_outlet_is_every_page_of_its_own_and_costs_its_items_not_the_index(
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow],
) -> None:
    """`outlet:gazette harbour`, a word in every report and an outlet of a few: the pages
    and counts the walk by words gives (each hit filtered by outlet), by story and by
    report, with and without a start; and the work is the outlet's few items, not every
    report with the word (which held the store thread, every channel's commands behind
    it, for the length of the archive)."""
    db, _, gazette = archive
    feeds = {gazette.id}
    rows = [r for r in _rows(db, "harbour") if r[3] == gazette.id]
    since = sorted(published for published, *_ in rows)[len(rows) // 2]
    assert 3 < len(rows) * 20 < len(_rows(db, "harbour"))
    fts = fts_query("harbour")
    for start in (None, since):
        kept = [r for r in rows if start is None or r[0] >= start]
        lines = _expected_lines(kept)
        pages = -(-len(lines) // PAGE) + 1
        got = [
            search_stories(db, (("harbour",),), PAGE, p * PAGE, feeds, start) for p in range(pages)
        ]
        assert got == _pages_of(lines, pages)
        walked = _newest_hits(db, fts, len(lines) + PAGE, feeds, start, by_story=True)
        assert [line.item for line in lines] == [item for _, item, _ in walked]
        assert count_stories(db, (("harbour",),), feeds, start) == len(lines)
        items = [item for _, item, _, _ in sorted(kept, reverse=True)]
        got_items = [
            [r["id"] for r in search_items(db, "harbour", PAGE, p * PAGE, feeds, start)]
            for p in range(-(-len(items) // PAGE) + 1)
        ]
        assert got_items == _pages_of(items, len(got_items))
        assert count_matches(db, "harbour", feeds, start) == len(items)


def test_a_small_outlets_search_costs_its_items_not_the_whole_index(
    archive: tuple[sqlite_utils.Database, FeedRow, FeedRow], tmp_path: Path
) -> None:
    """The archive again with twenty times as many reports with the word from the other
    outlets: the walk by words grows with them, `outlet:gazette harbour` (its page and its
    count) does not. Before, it was that walk, each hit filtered by outlet: a common word
    held the store thread, every channel's commands waiting, for the whole index."""
    db, feed, gazette = archive
    grown = sqlite_utils.Database(tmp_path / "grown.db")
    db.conn.backup(grown.conn)
    grown.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) "
        "INSERT INTO items (feed_id, identity, url, title, summary, published, first_seen) "
        "SELECT ?, 'bulk:' || i, 'https://port.example/bulk/' || i, 'Harbour tally ' || i, "
        "'The harbour was busy.', strftime('%Y-%m-%dT%H:%M:%SZ', ?, '+' || i || ' minutes'), "
        "strftime('%Y-%m-%dT%H:%M:%SZ', ?, '+' || i || ' minutes') FROM n",
        [feed.id, START.isoformat(), START.isoformat()],
    )
    grown.conn.commit()
    fts, terms, feeds = fts_query("harbour"), (("harbour",),), {gazette.id}

    def outlet(d: sqlite_utils.Database) -> int:
        return _cost(d, lambda: search_stories(d, terms, PAGE, 0, feeds)) + _cost(
            d, lambda: count_stories(d, terms, feeds)
        )

    def walk(d: sqlite_utils.Database) -> int:
        return _cost(d, lambda: _newest_hits(d, fts, PAGE, feeds, None, by_story=True))

    assert walk(grown) > 10 * walk(db)  # the index the walk goes through grew
    assert search_stories(grown, terms, PAGE, 0, feeds) == search_stories(db, terms, PAGE, 0, feeds)
    assert outlet(grown) < 2 * outlet(db), (outlet(db), outlet(grown))
    grown.close()
