"""A topic's query compiled for the matcher: its entities under their canonical names (an
unknown one is a QueryError with the closest names), the plain words and phrases of an OR
gathered into one leaf (`AnyTerm`), `topic:NAME` resolved to the named topic, and the
triggers the matcher indexes the topic by (`Triggers`).

For an AND only its most selective side is indexed (see `_triggers`). A topic that could
match with none of its terms present (`NOT x`) has no triggers: it is always evaluated.
`topic:NAME` refers to another topic's verdict, never to a copy of its query: topics are
compiled after the topics they name (`refs.in_order`).

This module does not read items nor decide matches (`bot.topics.evaluate`, `bot.topics.match`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from bot.errors import QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.topics.query import (
    And,
    Entity,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Term,
    Title,
    TopicRef,
    parse_query,
    walk,
)
from bot.topics.refs import in_order, unknown_reference


@dataclass(frozen=True)
class CompiledTopic:
    """A topic whose query parsed and whose entities exist, ready for the matcher."""

    topic: Topic
    tree: Node
    terms: frozenset[Term]
    positive_terms: frozenset[Term]  # every term or entity not under a NOT
    positive_entities: frozenset[str]
    triggers: Triggers | None  # one of these must be present; None: always evaluate (`NOT x`)


@dataclass(frozen=True)
class AnyTerm(Leaf):
    """Compiled form of the plain words and phrases of one OR, evaluated from whichever is
    smaller: the item's hits or the list (a topic may OR a hundred words)."""

    terms: tuple[Term, ...]
    members: frozenset[Term]


@dataclass(frozen=True)
class Ref(Leaf):
    """Compiled `topic:NAME`: the named topic, or None when its verdict comes from outside
    this matcher (`Matcher(outside=...)`, `match_prepared(holding=...)`)."""

    name: str
    target: CompiledTopic | None


def compile_topic(
    topic: Topic, gazetteer: Gazetteer, refs: Mapping[str, CompiledTopic | None] | None = None
) -> CompiledTopic:
    """Parse and resolve a topic; QueryError for a syntax error, an unknown entity, or a
    `topic:` reference to a name not in `refs` (the topics compiled before this one)."""
    try:
        tree = _resolve(parse_query(topic.query), gazetteer, topic.query, refs or {})
    except QueryError as exc:
        exc.topic = exc.topic or topic.name
        raise
    positive_terms: set[Term] = set()
    positive_entities: set[str] = set()
    _collect(tree, True, positive_terms, positive_entities)
    terms = frozenset(_all_terms(tree))
    return CompiledTopic(
        topic,
        tree,
        terms,
        frozenset(positive_terms),
        frozenset(positive_entities),
        _triggers(tree),
    )


def _resolve(node: Node, gazetteer: Gazetteer, query: str, refs: Mapping) -> Node:
    """The same tree with every entity under its canonical name, every reference resolved."""
    if isinstance(node, Entity):
        name = gazetteer.canonical(node.name)
        if name is None:
            raise QueryError(_unknown_entity(node.name, gazetteer), query, node.position)
        return Entity(name, node.position)
    if isinstance(node, TopicRef):
        if node.name not in refs:
            raise unknown_reference(node, query, refs)
        return Ref(node.name, refs[node.name])
    if isinstance(node, Title | Not):
        return type(node)(_resolve(node.child, gazetteer, query, refs))
    if isinstance(node, Near):
        left, right = (_resolve(n, gazetteer, query, refs) for n in (node.left, node.right))
        return Near(left, right, node.distance)
    if isinstance(node, And):
        return And(tuple(_resolve(c, gazetteer, query, refs) for c in node.children))
    if isinstance(node, Or):
        terms = tuple(dict.fromkeys(c for c in node.children if isinstance(c, Term)))
        if len(terms) < 2:
            return Or(tuple(_resolve(c, gazetteer, query, refs) for c in node.children))
        members = frozenset(terms)  # a set: a tuple made this quadratic (2,000 words: 1.3 s)
        rest = tuple(_resolve(c, gazetteer, query, refs) for c in node.children if c not in members)
        return Or((AnyTerm(terms, members), *rest))
    return node


