"""Hostile feeds through a real poll: refused quickly, the reason recorded, nothing else hurt.

Every feed here is served over real HTTP on 127.0.0.1 and polled by the real pipeline next to
a good feed on another server. What must hold for each: the poll ends in bounded time, the
feed's `last_error` (as `wirewatch feeds --json` shows it) says what was wrong, nothing
crashes, the good feed still alerts once, and polling again alerts nothing new. Parse-level
refusals already covered in test_parse.py are not repeated; the readings of a body that
could still smuggle an entity declaration past the refusal are.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
import zlib
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import brotli
import pytest
from aiohttp import web

from bot.cli import main
from bot.errors import FeedParseError
from bot.feed_store import list_feeds
from bot.feeds.parse import parse_feed
from bot.poll_cycle import poll_once
from bot.settings import load_settings
from bot.workers import parse_feed_async
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, recent

GOOD_TITLE = "Poland deploys 2,000 troops to the Belarus border"
FEED_URL = "https://news.example/rss"
ENTITIES = "refused: the feed declares XML entities"
TOO_BIG = "body larger than 15 MiB"
TIMED_OUT = "timed out after 2 s"


def rss(items: str = "", *, head: str = "", decl: str = "<?xml version='1.0'?>") -> str:
    return f"{decl}{head}<rss version='2.0'><channel><title>Wire</title>{items}</channel></rss>"


def item(title: str, guid: str | None = None, link: str | None = None, extra: str = "") -> str:
    parts = [f"<title>{title}</title>", f"<description>{title}.</description>", extra]
    if "pubDate" not in extra:
        parts.append(f"<pubDate>{recent()}</pubDate>")
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    return f"<item>{''.join(parts)}</item>"


def quadratic_bomb() -> bytes:
    """RELIABILITY.md: one 50 KB entity used 20,000 times, 110 KB on the wire, 1e9 chars."""
    head = f'<!DOCTYPE rss [\n<!ENTITY e "{"x" * 50_000}">\n]>\n'
    return rss(f"<item><title>{'&e;' * 20_000}</title><guid>q</guid></item>", head=head).encode()


def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    head = "<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n"
    return rss(item("&lol9;", guid="b"), head=head).encode()


def _compressed(encoding: str, size: int = 40 * 2**20) -> bytes:
    data = b" " * size
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6)
    if encoding == "deflate":
        return zlib.compress(data, 6)
    return brotli.compress(data, quality=1)


def many_items(n: int) -> bytes:
    body = "".join(
        f"<item><title>Bakery {i} wins a prize</title><guid>b{i}</guid></item>" for i in range(n)
    )
    return rss(body).encode()


async def _endless(request: web.Request) -> web.StreamResponse:
    """A feed that never ends, as fast as the socket takes it."""
    response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
    await response.prepare(request)
    chunk = (item("Endless", guid="e") * 2000).encode()
    with suppress(ConnectionError, RuntimeError):
        while True:
            await response.write(chunk)
    return response


async def _silent(request: web.Request) -> web.StreamResponse:
    """Accepts the request and never answers."""
    await asyncio.sleep(60)
    return web.Response(text="too late")


# (name, how to serve it, what `last_error` must say; None means the feed is fine)
def _hostile(server: FeedServer) -> list[tuple[str, str | None]]:
    def serve(name: str, body: bytes | str, **kwargs) -> str:
        server.serve(f"/{name}", body, **kwargs)
        return name

    def compressed(name: str, encoding: str) -> str:
        return serve(name, _compressed(encoding), headers={"Content-Encoding": encoding})

    server.handle("/endless", _endless)
    server.handle("/silent", _silent)
    server.redirect("/loop-a", "/loop-b")
    server.redirect("/loop-b", "/loop-a")
    return [
        (serve("quadratic-bomb", quadratic_bomb()), ENTITIES),
        (serve("billion-laughs", billion_laughs()), ENTITIES),
        (compressed("gzip-bomb", "gzip"), TOO_BIG),
        (compressed("deflate-bomb", "deflate"), TOO_BIG),
        (compressed("brotli-bomb", "br"), TOO_BIG),
        ("endless", TOO_BIG),
        (serve("slow-drip", rss(item("Drip", guid="d") * 5000), drip=(512, 0.2)), TIMED_OUT),
        ("silent", TIMED_OUT),
        ("loop-a", "too many redirects"),
        (serve("html", "<!DOCTYPE html><html><body>Moved</body></html>"), "looks like an HTML"),
        (serve("json", '{"items": [{"title": "x"}]}'), "looks like JSON"),
        (serve("empty", b""), "the body is empty"),
        (serve("not-xml", b"<rss>\n<< later"), "not well-formed XML at line 2, column 2"),
        (serve("binary", bytes(range(256)) * 64), "looks like binary data"),
        (serve("missing", b"", status=404), "answered HTTP 404"),
        (serve("200k-items", many_items(200_000)), None),
    ]


def _config(tmp_path: Path, feeds: list[tuple[str, str]], *, vectors: bool = True) -> Path:
    lines = [
        f"database: {tmp_path / 'w.db'}",
        "articles: {fetch: false}",
        *([] if vectors else ["sentence_vectors: false"]),
        "network: {timeout: 2s}",
        "feeds:",
        *(f"  - {{name: {name}, url: '{url}'}}" for name, url in feeds),
        "subscriptions:",
        "  - {topic: troop-deployments, channel: console}",
    ]
    path = tmp_path / "wirewatch.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


async def _feeds_json(config: Path, capfd) -> dict[str, dict]:
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config), "--json"]) == 0
    return {r["name"]: r for r in map(json.loads, capfd.readouterr().out.splitlines())}


@pytest.mark.usefixtures("own_heap")
@pytest.mark.slow
async def test_hostile_feeds_fail_clearly_and_leave_the_good_feed_alone(
    tmp_path, feed_server, capfd
):
    hostile = _hostile(feed_server)
    async with FeedServer() as good:
        good.serve("/rss", rss(item(GOOD_TITLE, guid="good-1")))
        feeds = [(name, feed_server.url(f"/{name}")) for name, _ in hostile]
        config = _config(tmp_path, [*feeds, ("Good", good.url("/rss"))])
        async with console_runtime(load_settings(config)) as (rt, console):
            started = time.monotonic()
            results, _ = await poll_once(rt)
            elapsed = time.monotonic() - started
            again, _ = await poll_once(rt)
            stored = {
                r["name"]: r["n"]
                for r in rt.db.query(
                    "SELECT feeds.name, count(items.id) AS n FROM feeds "
                    "LEFT JOIN items ON items.feed_id = feeds.id GROUP BY feeds.id"
                )
            }
    assert elapsed < 20, f"one poll over the hostile feeds took {elapsed:.1f} s"
    crashed = [r for r in results + again if r.error and r.error.startswith("internal error")]
    assert crashed == []
    assert [a["title"] for a in console.alerts()] == [GOOD_TITLE]  # once, not again next poll
    rows = await _feeds_json(config, capfd)
    wrong = []
    for name, expected in hostile:
        error = rows[name]["last_error"]
        if expected is None and error is not None:
            wrong.append(f"{name}: expected no error, got {error!r}")
        elif expected is not None and (error is None or expected not in error):
            wrong.append(f"{name}: expected {expected!r} in last_error, got {error!r}")
        elif expected is not None and (rows[name]["failures"] != 2 or stored[name] != 0):
            wrong.append(f"{name}: failures={rows[name]['failures']} items={stored[name]}")
    assert wrong == [], "\n".join(wrong)
    assert stored["200k-items"] == 1000  # capped, and capped the same way on the second poll
    assert rows["Good"]["last_error"] is None and rows["Good"]["items"] == 1


async def _max_lag_while(work, tick: float = 0.02) -> tuple[float, float]:
    """Run `work` while a ticker measures how late the event loop wakes it; (max lag, seconds)."""
    lag, _, elapsed = await _stalls_while(work, tick)
    return lag, elapsed


async def _stalls_while(work, tick: float = 0.02) -> tuple[float, float, float]:
    """Run `work` while a ticker measures how late the event loop wakes it: (max lag, the
    most CPU the loop's thread spent in one tick's wait, seconds). The second is our own
    stall: on a loaded machine the wall-clock lag also holds the time the system gave the
    CPU to other processes (a flood test read 0.82 s of lag beside two pytest processes,
    the loop's thread busy 0.08 s of it)."""
    lags: list[float] = []
    busy: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(tick)
            lags.append(time.monotonic() - before - tick)
            busy.append(time.thread_time() - cpu)

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        await work
    finally:
        elapsed = time.monotonic() - started
        done.set()
        await task
    return max(lags), max(busy), elapsed


def slow_to_parse() -> bytes:
    """No entities, no size excess: just markup that costs feedparser's sanitizer seconds.

    The script tags keep it off the fast reader's plain-HTML path (bot.feeds.sanitize), so
    the sanitizer runs whichever reader takes the feed.
    """
    description = "&lt;p&gt;word &lt;script&gt;x&lt;/script&gt; " * 70_000
    return rss(
        item("Slow", guid="s", extra=f"<content>{description}</content>").replace(
            "<description>Slow.</description>", f"<description>{description}</description>"
        )
    ).encode()


@pytest.mark.usefixtures("own_heap")
@pytest.mark.slow
async def test_the_event_loop_stays_responsive_while_a_pathological_feed_is_parsed():
    await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url=FEED_URL)  # warm
    body = slow_to_parse()
    lag, elapsed = await _max_lag_while(parse_feed_async(body, feed_url=FEED_URL))
    assert elapsed > 0.8, "the body was meant to take a while to parse; make it slower"
    assert lag < 0.5, f"the event loop stalled {lag:.2f} s during a {elapsed:.1f} s parse"


