"""Topics read from a YAML file (the shipped built-ins, or a config's): each name checked,
each query parsed, every problem of the file told at once in one ConfigError.

This module does not compile queries against the gazetteer nor match anything
(`bot.topics.compile`, `bot.topics.match`): a query that parses here may still name an
entity the gazetteer does not know.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.defaults_path import default_file
from bot.errors import ConfigError, QueryError
from bot.model import Topic
from bot.topics.query import parse_query

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*$")


def load_topics(path: Path | None = None) -> list[Topic]:
    """Topics from YAML (`name: {query, description}`); default: the shipped built-ins.

    Keys starting with "x-" are shared pieces for YAML anchors, not topics.
    """
    source = path or default_file("topics.yaml")
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping of topic name -> query, description"])
    origin = "builtin" if path is None else "config"
    problems: list[str] = []
    topics = [
        t
        for name, entry in data.items()
        if not str(name).startswith("x-")
        and (t := _topic(str(name), entry, origin, problems)) is not None
    ]
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return topics


def _topic(name: str, entry: object, origin: str, problems: list[str]) -> Topic | None:
    if not _NAME.match(name):
        problems.append(f"{name!r}: a topic name is letters, digits, '-' and '_'")
        return None
    fields = entry if isinstance(entry, dict) else {}
    raw = fields.get("query")
    if isinstance(raw, list) and all(isinstance(part, str) for part in raw):
        raw = " ".join(raw)  # a list lets a long query carry comments and YAML anchors
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{name}: needs a `query` (text, or a list of texts)")
        return None
    query = " ".join(raw.split())
    try:
        parse_query(query)
    except QueryError as exc:
        problems.append(f"{name}: query: {exc}")
        return None
    relevance = fields.get("relevance")
    if relevance is not None and not (isinstance(relevance, str) and _NAME.match(relevance)):
        problems.append(f"{name}: `relevance` names a model, such as deployments")
        return None
    description = str(fields.get("description") or "").strip()
    return Topic(name, query, description, origin, relevance)
