"""Checks that need more than the config's shape: queries compile, topics exist, no duplicates.

Every problem comes back as 'where: what', all at once: a file with a shape mistake still
gets its queries, subscriptions and feeds checked, read straight from the YAML, so fixing
one problem never reveals another that was there all along.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Collection, Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.catalog import configured_topics
from bot.defaults_path import default_file
from bot.encoder import missing as encoder_missing
from bot.errors import ConfigError, QueryError, StoreError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.narrow import check_filter
from bot.settings import (
    Settings,
    apply_env,
    config_named_by,
    config_path,
    in_file_order,
    query_text,
    read_config,
    validate_settings,
)
from bot.store import live_sub
from bot.topics.load import load_topics
from bot.topics.match import Matcher
from bot.topics.refs import names_in
from bot.topics.usable import usable_topics


@dataclass(frozen=True)
class _Parts:
    """What the checks read, from valid Settings or from a file that failed its shape check."""

    topics: list[Topic]
    subscriptions: list[tuple[int, str]]  # (index, topic name)
    filters: list[tuple[int, dict[str, str]]]  # (index, {"only"|"except": query})
    feeds: list[tuple[int, str, str]]  # (index, name, url)
    channels: list[tuple[int, str, str]]  # (index, topic name, channel) of subscriptions


def load_checked(path: str | Path | None, gazetteer: Gazetteer) -> Settings:
    """Settings from the file, or one ConfigError naming every problem it has."""
    named_by = config_named_by(path)
    path = config_path(path)
    raw = read_config(path, named_by)  # a file that is not YAML cannot be checked further
    try:
        settings = validate_settings(raw, path)
    except ConfigError as exc:
        problems = exc.problems + _check(str(path), _raw_parts(raw), gazetteer)
        raise ConfigError(in_file_order(problems, raw, str(path))) from None
    problems = check_settings(settings, gazetteer)
    if problems:
        raise ConfigError(in_file_order(problems, raw, str(path)))
    settings = apply_env(settings)
    # WIREWATCH_DB's mistake is the file's `database:` one, with the same verdict (exit 2)
    if os.environ.get("WIREWATCH_DB") and (
        problems := _database(settings.database, "WIREWATCH_DB")
    ):
        raise ConfigError(problems)
    return settings


def check_settings(settings: Settings, gazetteer: Gazetteer) -> list[str]:
    parts = _Parts(
        configured_topics(settings),
        [(i, s.topic) for i, s in enumerate(settings.subscriptions)],
        [
            (i, {k: q for k, q in (("only", s.only), ("except", s.except_)) if q is not None})
            for i, s in enumerate(settings.subscriptions)
        ],
        [(i, f.name, f.url) for i, f in enumerate(settings.feeds)],
        [(i, s.topic, s.channel) for i, s in enumerate(settings.subscriptions)],
    )
    where = f"{settings.source}: database"
    # Not when WIREWATCH_DB replaces it (`apply_env`), as it is never opened: `load_checked`
    # checks that one instead (as `Settings._home` lets a `$VAR` in it be)
    replaced = os.environ.get("WIREWATCH_DB", "").strip()
    own = [] if replaced else _database(settings.database, where)
    return _check(settings.source, parts, gazetteer) + own


def _database(database: str, where: str) -> list[str]:
    """The database path can be a SQLite file: not a folder, nothing a path cannot hold."""
    if "\x00" in database or not database.strip():
        return [f"{where}: not a usable path"]
    try:
        if Path(database).is_dir():
            return [f"{where}: {database} is a directory, not a database file"]
    except OSError as exc:
        return [f"{where}: not a usable path: {exc.strerror}"]
    return []


def notes(settings: Settings) -> list[str]:
    """Valid but probably not meant: a config that can never send an alert."""
    out = []
    if not settings.feeds:
        out.append("no feeds: nothing is polled until feeds are added from chat or imported")
    if not settings.subscriptions:
        out.append("no subscriptions: no alert is sent until a channel subscribes from chat")
    if problem := encoder_missing():
        grouping = ", and stories are joined by words alone" if settings.sentence_vectors else ""
        out.append(f"{problem}: topics decide with their word model alone{grouping}")
    return out + gone_topics(settings)


def gone_topics(settings: Settings) -> list[str]:
    """What the database (when there is one) follows from chat that this config no longer
    has: a channel's subscription, whose alerts are held (`bot.gone_topics`), or a chat
    topic's `topic:NAME`, skipped; and a chat topic this config replaces. Read-only: a
    database that cannot be read says nothing."""
    if settings.database == ":memory:" or not Path(settings.database).is_file():
        return []
    try:
        with closing(sqlite3.connect(f"{Path(settings.database).resolve().as_uri()}?mode=ro",
                                     uri=True)) as db:  # fmt: skip
            subs = db.execute(
                f"SELECT channel, topic FROM subscriptions WHERE {live_sub()} ORDER BY topic"
            ).fetchall()
            chat = dict(db.execute("SELECT name, query FROM topics WHERE origin = 'chat'"))
    except sqlite3.Error:
        return []
    config = {t.name for t in configured_topics(settings)}
    names = config | set(chat)
    out = [
        f"topic {name} of this config replaces the topic of that name made from chat "
        f"({' '.join(query.split())!r}) when wirewatch starts: the config wins a name both "
        "have, and the channels that follow it are told once"
        for name, query in sorted(chat.items())
        if name in config
    ]
    out += [
        f"topic {topic} is not in this config but {channel} follows it (from chat): its alerts "
        "are held, not posted, and the channel is told, until the topic is back here or the "
        "channel unsubscribes"
        for channel, topic in subs
        if topic not in names
    ]
    return out + [
        f"chat topic {name} refers to topic {gone}, which is not in this config: it is skipped "
        f"(and its channels told) until {gone} is back"
        for name, query in sorted(chat.items())
        for gone in sorted(names_in(query) - names)[:1]
    ]


def resolved(settings: Settings, named_by: str) -> list[str]:
    """The config file and database a command with these settings uses, as absolute paths
    with who chose them: an installed wirewatch's default config is its own copy, not a
    checkout's config/wirewatch.yaml, and a relative `database` is relative to the current
    folder, not to the config file."""
    config = Path(settings.source).resolve()
    if named_by == "WIREWATCH_CONFIG":
        config_by = " (named by WIREWATCH_CONFIG)"
    elif named_by == "default":
        installed = default_file("wirewatch.yaml").parent.name == "defaults"
        config_by = (
            " (the default installed with wirewatch, not a checkout's config/wirewatch.yaml: "
            "pass --config FILE or set WIREWATCH_CONFIG to use another)"
            if installed
            else " (the default: pass --config FILE or set WIREWATCH_CONFIG to use another)"
        )
    else:
        config_by = ""
    database = Path(settings.database)
    if os.environ.get("WIREWATCH_DB"):
        database_by = "named by WIREWATCH_DB"
    elif not database.is_absolute():
        database_by = f"{settings.database} in the config, relative to the current folder"
    else:
        database_by = ""
    state = "exists" if database.exists() else "not created yet: the bot creates it when it starts"
    detail = "; ".join(x for x in (database_by, state) if x)
    return [f"config: {config}{config_by}", f"database: {database.resolve()} ({detail})"]


# Said of what this machine's file system allows: a config checked on a laptop for a server
# names a path that only the server has.
ELSEWHERE = " (fine if the bot runs elsewhere, with its own)"


def database_here(settings: Settings) -> tuple[list[str], list[str]]:
    """(warnings, notes) about the database as this machine has it: one the bot would
    refuse (not wirewatch's, damaged, a newer schema) or could not write or create, which
    `check` used to call ok; and an older schema, which the next command that opens it
    with write access migrates (not only the bot's start: `status` or a cron's `poll`
    often comes first). Read-only."""
    path = Path(settings.database)
    if settings.database == ":memory:":
        return [], []
    if not path.exists():
        return _cannot_create(path) or _little_room(path), []
    from bot.db import open_read_only
    from bot.migrations import SCHEMA_VERSION

    room = _little_room(path)
    try:
        db = open_read_only(path, migrated=False)
    except StoreError as exc:  # on a full disk, SQLite cannot make the -shm to read it
        return room or [f"the bot would refuse the database: {exc}"], []
    with closing(db.conn):
        version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return [
            f"the bot would refuse the database: it has schema version {version}, newer than "
            f"this wirewatch understands ({SCHEMA_VERSION}); upgrade wirewatch or restore a "
            "backup"
        ], []
    warnings = [
        f"the bot cannot write {where}: {why}{ELSEWHERE}"
        for where, why in ((path, "the file is read-only"), (path.parent, "no write access"))
        if not os.access(where, os.W_OK)
    ] or room
    older = (
        [
            f"the database has schema version {version}: the next wirewatch command that "
            f"can write to it migrates it to {SCHEMA_VERSION} (`run`, `poll`, and `status`, "
            "`search`, `feeds` too; `wirewatch db backup` first, to be able to go back to "
            "this wirewatch)"
        ]
        if 0 < version < SCHEMA_VERSION
        else []
    )
    return warnings, older


def _cannot_create(path: Path) -> list[str]:
    """Why the bot could not create the database (and its folders) here, if it could not."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return [f"the bot cannot create the database: {folder} is not a folder{ELSEWHERE}"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"the bot cannot create the database: no write access to {folder}{ELSEWHERE}"]
    return []


# Free space under which `check` warns: a full disk stops `run` at start ("the disk holding
# ... is full", exit 1) and fails every poll of a running bot, where check used to say ok.
# A first poll of many feeds, the WAL before its checkpoint and the story index file need
# some megabytes each; 64 MiB leaves room to act before the bot stops storing.
LOW_ROOM = 64 * 2**20


def _little_room(path: Path) -> list[str]:
    """A warning when the disk that holds (or would hold) the database is (nearly) full."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return []  # the access checks above say what is wrong with such a folder
    if free >= LOW_ROOM:
        return []
    return [
        f"the disk holding {path} has {free / 2**20:.1f} MiB free: the bot stops storing what "
        f"it polls once it is full, and a start on a full disk fails (free some space or give "
        f"the volume more; `wirewatch db prune` itself needs room to delete){ELSEWHERE}"
    ]


# The variable that brings each chat platform in (bot.cli.build_adapters): without it the
# platform has no adapter, and what waits for its channels is never sent.
TOKEN_VARS = {"slack": "SLACK_BOT_TOKEN", "discord": "DISCORD_BOT_TOKEN"}


@dataclass(frozen=True)
class Unserved:
    """A channel wirewatch is told to post to on a platform it has no adapter for here."""

    channel: str
    what: str  # "alerts" (a subscription) or "feed health notices" (the ops_channel)

    @property
    def variable(self) -> str:
        return TOKEN_VARS[self.channel.split(":", 1)[0]]

    def __str__(self) -> str:
        return (
            f"{self.channel} gets {self.what} but {self.variable} is not set, so they wait "
            "in the database, unsent, until wirewatch runs with it"
        )


def unserved(
    subscribed: Iterable[str], ops_channel: str | None, platforms: Collection[str]
) -> list[Unserved]:
    """Each subscribed channel, and the ops channel, whose platform has no adapter among
    `platforms`: `check`, the start-up log of `run` and `poll`, and /readyz name them."""
    found = {Unserved(c, "alerts") for c in subscribed}
    if ops_channel:
        found.add(Unserved(ops_channel, "feed health notices"))
    return sorted(
        (u for u in found if u.channel.split(":", 1)[0] not in {"console", *platforms}),
        key=lambda u: (u.channel, u.what),
    )


def _check(src: str, parts: _Parts, gazetteer: Gazetteer) -> list[str]:
    problems: list[str] = []
    usable, broken = usable_topics(parts.topics, gazetteer)
    for topic in parts.topics:
        if not topic.query:
            continue  # a missing query is a shape problem, already named
        if exc := broken.get(topic.name):
            key = "relevance" if _about_its_model(topic, exc) else "query"
            where = (
                f"topics.{topic.name}.{key}"
                if topic.origin == "config"
                else f"built-in topic {topic.name}"
            )
            problems.append(f"{src}: {where}: {exc}")
    return (
        problems
        + _matching_anything(src, usable, gazetteer)
        + _subscriptions(src, parts, gazetteer)
        + _duplicates(src, parts.feeds)
        + _same_subscription(src, parts.channels)
    )


def _about_its_model(topic: Topic, exc: QueryError) -> bool:
    """The topic is broken by its `relevance` key (a model that does not exist), not by
    its query: said at the key to fix."""
    return bool(topic.relevance) and str(exc).startswith("relevance model ")


ANYTHING = (
    "matches an item with no words at all, so nearly every item: name what an item must "
    "have, like `troops AND NOT drill*`"
)


def _matching_anything(src: str, topics: list[Topic], gazetteer: Gazetteer) -> list[str]:
    """Config topics made only of exclusions (`NOT drill`): chat's `topic add` refuses them.
    Not one with a relevance model: its query only narrows what the model decides."""
    if not any(t.origin == "config" for t in topics):
        return []
    matcher = Matcher(topics, gazetteer, relevance=False)  # the query alone says it
    held = {m.topic for m in matcher.match("", "")}
    return [
        f"{src}: topics.{t.name}.query: {ANYTHING}"
        for t in topics
        if t.origin == "config" and t.name in held and not t.relevance
    ]


def _same_subscription(src: str, subs: list[tuple[int, str, str]]) -> list[str]:
    """One topic twice for one channel: only the last would be kept (its mode, its filters)."""
    seen: dict[tuple[str, str], int] = {}
    found = []
    for i, topic, channel in subs:
        if (first := seen.setdefault((topic, channel), i)) != i:
            found.append(
                f"{src}: subscriptions[{i}]: {topic} to {channel} again (subscriptions[{first}]);"
                " one subscription per topic and channel, with one mode"
            )
    return found


def _subscriptions(src: str, parts: _Parts, gazetteer: Gazetteer) -> list[str]:
    """Each subscription's topic exists, and its `only` / `except` filters work."""
    found: list[tuple[int, str]] = []
    names = {t.name for t in parts.topics}
    known = ", ".join(sorted(names))
    for i, name in parts.subscriptions:
        if name not in names:
            what = f"unknown topic {name!r} (known: {known})"
            found.append((i, f"{src}: subscriptions[{i}].topic: {what}"))
    topic_of = dict(parts.subscriptions)
    for i, filters in parts.filters:
        for key, query in filters.items():
            try:
                check_filter(query, parts.topics, gazetteer)
            except QueryError as exc:
                found.append((i, f"{src}: subscriptions[{i}].{key}: {exc}"))
                continue
            if key == "except" and topic_of.get(i) in names_in(query):
                why = f"names topic:{topic_of[i]}, the subscription's own topic: drops every alert"
                found.append((i, f"{src}: subscriptions[{i}].except: {why}"))
    return [problem for _, problem in sorted(found, key=lambda p: p[0])]


def _duplicates(src: str, feeds: list[tuple[int, str, str]]) -> list[str]:
    """Two feeds with one URL would be polled twice; two with one name cannot be told apart."""
    found: list[tuple[int, str]] = []
    for field in ("name", "url"):
        seen: dict[str, int] = {}
        for i, name, url in feeds:
            key = name.casefold() if field == "name" else _same_url(url)
            if key in seen:
                what = "URL" if field == "url" else field
                found.append((i, f"{src}: feeds[{i}].{field}: same {what} as feeds[{seen[key]}]"))
            seen.setdefault(key, i)
    return [problem for _, problem in sorted(found)]


def _same_url(url: str) -> str:
    """What makes two spellings one feed: scheme and host in any case, no fragment, no
    trailing slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # not a URL at all: its own problem is named where its shape is
        return url
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}?{parts.query}"


def _raw_parts(raw: dict[str, Any]) -> _Parts:
    """The checks' inputs read leniently from the YAML: entries of the wrong shape are skipped."""
    topics = {t.name: t for t in load_topics()}
    if isinstance(raw.get("topics"), dict):
        for name, t in raw["topics"].items():
            try:
                query = query_text(t.get("query") if isinstance(t, dict) else None)
            except ValueError:
                query = ""
            model = t.get("relevance") if isinstance(t, dict) else None
            relevance = model if isinstance(model, str) else None
            topics[str(name)] = Topic(str(name), query, origin="config", relevance=relevance)
    return _Parts(
        list(topics.values()),
        [
            (i, s["topic"])
            for i, s in _entries(raw, "subscriptions")
            if isinstance(s.get("topic"), str)
        ],
        [
            (i, {k: s[k] for k in ("only", "except") if isinstance(s.get(k), str) and s[k]})
            for i, s in _entries(raw, "subscriptions")
        ],
        [
            (i, f["name"], f["url"])
            for i, f in _entries(raw, "feeds")
            if isinstance(f.get("name"), str) and isinstance(f.get("url"), str)
        ],
        [
            (i, s["topic"], s["channel"])
            for i, s in _entries(raw, "subscriptions")
            if isinstance(s.get("topic"), str) and isinstance(s.get("channel"), str)
        ],
    )


def _entries(raw: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = raw.get(key)
    if not isinstance(items, list):
        return []
    return [(i, entry) for i, entry in enumerate(items) if isinstance(entry, dict)]