@pytest.mark.usefixtures("own_heap")
@pytest.mark.slow
async def test_the_event_loop_stays_responsive_while_200k_items_are_polled(tmp_path, feed_server):
    feed_server.serve("/big", many_items(200_000))
    config = _config(tmp_path, [("Big", feed_server.url("/big"))])
    async with console_runtime(load_settings(config)) as (rt, _):
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url=FEED_URL)
        lag, elapsed = await _max_lag_while(poll_once(rt))
        stored = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert stored == 1000
    # Chat commands must be answered within 3 s; the parse is off the loop and storing takes
    # turns with it (tests/test_poll_turns.py holds a poll to a tighter bound).
    assert lag < 1.5, f"the event loop stalled {lag:.2f} s while polling ({elapsed:.1f} s)"


def _reports(n: int, when: str) -> bytes:
    body = "".join(
        f"<item><title>Country {i} sends troops to the border of region {i}</title>"
        f"<guid>r{i}</guid><description>Officials said {when} that about {i} soldiers were "
        "moved near the frontier after weeks of tension, the defence ministry said.</description>"
        "</item>"
        for i in range(n)
    )
    return rss(body).encode()


@pytest.mark.usefixtures("own_heap")
async def test_the_event_loop_stays_responsive_while_a_feed_rewrites_all_it_has(
    tmp_path, feed_server
):
    """A feed that rewrites its 1,000 entries at once (a new summary style) is decided and
    stored a chunk at a time: it held the loop 0.66 s in one go before, now 0.02-0.05 s
    (also with another test process on the 2 cores). Read, matched and stored in one go
    today (re-created by hand) it holds the loop 0.31-0.46 s, which the 0.5 s this test
    allowed let pass. Judged by the loop thread's CPU in one tick's wait (`_stalls_while`),
    not its wall-clock lag, which on a loaded machine holds other processes' time too: fixed
    0.04-0.05 s beside two pytest processes, the one-go rewrite 0.27-0.32 s. No sentence
    vectors: a quiet rewrite keeps each item's own, and computing them for the first poll
    was a third of the test's time."""
    feed_server.serve("/f", _reports(1000, "on Monday"))
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\nsentence_vectors: false\n"
        f"feeds:\n  - {{name: F, url: '{feed_server.url('/f')}'}}\n",
        encoding="utf-8",
    )
    async with console_runtime(load_settings(config)) as (rt, _):
        await poll_once(rt)
        feed_server.serve("/f", _reports(1000, "late on Monday"))
        lag, busy, elapsed = await _stalls_while(poll_once(rt))
        rewritten = rt.db.execute(
            "SELECT count(*) FROM items WHERE summary LIKE '%late on Monday%'"
        ).fetchone()[0]
    assert rewritten == 1000  # nothing of the rewrite is lost by storing it in chunks
    assert busy < 0.15, f"the event loop was busy {busy:.2f} s at once while a rewrite was decided"
    assert lag < 3.0, f"the event loop stalled {lag:.2f} s while a rewrite was decided"


