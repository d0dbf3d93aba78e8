"""Parsing feed bodies: real feeds, stable identities, clean links, and hostile bodies refused."""

from __future__ import annotations

import asyncio
import io
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import pytest

from bot.errors import FeedParseError
from bot.feeds.parse import (
    SUMMARY_MAX,
    TITLE_MAX,
    canonical_url,
    parse_feed,
    refuse_entity_declarations,
)
from bot.workers import parse_feed_async, shutdown_workers

REAL_FEEDS = sorted((Path(__file__).parent / "data/real-feeds").glob("*.xml"))  # see SOURCES.md
FEED_URL = "https://news.example/feeds/world.xml"


def rss(*items: str, head: str = "") -> bytes:
    return (
        f"<?xml version='1.0' encoding='utf-8'?>{head}<rss version='2.0'><channel>"
        f"<title>Example News</title><link>https://news.example/</link>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def item(
    title: str = "Troops sent",
    *,
    guid: str | None = None,
    link: str | None = None,
    description: str = "Body text.",
    pub: str | None = None,
) -> str:
    parts = [f"<title>{title}</title>", f"<description>{description}</description>"]
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if pub is not None:
        parts.append(f"<pubDate>{pub}</pubDate>")
    return f"<item>{''.join(parts)}</item>"


def test_the_real_feed_corpus_is_here():
    assert len(REAL_FEEDS) == 40


@pytest.mark.parametrize("path", REAL_FEEDS, ids=lambda p: p.name)
def test_real_feeds_yield_every_entry_feedparser_finds(path):
    body = path.read_bytes()
    reference = feedparser.parse(io.BytesIO(body))
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert len(parsed.entries) == min(len(reference.entries), 1000)
    assert len({e.identity for e in parsed.entries}) == len(parsed.entries)
    for entry in parsed.entries:
        assert entry.identity.split(":", 1)[0] in ("guid", "link", "hash")
        assert entry.url is None or entry.url.startswith(("http://", "https://"))
        assert entry.published is None or entry.published.tzinfo is UTC
        assert len(entry.title) <= TITLE_MAX and len(entry.summary) <= SUMMARY_MAX
        assert "<p>" not in entry.summary and "<a href" not in entry.summary
    if len(reference.entries) <= 1000:
        written = [f"guid:{e.id.strip()}" for e in reference.entries if e.get("id", "").strip()]
        assert written == [e.identity for e in parsed.entries if e.identity.startswith("guid:")]


async def test_real_feeds_parse_the_same_in_the_worker_process():
    bodies = [path.read_bytes() for path in REAL_FEEDS]
    in_worker = await asyncio.gather(*(parse_feed_async(b, feed_url=FEED_URL) for b in bodies))
    assert list(in_worker) == [parse_feed(b, feed_url=FEED_URL) for b in bodies]


def test_relative_guids_do_not_change_when_the_feed_moves():
    body = rss(
        item("One", guid="/posts/1", link="/posts/1"),
        "<item><title>Two</title><guid isPermaLink='false'>42</guid></item>",
    )
    old = parse_feed(body, feed_url="https://old.example/feed.xml")
    new = parse_feed(body, feed_url="https://new.example/rss")
    assert [e.identity for e in old.entries] == ["guid:/posts/1", "guid:42"]
    assert [e.identity for e in new.entries] == ["guid:/posts/1", "guid:42"]
    assert old.entries[0].url == "https://old.example/posts/1"
    assert new.entries[0].url == "https://new.example/posts/1"


def test_relative_atom_ids_do_not_change_when_the_feed_moves():
    body = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>A</title>"
        b"<entry><id>entry-7</id><title>Seven</title><link href='seven.html'/>"
        b"<updated>2025-06-01T10:00:00Z</updated></entry></feed>"
    )
    one = parse_feed(body, feed_url="https://a.example/blog/atom.xml")
    two = parse_feed(body, feed_url="https://b.example/atom")
    assert one.entries[0].identity == two.entries[0].identity == "guid:entry-7"
    assert one.entries[0].url == "https://a.example/blog/seven.html"


