"""Topics: the query language (query.py) and the matcher (match.py); the gazetteer they read
is bot/gazetteer.py.

Import from the submodules; the names below are re-exported for convenience only.
"""

from bot.topics.match import CompiledTopic, Matcher, compile_topic, explain, load_topics
from bot.topics.query import parse_query

__all__ = [
    "CompiledTopic",
    "Matcher",
    "compile_topic",
    "explain",
    "load_topics",
    "parse_query",
]