# -- entity declarations however they are hidden ------------------------------------------------

_VALUE = "x" * 5000
_USES = "&big;" * 2000
_DOC = f"<rss version='2.0'><channel><title>{_USES}</title>{item('t', guid='g')}</channel></rss>"


def _escaped(text: str) -> bytes:
    return "".join(f"\\x{ord(c):02x}" if c in "<!" else c for c in text).encode()


HIDDEN = {
    # feedparser decodes with whatever codec the declaration names, ASCII-hostile ones too
    "unicode_escape": b"<?xml version='1.0' encoding='unicode_escape'?>"
    + _escaped(f'<!DOCTYPE rss [<!ENTITY big "{_VALUE}">]>{_DOC}'),
    "utf-7": b"<?xml version='1.0' encoding='utf-7'?>\n<!DOCTYPE rss [\n+ADwAIQ-ENTITY big \""
    + _VALUE.encode()
    + b'">\n]>\n'
    + _DOC.encode(),
    "cp500-ebcdic": "<?xml version='1.0' encoding='cp500'?>".encode("cp500")
    + f'<!DOCTYPE rss [<!ENTITY big "{_VALUE}">]>{_DOC}'.encode("cp500"),
    # a comment holding "<![CDATA[" must not make the real declaration after it look like text
    "cdata-in-comment": (
        f"<?xml version='1.0'?>\n<!-- <![CDATA[ -->\n<!DOCTYPE rss [\n"
        f'<!ENTITY big "{_VALUE}">\n]>\n<!-- ]]> -->\n{_DOC}'
    ).encode(),
    "cdata-in-literal": (
        f"<?xml version='1.0'?><!-- <a> --><!DOCTYPE rss SYSTEM \"<![CDATA[\" "
        f'[<!ENTITY big "{_VALUE}]]>">]>{_DOC}'
    ).encode(),
}


