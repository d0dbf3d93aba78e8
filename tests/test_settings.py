"""The config file: defaults that work, every mistake named with where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.check import check_settings
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError
from bot.settings import load_settings
from bot.topics.entities import Gazetteer


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_default_is_valid():
    settings = load_settings()
    assert [f.name for f in settings.feeds] == ["Al Jazeera", "Yonhap", "The Moscow Times"]
    assert settings.poll_interval == 300 and settings.max_age == 86400
    assert check_settings(settings, Gazetteer.load()) == []


def test_every_shape_problem_is_reported_with_its_key_path(tmp_path):
    path = write(
        tmp_path,
        """
feeds:
  - {name: A, url: ftp://example.org/feed}
  - {url: https://example.org/rss}
poll_interval: 5 minutes
subscriptions:
  - {topic: troop-deployments, channel: irc:#news}
colour: blue
""",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = "\n".join(err.value.problems)
    assert "feeds[0].url" in text and "http" in text
    assert "feeds[1].name" in text
    assert "poll_interval" in text and "duration" in text
    assert "subscriptions[0].channel" in text
    assert "colour" in text
    assert all(p.startswith(str(path)) for p in err.value.problems)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, "feeds:\n  - {name: A, url: https://x.org\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "line " in err.value.problems[0] and "column" in err.value.problems[0]


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml")


def test_semantic_problems_bad_query_unknown_topic_duplicate_feed(tmp_path):
    path = write(
        tmp_path,
        """
feeds:
  - {name: A, url: https://example.org/rss}
  - {name: B, url: https://example.org/rss}
topics:
  broken: {query: '"unclosed phrase'}
subscriptions:
  - {topic: no-such-topic, channel: console}
""",
    )
    problems = check_settings(load_settings(path), Gazetteer.load())
    text = "\n".join(problems)
    assert "topics.broken.query" in text
    assert "subscriptions[0].topic" in text and "no-such-topic" in text
    assert "feeds[1].url" in text


def test_env_overrides_database(tmp_path, monkeypatch):
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path / "x.db"))
    assert load_settings().database == str(tmp_path / "x.db")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("1h30m", 5400),
        ("7d", 604800),
        (90, 90),
        ("45", 45),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-5m", "", "m5"])
def test_bad_durations_say_the_accepted_form(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips_and_stays_short():
    for seconds in (30, 300, 5400, 86400, 90000):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(90061) == "1d1h"  # people read two units, not four
