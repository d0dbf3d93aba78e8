"""Replay items in publication order through the bot's own decisions, on a scratch database.

What `wirewatch eval` and `wirewatch topics backtest` share: each outlet is a feed, one
channel subscribes to the topic, and every `poll_every` of publication time is one poll
cycle whose new items are matched, grouped and stored exactly as the running bot does it
(`bot.ingest.store_batch`, the story index and its window, the relevance stage and the
encoder's opinions, asked in this process). What comes
out is what that channel would have been sent, item by item: a new alert, an update in a
story's thread, or nothing.

No network, no adapters: items carry their title and description (no article pages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import opinions, sentencevectors
from bot.db import open_database
from bot.feed_store import FeedRow, add_feed
from bot.gazetteer import Gazetteer
from bot.ingest import NewItem, store_batch
from bot.model import Entry, Prepared, Topic
from bot.redecide import subscribe, sync_topics
from bot.stories import StoryIndex
from bot.text.versions import digest
from bot.topics.match import Matcher, prepare

CHANNEL = "console:replay"
AHEAD = 256  # items prepared (and given to the encoder) together


@dataclass(frozen=True)
class ReplayInput:
    key: str  # unique per item
    title: str
    description: str
    published: datetime
    outlet: str
    vector: bytes | None = None  # its sentence vector, when known (a stored item's)


@dataclass(frozen=True)
class Replayed:
    key: str
    matched: bool  # the topic matched (strictly): alert-worthy on its own
    score: float | None  # the relevance model's probability, when the topic has one and its
    # query holds (matched or not)
    story: int  # the story the bot put the item in
    alert: str | None  # "new", "update" or None: what the channel got
    # `score` is the word model's alone: the encoder was not asked, as no opinion of its
    # could have lifted the item to a bar (`LinearModel.opinion_matters`)
    words_alone: bool = False


def replay(
    inputs: Iterable[ReplayInput],
    topic: Topic,
    gazetteer: Gazetteer,
    *,
    window: timedelta = timedelta(hours=72),
    poll_every: timedelta = timedelta(minutes=5),
    vectors: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[Replayed]:
    """Every input's outcome, in the order given. `vectors`: items without a sentence vector
    get one here, as the bot gives each new item one (`sentence_vectors`); False: none do,
    and stories are joined by words alone. `progress(done, total)` after each poll cycle: a
    month's archive takes minutes."""
    items = list(inputs)
    db = open_database(":memory:")
    sync_topics(db, [topic])
    subscribe(db, CHANNEL, topic.name, "instant")
    matcher = Matcher([topic], gazetteer)
    index = StoryIndex(window=window)
    feeds: dict[str, FeedRow] = {}
    scores: dict[str, float | None] = {}
    alone: set[str] = set()  # items whose score is the word model's alone
    cycles = list(_cycles(items, poll_every))
    prepared: dict[str, Prepared] = {}
    known: dict[str, bytes] = {}
    done = 0
    for n, (cycle, due) in enumerate(cycles):
        if due[0].key not in prepared:  # this cycle and the next few hundred items, at once
            ahead = _ahead(cycles, n)
            prepared = _prepared(ahead, matcher, gazetteer)
            known = _vectors(ahead) if vectors else {}
        batch = [
            (_feed(db, feeds, i.outlet), _decide(i, matcher, prepared[i.key], known.get(i.key)))
            for i in due
        ]
        for i, (_, new) in zip(due, batch, strict=True):
            scores[i.key] = next((m.score for m in new.matches), None)
            if scores[i.key] is None:  # not even an update: its score says how far it fell
                judged = next(((f, v) for _, f, v in matcher.judge(prepared[i.key])), None)
                scores[i.key] = judged[0].score if judged else None
                verdict = judged[1] if judged else None
                if verdict is not None and verdict.unasked and verdict.veto is None:
                    alone.add(i.key)
        index.prune(cycle)
        store_batch(db, batch, index, cycle)
        done += len(due)
        if progress is not None:
            progress(done, len(items))
    return _outcomes(db, items, topic.name, scores, alone)


def _cycles(
    items: list[ReplayInput], every: timedelta
) -> Iterable[tuple[datetime, list[ReplayInput]]]:
    """(end of a poll cycle, the items published in it), oldest first."""
    pending = sorted(items, key=lambda i: (i.published, i.outlet, i.key))
    start = 0
    while start < len(pending):
        first = pending[start].published
        end = first + every - timedelta(microseconds=first.microsecond)
        stop = start
        while stop < len(pending) and pending[stop].published <= end:
            stop += 1
        yield end, pending[start:stop]
        start = stop


def _ahead(cycles: list[tuple[datetime, list[ReplayInput]]], n: int) -> list[ReplayInput]:
    """Cycle `n`'s items and the next cycles', whole, until there are `AHEAD`: the encoder's
    batches fill up, and a long archive is never prepared all at once."""
    out: list[ReplayInput] = []
    for _, due in cycles[n:]:
        out.extend(due)
        if len(out) >= AHEAD:
            break
    return out


def _prepared(
    items: list[ReplayInput], matcher: Matcher, gazetteer: Gazetteer
) -> dict[str, Prepared]:
    """Each item's prepared text with the encoder's opinions (pure: done ahead, in batches)."""
    said = [prepare(i.title, i.description, gazetteer) for i in items]
    reads = [opinions.reads(i.title, i.description, None) for i in items]
    asked = opinions.ask_now(matcher, list(zip(said, reads, strict=True)))
    return {i.key: p for i, p in zip(items, asked, strict=True)}


def _vectors(items: list[ReplayInput]) -> dict[str, bytes]:
    """The items' sentence vectors: those they carry, the others' asked for in this process."""
    missing = [i for i in items if i.vector is None]
    asked = sentencevectors.ask_now([i.title for i in missing])
    found = {i.key: v for i, v in zip(missing, asked, strict=True) if v is not None}
    return found | {i.key: i.vector for i in items if i.vector is not None}


def _feed(db, feeds: dict[str, FeedRow], outlet: str) -> FeedRow:
    if outlet not in feeds:
        feeds[outlet] = add_feed(db, f"replay:{len(feeds)}", outlet, origin="config")
    return feeds[outlet]


def _decide(
    item: ReplayInput, matcher: Matcher, prepared: Prepared, vector: bytes | None
) -> NewItem:
    """What the pipeline decides for an item whose article page is not fetched."""
    said = digest(item.title, item.description)
    entry = Entry(item.key, None, item.title, item.description, item.published, digest=said)
    return NewItem(
        entry=entry,
        published=item.published,
        text=None,
        alert_summary="",
        entities=prepared.names,
        matches=tuple(matcher.match_prepared(prepared, relaxed=True)),
        alertable=True,
        vector=vector,
    )


def _outcomes(
    db, items: list[ReplayInput], topic: str, scores: dict[str, float | None], alone: set[str]
) -> list[Replayed]:
    rows = {
        r["identity"]: r
        for r in db.query(
            "SELECT i.identity, i.story_id, m.matched IS NOT NULL AS matched, d.kind "
            "FROM items i LEFT JOIN matches m ON m.item_id = i.id AND m.topic = ? "
            "LEFT JOIN deliveries d ON d.item_id = i.id AND d.event_id = 0",
            [topic],
        )
    }
    out = []
    for i in items:
        row = rows[i.key]
        matched, story, kind = bool(row["matched"]), row["story_id"], row["kind"]
        out.append(Replayed(i.key, matched, scores[i.key], story, kind, i.key in alone))
    return out
