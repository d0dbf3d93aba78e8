"""Which of a set of topics can be matched together, and why each of the others cannot.

A running bot skips a topic that no longer compiles rather than stopping (a chat topic may
refer to a config topic that was since removed: said so, not as a typo to mend); `wirewatch
check` lists every problem. A topic that refers to a broken topic is broken too, and says
so, rather than matching as if the reference never held.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.errors import ConfigError, QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.relevance.model import HERE as MODELS
from bot.relevance.model import LinearModel
from bot.topics.match import Matcher
from bot.topics.refs import names_in


def usable_topics(
    topics: Iterable[Topic], gazetteer: Gazetteer, *, stored: bool = False
) -> tuple[list[Topic], dict[str, QueryError]]:
    """The topics that compile together (in the order given), and the error of each other.
    `stored`: the topics the database holds, whose chat topics' references were checked
    when they were saved: one missing now was removed from the config, not mistyped."""
    left = list(topics)
    names = {t.name for t in left}
    problems: dict[str, QueryError] = {}
    for t in list(left):
        missing = _missing_model(t) or (_gone_reference(t, names) if stored else None)
        if missing and t.name in {x.name for x in left}:
            problems[t.name] = QueryError(missing, t.query, topic=t.name)
            left = _without(left, t.name, problems)
    while True:
        try:
            Matcher(left, gazetteer, relevance=False)  # compiling is the question here
            return left, problems
        except QueryError as exc:
            if exc.topic is None or exc.topic not in {t.name for t in left}:
                raise
            problems[exc.topic] = exc
            left = _without(left, exc.topic, problems)


def _missing_model(topic: Topic) -> str | None:
    """Why the topic's relevance model cannot be used, or None (also when it names none)."""
    if not topic.relevance:
        return None
    try:
        LinearModel.load(topic.relevance)
    except ConfigError:
        known = ", ".join(sorted(p.stem for p in MODELS.glob("*.json")))
        return f"relevance model {topic.relevance!r} does not exist (models: {known})"
    return None


def _gone_reference(topic: Topic, names: set[str]) -> str | None:
    """Why a stored chat topic cannot be used: a topic it refers to is gone."""
    if topic.origin != "chat":
        return None
    gone = sorted(names_in(topic.query) - names)
    return f"refers to topic {gone[0]!r}, which was removed from the config" if gone else None


def _without(topics: list[Topic], broken: str, problems: dict[str, QueryError]) -> list[Topic]:
    """`topics` less `broken` and, transitively, every topic that refers to it."""
    gone = {broken}
    changed = True
    while changed:
        changed = False
        for t in topics:
            if t.name not in gone and names_in(t.query) & gone:
                culprit = sorted(names_in(t.query) & gone)[0]
                problems[t.name] = QueryError(
                    f"refers to topic {culprit!r}, which does not work", t.query, topic=t.name
                )
                gone.add(t.name)
                changed = True
    return [t for t in topics if t.name not in gone]
