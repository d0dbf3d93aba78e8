"""Feed bodies to `ParsedFeed`: feedparser's reading, made safe, stable and fast.

- Well-formed RSS/Atom is read by `fastparse` (lxml, feedparser's rules, tested equal);
  anything it is unsure of goes to feedparser itself.
- Refuses entity declarations before feedparser sees the body (expansion bombs), in every
  reading of the body that one of feedparser's readers could make.
- Entry identity never depends on the feed's URL (relative guids stay as written).
- Links are canonical http(s) URLs or None; titles and summaries are capped plain text
  without control characters; entries with nothing to read are dropped.
- Feeds with thousands of entries lose their middle before parsing (entries are capped).
- Any failure of a reader, feedparser's own bugs included, is a FeedParseError with a
  one-line reason: the feed's failure, never the poll's.

Deliberately not here: running in a worker process with time and memory bounds
(`bot.workers.parse_feed_async`), fetching, deciding which entries are new (the store
knows), and escaping text for a chat platform (adapters do that at the last step).
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import hashlib
import html
import html.entities
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.parsers import expat
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from bot.errors import FeedParseError, one_line
from bot.model import Entry, ParsedFeed
from bot.text.clean import html_to_text
from bot.text.invisible import strip_invisible
from bot.text.versions import digest

log = logging.getLogger(__name__)

TITLE_MAX = 300
SUMMARY_MAX = 2000
AUTHOR_MAX = 200
IDENTITY_MAX = 500  # longer guids are hashed: they are junk, and they bloat an indexed column
# A report under a guid or link another report of the feed holds: "guid:G ~1f3a9c0b2d4e".
REPORT_MARK = " ~"
_REPORT = re.compile(r"(.+) ~[0-9a-f]{12}", re.DOTALL)
FUTURE_SLACK = timedelta(days=1)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # before the web: a typo ("0024") or a default
# Campaign and click tags outlets add to feed links (Google, Facebook, Mailchimp, BBC's
# at_/ns_, Adobe's cmpid/s_cid/WT.mc_id, The Times' smid, Microsoft's ocid/msclkid...): they
# change between polls, never which article a link is. Not `ref`: some sites route by it.
_TRACKING = re.compile(
    r"utm_[^=&]*|fbclid|gclid|dclid|msclkid|yclid|igshid|mc_[^=&]*|at_[^=&]*|ns_[^=&]*"
    r"|cmpid|cmp|s_cid|wt\.mc_id|wt\.[^=&]*|smid|smtyp|ito|ocid|sr_share|_ga",
    re.IGNORECASE,
)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Controls, and bidi embeddings, overrides and isolates (bot.text.invisible says why).
_REFUSED_ENTITIES = "refused: the feed declares XML entities (<!ENTITY)"
_CDATA_OPEN, _CDATA_CLOSE = b"<![CDATA[", b"]]>"
# The end tag of an RSS item or Atom entry, namespaced or not (`</rss:item>`, `</entry >`).
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)


def _load_fast_reader() -> Callable[[bytes], Any] | None:
    """The lxml reader, or None when it cannot be loaded: it uses private names of
    feedparser, and a release that moves one must cost speed, never the bot."""
    try:
        from bot.feeds.fastparse import read_feed
    except Exception as exc:  # ImportError, AttributeError: whatever the release changed
        log.warning("parse.fast_reader_unavailable reader=feedparser error=%s", one_line(exc))
        return None
    return read_feed


_fast_reader = _load_fast_reader()


def parse_feed(
    body: bytes, *, feed_url: str, max_entries: int = 1000, fast: bool = True
) -> ParsedFeed:
    """Parse a feed body; FeedParseError when it is not a feed, is refused, or breaks a reader.

    The lxml reader (`fastparse`) goes first and gives way to feedparser whenever it is
    not sure to read the body the same; `fast=False` asks feedparser alone.
    """
    try:
        return _parse(body, feed_url, max_entries, fast)
    except (FeedParseError, MemoryError):
        raise
    except Exception as exc:  # feedparser's own bugs: a TypeError in _end_width on a cut feed
        raise FeedParseError(f"the parser failed on this feed: {one_line(exc)}") from None


def _parse(body: bytes, feed_url: str, max_entries: int, fast: bool) -> ParsedFeed:
    if not body.strip():
        raise FeedParseError("not a feed: the body is empty")
    refuse_entity_declarations(body)
    body = mend_character_references(trim_entries(body, max_entries))
    raw = _read_fast(body) if fast else None
    feed, raw_entries, warning = (raw.feed, raw.entries, None) if raw else _feedparser_read(body)
    now = datetime.now(UTC)
    readable = (e for e in (_entry(r, feed_url, now) for r in raw_entries) if _readable(e))
    entries = _dedupe(readable)
    return ParsedFeed(
        title=_text(feed, "title", TITLE_MAX) or None,
        link=canonical_url(_join(feed_url, feed.get("link"))),
        entries=_newest(entries, max_entries),
        warning=warning,
    )


def _read_fast(body: bytes) -> Any:
    """The fast reader's result, or None (feedparser reads) when it is absent or fails."""
    if _fast_reader is None:
        return None
    try:
        return _fast_reader(body)
    except Exception as exc:  # a feedparser internal it relies on behaves differently now
        log.debug("parse.fast_reader_failed error=%s", one_line(exc))
        return None


