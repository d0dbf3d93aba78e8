"""The topics in force before chat changes anything: built-in ones, then the config's."""

from __future__ import annotations

from bot.model import Topic
from bot.settings import Settings
from bot.topics.match import load_topics


def configured_topics(settings: Settings) -> list[Topic]:
    """A config topic replaces the built-in topic of the same name."""
    topics = {t.name: t for t in load_topics()}
    for name, t in settings.topics.items():
        topics[name] = Topic(name, t.query, t.description, "config", t.relevance)
    return list(topics.values())
