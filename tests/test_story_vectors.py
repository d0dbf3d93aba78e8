"""Sentence vectors in grouping, as users meet them: one report told by two outlets in
different words threads as one story; the vectors are stored with their items and go with
them; without the encoder's weights the bot groups by words alone and says so once."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from bot import sentencevectors, storyvectors
from bot.backtest import archive
from bot.commands import Commands, Invocation
from bot.db import open_database, write
from bot.encoder import base
from bot.feed_store import add_feed
from bot.gazetteer import Gazetteer
from bot.grouping import JOIN_FEATURES, VECTOR_DIM, could_reach, join_model, join_probability
from bot.model import Topic
from bot.poll_cycle import poll_once
from bot.prepare import feed_terms
from bot.replay import replay
from bot.stories import StoryDoc, StoryIndex
from tests.runtime import console_runtime, make_settings

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# The seed story's report and a rewrite of it that shares almost no word with it.
FIRST = "North Korea has sent more troops to Russia, Seoul says"
REWRITE = "Pyongyang dispatches thousands of additional soldiers to help Moscow"
OTHER = "Chess champion wins a seventh world title in Madrid"


def _doc(n: int, title: str, hours: float, vector: bytes | None) -> StoryDoc:
    """A headline-only item as the bot files it: its names are the feed text's (`feed_terms`)."""
    doc = StoryDoc(n, title, "", (), T0 + timedelta(hours=hours), vector=vector)
    return replace(doc, terms=feed_terms(doc))


def _file(titles: list[str], with_vectors: bool) -> list[int]:
    """Each title's story as the index files it, one hour apart, headlines only."""
    vectors = sentencevectors.ask_now(titles) if with_vectors else [None] * len(titles)
    index, table, out = StoryIndex(), {}, []
    for n, (title, vector) in enumerate(zip(titles, vectors, strict=True), start=1):
        doc = _doc(n, title, n, vector)
        story = index.assign(doc, vectors=lambda ids: {k: table[k] for k in ids if k in table})
        out.append(n if story is None else story)
        index.add(doc, out[-1])
        if vector is not None:
            table[n] = vector
    return out


def test_a_rewrite_in_other_words_joins_the_story_only_through_the_vectors():
    titles = [FIRST, OTHER, REWRITE]
    assert _file(titles, with_vectors=False) == [1, 2, 3]  # words alone: a second story
    assert _file(titles, with_vectors=True) == [1, 2, 1]


def test_the_vector_model_is_used_only_when_the_cosine_is_there():
    weights, _ = join_model()
    assert weights.vectors is not None and len(weights.vectors) == len(JOIN_FEATURES) + 2
    lexical = [0.2] * len(JOIN_FEATURES)
    alike, unlike = (
        join_probability([*lexical, 0.9], weights),
        join_probability([*lexical, 0.1], weights),
    )
    assert alike > join_probability(lexical, weights) > unlike  # a cosine moves it both ways


def test_stored_vectors_go_with_their_item_and_their_headline(tmp_path):
    db = open_database(tmp_path / "w.db")
    [vector] = sentencevectors.ask_now([FIRST])
    assert vector is not None and len(vector) == VECTOR_DIM * 2
    feed = add_feed(db, "https://w.example/rss", "Wire", origin="config")
    with write(db):
        for n in (1, 2, 3):
            db.execute(
                "INSERT INTO items (id, feed_id, identity, title, summary, published, first_seen) "
                "VALUES (?, ?, ?, ?, '', '2026-11-30T09:00:00Z', '2026-11-30T09:00:00Z')",
                [n, feed.id, f"i{n}", FIRST],
            )
            storyvectors.save(db, n, vector)
        storyvectors.save(db, 4, b"not a vector")  # refused, not stored
    assert set(storyvectors.read(db, [1, 2, 3, 4])) == {1, 2, 3}
    with write(db):
        db.execute("DELETE FROM items WHERE id = 1")
        db.execute("UPDATE items SET title = 'Corrected headline' WHERE id = 2")
        db.execute("UPDATE items SET summary = 'a longer summary' WHERE id = 3")
        db.execute("UPDATE items SET title = title, summary = 'a summary' WHERE id = 3")
    assert set(storyvectors.read(db, [1, 2, 3])) == {3}  # a summary edit keeps the headline's
    # Leaving the story window: published and first seen before it.
    assert storyvectors.forget_before(db, datetime(2026, 11, 30, 9, tzinfo=UTC)) == 0
    assert storyvectors.forget_before(db, datetime(2026, 11, 30, 10, tzinfo=UTC)) == 1
    assert storyvectors.read(db, [3]) == {}


