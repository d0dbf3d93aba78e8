"""Configuration: YAML file + environment -> validated, frozen settings.

Every problem is reported at once, each as `where: what` (a key path such as
`feeds[2].url`), so `wirewatch check` can print them all. Semantic checks that need other
modules (topic queries, subscription topics) live in `bot.check`; this module only knows
the shape of the file.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bot.defaults_path import default_file
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError

Seconds = Annotated[float, BeforeValidator(parse_duration)]
MIN_INTERVAL = 10.0  # seconds between polls of one feed, at least
CHANNEL_RE = re.compile(r"console|slack:[A-Z0-9]+|discord:[0-9]+")  # whole, ASCII only
# A member (U…) or an Enterprise Grid user (W…): chat.postMessage takes one, the rest not.
MEMBER_RE = re.compile(r"slack:[UW][A-Z0-9]+")
LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f]")  # what one line of text must not hold
MAX_CONFIG_BYTES = 5 * 2**20  # a config is a few KB; /dev/zero must not be read to the end


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSettings(_Strict):
    name: str = Field(min_length=1)
    url: str
    interval: Seconds | None = None

    @field_validator("name")
    @classmethod
    def _one_line(cls, name: str) -> str:
        if not name.strip() or LINE_BREAKING.search(name):
            raise ValueError("must be one line of text (it names the feed in logs and lists)")
        return name

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise ValueError("must be an http:// or https:// URL")
        if re.search(r"[\s\x00-\x1f\x7f\\]", url):
            raise ValueError("must not hold spaces, line breaks or backslashes")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError as exc:
            raise ValueError(f"is not a usable URL: {exc}") from None
        if not parts.hostname:
            raise ValueError("names no host")
        return url

    @field_validator("interval")
    @classmethod
    def _polite(cls, value: float | None) -> float | None:
        return value if value is None else _polite_interval(value)


def _polite_interval(value: float) -> float:
    if value < MIN_INTERVAL:
        raise ValueError("must be at least 10s: polling faster is impolite to the outlets")
    return value


class TopicSettings(_Strict):
    query: str = Field(min_length=1)
    description: str = ""
    relevance: str | None = None  # a model in bot/relevance/, e.g. deployments

    @field_validator("query", mode="before")
    @classmethod
    def _text_or_texts(cls, value: object) -> object:
        """A list of texts is one query, as in topics.yaml (a long query can carry YAML
        anchors that way); anything else gets a message naming both forms."""
        return query_text(value)


def query_text(value: object) -> str:
    """A config topic's `query`: text, or a list of texts joined with spaces."""
    if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
        return " ".join(value)
    if not isinstance(value, str):
        raise ValueError("must be a query: text, or a list of texts")
    return value


def known_channel(channel: str) -> str:
    """The channel as written, or ValueError saying what to write (the config's channels and
    `wirewatch search --channel` alike)."""
    if not CHANNEL_RE.fullmatch(channel):
        rule = "must be console, slack:CHANNEL_ID (e.g. slack:C0123) or discord:ID"
        raise ValueError(rule + _channel_hint(channel))
    return channel


def config_channel(channel: str) -> str:
    """A channel the config sends to (`known_channel`), not a Slack member: chat.postMessage
    posts to a member's id in their DM with the app, but the message is the DM's (D…), so
    the source list's chat.update and every lookup of the channel failed, as if it were
    gone. Lookups and removals (`known_channel` alone) still take one stored before."""
    if MEMBER_RE.fullmatch(known_channel(channel)):
        raise ValueError(
            "is a Slack member's id, not a channel's: alerts to it would go to the member's "
            "DM with the app, but could not be updated there. Run `/wirewatch subscribe "
            "TOPIC` in that DM instead, or write the DM's own id (slack:D…, in its address "
            "in Slack's web client) or a channel's (slack:C…)"
        )
    return channel


def _channel_hint(channel: str) -> str:
    """What was most likely meant: newcomers write a channel's name, or its id alone."""
    bare = channel.strip()
    platform, colon, given_id = bare.partition(":")
    meant = platform.lower() + colon + given_id.upper()  # `Console`, `slack:c0123`, ` console`
    if CHANNEL_RE.fullmatch(meant):
        return f"; did you mean {meant}?"
    if re.fullmatch(r"[CGD][A-Z0-9]{6,}", bare):
        return f"; did you mean slack:{bare}?"
    if re.fullmatch(r"[0-9]{15,21}", bare):
        return f"; did you mean discord:{bare}?"
    return (
        ": a channel's id, not its name (Slack: at the bottom of the channel's details; "
        "Discord: Copy Channel ID, with Developer Mode on)"
    )


