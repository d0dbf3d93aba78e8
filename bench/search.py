"""`search` by story against search by item (the layout before), same archive, same run.

A 60,000-item archive (as tests/test_loop_stall.py builds it: every item says "harbour",
ten a second, five days old), once with no story holding the items (an archive from
before the story index) and once grouped five reports to a story from five outlets, with
an alert of each story sent to the channel. Per case, the median of a few runs of what one
answer queries: before, `search_items` + `count_matches` + `deliveries_of` (one line per
report); now, `search_stories` + `count_stories` + `stories_told` + `story_deliveries` +
`search_matches`, and the whole reply (`bot.commands.found.search_reply`, which adds the
reading of the words and the wording).

Then `harbour page:10` and `page:100` (`search_stories` skipping 90 and 990 stories): the
walk as it was (a copy here, re-sorting the kept list after each hit that enters) against
`bot.search_store`'s (a heap), on the archives above and on the same ones stored as a backlog
arrives (newest first: the older a report, the later it was stored, so every hit of the
walk enters the page list). The two must answer the same; the bench stops if not.

Then `outlet:NAME harbour` (page 1, and page 3) on the archive of stories, from outlets
rarer than the word (1 item in 1,000; the 100 oldest items) and from one of 1 item in 5: the
page and its count as `bot.store` answered them before (the walk by the words, each hit's
feed a filter, and the count by the same join; `_newest_hits` is that walk) against now
(a small outlet's items walked newest first and the words looked up for each). The two
must answer the same; the bench stops if not.

Then stories of 60 reports (`LONG_STORY`), each from its own outlet in its own 80 words,
every report alerted to the channel: the texts `outlets_of` compares, all 1,770 pairs of a
story (wire copy folded is cheaper: its reports join before they are compared). `search
harbour` (10 stories) and the recap `digest 12h` (50 stories a page) through
`Commands.handle`, as an adapter sends them, with a 1 ms heartbeat on the event loop
(`bench.stall.worst_stalls`): the reply's time and how late the loop woke at worst, with
the work on the store thread (as the bot runs them) and on the loop (`inline=True`).

`python -m bench.search [--quick]`
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.report import Section, ratio, run_alone
from bench.stall import worst_stalls
from bot.commands.found import search_reply, search_scope
from bot.db import open_database
from bot.gazetteer import Gazetteer
from bot.search_count_store import COUNT_CAP, count_matches, count_stories, search_matches
from bot.search_store import (
    Hit,
    _minus_slack,
    _newest_hits,
    fts_query,
    search_items,
    search_stories,
)
from bot.story_store import deliveries_of, stories_told, story_deliveries

ITEMS = 60_000
PER_STORY = 5
CHANNEL = "console"
# (label, words typed, terms): a word in every item, a word in one item of a thousand.
CASES = (
    ("a word in every item", "harbour", (("harbour",),)),
    ("a word in 1 item of 1,000", "rare", (("rare",),)),
)


# Two outlets rarer than "harbour": one of 1 item in 1,000, spread over the archive, and
# one whose 100 items are the archive's oldest (the walk by words meets them last).
OUTLETS = {6: "Harbour Gazette", 7: "Archive Wire"}
OUTLET_CASES = (
    ("an outlet of 1 item in 1,000", "outlet:gazette harbour"),
    ("an outlet of the 100 oldest items", "outlet:archive harbour"),
    ("an outlet of 1 item in 5", 'outlet:"Port News 1" harbour'),
    ("an outlet of 1 item in 1,000, page:3", "outlet:gazette harbour page:3"),
)

LONG_STORY = 60  # reports of a story: every text compared (bot.corroboration.COMPARED)
SUMMARY_WORDS = 80  # a report's text: a feed's summary


def _archive(path: Path, count: int, stories: bool, backlog: bool = False) -> Path:
    """`count` items, in stories of PER_STORY from PER_STORY feeds with the first one's
    alert sent, or in none; written in bulk through the real schema. `backlog`: published
    runs backwards from first_seen (a feed's backlog stored newest first)."""
    sign = "-" if backlog else "+"
    open_database(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    fts = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'items_a_'"
    ).fetchall()
    for name, _ in fts:
        conn.execute(f"DROP TRIGGER {name}")
    for f in range(1, PER_STORY + 1):
        conn.execute(
            "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
            f"VALUES ({f}, 'https://port{f}.example/rss', 'Port News {f}', 'chat', '9999', '2020')"
        )
    for f, name in OUTLETS.items():
        conn.execute(
            "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
            f"VALUES ({f}, 'https://o{f}.example/rss', '{name}', 'chat', '9999', '2020')"
        )
    story = f"(i - 1) / {PER_STORY} + 1" if stories else "NULL"
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO items (id, feed_id, identity, url, title, summary, published, first_seen, "
        f"story_id) SELECT i, CASE WHEN i % 1000 = 500 THEN 6 WHEN i <= 100 THEN 7 "
        f"ELSE (i - 1) % {PER_STORY} + 1 END, 'guid:' || i, "
        "'https://port.example/' || i, 'Harbour report ' || i, "
        "'The harbour authority counted ' || i || ' ships' || "
        "CASE WHEN i % 1000 = 0 THEN ', a rare sight.' ELSE '.' END, "
        f"strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days', '{sign}' || (i / 10) || ' seconds'), "
        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 days', '+' || (i / 10) || ' seconds'), "
        f"{story} FROM n",
        [count],
    )
    if stories:
        conn.execute(
            "INSERT INTO stories (id, title, first_item, first_seen, last_seen) "
            "SELECT story_id, title, min(id), min(first_seen), max(first_seen) FROM items "
            "GROUP BY story_id"
        )
        conn.execute(
            "INSERT INTO subscriptions (id, channel, topic, created) "
            f"VALUES (1, '{CHANNEL}', 'troop-deployments', '2020')"
        )
        conn.execute(
            "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, "
            "status, next_attempt, created, sent_at) SELECT 1, ?, id, first_item, 'new', "
            "'sent', '2020', '2020', '2020' FROM stories",
            [CHANNEL],
        )
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    for _, sql in fts:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()
    return path


def _by_item(db: Any, terms: Any) -> int:
    rows = search_items(db, terms, 10, 0)
    count_matches(db, terms)
    deliveries_of(db, CHANNEL, [r["id"] for r in rows])
    return len(rows)


def _by_story(db: Any, terms: Any) -> int:
    hits = search_stories(db, terms, 10, 0)
    count_stories(db, terms)
    told = stories_told(db, hits)
    story_deliveries(db, CHANNEL, [h.story for h in hits if h.story], [])
    search_matches(db, terms, [t.item for t in told.values()])
    return len(hits)


def _walk_before(db: Any, fts: str, wanted: int) -> list[tuple[str, int, int]]:
    """`bot.search_store._newest_hits` by story as it was (no outlet, no start): the kept hits
    re-sorted after each one that enters."""
    best: list[tuple[str, int, int]] = []
    placed: dict[int, str] = {}
    floor = ""
    for item_id, published, first_seen, _, story_id in db.execute(
        "SELECT items.id, items.published, items.first_seen, items.feed_id, items.story_id "
        "FROM items_fts JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ? "
        "ORDER BY items_fts.rowid DESC",
        [fts],
    ):
        if first_seen < floor:
            break
        key = story_id or -item_id
        if key in placed:
            if published <= placed[key]:
                continue
            best = [b for b in best if b[2] != key]
        elif len(best) >= wanted and published <= best[-1][0]:
            continue
        best.append((published, item_id, key))
        best.sort(reverse=True)
        for _, _, gone in best[wanted:]:
            del placed[gone]
        del best[wanted:]
        placed[key] = published
        if len(best) >= wanted:
            floor = max(floor, _minus_slack(best[-1][0]))
    return best


def _stories_before(db: Any, terms: Any, skip: int) -> list[Hit]:
    best = _walk_before(db, fts_query(terms), 10 + skip)
    return [Hit(key if key > 0 else None, item, at) for at, item, key in best[skip:]]


def _median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm the page cache alike for both
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took)


