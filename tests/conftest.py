"""Shared fixtures: real HTTP servers on 127.0.0.1 (tests/feedserver.py), a runtime factory,
and the shipped gazetteer and built-in topics (loaded once per session: both are read-only)."""

from __future__ import annotations

import pytest

from bot.topics.entities import Gazetteer
from bot.topics.match import Matcher, load_topics

pytest_plugins = ["tests.feedserver", "tests.runtime"]


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


@pytest.fixture(scope="session")
def matcher(gazetteer: Gazetteer) -> Matcher:
    """A matcher of the built-in topics (config/topics.yaml)."""
    return Matcher(load_topics(), gazetteer)