def _feed(hours_ago: float = 0.0) -> str:
    """The three headlines as one outlet's feed, published 90, 60 and 30 minutes before
    `hours_ago` hours ago (items older than the story window get no vector)."""
    last = datetime.now(UTC) - timedelta(hours=hours_ago)
    items = "".join(
        f"<item><title>{title}</title><link>https://w.example/{n}</link><guid>w{n}</guid>"
        f"<pubDate>{format_datetime(last - timedelta(minutes=30 * (3 - n)), usegmt=True)}"
        "</pubDate></item>"
        for n, title in ((1, FIRST), (2, OTHER), (3, REWRITE))
    )
    channel = f"<channel><title>Wire</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'


# A day and more old: inside the story window, past `max_age` (no alert pulls the rewrite
# in at the lower bar an alerted story has: its words or its vector must).
FEED = _feed(hours_ago=30)


async def test_the_running_bot_stores_each_items_vector_and_threads_the_rewrite(
    tmp_path, feed_server
):
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        rows = rt.db.execute("SELECT id, title, story_id FROM items ORDER BY id").fetchall()
        stored = storyvectors.read(rt.db, [r[0] for r in rows])
    assert len(rows) == 3 and set(stored) == {r[0] for r in rows}
    story = {title: sid for _, title, sid in rows}
    assert story[FIRST] == story[REWRITE] != story[OTHER]
    # The worker's vector is the one this process gives the same headline.
    [here] = sentencevectors.ask_now([FIRST])
    assert stored[rows[0][0]] == here


async def test_an_edited_headline_gets_its_new_vector_and_a_summary_edit_keeps_the_old(
    tmp_path, feed_server
):
    corrected = "North Korea has sent 3,000 more troops to Russia, Seoul says"
    # FEED's items are inside the story window: their edits are applied.
    edited = FEED.replace(f"<title>{FIRST}</title>", f"<title>{corrected}</title>").replace(
        f"<title>{OTHER}</title>",
        f"<title>{OTHER}</title><description>In extra time.</description>",
    )
    ids, titles, before, after, kept = await _across_an_edit(tmp_path, feed_server, FEED, edited)
    assert titles[0] == corrected and len(ids) == 3  # edited in place, nothing new
    [now] = sentencevectors.ask_now([corrected])
    assert after[ids[0]] == now != before[ids[0]]  # compared by what the headline says now
    assert after[ids[1]] == before[ids[1]]  # the summary changed, the headline did not
    assert after[ids[2]] == before[ids[2]]
    assert kept == after  # items still in the window keep their vectors at the clean-up


async def _across_an_edit(tmp_path, feed_server, first: str, then: str):
    """Poll `first`, then `then` from one feed: the items' ids, their titles at the end, and
    their vectors before, after, and after the clean-up of items out of the window."""
    from bot.loop import _forget_terms

    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    feed_server.serve("/rss", first)
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        ids = [r[0] for r in rt.db.execute("SELECT id FROM items ORDER BY id")]
        before = storyvectors.read(rt.db, ids)
        feed_server.serve("/rss", then)
        await poll_once(rt)
        titles = [r[0] for r in rt.db.execute("SELECT title FROM items ORDER BY id")]
        after = storyvectors.read(rt.db, ids)
        await _forget_terms(rt)
        kept = storyvectors.read(rt.db, ids)
    return ids, titles, before, after, kept


async def test_without_the_weights_items_are_grouped_by_words_and_it_is_said_once(
    tmp_path, feed_server, no_weights, caplog
):
    caplog.set_level(logging.WARNING, logger="bot.sentencevectors")
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, _):
        results, _ = await poll_once(rt)
        await poll_once(rt)
        rows = rt.db.execute("SELECT id, story_id FROM items").fetchall()
        stored = storyvectors.read(rt.db, [r[0] for r in rows])
        status = await Commands(rt).handle(Invocation("console", "console", "ops", "status"))
    assert all(r.ok for r in results)
    assert len(rows) == 3 and stored == {}  # nothing lost, no vector
    assert len({sid for _, sid in rows}) == 3  # the rewrite shares too few words
    said = [r.getMessage() for r in caplog.records if "vectors.unavailable" in r.getMessage()]
    assert len(said) == 1 and "missing" in said[0]
    # and `/wirewatch status` tells ops, who may not read the log
    assert "grouping by words alone: 3 of the last 3 items" in status.text