def run(quick: bool = False) -> Section:
    import sqlite_utils

    runs = 3 if quick else 9
    count = ITEMS // 10 if quick else ITEMS
    gazetteer = Gazetteer.load()
    section = Section(
        "search: one line per story",
        ["archive; search", "by item (before), ms", "by story, ms", "by story / by item"]
        + ["whole reply, ms", "walk before (re-sort), ms", "walk now (heap), ms", "now / before"]
        + ["outlet: by words (before), ms", "outlet: now, ms", "outlet now / before"]
        + ["where the work runs", "reply, ms", "worst loop stall, ms"],
        notes=[
            f"Median of {runs} runs each, in one process: the queries of one first page.",
            "page:N rows: `search_stories` for `harbour`, N - 1 pages skipped; before: the "
            "walk re-sorting its list per hit (a copy in bench/search.py).",
            "outlet: rows: one page's stories and their count (`search_stories` + "
            "`count_stories`) for an outlet and a word in every item; before: the walk by "
            "the words, newest first, the outlet's feeds a filter on each hit (as "
            "`bot.store` did for every outlet), and the count by the same join.",
            f"Stories of {LONG_STORY} reports: each command once after a warm-up, through "
            "`Commands.handle`; the worst stall is how late a 1 ms heartbeat on the event "
            "loop woke at worst while it ran (store thread: the loop waits only for the GIL).",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for grouped in (False, True):
            path = _archive(Path(tmp) / f"a{int(grouped)}.db", count, grouped)
            db = sqlite_utils.Database(sqlite3.connect(path))
            for label, typed, terms in CASES:
                old = _median_ms(lambda t=terms, d=db: _by_item(d, t), runs)
                new = _median_ms(lambda t=terms, d=db: _by_story(d, t), runs)
                reply = _median_ms(
                    lambda w=typed, d=db: search_reply(d, gazetteer, CHANNEL, w), runs
                )
                archive = f"stories of {PER_STORY}" if grouped else "no stories"
                section.add(
                    **{
                        "archive; search": f"{count:,} items, {archive}; {label}",
                        "by item (before), ms": old,
                        "by story, ms": new,
                        "by story / by item": ratio(new, old),
                        "whole reply, ms": reply,
                    }
                )
            db.close()
        _outlets(section, Path(tmp) / "a1.db", runs, count, gazetteer)
        _long_stories(section, Path(tmp) / "long.db", 12 if quick else 60)
        for grouped in (False, True):
            for backlog in (False, True):
                path = Path(tmp) / f"p{int(grouped)}{int(backlog)}.db"
                _pages(
                    section, _archive(path, count, grouped, backlog), runs, count, grouped, backlog
                )
    return section


def _count_before(db: Any, terms: Any, feeds: set[int]) -> int:
    """`count_stories` as it was: every hit of the words joined to its item, the outlet a
    filter on each."""
    marks = ", ".join("?" * len(feeds))
    return int(
        db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT coalesce(items.story_id, -items.id) FROM "
            "items_fts JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ? AND "
            f"items.feed_id IN ({marks}) LIMIT ?)",
            [fts_query(terms), *feeds, COUNT_CAP + 1],
        ).fetchone()[0]
    )


def _outlet_before(db: Any, terms: Any, feeds: set[int], skip: int) -> tuple[list[Hit], int]:
    best = _newest_hits(db, fts_query(terms), 10 + skip, feeds, None, by_story=True)
    hits = [Hit(key if key > 0 else None, item, at) for at, item, key in best[skip:]]
    return hits, _count_before(db, terms, feeds)


def _outlet_now(db: Any, terms: Any, feeds: set[int], skip: int) -> tuple[list[Hit], int]:
    return search_stories(db, terms, 10, skip, feeds), count_stories(db, terms, feeds)


def _outlets(section: Section, path: Path, runs: int, count: int, gazetteer: Gazetteer) -> None:
    """`outlet:NAME harbour` on the archive of stories: the walk by words before, and now;
    the two must find the same stories in the same order, and count the same."""
    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(path))
    for label, typed in OUTLET_CASES:
        scope = search_scope(db, gazetteer, typed, command="bench")
        terms, feeds, skip = scope.query.terms, scope.feeds or set(), scope.skip
        if _outlet_before(db, terms, feeds, skip) != _outlet_now(db, terms, feeds, skip):
            raise SystemExit(f"{typed} differs from the walk by words")
        old = _median_ms(partial(_outlet_before, db, terms, feeds, skip), runs)
        new = _median_ms(partial(_outlet_now, db, terms, feeds, skip), runs)
        reply = _median_ms(partial(search_reply, db, gazetteer, CHANNEL, typed), runs)
        section.add(
            **{
                "archive; search": f"{count:,} items, stories of {PER_STORY}; {label}: {typed}",
                "outlet: by words (before), ms": old,
                "outlet: now, ms": new,
                "outlet now / before": ratio(new, old),
                "whole reply, ms": reply,
            }
        )
    db.close()


