"""An `outlet:` search asks whether to walk the outlet's items or the words' hits once, not
once for its page and again for its count: each asking is two counts, the outlet's items (up
to 5,000 rows) and the words' hits (up to eight an item of the outlet). Asked again after the
database changed, the counts run again. The five-outlet archive of test_search_stories, in
real SQLite, searched through the real command code; statements read with SQLite's own
trace callback.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from bot.commands.found import search_found
from bot.runtime import Runtime
from bot.search_count_store import count_matches
from bot.search_store import search_items
from tests.feedserver import FeedServer
from tests.runtime import Console
from tests.test_search_stories import wires  # noqa: F401 (a fixture)

OUTLET_COUNT = "SELECT count(*) FROM (SELECT 1 FROM items WHERE feed_id IN"
HITS_COUNT = "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH"


def _counts(db: sqlite_utils.Database, ask: Callable[[], object]) -> tuple[int, int]:
    """How many times `ask` ran the outlet's count and the words' count."""
    said: list[str] = []
    db.conn.set_trace_callback(said.append)
    try:
        ask()
    finally:
        db.conn.set_trace_callback(None)
    return sum(OUTLET_COUNT in s for s in said), sum(HITS_COUNT in s for s in said)


def test_an_outlet_search_counts_the_outlet_and_the_words_once(
    wires: tuple[Runtime, Console, FeedServer],  # noqa: F811 (the fixture)
) -> None:
    rt, _, _ = wires
    db, gazetteer = rt.db, rt.pipeline.gazetteer
    found = []

    def chat_search() -> None:
        found.append(search_found(db, gazetteer, "console", "convoy outlet:yonhap", "search"))

    assert _counts(db, chat_search) == (1, 1)  # the page and the count
    [page] = found
    assert page.total == 12 and len(page.hits) == 10  # Yonhap's twelve convoy stories

    yonhap = set(page.scope.feeds or ())
    reports = (
        lambda: search_items(db, "convoy", 10, 0, yonhap),
        lambda: count_matches(db, "convoy", yonhap),
    )
    assert _counts(db, lambda: [f() for f in reports]) == (0, 0)  # asked already, unchanged

    db.execute("UPDATE items SET title = title || ' (updated)' WHERE id = 1")
    db.conn.commit()
    assert _counts(db, lambda: [f() for f in reports]) == (1, 1)  # changed: counted again