async def test_with_sentence_vectors_off_items_get_no_vector_and_words_decide(
    tmp_path, feed_server
):
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db",
        [("Wire", feed_server.url("/rss"))],
        articles={"fetch": False},
        sentence_vectors=False,
    )
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        rows = rt.db.execute("SELECT id, story_id FROM items").fetchall()
        stored = storyvectors.read(rt.db, [r[0] for r in rows])
    assert len(rows) == 3 and stored == {}
    assert len({sid for _, sid in rows}) == 3


async def test_a_backtest_groups_with_the_vectors_stored_and_honours_the_setting(
    tmp_path, feed_server, monkeypatch
):
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
    items = archive(open_database(tmp_path / "w.db"), datetime.now(UTC) - timedelta(days=2))
    assert [i.title for i in items] == [FIRST, OTHER, REWRITE]
    assert all(i.vector is not None for i in items)  # those the bot stored
    topic = Topic("seoul", '"more troops"')  # the first report only: no alert pulls the rewrite
    # The weights gone: the vectors the bot stored are what join the rewrite.
    monkeypatch.setenv("WIREWATCH_ENCODER_DIR", str(tmp_path / "empty"))
    base.cache_clear()
    try:
        stored = replay(items, topic, Gazetteer.load())
        words_only = replay(items, topic, Gazetteer.load(), vectors=False)  # the setting off
    finally:
        base.cache_clear()
    assert stored[0].alert == "new" and stored[2].story == stored[0].story != stored[1].story
    assert words_only[2].story != words_only[0].story


def test_an_item_without_a_title_gets_no_vector_and_is_grouped_by_words():
    """Empty texts would all have one vector: title-less items would look like one story."""
    vectors = sentencevectors.ask_now(["", FIRST, "  --  ", OTHER])
    assert vectors[0] is None and vectors[2] is None
    assert vectors[1] is not None and vectors[3] is not None and vectors[1] != vectors[3]


def test_a_damaged_vector_does_not_pull_an_item_into_a_story():
    """A vector that reads back as NaN or infinity (a damaged row) counts as no likeness: the
    rewrite, which joins by its real vector and not by words, stays out."""
    import struct

    real = dict(zip((1, 2, 3), sentencevectors.ask_now([FIRST, OTHER, REWRITE]), strict=True))
    nan = struct.pack(f"<{VECTOR_DIM}e", *([float("nan")] * VECTOR_DIM))
    huge = struct.pack(f"<{VECTOR_DIM}e", *([float("inf")] * VECTOR_DIM))
    cases = [(real[1], real[3], 1)]  # undamaged: joined, as in the first test
    cases += [(v, real[3], None) for v in (nan, huge)] + [(real[1], v, None) for v in (nan, huge)]
    for first, rewrite, joined in cases:
        table = {1: first, 2: real[2]}
        index = StoryIndex()
        for n, title in ((1, FIRST), (2, OTHER)):
            index.add(_doc(n, title, n, table[n]), n)
        got = index.assign(_doc(3, REWRITE, 3, rewrite), vectors=lambda ids, t=table: t)
        assert got == joined


def test_vectors_are_read_only_for_stories_that_could_reach_the_bar():
    """A story whose words keep it below the join bar whatever its vectors say (a cosine is
    at most 1) is not worth a read of its members' vectors; the story chosen is the one that
    reading every candidate's vectors gives, with or without an alert at stake."""
    titles = [
        FIRST,
        "Russia sends more warships to the Baltic Sea",
        "North Korea fires a missile into the sea, Seoul says",
        OTHER,
        "North Korea sends more troops to Russia, South Korea's spy agency says",
    ]
    vectors = dict(enumerate(sentencevectors.ask_now(titles), start=1))
    index = StoryIndex()
    for n, title in enumerate(titles[:-1], start=1):
        index.add(_doc(n, title, n, vectors[n]), n)
    rewrite = _doc(5, titles[-1], 5, vectors[5])
    weights, bar = join_model()
    every = index.candidates(rewrite, vectors=lambda ids: {k: vectors[k] for k in ids})
    weak = {
        sid for sid, f in every.items() if not could_reach(f[: len(JOIN_FEATURES)], weights, bar)
    }
    assert weak and weak != set(every)  # the case: some candidates weak, one not
    for near in (None, lambda sids: sids):  # an ordinary item; one that would be an alert
        read: list[int] = []

        def reading(ids: list[int], read: list[int] = read) -> dict[int, bytes]:
            read.extend(ids)
            return {k: vectors[k] for k in ids}

        got = index.assign(rewrite, alerted=near, vectors=reading)
        best = index.choose(
            rewrite, {s: join_probability(f, weights) for s, f in every.items()}, bar
        )
        assert got == best == 1
        if near is None:  # at the alert's lower bar weak stories may be read: no claim there
            assert read and not set(read) & weak