def _feedparser_read(body: bytes) -> tuple[Any, list[Any], str | None]:
    """feedparser's feed, entries and bozo text; FeedParseError when it found no feed."""
    # A BytesIO, never the bytes: feedparser treats a str/bytes that names a path as a file.
    # No base URL either, so relative guids stay as written; links are joined in parse_feed.
    try:
        result = feedparser.parse(io.BytesIO(body), sanitize_html=True)
    except (ValueError, LookupError, UnicodeError) as exc:  # feedparser's own decoding breaks
        raise FeedParseError(f"not a readable feed: {_quoted(str(exc))}") from None
    if not result.version or (not result.entries and result.bozo):
        raise FeedParseError(_why_not_a_feed(body, result))
    return result.feed, result.entries, _bozo_text(result, body) if result.bozo else None


def refuse_entity_declarations(body: bytes) -> None:
    """FeedParseError if any reader of the body would see an XML entity declaration.

    A bomb needs only one reader to believe it, so every reading is checked: the raw bytes
    (UTF-16/32/EBCDIC made legible), the text as feedparser decodes it (it honours any codec
    Python has, `unicode_escape` and UTF-7 included), what feedparser's DOCTYPE rewriting
    keeps for its loose parser, and what expat meets before the root element. Declaration
    text inside a CDATA section is only text and stays allowed.
    """
    _refuse_outside_cdata(_ascii_view(body))
    decoded = _as_feedparser_decodes(body)
    if decoded != body:
        _refuse_outside_cdata(decoded)
    _, rewritten, kept = replace_doctype(decoded)
    if kept or _expat_sees_entities(rewritten):
        raise FeedParseError(_REFUSED_ENTITIES)


def _refuse_outside_cdata(data: bytes) -> None:
    position = 0
    while (found := _ENTITY_DECL.search(data, position)) is not None:
        cdata = data.rfind(_CDATA_OPEN, 0, found.start())
        close = data.find(_CDATA_CLOSE, cdata) if cdata >= 0 else -1
        if cdata < 0 or 0 <= close < found.start():
            raise FeedParseError(_REFUSED_ENTITIES)
        position = close + len(_CDATA_CLOSE) if close >= 0 else len(data)


def _as_feedparser_decodes(body: bytes) -> bytes:
    """The body as UTF-8, decoded the way feedparser.parse will decode it (same function)."""
    try:
        return convert_to_utf8({}, body, {})
    except Exception:  # feedparser would then read the raw bytes, which are checked already
        return body


class _RootReached(Exception):
    """Entity declarations can only come before the root element: stop reading there."""


def _expat_sees_entities(data: bytes) -> bool:
    """Whether expat, reading `data` as feedparser hands it over, meets a declaration."""
    seen: list[str] = []
    parser = expat.ParserCreate(namespace_separator=" ")

    def declared(name: str, *_: object) -> None:
        seen.append(name)
        raise _RootReached

    def root(*_: object) -> None:
        raise _RootReached

    parser.EntityDeclHandler = declared
    parser.StartElementHandler = root
    with contextlib.suppress(_RootReached, expat.ExpatError):
        parser.Parse(data, True)
    return bool(seen)