@pytest.mark.parametrize("body", HIDDEN.values(), ids=HIDDEN.keys())
def test_entity_declarations_hidden_from_a_byte_search_are_still_refused(body):
    with pytest.raises(FeedParseError, match=ENTITIES):
        parse_feed(body, feed_url=FEED_URL)


def test_the_quadratic_bomb_is_refused_before_any_parsing():
    body = quadratic_bomb()
    assert 100_000 < len(body) < 120_000  # the size RELIABILITY.md measured 3 GB and 22 s with
    started = time.monotonic()
    with pytest.raises(FeedParseError, match=ENTITIES):
        parse_feed(body, feed_url=FEED_URL)
    assert time.monotonic() - started < 0.5


async def test_external_dtds_and_entities_are_never_fetched(connection_counter):
    target = connection_counter.url("/evil.dtd")
    external_dtd = rss(item("Fine", guid="f"), head=f'<!DOCTYPE rss SYSTEM "{target}">')
    parsed = await parse_feed_async(external_dtd.encode(), feed_url=FEED_URL)
    assert [e.title for e in parsed.entries] == ["Fine"]
    external_entity = rss(
        item("&ext;", guid="x"), head=f'<!DOCTYPE rss [<!ENTITY ext SYSTEM "{target}">]>'
    )
    with pytest.raises(FeedParseError, match=ENTITIES):
        await parse_feed_async(external_entity.encode(), feed_url=FEED_URL)
    assert connection_counter.accepted == 0


