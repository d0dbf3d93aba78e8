"""Logging set-up: one line per event on stderr, readable or JSON (WIREWATCH_LOG_FORMAT=json).

Secrets never reach a log line: the values of the token variables set at start, and values
that look like Slack or Discord tokens, are masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping

from bot.errors import ConfigError

# A Discord token opens with the bot's id in base64: M or N for ids starting 1 to 7, O for
# 8 and 9 (bots made in 2020-2021).
_TOKEN = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+"
    r"|[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}"
)
# Their values are masked whatever they look like: a signing secret is plain hex.
SECRET_VARS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN")
FORMATS = ("text", "json")


def _secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """The secret variables' values; a short one would mask ordinary words, not a secret."""
    found = {env.get(name, "").strip() for name in SECRET_VARS}
    return tuple(sorted((s for s in found if len(s) >= 8), key=len, reverse=True))


def _mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return _TOKEN.sub("[secret]", text)


class _Readable(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return _mask(super().format(record), self.secrets)


class _Json(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _mask(record.getMessage(), self.secrets),
        }
        if record.exc_info:
            entry["error"] = _mask(self.formatException(record.exc_info), self.secrets)
        return json.dumps(entry, ensure_ascii=False)


def log_format(env: Mapping[str, str] | None = None) -> str:
    """WIREWATCH_LOG_FORMAT (`text` unset); any other value is refused, where it used to
    give text logs silently to a pipeline that reads JSON (`JSON`, `jsonl`)."""
    env = os.environ if env is None else env
    text = env.get("WIREWATCH_LOG_FORMAT", "").strip().lower() or "text"
    if text not in FORMATS:
        raise ConfigError(
            [f"WIREWATCH_LOG_FORMAT: {text[:20]!r} is not a log format (json or text; unset: text)"]
        )
    return text


def setup_logging(level: int = logging.INFO, fmt: str | None = None) -> None:
    """Logs on stderr; a WIREWATCH_LOG_FORMAT that is not one gives text here (the commands
    that run for long refuse it through `log_format`)."""
    if fmt is None:
        try:
            fmt = log_format()
        except ConfigError:
            fmt = "text"
    handler = logging.StreamHandler(sys.stderr)
    secrets = _secrets(os.environ)
    handler.setFormatter(_Json(secrets) if fmt == "json" else _Readable(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # "skipped: maximum number of running instances" is how a long drain looks; not news.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