def trim_entries(body: bytes, keep: int) -> bytes:
    """The body without its middle entries when it has more than 2 x `keep` of them.

    feedparser's time grows with every entry: a 200,000-item feed would run into the parse
    deadline and give nothing. Feeds list newest first or, now and then, oldest first, so the
    first and the last `keep` entries stay and `_newest` picks among them by date. The cut
    falls at entry end tags, so a well-formed feed stays well formed.
    """
    if _wide_encoding(body[:4]) is not None:
        return body  # UTF-16/32 bodies are rare and small enough for the deadline to bound
    ends = [m.end() for m in _ENTRY_END.finditer(body)]
    if keep < 1 or len(ends) <= 2 * keep:
        return body
    log.info("parse.trimmed entries=%d kept=%d", len(ends), 2 * keep)
    return body[: ends[keep - 1]] + body[ends[-keep - 1] :]


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = b"&#xFFFD;"


def mend_character_references(body: bytes) -> bytes:
    """Numeric references to no character (a surrogate, past U+10FFFF) become U+FFFD, and
    HTML5's named references numeric ones (`_numeric_html5`).

    One `&#xD800;` in one title made feedparser's loose reader raise on the whole feed, so
    every good item of it was lost with the bad one.
    """
    if b"&" not in body or _wide_encoding(body[:4]) is not None:
        return body

    def mend(m: re.Match[bytes]) -> bytes:
        digits = m[1] or m[2]
        if len(digits) > 8:
            return _REPLACEMENT_REF
        code = int(digits, 16 if m[1] else 10)
        return _REPLACEMENT_REF if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF else m[0]

    return _HTML5_REF.sub(_numeric_html5, _CHAR_REF.sub(mend, body))


# Named references HTML5 added (`&check;`, `&lbrack;`, `&ZeroWidthSpace;`): feedparser's
# sanitizer knows HTML 4's names only and writes these as "&checkB", without the ";". Made
# numeric, raw or escaped once inside escaped HTML (`&amp;check;`), they read as written.
_HTML5_REF = re.compile(rb"&(amp;)?([A-Za-z][A-Za-z0-9]{1,31});")
_KNOWN_NAMES = frozenset(html.entities.name2codepoint) | {"apos"}


def _numeric_html5(m: re.Match[bytes]) -> bytes:
    name = m[2].decode("ascii")
    text = html.entities.html5.get(name + ";")
    if name in _KNOWN_NAMES or text is None:
        return m[0]
    amp = b"&amp;" if m[1] else b"&"
    return b"".join(amp + b"#x%X;" % ord(ch) for ch in text)


def _ascii_view(body: bytes) -> bytes:
    """The body with markup bytes where a parser would see them (UTF-16/32, EBCDIC bodies)."""
    encoding = _wide_encoding(body[:4])
    if encoding is None:
        return body
    return body.decode(encoding, errors="replace").encode("utf-8", errors="replace")


def _wide_encoding(head: bytes) -> str | None:
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    for bom, encoding in boms:
        if head.startswith(bom):
            return encoding
    patterns = {
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00\x00\x00": "utf-32-le",
        b"\x00<\x00?": "utf-16-be",
        b"<\x00?\x00": "utf-16-le",
        b"\x4c\x6f\xa7\x94": "cp037",
    }
    return patterns.get(head)


def _why_not_a_feed(body: bytes, result: Any) -> str:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "not a feed: looks like an HTML page"
    if head[:1] in (b"{", b"["):
        return "not a feed: looks like JSON"
    if b"\x00" in body[:1024] and _wide_encoding(body[:4]) is None:
        return "not a feed: looks like binary data"
    if not result.bozo:
        return "not a feed: XML without RSS or Atom elements"
    return f"not a feed: {_bozo_text(result, body)}"


def _bozo_text(result: Any, body: bytes) -> str:
    exc = result.get("bozo_exception")
    if isinstance(exc, SAXParseException):
        return _quoted(_xml_error(exc, body))
    return _quoted(str(exc) if exc is not None else "malformed feed")


# The XML declaration feedparser reads the body behind, in place of the body's own
_FEEDPARSER_DECLARATION = len("<?xml version='1.0' encoding='utf-8'?>")