Channel = Annotated[str, AfterValidator(config_channel)]


class SubscriptionSettings(_Strict):
    topic: str
    channel: Channel
    mode: Literal["instant", "digest"] = "instant"
    # Narrowing with the topic query language (checked in bot.check): the topic's items
    # reach this channel only if they also match `only` and do not match `except`.
    only: str | None = Field(default=None, min_length=1)
    except_: str | None = Field(default=None, min_length=1, alias="except")


USER_AGENT = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"  # network.user_agent's


class NetworkSettings(_Strict):
    allow_private_addresses: bool = False
    timeout: Seconds = Field(default=20.0, gt=0)
    max_feed_bytes: int = Field(default=15 * 2**20, gt=0, strict=True)
    user_agent: str = USER_AGENT

    @field_validator("user_agent")
    @classmethod
    def _one_header_line(cls, value: str) -> str:
        if LINE_BREAKING.search(value):
            raise ValueError("must be one line of text (it is sent as an HTTP header)")
        if not value.strip():  # sent as is: an empty User-Agent, which many servers refuse
            raise ValueError(f"empty; leave it out for the default: {USER_AGENT}")
        return value


class ArticleSettings(_Strict):
    fetch: bool = True
    timeout: Seconds = Field(default=10.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=32, strict=True)


class HealthSettings(_Strict):
    """When a feed's health is worth a notice in the ops channel."""

    failures: int = Field(default=3, ge=1, strict=True)  # failures in a row before "failing"
    # "silent" after this many usual gaps...
    silent_factor: float = Field(default=4.0, ge=1.0, strict=True)
    silent_floor: Seconds = Field(default=6 * 3600.0, gt=0)  # ...and never sooner than this


class CorroborationSettings(_Strict):
    """When a story counts as corroborated: this many independent outlets within the window."""

    outlets: int = Field(default=3, ge=2, le=50, strict=True)
    window: Seconds = Field(default=3600.0, gt=0)


