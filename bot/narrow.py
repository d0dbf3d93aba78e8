"""Desk filters: a subscription narrowed with `--only QUERY` / `--except QUERY`.

A narrowed subscription lets an item reach its channel only when the item also matches the
`only` query and does not match the `except` query, written in the topic query language (no
user regex anywhere, so nothing a moderator types can make matching slow). This holds for a
story's first alert and for every update in its thread. `topic:NAME` in a filter means the
item matched topic NAME, as the matcher decided when the item was stored.

The filters are evaluated when deliveries are enqueued (`narrow_subscriptions`, called by
`bot.ingest`), on the same text the topics were matched on, and again on the stored item
(`StoredItem`) for the alerts still waiting when a subscription's filters or a topic's query
change (`bot.store`). Nothing here stores or sends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from bot.errors import QueryError
from bot.model import Entry, Prepared, Topic, TopicMatch
from bot.topics.entities import Gazetteer, shipped
from bot.topics.match import Matcher, prepare
from bot.topics.refs import names_in, referenced_names

if TYPE_CHECKING:
    from bot.store import SubscriptionRow

log = logging.getLogger(__name__)

ONLY, EXCEPT = "--only", "--except"  # cannot clash with a topic's name
ARTICLE_LEAD_CHARS = 1500  # the article lead the pipeline matches topics on (bot.pipeline)


class Item(Protocol):
    """What filters read of an item: a new one (`bot.ingest.NewItem`) or a stored one."""

    @property
    def entry(self) -> Entry: ...
    @property
    def text(self) -> str | None: ...
    @property
    def matches(self) -> tuple[TopicMatch, ...]: ...


@dataclass(frozen=True)
class StoredItem:
    """An item as stored (its feed text, article text and matches), read again for alerts
    still waiting when what decided them changed."""

    entry: Entry
    text: str | None
    matches: tuple[TopicMatch, ...]


def effective_query(topic: str, only: str | None, except_: str | None) -> str:
    """What a channel's subscription amounts to, in the query language."""
    parts = [f"topic:{topic}"]
    if only:
        parts.append(f"({_one_line(only)})")
    if except_:
        parts.append(f"NOT ({_one_line(except_)})")
    return " AND ".join(parts)


def check_filter(query: str, topics: Iterable[Topic], gazetteer: Gazetteer) -> None:
    """QueryError unless `query` works as a filter: it parses, its entities exist and every
    topic it names is among `topics`."""
    Matcher([Topic(ONLY, query)], gazetteer, outside={t.name for t in topics})


def channels_naming(topic: str, subs: Iterable[SubscriptionRow]) -> list[str]:
    """Channels whose `--only` or `--except` refers to `topic` (it cannot be removed)."""
    return sorted(
        {
            s.channel
            for s in subs
            if any(topic in names_in(q) for q in (s.only_query, s.except_query) if q)
        }
    )


def narrow_subscriptions(subs: list[SubscriptionRow], item: Item) -> list[SubscriptionRow]:
    """The subscriptions this item may reach its channel through: a narrowed one whose
    filters refuse it is left out (another of the channel's subscriptions may still let it
    in). Filters are only evaluated for subscriptions whose topic the item matched at all."""
    matched = {m.topic for m in item.matches}
    if not any(s.narrowed and s.topic in matched for s in subs):
        return subs
    passes = _Passes(item)
    return [s for s in subs if not s.narrowed or s.topic not in matched or passes(s)]


class _Passes:
    """Whether one item passes a subscription's filters; its text is prepared once, if ever."""

    def __init__(self, item: Item):
        self.item = item
        # `topic:NAME` in a filter: the item matches NAME, as it would alert NAME's channels.
        self.topics = frozenset(m.topic for m in item.matches if m.strict)

    def __call__(self, sub: SubscriptionRow) -> bool:
        if not sub.narrowed:
            return True
        matcher = _filters(sub.only_query, sub.except_query)
        if matcher is None:
            return True  # a filter that no longer works narrows nothing: nothing is lost
        found = {m.topic for m in matcher.match_prepared(self.prepared, holding=self.topics)}
        return (not sub.only_query or ONLY in found) and EXCEPT not in found

    @functools.cached_property
    def prepared(self) -> Prepared:
        return _matched_text(self.item, shipped())


def _matched_text(item: Item, gazetteer: Gazetteer) -> Prepared:
    """What topics were matched on: the feed's text, with the article's lead when fetched."""
    entry, text = item.entry, item.text
    if not text and entry.prepared is not None:
        return entry.prepared
    body = f"{entry.summary}\n{text[:ARTICLE_LEAD_CHARS]}" if text else entry.summary
    return prepare(entry.title, body, gazetteer)


def rematch(topic: Topic, gazetteer: Gazetteer) -> Callable[[StoredItem], StoredItem]:
    """A stored item with `topic` decided anew (its query was changed), as the pipeline
    decides it: on the same text, the topics it refers to as they were decided when the
    item was stored. A chat topic (the only kind changed at runtime) has no relevance model;
    one that had would be judged without the encoder's opinion."""
    matcher = Matcher([topic], gazetteer, outside=names_in(topic.query) - {topic.name})

    def again(item: StoredItem) -> StoredItem:
        others = tuple(m for m in item.matches if m.topic != topic.name)
        holding = {m.topic for m in others if m.strict}
        prepared = _matched_text(item, gazetteer)
        found = matcher.match_prepared(prepared, relaxed=True, holding=holding)
        return replace(item, matches=others + tuple(found))

    return again


@functools.lru_cache(maxsize=512)
def _filters(only: str | None, except_: str | None) -> Matcher | None:
    """One matcher for a subscription's two filters; topics they name are decided outside."""
    try:
        return _compiled(only, except_)
    except QueryError as exc:
        log.error("narrow.invalid only=%r except=%r error=%s", only, except_, exc)
        return None


def filter_error(only: str | None, except_: str | None) -> QueryError | None:
    """Why a subscription's stored filters no longer compile, or None (also for none)."""
    try:
        _compiled(only, except_)
    except QueryError as exc:
        return exc
    return None


def _compiled(only: str | None, except_: str | None) -> Matcher:
    topics = [Topic(flag, q) for flag, q in ((ONLY, only), (EXCEPT, except_)) if q]
    outside = frozenset().union(*(referenced_names(t.query) for t in topics))
    return Matcher(topics, shipped(), outside=outside)


def _one_line(text: str) -> str:
    return " ".join(text.split())