def _xml_error(exc: SAXParseException, body: bytes) -> str:
    """expat's `<unknown>:2:0: not well-formed (invalid token)` in a moderator's words, at
    the body's own line and column (what an editor shows): feedparser puts its declaration
    on a line of its own before a body that has none, and expat counts columns from 0."""
    line, column = exc.getLineNumber() or 1, (exc.getColumnNumber() or 0) + 1
    own = re.match(r"<\?xml[^>]*?>", _head_text(body))
    if own is None:
        line = max(line - 1, 1)
    elif line == 1:
        column = max(column + len(own.group()) - _FEEDPARSER_DECLARATION, 1)
    what = exc.getMessage().removeprefix("not well-formed").strip(" ()")
    return f"not well-formed XML at line {line}, column {column} ({what})"


def _head_text(body: bytes) -> str:
    """The body's first characters as feedparser decodes them, byte order mark dropped."""
    head = body[:256]
    encoding = _wide_encoding(head[:4]) or "latin-1"
    return head.removeprefix(codecs.BOM_UTF8).decode(encoding, "ignore").lstrip("\ufeff")


def _quoted(text: str) -> str:
    """A reader's complaint, which may quote the body (`document declared as ESC[2J...`),
    fit for a log line or a feed's last error: one line, capped, no control characters."""
    return " ".join(strip_invisible(text).split())[:300]


def _entry(raw: Any, feed_url: str, now: datetime) -> Entry:
    title = _text(raw, "title", TITLE_MAX)
    summary = _summary(raw)
    link = raw.get("link") or None
    published, ignored = _published(raw, now)
    return Entry(
        identity=_identity(raw, link, title, summary),
        url=canonical_url(_join(feed_url, link)),
        title=title,
        summary=summary,
        published=published,
        author=_text(raw, "author", AUTHOR_MAX) or None,
        date_ignored=ignored,
        link_is_guid=_link_is_guid(raw, link),
        digest=digest(title, summary),
    )


def _link_is_guid(raw: Any, link: str | None) -> bool:
    """No `<link>` but (as feedparser does with a permalink guid) the guid made one."""
    own = (link or "").strip()
    return not own or own == (raw.get("id") or "").strip()


def _readable(entry: Entry) -> bool:
    """An entry with no title, text or link (`<item/>`) gives a reader nothing: skip it."""
    return bool(entry.title or entry.summary or entry.url)


def _identity(raw: Any, link: str | None, title: str, summary: str) -> str:
    """guid as written, else the link (canonical if absolute, as written if relative), else hash."""
    guid = (raw.get("id") or "").strip()
    if guid:
        return _capped_identity("guid:", guid)
    if link and link.strip():
        return _capped_identity("link:", canonical_url(link) or link.strip())
    content = hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
    return f"hash:{content}"


def _capped_identity(kind: str, value: str) -> str:
    if len(value) <= IDENTITY_MAX:
        return kind + value
    return f"{kind}sha1:{hashlib.sha1(value.encode()).hexdigest()}"


def _text(raw: Any, key: str, limit: int) -> str:
    value = raw.get(key) or ""
    detail = raw.get(f"{key}_detail") or {}
    return _plain(value, detail.get("type", "text/html"), limit)


def _summary(raw: Any) -> str:
    if (raw.get("summary") or "").strip():
        return _text(raw, "summary", SUMMARY_MAX)
    for content in raw.get("content") or ():
        if (content.get("value") or "").strip():
            return _plain(content["value"], content.get("type", "text/html"), SUMMARY_MAX)
    return ""


