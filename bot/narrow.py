"""Desk filters: a subscription narrowed with `--only QUERY` / `--except QUERY`.

A narrowed subscription lets an item reach its channel only when the item also matches the
`only` query and does not match the `except` query, written in the topic query language (no
user regex anywhere, so nothing a moderator types can make matching slow). This holds for a
story's first alert and for every update in its thread. `topic:NAME` in a filter means the
item matched topic NAME, as the matcher decided when the item was stored.

The filters are evaluated when deliveries are enqueued (`narrow_subscriptions`, called by
`bot.ingest`), on the same text the topics were matched on, and again on the stored item
(`StoredItem`) for the alerts still waiting when a subscription's filters or a topic's query
change (`bot.redecide`); a changed topic is then decided again as the pipeline decides it
(`Redecision`). Nothing here stores or sends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from bot.errors import QueryError
from bot.gazetteer import Gazetteer, shipped
from bot.model import Entry, Prepared, Topic, TopicMatch
from bot.opinions import ask, reads
from bot.topics.match import Matcher, prepare
from bot.topics.refs import names_in, referenced_names
from bot.topics.usable import usable_topics

if TYPE_CHECKING:
    from bot.store import SubscriptionRow

log = logging.getLogger(__name__)

ONLY, EXCEPT = "--only", "--except"  # cannot clash with a topic's name
ARTICLE_LEAD_CHARS = 1500  # the article lead the pipeline matches topics on (bot.decide)


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


def rematch(changed: Collection[str], topics: Iterable[Topic], gazetteer: Gazetteer) -> Redecision:
    """What decides queued alerts again once the topics named `changed` (their query or
    relevance model) have been replaced; `topics`: every topic as it is after the change."""
    return Redecision(changed, list(topics), gazetteer)


class Redecision:
    """Changed topics decided anew on stored items, as the pipeline decides them now: the
    same text (title, summary, article lead), the topics' relevance models with the
    encoder's opinion (asked beforehand, `consult`; without it a model decides alone, as
    in ingest when the encoder cannot answer). Every topic whose query refers to a changed
    one (`topic:NAME`, directly or through others) is decided again too, and so is every
    subscription whose --only/--except names one of them (`touches`). A changed topic
    that does not compile now, and what refers to it, is left as it was decided."""

    def __init__(self, changed: Collection[str], topics: list[Topic], gazetteer: Gazetteer):
        good, _ = usable_topics(topics, gazetteer)
        self.affected = _referring(frozenset(changed), good)
        needed = _referred(self.affected, good)
        chosen = [t for t in good if t.name in needed]
        self.matcher = Matcher(chosen, gazetteer) if self.affected else None
        self.gazetteer = gazetteer
        self._decided: dict[tuple[str, str, str | None], tuple[TopicMatch, ...]] = {}
        self._given: dict[tuple[str, str, str | None], Prepared] = {}

    def touches(self, sub: SubscriptionRow) -> bool:
        """Whether alerts queued through this subscription may be decided differently now."""
        named = {n for q in (sub.only_query, sub.except_query) if q for n in names_in(q)}
        return sub.topic in self.affected or bool(named & self.affected)

    async def consult(self, items: Iterable[StoredItem]) -> None:
        """The encoder's opinion on these items for the changed topics' models, asked of a
        worker as the pipeline asks it (before the write that decides them again)."""
        if self.matcher is None or self.matcher.relevance is None:
            return
        todo = {_text_key(i): i for i in items if _text_key(i) not in self._given}
        pairs = [
            (_matched_text(i, self.gazetteer), reads(i.entry.title, i.entry.summary, i.text))
            for i in todo.values()
        ]
        for key, prepared in zip(todo, await ask(self.matcher, pairs), strict=True):
            self._given[key] = prepared

    def __call__(self, item: StoredItem) -> StoredItem:
        if self.matcher is None:
            return item
        key = _text_key(item)
        if key not in self._decided:
            prepared = self._given.get(key) or _matched_text(item, self.gazetteer)
            found = self.matcher.match_prepared(prepared, relaxed=True)
            self._decided[key] = tuple(m for m in found if m.topic in self.affected)
        kept = tuple(m for m in item.matches if m.topic not in self.affected)
        return replace(item, matches=kept + self._decided[key])


def _text_key(item: StoredItem) -> tuple[str, str, str | None]:
    """What an item's verdicts follow from."""
    return item.entry.title, item.entry.summary, item.text


def _referring(names: frozenset[str], topics: list[Topic]) -> frozenset[str]:
    """Those of `names` among `topics`, and every topic that refers to one, transitively."""
    found = names & {t.name for t in topics}
    while more := {t.name for t in topics if t.name not in found and names_in(t.query) & found}:
        found |= more
    return frozenset(found)


def _referred(names: frozenset[str], topics: list[Topic]) -> frozenset[str]:
    """`names` and every topic they refer to, transitively (a matcher needs them all)."""
    queries = {t.name: t.query for t in topics}
    found, todo = set(names), list(names)
    while todo:
        for ref in names_in(queries.get(todo.pop(), "")) - found:
            found.add(ref)
            todo.append(ref)
    return frozenset(found)


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
