"""A fast reader of well-formed feeds that gives the raw entries feedparser would give.

feedparser walks every element through Python handlers and sanitizes every piece of HTML
it meets, even content nobody reads: about 330 us per entry. This module parses the body
once with lxml (no entities resolved, no DTD, no network) and replays feedparser's own
rules, ported handler by handler, for the keys `bot.feeds.parse` reads: title, summary,
content, link, id, author, published/updated (dates through feedparser's own date parser).
HTML goes through feedparser's sanitizer unless it is plain enough that sanitizing could
not change its text (see `bot.feeds.sanitize`), and content is only cleaned when it is read.

`read_feed` returns None whenever it cannot be sure to agree with feedparser: not
well-formed, an encoding feedparser would have to guess, a DOCTYPE, an unknown root, Atom
0.3, inline XHTML or markup inside text elements, odd content types, nested entries,
namespace prefixes bound twice. The caller then asks feedparser.

Deliberately not here: cleaning text, identities, URLs or dedupe (`bot.feeds.parse` does
that for both readers), and anything feedparser keeps that `bot.feeds.parse` never reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from bot.feeds.sanitize import LazyHtml, fix_text

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
_MATCH = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_ATOM10 = "http://www.w3.org/2005/atom"
_RSS10 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_XMLNS = re.compile(rb"""xmlns(?::([\w.-]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_FIRST_TAG = re.compile(rb"<\w")
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"text/plain", "text/html"}
_RELATIVE = _FeedParserMixin.can_be_relative_uri
_DANGEROUS = _FeedParserMixin.can_contain_dangerous_markup
# Keys we read that feedparser would also fill from an unknown element of the same name.
_COLLIDING = {"title_detail", "summary_detail", "published_parsed", "updated_parsed"}
_looks_like_html = _FeedParserMixin.looks_like_html
_map_type = _FeedParserMixin.map_content_type


class _Unsure(Exception):
    """The body is one feedparser might read differently: let feedparser read it."""


@dataclass(frozen=True)
class RawFeed:
    """feedparser-shaped results: `feed` as `result.feed`, `entries` as `result.entries`."""

    feed: dict[str, Any]
    entries: list[dict[str, Any]]


def read_feed(body: bytes) -> RawFeed | None:
    """The feed as feedparser would give it, or None when this reader is not sure."""
    found: dict[str, Any] = {}
    try:
        data = convert_to_utf8({}, body, found)
    except Exception:  # feedparser's own decoding trouble: its path reports it
        return None
    if found.get("bozo") or not found.get("encoding"):
        return None
    try:
        tree = etree.fromstring(data, _PARSER).getroottree()
    except (etree.XMLSyntaxError, ValueError):
        return None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return None
    try:
        names = _Names(data)
        reader = _Reader(names, names.version(tree.getroot()))
        return reader.read(tree.getroot())
    except (_Unsure, KeyError, IndexError):  # KeyError/IndexError: feedparser would stumble too
        return None


class _Names:
    """feedparser's name for each element ('dc_creator', 'title'), from the body's prefixes."""

    def __init__(self, data: bytes) -> None:
        start = _FIRST_TAG.search(data)
        head = data[: start.start()] if start else data
        if head.count(b"<!--") != head.count(b"-->"):
            raise _Unsure  # the first tag found may sit in a comment
        self.declared: list[tuple[str | None, str]] = []
        for m in _XMLNS.finditer(data):
            uri = (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8")
            prefix = m.group(1).decode("ascii") if m.group(1) else None
            self.declared.append((prefix, uri))
        self.namespacemap, self.unknown = self._check(self.declared)
        self._cache: dict[str, tuple[str, bool]] = {}

    @staticmethod
    def _check(declared: list[tuple[str | None, str]]) -> tuple[dict, dict]:
        """One meaning per prefix and per unknown URI, so names never depend on order."""
        by_prefix: dict[str | None, str] = {}
        unknown: dict[str, str | None] = {}
        namespacemap: dict[str | None, str] = {}
        for prefix, uri in declared:
            if by_prefix.setdefault(prefix, uri) != uri:
                raise _Unsure
            std = _MATCH.get(_userland(uri.lower()))
            if std is not None:
                namespacemap[prefix] = std
                continue
            if unknown.setdefault(uri, prefix) != prefix:
                raise _Unsure
        # feedparser finds an unknown URI's prefix in a table keyed by prefix, where a known
        # namespace also claims its standard prefix: the two must not meet there.
        claimed = set(namespacemap.values())
        for prefix in unknown.values():
            if prefix and (prefix in claimed or prefix.lower() in namespacemap):
                raise _Unsure
        return namespacemap, unknown

    def version(self, root: etree._Element) -> str:
        """feedparser's version, as far as it decides anything we read (atom or not)."""
        uris = [uri.lower() for _, uri in self.declared]
        tag = root.tag
        if not isinstance(tag, str):  # lxml never roots a parsed document elsewhere
            raise _Unsure
        name = self.name(tag)[0]
        if name == "rss":
            return "rss"
        if name == "feed" and tag == "{http://www.w3.org/2005/Atom}feed":
            if _RSS10 in uris or _RSS090 in uris:
                raise _Unsure
            return "atom10"
        if name == "rdf_rdf" and _RSS10 in uris and _ATOM10 not in uris:
            return "rss10"
        raise _Unsure

    def name(self, tag: str) -> tuple[str, bool]:
        """The handler name feedparser would use, and whether it carries a prefix."""
        found = self._cache.get(tag)
        if found is None:
            found = self._cache[tag] = self._name(tag)
        return found

    def _name(self, tag: str) -> tuple[str, bool]:
        if tag[0] != "{":
            return tag.lower(), False
        uri, local = tag[1:].split("}", 1)
        std = _MATCH.get(_userland(uri.lower()))
        qualifier = std if std is not None else (self.unknown.get(uri) or "")
        if not qualifier:
            return local.lower(), False
        qualifier = qualifier.lower()
        return f"{self.namespacemap.get(qualifier, qualifier)}_{local.lower()}", True


def _userland(uri: str) -> str:
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in uri else uri


def _attributes(element: etree._Element) -> dict[str, str]:
    """Attributes named and normalised as feedparser's strict parser does."""
    out: dict[str, str] = {}
    for key, value in element.items():
        if key[0] == "{":
            uri, local = key[1:].split("}", 1)
            prefix = _MATCH.get(uri.lower(), "")
            key = f"{prefix}:{local}" if prefix else local
        key = key.lower()
        out[key] = value.lower() if key in ("rel", "type") else value
    return out


class _Reader:
    """feedparser's element handlers for the keys we read, replayed over an lxml tree.

    State and rules mirror feedparser.mixin and feedparser.namespaces._base (6.0.x); the
    method names follow theirs so the two can be read side by side.
    """

    def __init__(self, names: _Names, version: str) -> None:
        self.names, self.version = names, version
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.source: dict[str, Any] = {}
        self.depth = 0
        self.infeed = self.inentry = self.incontent = self.insource = 0
        self.inimage = self.intextinput = 0
        self.inauthor = self.incontributor = self.inpublisher = 0
        self.has_content = 0
        self.summary_key: str | None = None
        self.title_depth = -1
        self.guidislink = False
        self.contentparams: dict[str, Any] = {}
        self.baseuri = ""
        self.basestack: list[str] = []
        self.depths: dict[int, dict[str, int]] = {}
        self.expect: Any = 1  # the open text element's expecting_text (text elements are leaves)
        self.link_pushed = False

    def read(self, root: etree._Element) -> RawFeed:
        for event, element in etree.iterwalk(root, events=("start", "end")):
            tag = element.tag
            if not isinstance(tag, str):  # comments and processing instructions
                continue
            if event == "start":
                self.start(element, tag)
            else:
                self.end(element, tag)
        for entry in self.entries:
            _finish(entry)
        if isinstance(self.feed.get("title"), LazyHtml):
            self.feed["title"] = self.feed["title"].value()
        return RawFeed(self.feed, self.entries)

    # --- dispatch (mixin.unknown_starttag / unknown_endtag) ---

    def start(self, element: etree._Element, tag: str) -> None:
        self.depth += 1
        attrs = _attributes(element) if element.attrib else {}
        self.track_base(attrs)
        if self.incontent:
            raise _Unsure  # markup inside a text element: feedparser turns it into XHTML
        name, prefixed = self.names.name(tag)
        if not prefixed:
            if name not in ("title", "link", "description", "name"):
                self.intextinput = 0
            if name not in ("title", "link", "description", "url", "href", "width", "height"):
                self.inimage = 0
        handler = _STARTS.get(name)
        if handler is not None:
            handler(self, element, attrs)
        elif name in _COLLIDING:
            raise _Unsure

    def end(self, element: etree._Element, tag: str) -> None:
        handler = _ENDS.get(self.names.name(tag)[0])
        if handler is not None:
            handler(self, element)
        if self.basestack:
            self.basestack.pop()
            if self.basestack and self.basestack[-1]:
                self.baseuri = self.basestack[-1]
        self.depth -= 1

    def track_base(self, attrs: dict[str, str]) -> None:
        given = attrs.get("xml:base", attrs.get("base"))
        if given or self.baseuri:
            base = given or self.baseuri
            if self.baseuri:
                self.baseuri = _safe_absolute(self.baseuri, base) or self.baseuri
            else:
                self.baseuri = _urljoin(self.baseuri, base)
        self.basestack.append(self.baseuri)

    def context(self) -> dict[str, Any]:
        if self.insource:
            return self.source
        if self.inimage and "image" in self.feed:
            return self.feed["image"]
        if self.intextinput:
            return self.feed["textinput"]
        if self.inentry:
            return self.entries[-1]
        return self.feed

    # --- push / pop (mixin.push_content, mixin.pop) ---

    def push_content(self, attrs: dict[str, str], default: str, element: etree._Element) -> None:
        kind = _map_type(attrs.get("type", default))
        if kind not in _TEXT_TYPES or "mode" in attrs or len(element):
            raise _Unsure  # XHTML, base64 or other payloads: feedparser's rules get intricate
        self.incontent += 1
        self.contentparams = {"type": kind}

    def pop_content(self, tag: str, element: etree._Element, expecting: Any = 1) -> Any:
        value = self.pop(tag, element.text or "", expecting)
        self.incontent -= 1
        self.contentparams = {}
        return value

    def pop(self, tag: str, text: str, expecting: Any = 1) -> Any:
        output = text.strip()
        if not expecting:
            return output
        if tag in _RELATIVE and output and (tag != "id" or self.guidislink):
            output = _urljoin(self.baseuri or "", output)
        kind = self.contentparams.get("type")
        guess = not self.version.startswith("atom") and kind == "text/plain"
        if guess and _looks_like_html(output):
            kind = self.contentparams["type"] = "text/html"
        htmlish = _map_type(kind or "text/html") in _HTML_TYPES
        if htmlish and tag in _DANGEROUS:
            value: Any = LazyHtml(output, self.baseuri, kind or "text/html")
        else:
            value = fix_text(output)
        if tag in ("category", "tags", "itunes_keywords"):
            return value
        if tag == "title" and -1 < self.title_depth <= self.depth:
            return value
        self.store(tag, value)
        return value

    def store(self, tag: str, value: Any) -> None:
        if self.inentry and not self.insource:
            self.store_in_entry(tag, value)
        elif self.infeed or self.insource:
            context = self.context()
            tag = "subtitle" if tag == "description" else tag
            if tag == "link":
                value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)
                context["links"][-1]["href"] = value
            context[tag] = value
            if self.incontent and tag != "link":
                context[f"{tag}_detail"] = dict(self.contentparams)

    def store_in_entry(self, tag: str, value: Any) -> None:
        entry = self.entries[-1]
        if tag == "content":
            entry.setdefault("content", []).append({**self.contentparams, "value": value})
        elif tag == "link":
            if not self.inimage:
                value = value.replace("&amp;", "&")
                value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)
                entry["link"] = value
                if value:
                    entry["links"][-1]["href"] = value
        else:
            tag = "summary" if tag == "description" else tag
            depths = self.depths.setdefault(id(entry), {})
            old = depths.get(tag)
            if old is None or self.depth <= old:
                depths[tag] = self.depth
                entry[tag] = value
            if self.incontent:
                entry[f"{tag}_detail"] = dict(self.contentparams)

    def save(self, key: str, value: Any, overwrite: bool = False) -> None:
        if overwrite:
            self.context()[key] = value
        else:
            self.context().setdefault(key, value)

    def expecting(self) -> int:
        return self.infeed or self.inentry or self.insource

    def leaf_text(self, element: etree._Element) -> str:
        if len(element):
            raise _Unsure  # text split by child elements: feedparser's frames decide
        return element.text or ""

    # --- feedparser.namespaces._base handlers, for the keys we read ---

    def start_item(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if self.inentry or "lastmod" in attrs or "href" in attrs:
            raise _Unsure  # nested entries, CDF attributes
        self.entries.append({})
        self.inentry, self.guidislink, self.title_depth = 1, False, -1
        about = attrs.get(self.names.namespacemap.get("rdf", "rdf") + ":about")
        if about:
            self.context()["id"] = about

    def end_item(self, element: etree._Element) -> None:
        self.inentry = self.has_content = 0

    def start_channel(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if "lastmod" in attrs or "href" in attrs:
            raise _Unsure
        self.infeed = 1

    def end_channel(self, element: etree._Element) -> None:
        self.infeed = 0

    def start_image(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if self.inentry:
            raise _Unsure  # an entry's image redirects its title and link in odd ways
        self.context().setdefault("image", {})
        self.inimage, self.title_depth = 1, -1

    def end_image(self, element: etree._Element) -> None:
        self.inimage = 0

    def start_textinput(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if self.inentry:
            raise _Unsure
        self.context().setdefault("textinput", {})
        self.intextinput, self.title_depth = 1, -1

    def end_textinput(self, element: etree._Element) -> None:
        self.intextinput = 0

    def start_itunes_image(self, element: etree._Element, attrs: dict[str, str]) -> None:
        href = attrs.get("href") or attrs.get("url")
        if href:
            self.context()["image"] = {"href": href}

    def start_title(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.push_content(attrs, "text/plain", element)
        self.expect = self.expecting()

    def end_title(self, element: etree._Element) -> None:
        value = self.pop_content("title", element, self.expect)
        if isinstance(value, LazyHtml):
            value = value.value()
        if value:
            self.title_depth = self.depth

    def end_media_title(self, element: etree._Element) -> None:
        title_depth = self.title_depth
        self.end_title(element)
        self.title_depth = title_depth

    def start_description(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(element, attrs)
        else:
            self.push_content(attrs, "text/html", element)
            self.expect = self.expecting()

    def start_abstract(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.push_content(attrs, "text/plain", element)
        self.expect = self.expecting()

    def end_description(self, element: etree._Element) -> None:
        if self.summary_key == "content":
            self.end_content(element)
        else:
            self.pop_content("description", element, self.expect)
        self.summary_key = None

    def start_summary(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(element, attrs)
        else:
            self.summary_key = "summary"
            self.push_content(attrs, "text/plain", element)
            self.expect = 1

    def end_summary(self, element: etree._Element) -> None:
        if self.summary_key == "content":
            self.end_content(element)
        else:
            self.pop_content(self.summary_key or "summary", element, 1)
        self.summary_key = None

    def start_content(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content(attrs, "text/plain", element)
        self.expect = 1

    def start_content_encoded(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content(attrs, "text/html", element)
        self.expect = 1

    def end_content(self, element: etree._Element) -> None:
        copy = _map_type(self.contentparams.get("type", "")) in _TEXT_TYPES | _HTML_TYPES
        value = self.pop_content("content", element, 1)
        if copy:
            self.save("summary", value)

    def start_xhtml_body(self, element: etree._Element, attrs: dict[str, str]) -> None:
        raise _Unsure

    def start_other_content(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.push_content(attrs, "text/plain", element)

    def end_other_content(self, element: etree._Element) -> None:
        self.incontent -= 1
        self.contentparams = {}

    def start_link(self, element: etree._Element, attrs: dict[str, str]) -> None:
        if len(element):
            raise _Unsure
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        context = self.context()
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = _urljoin(self.baseuri or "", attrs["href"])
        links = context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            links.append(dict(attrs))
        self.link_pushed = "href" not in attrs
        if self.link_pushed:
            self.expect = self.expecting()
        elif rel == "alternate" and _map_type(attrs["type"]) in _HTML_TYPES:
            context["link"] = attrs["href"]

    def end_link(self, element: etree._Element) -> None:
        if self.link_pushed:
            self.pop("link", element.text or "", self.expect)

    def start_guid(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        self.leaf_text(element)

    def end_guid(self, element: etree._Element) -> None:
        value = self.pop("id", element.text or "")
        if self.guidislink:
            self.save("link", value)

    def start_author(self, element: etree._Element, attrs: dict[str, str]) -> None:
        for child in element:
            if isinstance(tag := child.tag, str) and not self.plain_author_part(child, tag):
                raise _Unsure
        self.inauthor = 1
        self.context().setdefault("authors", []).append({})

    def plain_author_part(self, child: etree._Element, tag: str) -> bool:
        """name/email/uri, or an empty element no handler reads (Blogger's `gd:image`).

        Any other child could feed its text into the author's own (feedparser keeps one
        text buffer per element it knows, and unknown elements with attributes get none).
        """
        name = self.names.name(tag)[0]
        if name in _AUTHOR_PARTS:
            return True
        return name not in _STARTS and not child.text and not len(child)

    def end_author(self, element: etree._Element) -> None:
        text = (element.text or "") + "".join(child.tail or "" for child in element)
        self.pop("author", text)
        self.inauthor = 0
        self.sync_author_detail()

    def start_contributor(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.incontributor = 1
        self.context().setdefault("contributors", []).append({})

    def end_contributor(self, element: etree._Element) -> None:
        self.incontributor = 0

    def start_dc_contributor(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.start_contributor(element, attrs)
        self.leaf_text(element)

    def end_dc_contributor(self, element: etree._Element) -> None:
        self.end_author_part("name", element)

    def start_leaf(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.leaf_text(element)

    def end_name(self, element: etree._Element) -> None:
        self.end_author_part("name", element)

    def end_email(self, element: etree._Element) -> None:
        self.end_author_part("email", element)

    def end_url(self, element: etree._Element) -> None:
        value = self.pop("href", element.text or "")
        if self.inauthor:
            self.save_author("href", value)

    def end_author_part(self, key: str, element: etree._Element) -> None:
        value = self.pop(key, element.text or "", 0)
        if self.inpublisher:
            self.save_author(key, value, "publisher")
        elif self.inauthor:
            self.save_author(key, value)

    def start_itunes_owner(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.inpublisher = 1

    def end_itunes_owner(self, element: etree._Element) -> None:
        self.inpublisher = 0

    def save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self.context()
        context.setdefault(f"{prefix}_detail", {})[key] = value
        self.sync_author_detail()
        context.setdefault("authors", [{}])[-1][key] = value

    def sync_author_detail(self) -> None:
        context = self.context()
        detail = context.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context["author"] = f"{name} ({email})"
            elif name or email:
                context["author"] = name or email
            return
        author = context.get("author")
        if author:
            _split_author(context, detail, author)

    def end_published(self, element: etree._Element) -> None:
        value = self.pop("published", element.text or "")
        self.save("published_parsed", _parse_date(value), overwrite=True)

    def end_updated(self, element: etree._Element) -> None:
        value = self.pop("updated", element.text or "")
        self.save("updated_parsed", _parse_date(value), overwrite=True)

    def start_source(self, element: etree._Element, attrs: dict[str, str]) -> None:
        self.insource, self.title_depth = 1, -1

    def end_source(self, element: etree._Element) -> None:
        self.insource = 0
        self.source.clear()


def _finish(entry: dict[str, Any]) -> None:
    """Clean the HTML that is read: summary always, content only when the summary is empty."""
    for key in ("title", "summary", "author"):
        if isinstance(entry.get(key), LazyHtml):
            entry[key] = entry[key].value()
    if (entry.get("summary") or "").strip():
        entry.pop("content", None)  # never read then; cleaning it is most of feedparser's time
        return
    for content in entry.get("content", ()):
        if isinstance(content["value"], LazyHtml):
            content["value"] = content["value"].value()


_safe_cache: dict[tuple[str, str], str] = {}


def _safe_absolute(base: str, rel: str) -> str:
    key = (base, rel)
    if key not in _safe_cache:
        if len(_safe_cache) > 1000:
            _safe_cache.clear()
        _safe_cache[key] = make_safe_absolute_uri(base, rel)
    return _safe_cache[key]


_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


def _split_author(context: dict[str, Any], detail: dict[str, Any], author: str) -> None:
    """mixin._sync_author_detail for a one-line author: fills the detail, never `author`."""
    email = None
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


_AUTHOR_PARTS = {"name", "itunes_name", "email", "itunes_email", "url", "uri", "homepage"}
_R = _Reader
_STARTS = {
    "item": _R.start_item, "entry": _R.start_item, "channel": _R.start_channel,
    "feed": _R.start_channel, "image": _R.start_image, "textinput": _R.start_textinput,
    "itunes_image": _R.start_itunes_image, "itunes_link": _R.start_itunes_image,
    "title": _R.start_title, "dc_title": _R.start_title, "media_title": _R.start_title,
    "description": _R.start_description, "dc_description": _R.start_description,
    "media_description": _R.start_description, "abstract": _R.start_abstract,
    "summary": _R.start_summary, "itunes_summary": _R.start_summary,
    "content": _R.start_content, "content_encoded": _R.start_content_encoded,
    "fullitem": _R.start_content_encoded, "body": _R.start_xhtml_body,
    "xhtml_body": _R.start_xhtml_body, "link": _R.start_link, "guid": _R.start_guid,
    "id": _R.start_guid, "author": _R.start_author, "managingeditor": _R.start_author,
    "dc_author": _R.start_author, "dc_creator": _R.start_author,
    "itunes_author": _R.start_author, "contributor": _R.start_contributor,
    "dc_contributor": _R.start_dc_contributor, "itunes_owner": _R.start_itunes_owner,
    "source": _R.start_source,
}  # fmt: skip
for _name in ("rights", "copyright", "dc_rights", "subtitle", "tagline", "itunes_subtitle",
              "info", "feedburner_browserfriendly"):  # fmt: skip
    _STARTS[_name] = _R.start_other_content
for _name in ("name", "itunes_name", "email", "itunes_email", "url", "uri", "homepage",
              "published", "pubdate", "issued", "dcterms_issued", "updated", "modified",
              "lastbuilddate", "dc_date", "dcterms_modified"):  # fmt: skip
    _STARTS[_name] = _R.start_leaf
_ENDS = {
    "item": _R.end_item, "entry": _R.end_item, "channel": _R.end_channel,
    "feed": _R.end_channel, "image": _R.end_image, "textinput": _R.end_textinput,
    "title": _R.end_title, "dc_title": _R.end_title, "media_title": _R.end_media_title,
    "description": _R.end_description, "dc_description": _R.end_description,
    "media_description": _R.end_description, "abstract": _R.end_description,
    "summary": _R.end_summary, "itunes_summary": _R.end_summary,
    "content": _R.end_content, "content_encoded": _R.end_content, "fullitem": _R.end_content,
    "link": _R.end_link, "guid": _R.end_guid, "id": _R.end_guid, "author": _R.end_author,
    "managingeditor": _R.end_author, "dc_author": _R.end_author, "dc_creator": _R.end_author,
    "itunes_author": _R.end_author, "contributor": _R.end_contributor,
    "dc_contributor": _R.end_dc_contributor, "itunes_owner": _R.end_itunes_owner,
    "name": _R.end_name, "itunes_name": _R.end_name, "email": _R.end_email,
    "itunes_email": _R.end_email, "url": _R.end_url, "uri": _R.end_url,
    "homepage": _R.end_url, "published": _R.end_published, "pubdate": _R.end_published,
    "issued": _R.end_published, "dcterms_issued": _R.end_published,
    "updated": _R.end_updated, "modified": _R.end_updated, "lastbuilddate": _R.end_updated,
    "dc_date": _R.end_updated, "dcterms_modified": _R.end_updated, "source": _R.end_source,
}  # fmt: skip
for _name in ("rights", "copyright", "dc_rights", "subtitle", "tagline", "itunes_subtitle",
              "info", "feedburner_browserfriendly"):  # fmt: skip
    _ENDS[_name] = _R.end_other_content