def _plain(value: str, kind: str, limit: int) -> str:
    """Text as a person reads it: markup gone, whitespace collapsed, capped with an ellipsis."""
    # Control characters (ESC, NUL, DEL, C1) are never text a person wrote: a title carrying
    # an escape sequence could repaint a terminal, a NUL truncates it in some clients; and
    # what a reader never sees (zero-width spaces, soft hyphens, bidi controls) goes from
    # plain text as from HTML: "Is\u00adrael" was shown, and read as two words.
    text = strip_invisible(html_to_text(value) if "html" in kind else value)
    if limit <= TITLE_MAX:
        text = " ".join(text.split())
    else:
        text = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    # A hard cut, not bot.text.clip's at a word's end: the stored text is what the next poll
    # compares with (bot.text.versions), and a different cut would read as an edit of every
    # long entry once after an upgrade.
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _published(raw: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """First plausible date of published/updated, in UTC, and the first implausible one.

    Dates before 1990 or over a day ahead are not believed: the item then counts as
    undated (the pipeline uses the time it was first seen).
    """
    ignored = None
    for key in ("published_parsed", "updated_parsed"):
        parsed = raw.get(key)
        if not parsed:
            continue
        try:
            when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            continue
        if EARLIEST <= when <= now + FUTURE_SLACK:
            return when, None
        ignored = ignored or when.isoformat(timespec="seconds")
    return None, ignored


def canonical_url(link: str | None) -> str | None:
    """A stable http(s) URL for a link, or None for anything else (javascript:, data:, file:).

    Lower-cases scheme and host, drops any user name and password, the default port, the
    fragment and tracking parameters (utm_*, fbclid, gclid, mc_*); keeps every other parameter
    exactly as written.
    """
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = _netloc(parts.hostname, port, scheme)
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _netloc(hostname: str, port: int | None, scheme: str) -> str:
    """Host and port, without a user name or password: `https://reuters.com@evil.example/`
    goes to evil.example while reading as Reuters, and a password in a feed's link would be
    shown to a whole channel."""
    host = f"[{hostname}]" if ":" in hostname else hostname  # urlsplit lower-cases hostname
    default = {"http": 80, "https": 443}[scheme]
    return host if port in (None, default) else f"{host}:{port}"


def _is_tracking(pair: str) -> bool:
    return _TRACKING.fullmatch(pair.partition("=")[0]) is not None


def _join(base: str, link: str | None) -> str | None:
    if not link:
        return None
    try:
        return urljoin(base, link.strip())
    except ValueError:
        return None


def _dedupe(entries: Iterable[Entry]) -> list[Entry]:
    """Entries in document order, each identity once. One guid on entries with different
    links (a CMS that writes one guid for every item) identifies none of them: their links do,
    or each would be lost behind the first, or posted as an edit of it. Entries that still
    share an identity (one guid or one link for all) are kept when their words differ, each
    after the first under `report_identity`; the same words listed twice are kept once, as
    first listed. Whether two of them are one report reworded is the pipeline's to tell
    (`bot.revisions.resolve_identities`): it reads the words as the story index does."""
    listed = list(entries)
    links: dict[str, set[str | None]] = {}
    for entry in listed:
        if entry.identity.startswith("guid:"):
            links.setdefault(entry.identity, set()).add(entry.url)
    shared = {identity for identity, urls in links.items() if len(urls) > 1}
    listed = [
        replace(e, identity=_capped_identity("link:", e.url)) if e.identity in shared and e.url
        else e
        for e in listed
    ]  # fmt: skip
    counts = Counter(e.identity for e in listed)
    seen: dict[str, set[str]] = {}
    kept = []
    for entry in listed:
        if counts[entry.identity] > 1:  # words are compared only where an identity repeats
            before = seen.setdefault(entry.identity, set())
            if entry.digest in before:
                continue
            if before:
                entry = replace(entry, identity=report_identity(entry.identity, entry.digest))
            before.add(entry.digest)
        kept.append(entry)
    return kept


def report_identity(base: str, said: str, n: int = 0) -> str:
    """The identity of a report given an identity another report of the feed holds: the
    shared one with a mark of the words it was first seen with (`said`: its `Entry.digest`;
    `n` > 0: the n-th try, when that mark is taken too). Stable, so the same body always
    gives the same identities."""
    words = said + (f"/{n}" if n else "")
    return f"{base}{REPORT_MARK}{hashlib.sha1(words.encode()).hexdigest()[:12]}"


def base_identity(identity: str) -> str:
    """The identity as the feed gives it, without a `report_identity` mark."""
    found = _REPORT.fullmatch(identity)
    return found[1] if found else identity


def _newest(entries: list[Entry], limit: int) -> tuple[Entry, ...]:
    """At most `limit` entries, the newest when some must go, in document order."""
    if len(entries) <= limit:
        return tuple(entries)
    oldest = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(range(len(entries)), key=lambda i: entries[i].published or oldest, reverse=True)
    return tuple(entries[i] for i in sorted(ranked[:limit]))
