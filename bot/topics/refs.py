"""References between topics (`topic:NAME`): which topics a query names, in which order
topics must be compiled, and the clear error for an unknown or cyclic reference.

A reference means "the item matches that topic, as the matcher decides it", so the matcher
compiles a topic after every topic it names (`in_order`) and evaluates the named topic's
verdict, never a copy of its query. This module only reads query trees; it does not compile
or match anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from bot.errors import QueryError
from bot.model import Topic
from bot.topics.query import Node, TopicRef, parse_query, walk


def references(tree: Node) -> tuple[TopicRef, ...]:
    """The `topic:` references of a query tree, in the order written."""
    return tuple(n for n in walk(tree) if isinstance(n, TopicRef))


def referenced_names(query: str) -> frozenset[str]:
    """The topic names a query refers to (QueryError when the query does not parse)."""
    return frozenset(r.name for r in references(parse_query(query)))


def unknown_reference(ref: TopicRef, query: str, known: Iterable[str]) -> QueryError:
    """The error for `topic:NAME` naming no topic, with the closest names as a hint."""
    names = sorted(known)
    close = difflib.get_close_matches(ref.name, names, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return QueryError(f"unknown topic {ref.name!r}{hint}", query, ref.position)


def in_order(topics: Iterable[Topic], outside: Iterable[str] = ()) -> list[Topic]:
    """The topics with every topic after the ones it references (otherwise as given).

    `outside` names topics that may be referenced without being among `topics` (their
    verdicts come from elsewhere). Raises QueryError for an unknown name or a cycle, naming
    the topic whose query holds the problem.
    """
    by_name = {t.name: t for t in topics}
    allowed = set(outside)
    ordered: list[Topic] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(topic: Topic, path: tuple[str, ...]) -> None:
        if state.get(topic.name) == "done":
            return
        state[topic.name] = "visiting"
        for ref in _references_of(topic):
            if ref.name in by_name:
                if state.get(ref.name) == "visiting":
                    raise _cycle(topic, ref, (*path, topic.name))
                visit(by_name[ref.name], (*path, topic.name))
            elif ref.name not in allowed:
                exc = unknown_reference(ref, topic.query, [*by_name, *allowed])
                exc.topic = topic.name
                raise exc
        state[topic.name] = "done"
        ordered.append(topic)

    for topic in by_name.values():
        visit(topic, ())
    return ordered


def _references_of(topic: Topic) -> tuple[TopicRef, ...]:
    if "topic:" not in topic.query.lower():
        return ()  # most queries refer to no topic: not worth parsing twice
    try:
        return references(parse_query(topic.query))
    except QueryError as exc:
        exc.topic = exc.topic or topic.name
        raise


def _cycle(topic: Topic, ref: TopicRef, path: tuple[str, ...]) -> QueryError:
    loop = (*path[path.index(ref.name) :], ref.name)
    return QueryError(
        f"topics cannot refer to each other in a circle: {' -> '.join(loop)}",
        topic.query,
        ref.position,
        topic=topic.name,
    )


def needed_by(topic: Topic, known: Mapping[str, Topic]) -> list[Topic]:
    """`topic` and every known topic it refers to, directly or not; QueryError for a name
    that is not known, with the closest of all known names as a hint (the matcher built
    from these topics only could suggest among them)."""
    found: dict[str, Topic] = {}
    todo = [topic]
    while todo:
        current = todo.pop()
        if current.name in found:
            continue
        found[current.name] = current
        for ref in _references_of(current):
            if ref.name not in known:
                raise unknown_reference(ref, current.query, known)
            todo.append(known[ref.name])
    return list(found.values())


def users_of(name: str, topics: Iterable[Topic]) -> list[str]:
    """The topics whose query refers to `name` (a topic in use cannot be removed)."""
    return sorted(t.name for t in topics if t.name != name and name in names_in(t.query))


def names_in(query: str) -> frozenset[str]:
    """`referenced_names`, or none for a query that does not parse (it is refused elsewhere)."""
    try:
        return referenced_names(query)
    except QueryError:
        return frozenset()