@pytest.mark.parametrize(
    ("link", "canonical"),
    [
        (
            "https://News.Example/a/B?id=7&utm_source=rss&utm_medium=feed#top",
            "https://news.example/a/B?id=7",
        ),
        ("http://x.example/p?fbclid=abc&x=1&gclid=zz&mc_cid=1&mc_eid=2", "http://x.example/p?x=1"),
        (
            "https://www.bbc.co.uk/news/a-1?at_medium=RSS&at_campaign=rss&ns_source=x&p=2",
            "https://www.bbc.co.uk/news/a-1?p=2",
        ),
        ("https://x.example/a?cmpid=rss&smid=nytcore&WT.mc_id=z&ocid=f", "https://x.example/a"),
        ("https://x.example/a?ref=rss&at=1&item=3", "https://x.example/a?ref=rss&at=1&item=3"),
        ("HTTP://X.EXAMPLE:80", "http://x.example/"),
        ("https://x.example:8443/p?q=a%20b&UTM_Campaign=z", "https://x.example:8443/p?q=a%20b"),
        ("https://x.example/p?utmost=1&page=2", "https://x.example/p?utmost=1&page=2"),
        ("  https://x.example/p  ", "https://x.example/p"),
        ("https://[2001:DB8::1]/p", "https://[2001:db8::1]/p"),
    ],
)
def test_canonical_url_drops_tracking_and_keeps_the_rest(link, canonical):
    assert canonical_url(link) == canonical


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "mailto:desk@news.example",
        "/relative/only",
        "https://",
        "http://[::1",
        "",
        None,
    ],
)
def test_canonical_url_refuses_non_web_links(link):
    assert canonical_url(link) is None


def test_a_link_names_the_host_it_goes_to_and_carries_no_password():
    """Chat shows a link's URL on hover, and the console prints it: one that reads as Reuters
    must not go to evil.example, and a feed's credentials must not reach a channel."""
    body = rss(
        item("Spoof", guid="g1", link="https://reuters.com@evil.example/world/x"),
        item("Secret", guid="g2", link="https://desk:s3cret@feeds.news.example:8443/a?id=1"),
    )
    entries = parse_feed(body, feed_url=FEED_URL).entries
    assert [e.url for e in entries] == [
        "https://evil.example/world/x",
        "https://feeds.news.example:8443/a?id=1",
    ]


def test_a_readers_complaint_quotes_the_body_without_its_control_characters():
    """feedparser's warning quotes the declared encoding, which is the feed's to write: it
    went to the log, and a terminal, with its escape sequences."""
    body = rss(item("Troops", guid="g1")).replace(b"<?xml version='1.0' encoding='utf-8'?>", b"")
    declared = b"<?xml version='1.0' encoding='\x1b]0;pwned\x07\x1b[2Jx'?>" + body
    parsed = parse_feed(declared, feed_url=FEED_URL)
    assert parsed.warning and "pwned" in parsed.warning
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", parsed.warning), parsed.warning


def test_javascript_links_are_dropped_from_entries():
    body = rss(
        item("Click", guid="g1", link="javascript:alert(1)"), item("Data", link="data:text/html,hi")
    )
    entries = parse_feed(body, feed_url=FEED_URL).entries
    assert [e.url for e in entries] == [None, None]
    assert entries[0].identity == "guid:g1"


def _entity_bomb() -> bytes:
    """RELIABILITY.md's case: one 50 KB entity used 20,000 times (1e9 chars once expanded)."""
    value = "A" * 50_000
    uses = "&big;" * 20_000
    return (
        f"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY big \"{value}\">]>"
        f"<rss version='2.0'><channel><title>{uses}</title>{item()}</channel></rss>"
    ).encode()


def test_entity_bomb_is_refused_fast():
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="declares XML entities"):
        parse_feed(_entity_bomb(), feed_url=FEED_URL)
    assert time.monotonic() - started < 0.5


