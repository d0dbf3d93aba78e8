"""OPML in and out: how newsrooms move feed lists between readers.

Import reads every `<outline xmlUrl=...>` at any depth (folders are flattened, their names are
ignored); export writes one flat list. Entity declarations are refused as in feeds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from bot.errors import FeedParseError, WirewatchError
from bot.feeds.parse import refuse_entity_declarations


@dataclass(frozen=True)
class OpmlFeed:
    name: str
    url: str


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in order, without duplicate URLs."""
    try:
        refuse_entity_declarations(data)
        root = ET.fromstring(data)
    except (ET.ParseError, FeedParseError) as exc:
        raise WirewatchError(f"not a readable OPML file: {exc}") from None
    if root.tag.lower() != "opml":
        raise WirewatchError(f"not an OPML file: the root element is <{root.tag}>, not <opml>")
    feeds: dict[str, OpmlFeed] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url.lower().startswith(("http://", "https://")) and url not in feeds:
            name = outline.get("title") or outline.get("text") or url
            feeds[url] = OpmlFeed(name.strip() or url, url)
    return list(feeds.values())


def write_opml(feeds: list[OpmlFeed], title: str = "wirewatch feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        lines.append(
            f'    <outline type="rss" text={quoteattr(f.name)} title={quoteattr(f.name)} '
            f"xmlUrl={quoteattr(f.url)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
