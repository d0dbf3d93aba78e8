"""Checks that need more than the config's shape: queries compile, topics exist, no duplicates.

Returns every problem as 'where: what' so `wirewatch check` can list them all at once.
"""

from __future__ import annotations

from bot.catalog import configured_topics
from bot.errors import QueryError
from bot.settings import Settings
from bot.topics.entities import Gazetteer
from bot.topics.match import compile_topic


def check_settings(settings: Settings, gazetteer: Gazetteer) -> list[str]:
    src = settings.source
    problems: list[str] = []
    topics = configured_topics(settings)
    for topic in topics:
        try:
            compile_topic(topic, gazetteer)
        except QueryError as exc:
            where = (
                f"topics.{topic.name}.query"
                if topic.origin == "config"
                else f"built-in topic {topic.name}"
            )
            problems.append(f"{src}: {where}: {exc}")
    names = {t.name for t in topics}
    for i, sub in enumerate(settings.subscriptions):
        if sub.topic not in names:
            problems.append(
                f"{src}: subscriptions[{i}].topic: unknown topic {sub.topic!r} "
                f"(known: {', '.join(sorted(names))})"
            )
    seen: dict[str, int] = {}
    for i, feed in enumerate(settings.feeds):
        if feed.url in seen:
            problems.append(f"{src}: feeds[{i}].url: same URL as feeds[{seen[feed.url]}]")
        seen.setdefault(feed.url, i)
    return problems