async def test_entity_bomb_is_refused_fast_in_the_worker():
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="declares XML entities"):
        await parse_feed_async(_entity_bomb(), feed_url=FEED_URL)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "body",
    [
        rss(item(), head="<!DOCTYPE rss [<!entity x 'y'>]>"),
        rss(item(), head="<!DOCTYPE rss SYSTEM '<a' [<!ENTITY x 'y'>]>"),
        rss(item(), head="<!-- <a> --><!DOCTYPE rss [<!ENTITY x 'y'>]>"),
        rss(item(), head="<!DOCTYPE rss [<!ENTITY x 'y'>]>").decode().encode("utf-16"),
        rss(item(), head="<!DOCTYPE rss [<!ENTITY x 'y'>]>").decode().encode("utf-16-le"),
    ],
    ids=["lowercase", "after-lt-in-literal", "after-comment", "utf-16-bom", "utf-16-le"],
)
def test_entity_declarations_are_refused_however_hidden(body):
    with pytest.raises(FeedParseError, match="declares XML entities"):
        refuse_entity_declarations(body)


def test_entity_declaration_text_inside_cdata_is_just_text():
    body = rss(item(description="<![CDATA[How to write <!ENTITY x 'y'> in a DTD]]>"))
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert "<!ENTITY" in parsed.entries[0].summary or "ENTITY" in parsed.entries[0].summary


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not a feed: the body is empty"),
        (b"  \n\t ", "not a feed: the body is empty"),
        (
            b"<!DOCTYPE html><html><head><title>Hi</title></head><body>x</body></html>",
            "not a feed: looks like an HTML page",
        ),
        (
            b"\n<html lang='en'><body><p>Welcome</p></body></html>",
            "not a feed: looks like an HTML page",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
            "not a feed: looks like JSON",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "not a feed: looks like binary"),
        (
            b"<?xml version='1.0'?><config><item>1</item></config>",
            "not a feed: XML without RSS or Atom",
        ),
        (b"just some words, nothing else", "not a feed"),
        (b"/etc/passwd", "not a feed"),
    ],
    ids=["empty", "blank", "html", "html-no-doctype", "json", "png", "xml", "text", "a-path"],
)
def test_junk_bodies_are_refused_with_a_clear_message(body, message):
    with pytest.raises(FeedParseError, match=f"^{message}"):
        parse_feed(body, feed_url=FEED_URL)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"/etc/passwd", "line 1, column 1 (invalid token)"),
        (b"just some words, nothing else", "line 1, column 1 (syntax error)"),
        (b'<?xml version="1.0"?>\n<<feed>', "line 2, column 2 (invalid token)"),
        (b"<rss>\n<channel>\n \x01</channel></rss>", "line 3, column 2 (invalid token)"),
    ],
    ids=["a-path", "words", "declared", "a-control-character"],
)
def test_a_body_that_is_not_xml_says_where_in_words_a_moderator_reads(body, message):
    # It said "not a feed: <unknown>:2:0: not well-formed (invalid token)": a file name of
    # nothing, and a line one past the body's own (feedparser's added declaration).
    with pytest.raises(FeedParseError) as exc:
        parse_feed(body, feed_url=FEED_URL)
    assert str(exc.value) == f"not a feed: not well-formed XML at {message}"


def test_a_body_that_names_a_local_feed_file_is_not_read_from_disk(tmp_path):
    """feedparser.parse(bytes) opens a file when the bytes are a path: a feed body that
    names a feed on this machine must be refused as text, its file never read."""
    local = tmp_path / "secret.xml"
    local.write_bytes(rss(item("from a local file")))
    assert parse_feed(local.read_bytes(), feed_url=FEED_URL).entries  # it is a feed
    with pytest.raises(FeedParseError, match="^not a feed"):
        parse_feed(str(local).encode(), feed_url=FEED_URL)


