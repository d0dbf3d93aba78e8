"""Topics: the query language (query.py), the gazetteer (entities.py) and the matcher (match.py).

Import from the submodules; the names below are re-exported for convenience only.
"""

from bot.topics.entities import Gazetteer, Mention
from bot.topics.match import CompiledTopic, Matcher, compile_topic, explain, load_topics
from bot.topics.query import parse_query

__all__ = [
    "CompiledTopic",
    "Gazetteer",
    "Matcher",
    "Mention",
    "compile_topic",
    "explain",
    "load_topics",
    "parse_query",
]
