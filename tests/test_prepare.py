"""Per-entry work done in the parse workers decides exactly what the event loop would decide."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.parse import parse_feed
from bot.model import Entry
from bot.prepare import prepare_entries, prepared_of
from bot.stories import StoryDoc, doc_terms
from bot.text import versions
from bot.workers import prepare_entries_async

DATA = Path(__file__).parent / "data"
REAL_FEEDS = sorted((DATA / "real-feeds").glob("*.xml"))
FEED_URL = "https://news.example/feeds/world.xml"
WHEN = datetime(2026, 11, 25, tzinfo=UTC)


def dev_entries() -> list[Entry]:
    lines = (DATA / "deploy_extra.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [
        Entry(
            f"dev:{i}",
            None,
            r["title"],
            r["description"],
            None,
            digest=versions.digest(r["title"], r["description"]),
        )
        for i, r in enumerate(rows)
    ]


async def test_workers_prepare_what_the_event_loop_would(gazetteer):
    assert REAL_FEEDS, "tests/data/real-feeds is missing"
    for path in REAL_FEEDS[:12]:
        here = parse_feed(path.read_bytes(), feed_url=FEED_URL)
        in_worker = await prepare_entries_async(here.entries)
        assert in_worker == here.entries  # prepared text never changes an entry
        assert all(e.prepared is not None for e in in_worker)
        assert [e.prepared for e in in_worker] == [prepared_of(e, gazetteer) for e in here.entries]


async def test_a_broken_worker_costs_the_preparation_never_the_entries(gazetteer):
    entries = parse_feed(REAL_FEEDS[0].read_bytes(), feed_url=FEED_URL).entries
    # A deadline of 0 expires before any result can arrive (with 1 us, a busy machine could
    # run the finished worker's callback before the timer's): the worker is killed.
    back = await prepare_entries_async(entries, timeout=0)
    assert back == entries and all(e.prepared is None for e in back)
    # ...and the next call gets a fresh pool that works.
    assert all(e.prepared is not None for e in await prepare_entries_async(entries))


def test_prepared_matches_entities_and_story_terms_equal_the_direct_ones(gazetteer, matcher):
    entries = dev_entries()
    for entry in entries:
        prepared = prepared_of(entry, gazetteer)
        # Item entities: the same names, in the same order, as a scan of title + text.
        assert prepared.names == gazetteer.names(f"{entry.title}\n{entry.summary}")
        doc = StoryDoc(1, entry.title, entry.summary, prepared.names, WHEN)
        assert prepared.terms == doc_terms(doc)
    fired = [e for e in entries if matcher.match_prepared(prepared_of(e, gazetteer))]
    assert len(fired) >= 5  # the set has deployments: the comparison above was not vacuous


def test_prepared_entries_survive_the_trip_between_processes(gazetteer):
    entries = prepare_entries(parse_feed(REAL_FEEDS[1].read_bytes(), feed_url=FEED_URL).entries)
    again = pickle.loads(pickle.dumps(entries))
    assert [e.prepared for e in again] == [e.prepared for e in entries]


def _shipped_aliases() -> list[str]:
    from bot.gazetteer import shipped

    return [a for info in shipped().entities.values() for a in (info.name, *info.aliases)]


def test_feed_names_are_exactly_the_names_prepare_finds():
    """`feed_names` skips reading the words: the names it gives, which every stored item's
    story terms hold, must be prepare's, item for item (or the stored terms would change)."""
    from bot.gazetteer import shipped
    from bot.labelled import load_labelled
    from bot.prepare import feed_names
    from bot.topics.match import prepare

    # What lets it skip the words: a mention prepare keeps covers a word, and every alias
    # holding a letter or digit does.
    assert all(any(c.isalnum() for c in alias) for alias in _shipped_aliases())
    corpus = Path(__file__).resolve().parents[1] / "eval" / "corpus"
    texts = [(i.title, i.description) for f in ("train.jsonl", "validation.jsonl")
             for i in load_labelled(corpus / f)]  # fmt: skip
    for path in REAL_FEEDS:
        texts += [
            (e.title, e.summary) for e in parse_feed(path.read_bytes(), feed_url=FEED_URL).entries
        ]
    assert len(texts) > 5000
    for title, text in texts:
        assert feed_names(title, text) == prepare(title, text, shipped()).names, title


_BEFORE = ["", "UPDATE 2-", "(LEAD) ", "WATCH: ", "BREAKING: "]
_AFTER = ["", " (Reuters)", " (Canadian Press)", " - Canadian Press", "'s", "’", "."]
_OPENING = ["", "AP - ", "Canadian Press - ", "OTTAWA (Canadian Press) - ", "SEOUL (Yonhap) - "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_shipped_aliases()), st.text(max_size=12)), max_size=12),
       st.sampled_from(_BEFORE), st.sampled_from(_AFTER), st.sampled_from(_OPENING))  # fmt: skip
def test_feed_names_equal_prepares_on_generated_text(parts, before, after, opening):
    """Wire furniture names places too ("(Canadian Press)"): read as prepare reads it."""
    from bot.gazetteer import shipped
    from bot.prepare import feed_names
    from bot.topics.match import prepare

    title = before + " ".join(parts[: len(parts) // 2]) + after
    text = opening + " ".join(parts[len(parts) // 2 :])
    assert feed_names(title, text) == prepare(title, text, shipped()).names
    agency = feed_names("Troops sent to Mali (Canadian Press)", "Canadian Press - They left.")
    assert agency == ("Mali",)