class PlatformSettings(_Strict):
    moderators: list[str] = Field(default_factory=list)

    @field_validator("moderators", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        """User or role ids, written as text or as numbers (Discord's are long numbers);
        anything else is refused, not turned into text (a nested alias bomb would be)."""
        if not isinstance(value, list):
            return value
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise ValueError("each moderator is a user or role id: text or a number")
        return [str(v) for v in value]


class Settings(_Strict):
    database: str = "data/wirewatch.db"
    poll_interval: Seconds = Field(default=45.0)  # "within a minute": the interval is the wait
    max_age: Seconds = Field(default=86400.0)
    story_window: Seconds = Field(default=72 * 3600.0)
    # Each new item's headline as a sentence vector, for grouping (bot.sentencevectors): a
    # worker's 3-8 ms of CPU per item; off, stories are joined by their words alone.
    sentence_vectors: bool = True
    # How long the vectors are kept (never less than story_window): `topics backtest` reads them
    # instead of asking the encoder again (768 bytes an item; most of a month's replay time).
    keep_vectors: Seconds = Field(default=30 * 86400.0, ge=0)

    max_failures: int = Field(default=10, ge=1, strict=True)
    digest_every: Seconds = Field(default=3600.0)
    ops_channel: Channel | None = None  # where feed health notices go (None: disablings only)
    health: HealthSettings = Field(default_factory=HealthSettings)
    corroboration: CorroborationSettings = Field(default_factory=CorroborationSettings)
    feeds: list[FeedSettings] = Field(default_factory=list)
    topics: dict[str, TopicSettings] = Field(default_factory=dict)
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    articles: ArticleSettings = Field(default_factory=ArticleSettings)
    slack: PlatformSettings = Field(default_factory=PlatformSettings)
    discord: PlatformSettings = Field(default_factory=PlatformSettings)
    source: str = "<defaults>"

    @field_validator("database")
    @classmethod
    def _home(cls, path: str) -> str:
        """`~/w.db` is in the home folder, not in a folder named `~` here; `$HOME/w.db` is
        refused: read as written it made a folder named `$HOME` wherever the bot started.
        Not when WIREWATCH_DB replaces it (`apply_env`: compose sets it), as it is never
        opened then, nor when it is blank: `apply_env`'s refusal of it comes first, as it is
        what the operator set last."""
        variable = re.search(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", path)
        if variable and not os.environ.get("WIREWATCH_DB"):
            raise ValueError(
                f"{path}: {variable.group(0)} is not expanded in the config file (the "
                f"database would be in a folder named {variable.group(0)}); write the path "
                "itself, or set WIREWATCH_DB in the environment, where the shell expands it "
                "(a folder whose name really holds a `$` is named there too)"
            )
        return os.path.expanduser(path)

    @field_validator("poll_interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        return _polite_interval(value)

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, topics: dict[str, TopicSettings]) -> dict[str, TopicSettings]:
        for name in topics:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", str(name)):
                raise ValueError(
                    f"topic name {name!r} must be lowercase letters, digits, '-' or '_'"
                )
        return topics


def default_config_path() -> Path:
    """$WIREWATCH_CONFIG when set, else the shipped config/wirewatch.yaml."""
    env = os.environ.get("WIREWATCH_CONFIG")
    return Path(env) if env else default_file("wirewatch.yaml")


def config_path(path: str | Path | None = None) -> Path:
    """`path`, else $WIREWATCH_CONFIG, else the shipped config."""
    return Path(path) if path else default_config_path()


def config_named_by(path: str | Path | None = None) -> str:
    """Who chose the config file: "--config", "WIREWATCH_CONFIG" or "default" (the shipped
    copy); `check` says so, and a missing file's message points at what to fix."""
    if path:
        return "--config"
    return "WIREWATCH_CONFIG" if os.environ.get("WIREWATCH_CONFIG") else "default"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, validate and apply env overrides; raise ConfigError listing every problem."""
    named_by = config_named_by(path)
    path = config_path(path)
    return apply_env(validate_settings(read_config(path, named_by), path))


def validate_settings(raw: dict[str, Any], path: Path) -> Settings:
    """The file's mapping as Settings, or a ConfigError naming every shape problem, in the
    order they come in the file."""
    # `source` is where the settings were read from, set here: in the file it would be lost
    # without a word, so it is refused as the unknown key it is there.
    given = {k: v for k, v in raw.items() if k != "source"}
    try:
        settings = Settings.model_validate({**given, "source": str(path)})
        problems = []
    except ValidationError as exc:
        problems = [f"{path}: {_where(e['loc'])}: {_problem(e)}" for e in exc.errors()]
    if "source" in raw:
        known = ", ".join(k for k in _keys_at(Settings, ()) if k != "source")
        problems.append(f"{path}: source: unknown key (known here: {known})")
    if problems:
        raise ConfigError(in_file_order(problems, raw, str(path))) from None
    return settings


def in_file_order(problems: list[str], raw: dict[str, Any], src: str) -> list[str]:
    """Problems ("SRC: where: what") sorted by where `where` is in the file: YAML keeps a
    mapping's keys in the file's order, so reading the file top down meets them in turn."""
    return sorted(problems, key=lambda p: _file_position(raw, _where_of(p, src)))


_STEP = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _where_of(problem: str, src: str) -> tuple[Any, ...]:
    """The key path a problem names (`feeds[1].name` -> ("feeds", 1, "name"))."""
    where = problem.removeprefix(f"{src}: ").split(": ", 1)[0]
    return tuple(int(i) if i else key for i, key in _STEP.findall(where))


def _file_position(raw: Any, loc: tuple[Any, ...]) -> tuple[int, ...]:
    """Each step of `loc` as its place in the file: a key's index in its mapping, a list's
    index; a key the file lacks (a missing `name`) comes after its siblings."""
    place: list[int] = []
    node = raw
    for part in loc:
        if isinstance(node, dict):
            keys = list(node)
            if part not in keys:
                place.append(len(keys))
                break
            place.append(keys.index(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            place.append(part)
            node = node[part]
        else:
            break
    return tuple(place)


# What an entry of each list or mapping of entries looks like: said when one is missing a
# key or is written as something else (a bare URL for a feed).
_ENTRIES: dict[str, tuple[str, str]] = {
    "FeedSettings": ("a feed", "{name: Example, url: https://example.com/rss}"),
    "SubscriptionSettings": ("a subscription", "{topic: troop-deployments, channel: console}"),
    "TopicSettings": ("a topic", "NAME: {query: 'troops AND entity:Poland'}"),
}


def _problem(error: Any) -> str:
    """pydantic's error as prose that says what to write instead; unknown keys get a
    suggestion, and our validators' own messages lose pydantic's "Value error, " prefix."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(error["loc"])
    if kind == "missing":
        return _missing(error["loc"])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return _not_a_mapping(error["loc"], ctx.get("class_name"), value)
    if kind in _BOUNDS:
        return _out_of_bounds(error["loc"], kind, ctx, value)
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "")
        return f"must be {choices}, not {_shown(value)}"
    if kind == "int_type" and isinstance(value, str) and value.strip().isdigit():
        return f"must be a whole number written without quotes, not the text {_shown(value)}"
    if kind in _PLAIN:
        return _PLAIN[kind].format(value=_shown(value))
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "more than"),
    "less_than": ("lt", "less than"),
}
_PLAIN = {
    "int_type": "must be a whole number, not {value}",
    "int_parsing": "must be a whole number, not {value}",
    "int_from_float": "must be a whole number, not {value}",
    "float_type": "must be a number, not {value}",
    "float_parsing": "must be a number, not {value}",
    "bool_type": "must be true or false, not {value}",
    "bool_parsing": "must be true or false, not {value}",
    "string_type": "must be text, not {value}",
    "string_too_short": "must not be empty",
    "list_type": "must be a list (`[a, b]`, or one `- item` per line), not {value}",
}