def test_the_bound_never_rules_out_a_story_some_cosine_would_join():
    """`could_reach` is exact: over random word features, whenever it says no, no cosine in
    [-1, 1] takes the vector model (or words alone) to the bar."""
    import random

    weights, bar = join_model()
    rng = random.Random(40)
    ruled_out = 0
    for _ in range(2000):
        lexical = [rng.uniform(0, 1) for _ in JOIN_FEATURES]
        if could_reach(lexical, weights, bar):
            continue
        ruled_out += 1
        assert join_probability(lexical, weights) < bar
        assert all(join_probability([*lexical, c / 10], weights) < bar for c in range(-10, 11))
    assert ruled_out > 100  # the bound does rule stories out


async def test_items_older_than_the_story_window_get_no_vector_and_status_does_not_count_them(
    tmp_path, feed_server
):
    """A first poll often brings days-old entries: no later item is compared with them, so
    no worker time goes on their vectors, and ops are not told grouping is by words alone."""
    feed_server.serve("/old", _feed(hours_ago=100).replace("w.example", "old.example"))
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db",
        [("Old", feed_server.url("/old")), ("Wire", feed_server.url("/rss"))],
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        rows = rt.db.execute(
            "SELECT i.id, f.name FROM items i JOIN feeds f ON f.id = i.feed_id"
        ).fetchall()
        stored = storyvectors.read(rt.db, [r[0] for r in rows])
        status = await Commands(rt).handle(Invocation("console", "console", "ops", "status"))
    assert len(rows) == 6  # all stored, to be searched
    assert set(stored) == {key for key, name in rows if name == "Wire"}
    assert "grouping by words alone" not in status.text


async def test_a_feed_that_rewrites_every_entry_keeps_its_items_vectors(tmp_path, feed_server):
    """A rewrite of the whole feed (a new template; text cleaned anew after an upgrade) is
    applied quietly: every open item of every feed at once would otherwise wait for a new
    vector, holding up the first poll after an upgrade for minutes."""
    extra = "Chess champion retires after a seventh world title"
    four = _feed(hours_ago=30).replace(
        "</channel>",
        f"<item><title>{extra}</title><link>https://w.example/4</link><guid>w4</guid>"
        "</item></channel>",
    )
    rewritten = four
    for title in (FIRST, OTHER, REWRITE, extra):
        rewritten = rewritten.replace(f"<title>{title}</title>", f"<title>{title} | Wire</title>")
    ids, titles, before, after, _ = await _across_an_edit(tmp_path, feed_server, four, rewritten)
    assert len(ids) == 4 and all(t.endswith("| Wire") for t in titles)  # applied
    assert len(before) == 4 and after == before


async def test_vectors_outlive_the_story_window_for_backtests_until_keep_vectors(tmp_path):
    """`topics backtest` reads the stored vectors rather than ask the encoder for a month of
    items again: the clean-up that forgets an item's story terms when it leaves the story
    window keeps its vector until `keep_vectors` has passed (30 days by default)."""
    from bot.loop import _forget_terms

    vector = sentencevectors.ask_now([FIRST])[0]
    now = datetime.now(UTC)
    ages = {1: timedelta(hours=1), 2: timedelta(days=10), 3: timedelta(days=40)}

    async def kept_after_cleanup(db_name: str, **settings) -> set[int]:
        made = make_settings(tmp_path / db_name, [], **settings)
        async with console_runtime(made) as (rt, _):
            feed = add_feed(rt.db, "https://w.example/rss", "Wire", origin="config")
            with write(rt.db):
                for n, age in ages.items():
                    when = (now - age).strftime("%Y-%m-%dT%H:%M:%SZ")
                    rt.db.execute(
                        "INSERT INTO items (id, feed_id, identity, title, summary, published, "
                        "first_seen) VALUES (?, ?, ?, ?, '', ?, ?)",
                        [n, feed.id, f"i{n}", FIRST, when, when],
                    )
                    storyvectors.save(rt.db, n, vector)
            await _forget_terms(rt)
            kept = set(storyvectors.read(rt.db, list(ages)))
            backtest_has = {
                int(i.key) for i in archive(rt.db, now - timedelta(days=30)) if i.vector
            }
            assert backtest_has == kept - {3}
            return kept

    assert await kept_after_cleanup("default.db") == {1, 2}  # 10 days old: out of the window
    assert await kept_after_cleanup("window.db", keep_vectors="0s") == {1}  # the window only