def _unknown_entity(name: str, gazetteer: Gazetteer) -> str:
    """The error, with the closest names and aliases: `entity:Pyongyan` is a typo of an
    alias ("Pyongyang (North Korea)"), which a look at the names alone never suggested."""
    written: dict[str, tuple[str, str]] = {}  # lowercased -> (as written, its entity)
    for info in gazetteer.entities.values():
        for text in (info.name, *info.aliases):
            written.setdefault(text.lower(), (text, info.name))
    typed = name.lower()
    close = difflib.get_close_matches(typed, list(written), n=9, cutoff=0.6)
    score = {k: difflib.SequenceMatcher(None, typed, k).ratio() for k in close}
    by_entity: dict[str, list[str]] = {}
    for key in (k for k in close if score[k] >= score[close[0]] - 0.1):  # not far behind
        text, entity = written[key]
        by_entity.setdefault(entity, []).append(text)
    shown = [
        entity if entity in texts else f"{texts[0]} ({entity})"
        for entity, texts in list(by_entity.items())[:3]
    ]
    hint = f" (did you mean {', '.join(shown)}?)" if shown else ""
    return f"unknown entity {name!r}{hint}"


def _collect(node: Node, positive: bool, terms: set[Term], entities: set[str]) -> None:
    """Gather the terms and entities that count for a match (not those under a NOT)."""
    if isinstance(node, Term) and positive:
        terms.add(node)
    elif isinstance(node, AnyTerm) and positive:
        terms.update(node.terms)
    elif isinstance(node, Entity) and positive:
        entities.add(node.name)
    elif isinstance(node, Ref) and positive and node.target is not None:
        terms.update(node.target.positive_terms)
        entities.update(node.target.positive_entities)
    elif isinstance(node, Title | Not):
        _collect(node.child, positive != isinstance(node, Not), terms, entities)
    elif isinstance(node, Near):
        _collect(node.left, positive, terms, entities)
        _collect(node.right, positive, terms, entities)
    elif isinstance(node, And | Or):
        for child in node.children:
            _collect(child, positive, terms, entities)


def _all_terms(node: Node) -> Iterable[Term]:
    for n in walk(node):
        if isinstance(n, Term):
            yield n
        elif isinstance(n, AnyTerm):
            yield from n.terms


@dataclass(frozen=True)
class Triggers:
    """Terms and entities of which at least one must be in an item for the topic to match."""

    terms: frozenset[Term]
    entities: frozenset[str]

    @property
    def cost(self) -> float:
        """Guessed hit rate: entities and prefixes hit often, phrases rarely."""
        terms = sum(2 if t.prefix else 1 if len(t.words) == 1 else 0.5 for t in self.terms)
        return terms + 4 * len(self.entities)


def _triggers(node: Node) -> Triggers | None:
    """What an item must contain for the node to hold (None: nothing in particular).

    For AND (and NEAR) one side suffices to index on, so the cheapest side is kept: a topic
    `entity:"United States" AND "carrier group"` is only evaluated when the phrase is there.
    """
    if isinstance(node, Term):
        return Triggers(frozenset((node,)), frozenset())
    if isinstance(node, AnyTerm):
        return Triggers(node.members, frozenset())
    if isinstance(node, Entity):
        return Triggers(frozenset(), frozenset((node.name,)))
    if isinstance(node, Ref):  # the named topic's own triggers: it cannot hold without them
        return node.target.triggers if node.target is not None else None
    if isinstance(node, Title):
        return _triggers(node.child)
    children = _children(node)
    found = [_triggers(c) for c in children]
    if isinstance(node, Or):
        if any(t is None for t in found):
            return None
        return Triggers(
            frozenset().union(*(t.terms for t in found if t)),
            frozenset().union(*(t.entities for t in found if t)),
        )
    usable = [t for t in found if t is not None]  # AND, NEAR: any one conjunct will do
    return min(usable, key=lambda t: t.cost) if usable else None


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, And | Or):
        return node.children
    return ()  # NOT: what it excludes says nothing about what must be there


def _compile_all(
    topics: list[Topic], gazetteer: Gazetteer, outside: Collection[str]
) -> list[CompiledTopic]:
    """Every topic compiled after the topics it refers to; returned in the order given."""
    done: dict[str, CompiledTopic | None] = dict.fromkeys(outside)
    for topic in in_order(topics, outside):
        done[topic.name] = compile_topic(topic, gazetteer, done)
    return [c for t in topics if (c := done[t.name]) is not None]