def _shown(value: Any) -> str:
    """A value as the file had it, short: `'daily'`, `5`, `[1, 2]`; a key with nothing after
    its colon is `empty`."""
    if value is None:
        return "empty"
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _missing(loc: tuple[Any, ...]) -> str:
    """A required key left out, with what the whole entry looks like."""
    key = str(loc[-1])
    entry = _ENTRIES.get(getattr(_unwrap(_at(Settings, loc[:-1])), "__name__", ""))
    if entry is None:
        return f"missing: add `{key}`"
    what, example = entry
    return f"missing: {what} needs `{key}`, as in `{example}`"


def _not_a_mapping(loc: tuple[Any, ...], model: str | None, value: Any) -> str:
    """A feed written as a bare URL, a topic as a bare query: say how an entry is written."""
    if model in _ENTRIES:
        what, example = _ENTRIES[model]
        bare = "a bare URL" if isinstance(value, str) and "://" in value else _shown(value)
        return f"{what} is written `{example}`, not {bare}"
    known = [k for k in _keys_at(Settings, loc)]
    if not known:  # `topics:`, keyed by names: say how one entry is written, not "keys ()"
        entry = _ENTRIES.get(getattr(_unwrap(_at(Settings, (*loc, "NAME"))), "__name__", ""))
        if entry is not None:
            return f"must be a mapping of names, each written `{entry[1]}`, not {_shown(value)}"
    return f"must be a mapping of keys ({', '.join(known)}), not {_shown(value)}"


def _out_of_bounds(loc: tuple[Any, ...], kind: str, ctx: dict[str, Any], value: Any) -> str:
    """`corroboration.outlets: 1`: "must be at least 2, not 1"; durations as durations."""
    key, words = _BOUNDS[kind]
    limit = ctx.get(key)
    if _is_duration(loc) and isinstance(limit, int | float):
        return f"must be {words} {format_duration(float(limit))}"
    return f"must be {words} {limit}, not {_shown(value)}"


def _is_duration(loc: tuple[Any, ...]) -> bool:
    """Whether the key at `loc` is a duration (`Seconds`), whose value is read as seconds."""
    parent = _unwrap(_at(Settings, loc[:-1]))
    field = parent.model_fields.get(str(loc[-1])) if _is_model(parent) else None
    if field is None:
        return False
    marks = [*field.metadata]
    for arg in typing.get_args(field.annotation):
        marks += getattr(arg, "__metadata__", ())
    return any(getattr(mark, "func", None) is parse_duration for mark in marks)


def _unknown_key(loc: tuple[Any, ...]) -> str:
    key = str(loc[-1])  # `loc` already names the key; the message says what it could be
    known = [k for k in _keys_at(Settings, loc[:-1]) if k != "source"]
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key: did you mean {close[0]!r}?"
    return f"unknown key (known here: {', '.join(known)})"