def test_a_valid_feed_with_no_items_is_empty_not_an_error():
    parsed = parse_feed(rss(), feed_url=FEED_URL)
    assert parsed.entries == ()
    assert parsed.title == "Example News"
    assert parsed.link == "https://news.example/"


def test_broken_feed_that_still_has_entries_is_kept_with_a_warning():
    body = rss(item("Troops & tanks", guid="a"), item("Second", guid="b")).replace(
        b"</channel>", b"<unclosed></channel>"
    )
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert [e.identity for e in parsed.entries] == ["guid:a", "guid:b"]
    assert parsed.entries[0].title == "Troops & tanks"
    assert parsed.warning


def test_duplicate_guids_keep_the_first():
    """The same words under one guid are one entry; other words under it are kept for the
    pipeline to tell apart (another report, or the first reworded: tests/test_shared_guids)."""
    body = rss(
        item("First", guid="same"),
        item("Other", guid="other"),
        item("First ", guid="same"),
        item("Again", guid="same"),
    )
    entries = parse_feed(body, feed_url=FEED_URL).entries
    assert [(e.identity.split(" ~")[0], e.title) for e in entries] == [
        ("guid:same", "First"),
        ("guid:other", "Other"),
        ("guid:same", "Again"),
    ]
    assert entries[2].identity.startswith("guid:same ~")


def test_missing_guid_falls_back_to_the_canonical_link():
    body = rss(item(link="https://news.example/story?id=3&utm_source=rss#comments"))
    again = rss(item(link="https://NEWS.example/story?id=3&utm_campaign=x"))
    first = parse_feed(body, feed_url=FEED_URL).entries[0]
    assert first.identity == "link:https://news.example/story?id=3"
    assert first.url == "https://news.example/story?id=3"
    assert parse_feed(again, feed_url=FEED_URL).entries[0].identity == first.identity


def test_no_guid_and_no_link_falls_back_to_a_content_hash():
    one = parse_feed(rss(item("Alpha", description="a")), feed_url=FEED_URL).entries[0]
    same = parse_feed(rss(item("Alpha", description="a")), feed_url="https://x.example/").entries
    other = parse_feed(rss(item("Alpha", description="b")), feed_url=FEED_URL).entries[0]
    assert one.identity.startswith("hash:")
    assert same[0].identity == one.identity
    assert other.identity != one.identity


def test_dates_become_aware_utc_and_future_ones_are_dropped():
    soon = format_datetime(datetime.now(UTC) + timedelta(hours=2))
    later = format_datetime(datetime.now(UTC) + timedelta(days=3))
    body = rss(
        item("a", guid="a", pub="Sun, 01 Jun 2025 15:30:00 +0530"),
        item("b", guid="b", pub=soon),
        item("c", guid="c", pub=later),
        item("d", guid="d"),
        item("e", guid="e", pub="not a date"),
    )
    dates = [e.published for e in parse_feed(body, feed_url=FEED_URL).entries]
    assert dates[0] == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert dates[1] is not None and dates[1].tzinfo is UTC
    assert dates[2:] == [None, None, None]


def test_updated_is_used_when_published_is_missing():
    body = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>A</title><entry><id>1</id>"
        b"<title>t</title><updated>2025-06-01T10:00:00-04:00</updated></entry></feed>"
    )
    entry = parse_feed(body, feed_url=FEED_URL).entries[0]
    assert entry.published == datetime(2025, 6, 1, 14, 0, tzinfo=UTC)


def test_entry_cap_keeps_the_newest_in_document_order():
    days = [3, 9, 1, 7, 5]
    body = rss(*(item(f"day {d}", guid=f"g{d}", pub=f"0{d} Jun 2025 12:00:00 GMT") for d in days))
    entries = parse_feed(body, feed_url=FEED_URL, max_entries=3).entries
    assert [e.title for e in entries] == ["day 9", "day 7", "day 5"]