@pytest.mark.parametrize(
    "raw",
    ["A&#x1b;[2J B", "A\x1b[31m B", "A&#0; B", "A&#x7f; B", "A\x07 B", "A\u202e B", "A&#x2067; B"],
    ids=["esc-ref", "esc-raw", "nul-ref", "del-ref", "bell-raw", "rlo-raw", "rli-ref"],
)
def test_control_characters_never_reach_titles_or_summaries(raw):
    # A bidi override left open in a headline reverses what a chat client shows after it.
    body = rss(item(raw, guid="c")).encode()
    entry = parse_feed(body, feed_url=FEED_URL).entries[0]
    bidi = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    for text in (entry.title, entry.summary):
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)
        assert not any(ord(c) in bidi for c in text), repr(text)
        assert text.startswith("A") and "B" in text


def flood(n: int) -> bytes:
    """A wire dumping `n` fresh reports that all match, as a broken or hostile feed might."""
    items = "".join(
        item(f"Poland deploys {1000 + i} more troops to the Belarus border", guid=f"f{i}")
        for i in range(n)
    )
    return rss(items).encode()


@pytest.mark.usefixtures("own_heap")
@pytest.mark.slow
async def test_the_event_loop_stays_responsive_while_a_flood_is_stored_and_sent(
    tmp_path, feed_server
):
    """No sentence vectors: the worker's time for them was a third of the test's, and the
    loop's share of them is taken in the same turns as the rest of storing."""
    feed_server.serve("/flood", flood(1000))
    config = _config(tmp_path, [("Flood", feed_server.url("/flood"))], vectors=False)
    async with console_runtime(load_settings(config)) as (rt, console):
        await parse_feed_async(b"<rss version='2.0'><channel/></rss>", feed_url=FEED_URL)
        lag, busy, elapsed = await _stalls_while(poll_once(rt))
    assert len(console.alerts()) == 1000
    # What a user needs, with margin: a chat command answered within Slack's 3 s. Not the
    # target (stalls stay well under 0.5 s; `python -m bench.stall` measures them), because
    # a loaded machine doubles every stall and a tight timed test is a flaky one. Read:
    # 0.06 s, 0.09 with another test process on the 2 cores; the flood stored in one
    # transaction (re-created by hand) 1.24-1.30 s, which the 2 s this test allowed let pass.
    # Judged by the loop thread's CPU in one tick's wait (`_stalls_while`): the wall-clock
    # lag read 0.82 s beside two pytest processes; the loop's CPU fixed 0.03-0.06 s, the
    # flood stored in one transaction 1.19-2.07 s. The lag's bound is Slack's 3 s.
    assert busy < 0.5, f"the event loop was busy {busy:.2f} s at once while polling"
    assert lag < 3.0, f"the event loop stalled {lag:.2f} s while polling ({elapsed:.1f} s)"


# -- re-alert storms ----------------------------------------------------------------------------

REPORTS = [
    "Japan dispatches destroyers to the Gulf of Aden",
    "Britain deploys 500 troops to Estonia",
    "Turkey sends troops to northern Syria",
]


def _wire(
    poll: int,
    *,
    guids: bool,
    rotate_guids: bool = False,
    links: bool = True,
    permalinks: bool = True,
    one_guid: bool = False,
) -> str:
    """The same three reports as poll number `poll` shows them: order, dates, links shift.
    `links` False: no `<link>`; `permalinks` False: guids marked isPermaLink="false" (else a
    parser makes them the link); `one_guid`: every item carries the same guid."""
    when = datetime.now(UTC) - timedelta(minutes=30 - poll)
    items = []
    for i, title in enumerate(REPORTS):
        link = f"https://wire.example/{i}?utm_source=rss&utm_campaign=p{poll}#top"
        guid = (f"{i}-{poll}" if rotate_guids else str(i)) if guids else None
        guid = "https://wire.example/" if one_guid else guid
        pub = f"<pubDate>{format_datetime(when)}</pubDate>"
        if guid is not None and not permalinks:
            pub += f'<guid isPermaLink="false">{guid}</guid>'
            guid = None
        items.append(item(title, guid=guid, link=link if links else None, extra=pub))
    items = items[poll % 3 :] + items[: poll % 3]
    return rss("".join(items))