def _keys_at(kind: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at `loc` may hold, found by walking the settings' types."""
    kind = _unwrap(_at(kind, loc))
    if not _is_model(kind):
        return []
    return [field.alias or name for name, field in kind.model_fields.items()]


def _at(kind: Any, loc: tuple[Any, ...]) -> Any:
    """The type of the value at `loc`, found by walking the settings' types."""
    for part in loc:
        kind = _inner(kind, part)
    return kind


def _inner(kind: Any, part: Any) -> Any:
    kind = _unwrap(kind)
    if _is_model(kind):
        field = kind.model_fields.get(str(part))
        return field.annotation if field else None
    args = typing.get_args(kind)
    return args[-1] if args else None  # list[X] by index, dict[str, X] by key: X


def _unwrap(kind: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` as X."""
    while typing.get_origin(kind) in (typing.Union, types.UnionType, typing.Annotated):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def read_config(path: Path, named_by: str = "--config") -> dict[str, Any]:
    """The YAML file as a mapping; a ConfigError when it cannot be read, parsed or is empty.

    `named_by` (`config_named_by`) says where a missing file's name came from."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MB: not a config"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file ({_fix_missing(named_by)})"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory; --config names the YAML file"]) from None
    except UnicodeDecodeError as exc:
        # A file saved as Latin-1 or cp1252 (an accent in a comment): say where, and the fix.
        line, byte = data[: exc.start].count(b"\n") + 1, exc.object[exc.start]
        problem = f"line {line} is not UTF-8 (byte {byte:#04x}): save the file as UTF-8"
        raise ConfigError([f"{path}: {problem}"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: {_yaml_problem(exc)}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: YAML nested too deeply to be a config"]) from None
    if data is None:
        raise ConfigError(
            [
                f"{path}: the file is empty, so wirewatch would poll no feeds and send no "
                "alerts; start from a copy of the shipped config "
                f"({default_file('wirewatch.yaml')}: 3 outlets, troop-deployments alerts on "
                "the console)"
            ]
        )
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys such as feeds, topics"])
    return data


def _fix_missing(named_by: str) -> str:
    if named_by == "WIREWATCH_CONFIG":
        return "named by WIREWATCH_CONFIG: point it at the config file, or unset it"
    return "pass --config FILE"


class _UniqueKeys(yaml.SafeLoader):
    """Safe YAML, with a key given twice in one mapping refused: the last one would win
    silently (a second `feeds:` block would drop, then disable, the first one's feeds)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden by the keys beside it
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:  # an unhashable key: the constructor below says so
                continue
            if first != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (first on line {first + 1}); the last would "
                    "win silently",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


# YAML can notice a mistake lines after it was made: an unclosed quote or bracket is found
# at the end of the file. For those, the place where the unfinished thing starts is named.
_STARTED = {
    "while scanning a quoted scalar": "a quoted string starts here and is not closed",
    "while scanning a simple key": "a key starts here with no ':' after it",
    "while parsing a flow mapping": "a '{' opened here is not closed",
    "while parsing a flow sequence": "a '[' opened here is not closed",
}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    mark, start = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    if mark is None:
        return f"YAML: {problem}"
    found = f"line {mark.line + 1}, column {mark.column + 1}"
    if start is not None and context in _STARTED and start.line < mark.line:
        where = f"line {start.line + 1}, column {start.column + 1}"
        return f"{where}: {_STARTED[context]} ({problem} at {found})"
    return f"{found}: {problem}"


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


DEFAULT_PORT = 3000  # of /healthz, /readyz, /metrics and Slack's HTTP mode (bot.web)


def http_port(env: Mapping[str, str] | None = None) -> int:
    """WIREWATCH_HTTP_PORT, else 3000; a value that is not a port is refused, not replaced
    by 3000 behind the operator's back (0: any free port, for tests)."""
    env = os.environ if env is None else env
    text = env.get("WIREWATCH_HTTP_PORT", "").strip()
    if not text:
        return DEFAULT_PORT
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError(
            [f"WIREWATCH_HTTP_PORT: {text[:20]!r} is not a port number (1 to 65535; unset: 3000)"]
        )
    return int(text)


def apply_env(settings: Settings) -> Settings:
    """Paths and secrets come from the environment in deployments (compose .env)."""
    updates: dict[str, Any] = {}
    if db := os.environ.get("WIREWATCH_DB"):
        if not db.strip():
            raise ConfigError(["WIREWATCH_DB: blank; unset it or name the database file"])
        updates["database"] = os.path.expanduser(db)
    private = os.environ.get("WIREWATCH_ALLOW_PRIVATE_ADDRESSES", "").strip().lower()
    if private in ("1", "true", "yes"):
        updates["network"] = settings.network.model_copy(update={"allow_private_addresses": True})
    elif private not in ("", "0", "false", "no"):
        raise ConfigError(
            [f"WIREWATCH_ALLOW_PRIVATE_ADDRESSES: {private[:20]!r} is neither true nor false"]
        )
    return settings.model_copy(update=updates) if updates else settings
