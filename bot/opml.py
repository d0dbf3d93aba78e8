"""OPML in and out: how newsrooms move feed lists between readers.

Import reads every `<outline xmlUrl=...>` at any depth (folders are flattened, their names are
ignored) and names every outline it cannot use instead of dropping it quietly; export writes
one flat list. A feed's own poll interval travels as an `interval` attribute ("15m"), which
other readers ignore. Entity declarations are refused as in feeds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import sqlite_utils

from bot.durations import format_duration, parse_duration
from bot.errors import FeedParseError, UsageError
from bot.feed_store import add_feed, feed_at
from bot.feeds.parse import refuse_entity_declarations
from bot.settings import MIN_INTERVAL


@dataclass(frozen=True)
class OpmlFeed:
    name: str
    url: str
    interval: float | None = None


@dataclass(frozen=True)
class OpmlList:
    feeds: list[OpmlFeed]
    skipped: list[str] = field(default_factory=list)  # one line per outline not imported


@dataclass(frozen=True)
class Imported:
    new: int
    present: int  # already polled: left as they are
    enabled: int  # removed or disabled before: polled again


def read_opml(data: bytes) -> OpmlList:
    """The feeds of an OPML document in order, and why each other outline was left out."""
    try:
        refuse_entity_declarations(data)
        root = ET.fromstring(data)
    except (ET.ParseError, FeedParseError) as exc:
        raise UsageError(f"not a readable OPML file: {exc}") from None
    if root.tag.lower() != "opml":
        raise UsageError(f"not an OPML file: the root element is <{root.tag}>, not <opml>")
    feeds: dict[str, OpmlFeed] = {}
    skipped: list[str] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        name = (outline.get("title") or outline.get("text") or "").strip()
        if not url:
            if len(outline) == 0:  # an outline with children is a folder, not a feed
                skipped.append(f"{name or '(untitled outline)'}: no xmlUrl (feed address)")
        elif not url.lower().startswith(("http://", "https://")):
            skipped.append(f"{name or url}: {url} is not an http:// or https:// address")
        elif url in feeds:
            skipped.append(f"{name or url}: listed twice")
        else:
            interval, problem = _interval(outline.get("interval"))
            if problem:
                skipped.append(f"{name or url}: interval {problem}; imported without it")
            feeds[url] = OpmlFeed(name or url, url, interval)
    return OpmlList(list(feeds.values()), skipped)


def _interval(text: str | None) -> tuple[float | None, str | None]:
    if text is None:
        return None, None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        return None, str(exc)
    if seconds < MIN_INTERVAL:
        return None, f"{text!r} is under 10s"
    return seconds, None


def import_feeds(
    db: sqlite_utils.Database,
    feeds: list[OpmlFeed],
    progress: Callable[[int, int], None] | None = None,
) -> Imported:
    """Add what is new, poll again what was removed; a feed already polled is left alone."""
    new = present = enabled = 0
    for n, feed in enumerate(feeds, 1):
        existing = feed_at(db, feed.url)
        if existing is None:
            add_feed(db, feed.url, feed.name, origin="import", interval=feed.interval)
            new += 1
        elif existing.disabled:
            interval = feed.interval if feed.interval is not None else existing.interval
            add_feed(db, feed.url, existing.name, origin=existing.origin, interval=interval)
            enabled += 1
        else:
            present += 1
        if progress:
            progress(n, len(feeds))
    return Imported(new, present, enabled)


def write_opml(feeds: list[OpmlFeed], title: str = "wirewatch feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        every = f' interval="{_duration(f.interval)}"' if f.interval is not None else ""
        lines.append(
            f'    <outline type="rss" text={quoteattr(f.name)} title={quoteattr(f.name)} '
            f"xmlUrl={quoteattr(f.url)}{every}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """Short when exact ("15m"), else whole seconds: an interval must survive the round trip."""
    short = format_duration(seconds)
    return short if parse_duration(short) == round(seconds) else f"{round(seconds)}s"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
