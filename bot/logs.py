"""Logging set-up: one line per event on stderr, readable or JSON (WIREWATCH_LOG_FORMAT=json).

Secrets never reach a log line: values that look like Slack or Discord tokens are masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys

_TOKEN = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|[MN][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}"
)


def _mask(text: str) -> str:
    return _TOKEN.sub("[secret]", text)


class _Readable(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _mask(super().format(record))


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _mask(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = _mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: int = logging.INFO, fmt: str | None = None) -> None:
    fmt = fmt or os.environ.get("WIREWATCH_LOG_FORMAT", "text")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(
            _Readable("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # "skipped: maximum number of running instances" is how a long drain looks; not news.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
