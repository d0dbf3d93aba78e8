"""Configuration: YAML file + environment -> validated, frozen settings.

Every problem is reported at once, each as `where: what` (a key path such as
`feeds[2].url`), so `wirewatch check` can print them all. Semantic checks that need other
modules (topic queries, subscription topics) live in `bot.check`; this module only knows
the shape of the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bot.defaults_path import default_file
from bot.durations import parse_duration
from bot.errors import ConfigError

Seconds = Annotated[float, BeforeValidator(parse_duration)]
CHANNEL_RE = re.compile(r"^(console|slack:[A-Z0-9]+|discord:\d+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSettings(_Strict):
    name: str = Field(min_length=1)
    url: str
    interval: Seconds | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise ValueError("must be an http:// or https:// URL")
        return url


class TopicSettings(_Strict):
    query: str = Field(min_length=1)
    description: str = ""
    relevance: str | None = None  # a model in bot/relevance/, e.g. deployments


class SubscriptionSettings(_Strict):
    topic: str
    channel: str
    mode: Literal["instant", "digest"] = "instant"

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        if not CHANNEL_RE.match(channel):
            raise ValueError("must be console, slack:CHANNEL_ID (e.g. slack:C0123) or discord:ID")
        return channel


class NetworkSettings(_Strict):
    allow_private_addresses: bool = False
    timeout: Seconds = 20.0
    max_feed_bytes: int = Field(default=15 * 2**20, gt=0)
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"


class ArticleSettings(_Strict):
    fetch: bool = True
    timeout: Seconds = 10.0
    concurrency: int = Field(default=4, ge=1, le=32)


class PlatformSettings(_Strict):
    moderators: list[str] = Field(default_factory=list)

    @field_validator("moderators", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value


class Settings(_Strict):
    database: str = "data/wirewatch.db"
    poll_interval: Seconds = Field(default=300.0)
    max_age: Seconds = Field(default=86400.0)
    story_window: Seconds = Field(default=72 * 3600.0)
    max_failures: int = Field(default=10, ge=1)
    digest_every: Seconds = Field(default=3600.0)
    feeds: list[FeedSettings] = Field(default_factory=list)
    topics: dict[str, TopicSettings] = Field(default_factory=dict)
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    articles: ArticleSettings = Field(default_factory=ArticleSettings)
    slack: PlatformSettings = Field(default_factory=PlatformSettings)
    discord: PlatformSettings = Field(default_factory=PlatformSettings)
    source: str = "<defaults>"

    @field_validator("poll_interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        if value < 10:
            raise ValueError("must be at least 10s: polling faster is impolite to the outlets")
        return value

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


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, validate and apply env overrides; raise ConfigError listing every problem."""
    path = Path(path) if path else default_config_path()
    raw = _read_yaml(path)
    try:
        settings = Settings.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        raise ConfigError(
            [f"{path}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    return _apply_env(settings)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (pass --config FILE)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}: {where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys such as feeds, topics"])
    return data


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _apply_env(settings: Settings) -> Settings:
    """Paths and secrets come from the environment in deployments (compose .env)."""
    updates: dict[str, Any] = {}
    if db := os.environ.get("WIREWATCH_DB"):
        updates["database"] = db
    if os.environ.get("WIREWATCH_ALLOW_PRIVATE_ADDRESSES", "").lower() in ("1", "true", "yes"):
        updates["network"] = settings.network.model_copy(update={"allow_private_addresses": True})
    return settings.model_copy(update=updates) if updates else settings
