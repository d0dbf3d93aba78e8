"""feedparser's cleaning of a value, replayed for the fast reader (`bot.feeds.fastparse`):
its last touches to every value (`fix_text`), and its sanitizer on HTML, run when the value
is first read (`LazyHtml`: content is often never read) and skipped when the HTML is plain
enough that sanitizing could not change its text (`benign`).

Sanitizing is most of feedparser's time; `benign` is why the fast reader is fast and still
gives exactly what feedparser gives. Deliberately not here: reading the feed
(`bot.feeds.fastparse`), HTML to text (`bot.text.clean`).
"""

from __future__ import annotations

import contextlib
import html.entities
import re

from feedparser.html import _cp1252
from feedparser.sanitizer import _sanitize_html
from feedparser.urls import resolve_relative_uris

_CP1252 = {k: v for k, v in _cp1252.items()}


def fix_text(output: str) -> str:
    """feedparser's last touches to every value: UTF-8 read as Latin-1, cp1252 C1 codes."""
    if output.isascii():
        return output
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    return output.translate(_CP1252)


class LazyHtml:
    """HTML feedparser would sanitize; cleaned on first use (content is often never read)."""

    __slots__ = ("raw", "base", "kind", "_done")

    def __init__(self, raw: str, base: str, kind: str) -> None:
        self.raw, self.base, self.kind = raw, base, kind
        self._done: str | None = None

    def value(self) -> str:
        if self._done is None:
            text = self.raw
            if not benign(text):
                text = resolve_relative_uris(text, self.base, "utf-8", self.kind)
                text = _sanitize_html(text, "utf-8", self.kind)
            self._done = fix_text(text)
        return self._done


_NAMED = "|".join(sorted(html.entities.name2codepoint, key=len, reverse=True))
# Tags feedparser's sanitizer keeps, in order, as they are (attributes aside), and that
# html_to_text reads like any other; void ones separately: the sanitizer drops `</br>`.
_BENIGN_TAGS = (
    "p|a|b|i|em|strong|u|s|span|div|ul|ol|li|blockquote|h[1-6]|sup|sub|small|big|code|pre"
    "|figure|figcaption|cite|q|abbr|dl|dt|dd|strike|del|ins|font|center|tt|kbd|var|dfn"
    "|table|thead|tbody|tfoot|tr|td|th|caption|section|article|header|footer|aside|nav|time"
)
_ATTRS = r"""(?:\s++[a-zA-Z_:][-\w:.]*+(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))?)*+\s*"""
_BENIGN_TAG = rf"<(?:{_BENIGN_TAGS}){_ATTRS}>|</(?:{_BENIGN_TAGS})\s*>|<(?:br|img|hr){_ATTRS}/?>"
_ENTITY = rf"&(?:{_NAMED});|&#[0-9]{{1,7}};|&#[xX][0-9a-fA-F]{{1,6}};"
# Possessive: a text that fails must fail in linear time, not by trying every split.
_BENIGN = re.compile(rf"(?:[^<&]++|{_ENTITY}|(?i:{_BENIGN_TAG}))*+")
_C1_REF = re.compile(r"&#(?:0*(?:12[89]|1[345][0-9])|[xX]0*[89][0-9a-fA-F]);")
_TAG_TEXT = re.compile(r"<[^>]*>")


def benign(text: str) -> bool:
    """Whether feedparser's sanitizer could only change attributes, never the text.

    True for text built of a small set of plain tags (their order kept, so an HTML parser
    builds the same tree), entity references the sanitizer keeps as they are, and
    non-ASCII characters only outside tags (the Latin-1 repair then sees the same bytes).
    """
    if "<" not in text and "&" not in text:
        return True
    if _BENIGN.fullmatch(text) is None or _C1_REF.search(text):
        return False
    return all(tag.isascii() for tag in _TAG_TEXT.findall(text))