def test_titles_and_summaries_are_plain_text():
    body = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>A</title><entry><id>1</id>"
        b"<title type='html'>&lt;b&gt;Bold&lt;/b&gt; &amp;amp; co</title>"
        b"<content type='html'>&lt;p&gt;First para.&lt;/p&gt;&lt;p&gt;Second "
        b"&lt;a href='https://x.example/'&gt;link&lt;/a&gt;.&lt;/p&gt;</content>"
        b"</entry></feed>"
    )
    entry = parse_feed(body, feed_url=FEED_URL).entries[0]
    assert entry.title == "Bold & co"
    assert entry.summary == "First para.\nSecond link."


def test_plain_text_titles_keep_angle_brackets_as_text():
    """Chat markup in a title stays literal text here; adapters escape it at the last step."""
    entry = parse_feed(rss(item("&lt;!channel&gt; alert", guid="1")), feed_url=FEED_URL).entries[0]
    assert entry.title == "<!channel> alert"


def test_plain_text_titles_lose_what_no_reader_sees():
    # Swept from HTML but not from plain text: "Is\u00adrael" was shown with its soft
    # hyphen and matched as two words; a right-to-left override reversed what followed.
    title = "North\u200bKorea sends Is\u00adrael\ufeff troops \u202eleft"
    entry = parse_feed(rss(item(title, guid="1")), feed_url=FEED_URL).entries[0]
    assert entry.title == "NorthKorea sends Israel troops left"


def test_long_titles_and_summaries_are_capped():
    entry = parse_feed(
        rss(item("word " * 200, guid="1", description="text " * 2000)), feed_url=FEED_URL
    ).entries[0]
    assert len(entry.title) <= TITLE_MAX and entry.title.endswith("…")
    assert len(entry.summary) <= SUMMARY_MAX and entry.summary.endswith("…")


async def test_a_parse_over_the_deadline_is_stopped_and_the_next_parse_works():
    body = max(REAL_FEEDS, key=lambda p: p.stat().st_size).read_bytes()
    await parse_feed_async(body, feed_url=FEED_URL)  # warm: time the parse, not the start-up
    # A deadline of 0: with a small one, a busy machine could deliver the result first.
    with pytest.raises(FeedParseError, match="parse took longer than 0 s"):
        await parse_feed_async(body, feed_url=FEED_URL, timeout=0)
    parsed = await parse_feed_async(body, feed_url=FEED_URL)
    assert parsed.entries


async def test_parser_restarts_after_shutdown():
    body = rss(item(guid="1"))
    assert (await parse_feed_async(body, feed_url=FEED_URL)).entries
    shutdown_workers()
    assert (await parse_feed_async(body, feed_url=FEED_URL)).entries
    shutdown_workers()


@pytest.mark.parametrize("ref", ["&#xD800;", "&#xdfff;", "&#1114112;", "&#99999999999;"])
def test_a_reference_to_no_character_loses_neither_its_item_nor_the_feed(ref):
    # feedparser raised on the whole feed for one of these in one title: every item was lost.
    body = rss(
        item(f"Troops sent {ref} north", guid="bad"),
        item("Ships sent &#233;ast", guid="good"),
    )
    parsed = parse_feed(body, feed_url="https://wire.example/rss")
    assert [e.title for e in parsed.entries] == ["Troops sent \ufffd north", "Ships sent éast"]


def test_html5_named_references_read_as_written_raw_or_in_escaped_html():
    # feedparser's sanitizer knows HTML 4's names only: "A&check;B" came out "A&checkB".
    body = rss(
        item(
            "Troops &check; sent &lbrack;1&rbrack; AT&amp;T",
            guid="g",
            description="&lt;p&gt;A&amp;check;B &amp;hellip; &amp;amp; &amp;ZeroWidthSpace;C"
            "&lt;/p&gt;",
        )
    )
    [entry] = parse_feed(body, feed_url=FEED_URL).entries
    assert entry.title == "Troops ✓ sent [1] AT&T"
    assert entry.summary == "A✓B … & C"