def _pages(
    section: Section, path: Path, runs: int, count: int, grouped: bool, backlog: bool
) -> None:
    """The page:10 and page:100 rows of one archive: the walk before and now, which must
    find the same stories in the same order."""
    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(path))
    terms = (("harbour",),)
    archive = f"stories of {PER_STORY}" if grouped else "no stories"
    stored = "backlog stored newest first" if backlog else "stored as published"
    for page in (10, 100):
        skip = (page - 1) * 10
        if _stories_before(db, terms, skip) != search_stories(db, terms, 10, skip):
            raise SystemExit(f"page:{page} differs from the walk before ({archive}, {stored})")
        old = _median_ms(partial(_stories_before, db, terms, skip), runs)
        new = _median_ms(partial(search_stories, db, terms, 10, skip), runs)
        section.add(
            **{
                "archive; search": f"{count:,} items, {archive}, {stored}; harbour page:{page}",
                "walk before (re-sort), ms": old,
                "walk now (heap), ms": new,
                "now / before": ratio(new, old),
            }
        )
    db.close()


def _long_archive(path: Path, stories: int) -> Path:
    """`stories` stories of LONG_STORY reports, report n from feed n in words of its own
    (no two alike: every pair is compared), all alerted to CHANNEL within the last hour."""
    import random

    from bot.clock import iso

    rng = random.Random(7)
    vocabulary = [f"w{n}" for n in range(3000)]
    open_database(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
        "VALUES (?, ?, ?, 'chat', '9999', '2020')",
        [(f, f"https://o{f}.example/rss", f"Outlet {f}") for f in range(1, LONG_STORY + 1)],
    )
    start = datetime.now(UTC) - timedelta(minutes=50)
    items, deliveries = [], []
    for story in range(1, stories + 1):
        for n in range(LONG_STORY):
            item = (story - 1) * LONG_STORY + n + 1
            at = iso(start + timedelta(seconds=item))
            text = " ".join(rng.choice(vocabulary) for _ in range(SUMMARY_WORDS))
            title = f"Harbour report {story} from outlet {n + 1}"
            items.append((item, n + 1, f"guid:{item}", f"https://o.example/{item}", title,
                          text, at, at, story))  # fmt: skip
            deliveries.append((story, item, "new" if n == 0 else "update", at, at, at))
    conn.executemany(
        "INSERT INTO items (id, feed_id, identity, url, title, summary, published, "
        "first_seen, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        items,
    )
    conn.execute(
        "INSERT INTO stories (id, title, first_item, first_seen, last_seen) SELECT story_id, "
        "title, min(id), min(first_seen), max(first_seen) FROM items GROUP BY story_id"
    )
    conn.execute(
        "INSERT INTO subscriptions (id, channel, topic, created) "
        f"VALUES (1, '{CHANNEL}', 'troop-deployments', '2020')"
    )
    conn.executemany(
        "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, status, "
        f"next_attempt, created, sent_at) VALUES (1, '{CHANNEL}', ?, ?, ?, 'sent', ?, ?, ?)",
        deliveries,
    )
    conn.execute("COMMIT")
    conn.close()
    return path


