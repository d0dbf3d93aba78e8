"""The lxml feed reader agrees with feedparser, entry for entry, or steps aside.

Agreement is the whole contract: for any body, `parse_feed` (fast reader first) must give
exactly what `parse_feed(fast=False)` (feedparser alone) gives. The fast reader earns its
keep only if common feeds take it, so that is checked too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import Corpus, now_utc
from bot.errors import FeedParseError
from bot.feeds.fastparse import read_feed
from bot.feeds.parse import parse_feed

REAL_FEEDS = sorted((Path(__file__).parent / "data/real-feeds").glob("*.xml"))  # see SOURCES.md
FEED_URL = "https://news.example/feeds/world.xml"
PUB = format_datetime(datetime(2024, 5, 1, 12, 0, tzinfo=UTC), usegmt=True)


def both(body: bytes):
    """(fast-first result, feedparser-only result), each a ParsedFeed or the error text."""
    out = []
    for fast in (True, False):
        try:
            out.append(parse_feed(body, feed_url=FEED_URL, fast=fast))
        except FeedParseError as exc:
            out.append(f"FeedParseError: {exc}")
    return tuple(out)


def assert_agree(body: bytes) -> None:
    fast, slow = both(body)
    assert fast == slow


def rss(items: str, *, decl: str = "<?xml version='1.0' encoding='utf-8'?>", ns: str = "") -> bytes:
    return (
        f"{decl}<rss version='2.0'{ns}><channel><title>News</title>"
        f"<link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def atom(entries: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        "<title>News</title><link href='https://news.example/'/><id>urn:feed</id>"
        f"{entries}</feed>"
    ).encode()


# -- the real feeds -------------------------------------------------------------------------


@pytest.mark.parametrize("path", REAL_FEEDS, ids=lambda p: p.name)
def test_real_feeds_read_fast_the_same_as_feedparser(path):
    body = path.read_bytes()
    fast, slow = both(body)
    assert isinstance(slow, type(fast)) and fast == slow
    assert slow.entries, "a real feed with no entries proves nothing"


def test_nearly_every_real_feed_takes_the_fast_reader():
    assert len(REAL_FEEDS) == 40
    fast = [p.name for p in REAL_FEEDS if read_feed(p.read_bytes()) is not None]
    assert len(fast) >= 36, f"only {len(fast)} of 40 take the fast reader"


# -- the benchmark's synthetic feeds ---------------------------------------------------------


@pytest.mark.parametrize("feed", range(0, 100, 9))
def test_bench_corpus_feeds_take_the_fast_reader_and_agree(feed):
    corpus, now = Corpus(), now_utc()
    body = corpus.feed_xml(feed, now, corpus.feed_items(feed, now))
    assert read_feed(body) is not None
    fast, slow = both(body)
    assert fast == slow and len(fast.entries) == 50


# -- hostile and odd bodies: whichever reader takes them, the answer is feedparser's --------

ODD_ITEMS = {
    "cdata": "<item><title><![CDATA[Troops <b>sent</b> & more]]></title><guid>a</guid></item>",
    "html_title": "<item><title>&lt;b&gt;Bold&lt;/b&gt; &amp;amp; co</title><guid>a</guid></item>",
    "script": (
        "<item><title>T</title><description>&lt;script&gt;alert(1)&lt;/script&gt;Text"
        "&lt;style&gt;p{}&lt;/style&gt;&lt;iframe src='x'&gt;in&lt;/iframe&gt;</description>"
        "<guid>a</guid></item>"
    ),
    "controls": (
        "<item><title>Bell&#x85;\u0096 ring</title><description>a&#150;b</description></item>"
    ),
    "relative": "<item><title>R</title><link>/world/1?utm_source=x&amp;a=1</link></item>",
    "relative_guid": "<item><title>R</title><guid>/g/1</guid></item>",
    "perma_false": "<item><title>R</title><guid isPermaLink='false'>/g/1</guid></item>",
    "two_descriptions": (
        "<item><title>T</title><description> </description><description>Second</description></item>"
    ),
    "content_first": (
        "<item><title>T</title><content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded>"
        "<description>Short</description></item>"
    ),
    "only_content": (
        "<item><title>T</title><content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded></item>"
    ),
    "dublin_core": (
        "<item><title>T</title><dc:creator>Ann</dc:creator><dc:date>2024-05-01T10:00:00Z</dc:date>"
        "</item>"
    ),
    "author_email": "<item><title>T</title><author>ann@news.example (Ann Lee)</author></item>",
    "media": (
        "<item><media:title>M</media:title><title>T</title><media:group><media:description>"
        "D</media:description></media:group></item>"
    ),
    "mojibake": "<item><title>CafÃ© Ã  la</title></item>",
    "bad_date": (
        f"<item><title>T</title><pubDate>yesterday</pubDate><dc:date>{PUB}</dc:date></item>"
    ),
    "future": "<item><title>T</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>",
    "javascript_link": "<item><title>T</title><link>javascript:alert(1)</link></item>",
    "empty": "<item/><item><title> </title></item>",
    "markup_in_description": "<item><title>T</title><description>a <b>b</b></description></item>",
    "atom_link_in_rss": "<item><title>T</title><atom:link href='https://a.example/x'/></item>",
    "entities": (
        "<item><title>&#8220;Quote&#8221; &#169;</title>"
        "<description>&amp;nbsp;x&amp;foo;</description></item>"
    ),
}
NS = (
    " xmlns:content='http://purl.org/rss/1.0/modules/content/'"
    " xmlns:dc='http://purl.org/dc/elements/1.1/' xmlns:media='http://search.yahoo.com/mrss/'"
    " xmlns:atom='http://www.w3.org/2005/Atom'"
)


@pytest.mark.parametrize("case", sorted(ODD_ITEMS))
def test_odd_rss_items_read_the_same(case):
    assert_agree(rss(ODD_ITEMS[case], ns=NS))


ODD_ENTRIES = {
    "html_title": (
        "<entry><title type='html'>&lt;i&gt;A&lt;/i&gt; &amp;amp; B</title><id>x</id></entry>"
    ),
    "text_title_with_tags": "<entry><title>&lt;i&gt;A&lt;/i&gt;</title><id>x</id></entry>",
    "content_only": (
        "<entry><title>T</title><content type='html'>&lt;p&gt;C&lt;/p&gt;</content></entry>"
    ),
    "content_text": "<entry><title>T</title><content>a &amp;amp; b</content></entry>",
    "summary_then_content": (
        "<entry><title>T</title><summary>S</summary><content type='html'>C</content></entry>"
    ),
    "links": (
        "<entry><title>T</title><link rel='self' href='https://a.example/self'/>"
        "<link href='/rel' type='text/html'/><link rel='enclosure' href='https://a.example/m'/>"
        "</entry>"
    ),
    "author": (
        "<entry><title>T</title><author><name>Ann</name><email>a@b.example</email></author>"
        "<author><name>Bo</name></author></entry>"
    ),
    "id_only": "<entry><title>T</title><id>https://a.example/p/1</id></entry>",
    "xml_base": (
        "<entry xml:base='https://base.example/dir/'><title>T</title><link href='p/1'/>"
        "<id>p/1</id></entry>"
    ),
    "source": (
        "<entry><source><title>Other</title><link href='https://o.example/'/></source>"
        "<title>Mine</title></entry>"
    ),
    "xhtml": (
        "<entry><title>T</title><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
        "<p>X</p></div></content></entry>"
    ),
    "dates": (
        "<entry><title>T</title><updated>2024-05-01T10:00:00+02:00</updated>"
        "<published>2024-04-30</published></entry>"
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_ENTRIES))
def test_odd_atom_entries_read_the_same(case):
    assert_agree(atom(ODD_ENTRIES[case]))


ODD_BODIES = {
    "latin1": "<?xml version='1.0' encoding='iso-8859-1'?><rss version='2.0'><channel>"
    "<item><title>Caf\xe9</title></item></channel></rss>".encode("latin-1"),
    "latin1_undeclared": "<rss version='2.0'><channel><item><title>Caf\xe9</title></item>"
    "</channel></rss>".encode("latin-1"),
    "declared_wrong": "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
    "<item><title>Caf\xe9</title></item></channel></rss>".encode("latin-1"),
    "utf16": "<?xml version='1.0' encoding='utf-16'?><rss version='2.0'><channel><item>"
    "<title>Wide</title></item></channel></rss>".encode("utf-16"),
    "bom": b"\xef\xbb\xbf" + rss("<item><title>BOM</title></item>"),
    "not_well_formed": b"<rss version='2.0'><channel><item><title>A & B</title></item></rss>",
    "atom03": b"<feed version='0.3' xmlns='http://purl.org/atom/ns#'><entry><title>Old</title>"
    b"</entry></feed>",
    "rdf": b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
    b"xmlns='http://purl.org/rss/1.0/'><channel rdf:about='https://r.example/'><title>R</title>"
    b"<link>https://r.example/</link></channel><item rdf:about='https://r.example/1'>"
    b"<title>One &amp;amp; two</title><link>https://r.example/1</link></item></rdf:RDF>",
    "doctype": b"<!DOCTYPE rss PUBLIC '-//Netscape Communications//DTD RSS 0.91//EN' "
    b"'http://my.netscape.com/publish/formats/rss-0.91.dtd'><rss version='0.91'><channel>"
    b"<item><title>Old &amp; new</title></item></channel></rss>",
    "html_page": b"<!doctype html><html><body><p>Not a feed</p></body></html>",
    "uppercase": b"<rss version='2.0'><channel><Item><Title>Caps</Title><PubDate>" + PUB.encode()
    + b"</PubDate></Item></channel></rss>",
    "unknown_root": b"<opml version='2.0'><body/></opml>",
    "prefix_rebound": b"<rss version='2.0' xmlns:x='urn:a'><channel><item><title>T</title>"
    b"<x:title xmlns:x='http://purl.org/dc/elements/1.1/'>DC</x:title></item></channel></rss>",
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ODD_BODIES))
def test_odd_bodies_read_the_same(case):
    assert_agree(ODD_BODIES[case])


@pytest.mark.parametrize("case", ["not_well_formed", "atom03", "doctype", "unknown_root"])
def test_bodies_it_cannot_be_sure_of_are_left_to_feedparser(case):
    assert read_feed(ODD_BODIES[case]) is None


def test_inline_xhtml_is_left_to_feedparser():
    assert read_feed(atom(ODD_ENTRIES["xhtml"])) is None


def test_a_huge_feed_is_trimmed_and_still_agrees():
    items = "".join(f"<item><title>T{i}</title><guid>g{i}</guid></item>" for i in range(3000))
    body = rss(items)
    assert read_feed(body) is not None
    fast, slow = both(body)
    assert fast == slow and len(fast.entries) == 1000


# -- generated text: markup, entities and unicode in every text element ---------------------

PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<b>", "</b>", "<br/>", "<br>", "<a href='/x?a=1&amp;b=2'>", "</a>",
        "<img src='i.png' alt='pic'/>", "<script>x()</script>", "<style>p{}</style>", "<!-- c -->",
        "<div class=\"k\">", "</div>", "<table><tr><td>", "<p/>", "<iframe>f</iframe>",
        "&amp;", "&lt;", "&gt;", "&nbsp;", "&#160;", "&#150;", "&#x2014;", "&copy;", "&foo;",
        "AT&T", "a < b", "x > y", "Q&A", "Ã©", "é", "“”", "部隊", "\u0085", "\t", "\n", "  ",
        "word", "Troops", "CDATA]]", "'", '"',
    ]
)  # fmt: skip
TEXT = st.lists(PIECES | st.text(max_size=8), max_size=12).map("".join)
WIRE = st.sampled_from(["escaped", "cdata"])
FUZZ = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])


def _wire(text: str, how: str) -> str:
    if how == "cdata" and "]]>" not in text:
        return f"<![CDATA[{text}]]>"
    return escape(text)


def _legal(text: str) -> str:
    """XML 1.0 forbids most C0 controls and lone surrogates; feeds that carry them are
    not well formed, which test_odd_bodies covers."""
    return "".join(c for c in text if c in "\t\n\r" or (c >= " " and not "\ud800" <= c <= "\udfff"))


@FUZZ
@given(title=TEXT, summary=TEXT, content=TEXT, how=WIRE)
def test_generated_rss_items_read_the_same(title, summary, content, how):
    title, summary, content = _legal(title), _legal(summary), _legal(content)
    item = (
        f"<item><title>{_wire(title, how)}</title><description>{_wire(summary, how)}"
        f"</description><content:encoded>{_wire(content, how)}</content:encoded>"
        f"<guid>g</guid><pubDate>{PUB}</pubDate></item>"
    )
    assert_agree(rss(item, ns=NS))


@FUZZ
@given(title=TEXT, summary=TEXT, kinds=st.tuples(*[st.sampled_from(["text", "html"])] * 2))
def test_generated_atom_entries_read_the_same(title, summary, kinds):
    title, summary = _legal(title), _legal(summary)
    entry = (
        f"<entry><title type='{kinds[0]}'>{escape(title)}</title><id>urn:1</id>"
        f"<summary type='{kinds[1]}'>{escape(summary)}</summary>"
        "<updated>2024-05-01T10:00:00Z</updated></entry>"
    )
    assert_agree(atom(entry))


def test_dates_agree_and_are_utc():
    body = rss(f"<item><title>T</title><pubDate>{PUB}</pubDate></item>")
    fast, slow = both(body)
    assert fast == slow
    assert fast.entries[0].published == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert fast.entries[0].published - slow.entries[0].published == timedelta(0)
