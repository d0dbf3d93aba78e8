"""Topics: the query language (query.py), its compiler (compile.py), the matcher (match.py,
with scan.py and evaluate.py), topic files (load.py) and why a text matches (explanation.py);
the gazetteer they read is bot/gazetteer.py.

Import from the submodules; the names below are re-exported for convenience only.
"""

from bot.topics.compile import CompiledTopic, compile_topic
from bot.topics.explanation import explain
from bot.topics.load import load_topics
from bot.topics.match import Matcher
from bot.topics.query import parse_query

__all__ = [
    "CompiledTopic",
    "Matcher",
    "compile_topic",
    "explain",
    "load_topics",
    "parse_query",
]