def _long_stories(section: Section, path: Path, stories: int) -> None:
    """`search harbour` and `digest 12h` on stories of LONG_STORY reports, through
    `Commands.handle` on the store thread and on the loop, the heartbeat running."""
    import asyncio

    from bench.latency import StandIn
    from bench.stall import _settings
    from bot.commands import Commands, Invocation
    from bot.startup import open_runtime

    _long_archive(path, stories)
    subs = [{"topic": "troop-deployments", "channel": CHANNEL}]

    async def measure() -> None:
        settings = _settings(path, [], subscriptions=subs)
        async with open_runtime(settings, {CHANNEL: StandIn()}) as rt:
            for where, commands in (
                ("store thread", Commands(rt)),
                ("event loop (inline)", Commands(rt, inline=True)),
            ):
                for text in ("search harbour", "digest 12h"):
                    inv = Invocation("console", CHANNEL, "bench", text)
                    await commands.handle(inv)  # warm: the page cache, the word keys
                    lags, took, reply = await worst_stalls(commands.handle(inv))
                    if not reply.ok or "outlet" not in reply.text.lower():
                        raise SystemExit(f"{text}: {reply.text[:300]}")
                    section.add(
                        **{
                            "archive; search": f"{stories} stories of {LONG_STORY} reports "
                            f"(each its own outlet and words); `{text}`",
                            "where the work runs": where,
                            "reply, ms": took * 1000,
                            "worst loop stall, ms": max(lags, default=0.0) * 1000,
                        }
                    )

    asyncio.run(measure())


if __name__ == "__main__":
    run_alone(run, __doc__)