async def _alerts_over_polls(tmp_path, server, polls: int, **wire) -> list[dict]:
    config = _config(tmp_path, [("Wire", server.url("/wire"))])
    async with console_runtime(load_settings(config)) as (rt, console):
        for poll in range(polls):
            server.serve("/wire", _wire(poll, **wire))
            await poll_once(rt)
    return console.alerts()


async def test_missing_guids_shifting_links_order_and_dates_alert_once(tmp_path, feed_server):
    alerts = await _alerts_over_polls(tmp_path, feed_server, 4, guids=False)
    assert sorted(a["title"] for a in alerts) == sorted(REPORTS)


async def test_guids_that_change_every_poll_do_not_realert(tmp_path, feed_server):
    alerts = await _alerts_over_polls(tmp_path, feed_server, 4, guids=True, rotate_guids=True)
    assert sorted(a["title"] for a in alerts) == sorted(REPORTS)


@pytest.mark.parametrize("permalinks", [True, False], ids=["guid-as-link", "not-permalink"])
async def test_guids_that_change_every_poll_without_links_do_not_realert(
    tmp_path, feed_server, permalinks
):
    # No <link>: nothing but the words says a report was seen before.
    alerts = await _alerts_over_polls(
        tmp_path, feed_server, 4, guids=True, rotate_guids=True, links=False, permalinks=permalinks
    )
    assert sorted(a["title"] for a in alerts) == sorted(REPORTS)
    assert all(a["kind"] == "new" for a in alerts)


@pytest.mark.parametrize("permalinks", [True, False], ids=["guid-as-link", "not-permalink"])
async def test_one_guid_on_every_item_loses_none_of_them(tmp_path, feed_server, permalinks):
    # A CMS that writes one guid for all items: each report is its own, found by its link,
    # and none is posted as an edit of another.
    alerts = await _alerts_over_polls(
        tmp_path, feed_server, 3, guids=True, one_guid=True, permalinks=permalinks
    )
    assert sorted(a["title"] for a in alerts) == sorted(REPORTS)
    assert all(a["kind"] == "new" for a in alerts)


async def test_a_feed_moved_onto_another_feeds_address_brings_no_storm(tmp_path, feed_server):
    feed_server.serve("/a", rss(item(REPORTS[0], guid="a1")))
    feed_server.serve("/b", rss(item(REPORTS[1], guid="b1")))
    config = _config(tmp_path, [("A", feed_server.url("/a")), ("B", feed_server.url("/b"))])
    async with console_runtime(load_settings(config)) as (rt, console):
        await poll_once(rt)
        feed_server.redirect("/a", "/b")
        for _ in range(3):
            results, _ = await poll_once(rt)
        feeds = {f.name: f for f in list_feeds(rt.db)}
    assert all(r.ok for r in results), results
    assert feeds["A"].url == feed_server.url("/a")  # B already owns that address
    assert len(console.alerts()) <= 3  # two stories, and at most B's report seen again via A


async def test_what_a_server_says_reaches_the_terminal_and_chat_without_control_characters(
    tmp_path, capfd
):
    """A reason phrase is the server's to write: "500 ESC]0;pwned BEL ESC[2J" was stored as
    the feed's last error and printed as is by `wirewatch feeds` (and the log), retitling
    and clearing the operator's terminal; chat was sent the NUL."""
    reason = b"\x1b]0;pwned\x07\x1b[2J\x1b[31mDown\x00 for \x9bmaintenance"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 " + reason + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = _config(tmp_path, [("Odd", f"http://127.0.0.1:{port}/rss")])
        async with console_runtime(load_settings(config)) as (rt, _):
            await poll_once(rt)
    finally:
        server.close()
    error = (await _feeds_json(config, capfd))["Odd"]["last_error"]
    assert error.endswith("answered HTTP 500 ]0;pwned[2J[31mDown for maintenance"), error
    assert await asyncio.to_thread(main, ["feeds", "--config", str(config)]) == 0
    printed = capfd.readouterr().out
    assert "Down for maintenance" in printed
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", printed), repr(printed)
