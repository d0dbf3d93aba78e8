"""Fetching over real HTTP on 127.0.0.1: conditional GETs, limits, redirects, errors."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from bot.errors import FetchError, UnsafeURLError
from bot.feeds.fetch import Fetcher, backoff_delay, parse_retry_after
from tests.feedserver import ConnectionCounter, FeedServer

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
LAST_MODIFIED = "Mon, 02 Jun 2025 10:00:00 GMT"


async def test_conditional_get_round_trip_with_etag(feed_server):
    feed_server.serve("/feed", RSS, etag='"v1"', last_modified=LAST_MODIFIED)
    async with Fetcher() as fetcher:
        first = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
        second = await fetcher.fetch_feed(
            feed_server.url("/feed"),
            etag=first.etag,
            last_modified=first.last_modified,
            trusted=True,
        )
    assert (first.status, first.body, first.etag) == (200, RSS, '"v1"')
    assert first.last_modified == LAST_MODIFIED
    assert (second.status, second.body) == (304, None)
    assert (second.etag, second.last_modified) == ('"v1"', LAST_MODIFIED)
    sent = feed_server.requests_to("/feed")[1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == LAST_MODIFIED


async def test_conditional_get_with_last_modified_only(feed_server):
    feed_server.serve("/feed", RSS, last_modified=LAST_MODIFIED)
    async with Fetcher() as fetcher:
        first = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
        second = await fetcher.fetch_feed(
            feed_server.url("/feed"), last_modified=first.last_modified, trusted=True
        )
    assert first.status == 200 and first.etag is None
    assert second.status == 304 and second.body is None
    assert second.last_modified == LAST_MODIFIED


async def test_gzip_body_is_decoded(feed_server):
    feed_server.serve("/feed", RSS * 100, gzip=True)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert result.body == RSS * 100
    assert "gzip" in feed_server.requests[0].headers["Accept-Encoding"]


async def test_gzip_bomb_is_refused_by_decoded_size(feed_server):
    feed_server.serve("/bomb", b"\0" * (20 * 2**20), gzip=True)  # ~20 KB on the wire
    started = time.monotonic()
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match="body larger than 15 MiB"):
            await fetcher.fetch_feed(feed_server.url("/bomb"), trusted=True)
    assert time.monotonic() - started < 5


async def test_declared_oversize_body_is_refused(feed_server):
    feed_server.serve("/big", b"x" * 2048)
    async with Fetcher(max_bytes=1024) as fetcher:
        with pytest.raises(FetchError, match="body larger than 1 KiB"):
            await fetcher.fetch_feed(feed_server.url("/big"), trusted=True)


async def test_slow_drip_body_hits_the_total_deadline(feed_server):
    feed_server.serve("/drip", b"x" * 200, drip=(1, 0.05))  # 10 s in all, never idle long
    started = time.monotonic()
    async with Fetcher(timeout=1.0) as fetcher:
        with pytest.raises(FetchError, match="timed out after 1 s"):
            await fetcher.fetch_feed(feed_server.url("/drip"), trusted=True)
    assert time.monotonic() - started < 2.5


async def test_permanent_redirects_set_permanent_url(feed_server):
    feed_server.redirect("/old", "/middle", status=301)
    feed_server.redirect("/middle", feed_server.url("/new"), status=308)
    feed_server.serve("/new", RSS)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch_feed(feed_server.url("/old"), trusted=True)
    assert result.body == RSS
    assert result.url == feed_server.url("/new")
    assert result.permanent_url == feed_server.url("/new")


@pytest.mark.parametrize("statuses", [(302,), (307,), (301, 302), (302, 301)])
async def test_a_temporary_hop_means_no_permanent_url(feed_server, statuses):
    for index, status in enumerate(statuses):
        feed_server.redirect(f"/hop{index}", f"/hop{index + 1}", status=status)
    feed_server.serve(f"/hop{len(statuses)}", RSS)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch_feed(feed_server.url("/hop0"), trusted=True)
    assert result.body == RSS
    assert result.url == feed_server.url(f"/hop{len(statuses)}")
    assert result.permanent_url is None


async def test_no_redirect_means_no_permanent_url(feed_server):
    feed_server.serve("/feed", RSS)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert result.permanent_url is None


async def test_redirect_loops_stop(feed_server):
    feed_server.redirect("/a", "/b", status=302)
    feed_server.redirect("/b", "/a", status=302)
    async with Fetcher(max_redirects=3) as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            await fetcher.fetch_feed(feed_server.url("/a"), trusted=True)
    assert len(feed_server.requests) == 4


async def test_redirect_to_a_non_web_scheme_is_refused(feed_server):
    feed_server.redirect("/feed", "file:///etc/passwd", status=302)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match="non-web URL"):
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)


@pytest.mark.parametrize(
    "target", ["127.0.0.1", "2130706433", "127.1", "[::ffff:127.0.0.1]", "localhost"]
)
async def test_guarded_redirect_to_a_private_address_makes_no_connection(target):
    """The redirector on 127.0.0.2 stands for a public site: the policy admits that one address."""
    only_redirector = ipaddress.ip_address("127.0.0.2")
    async with FeedServer(host="127.0.0.2") as redirector, ConnectionCounter() as victim:
        redirector.redirect("/feed", f"http://{target}:{victim.port}/admin", status=302)
        redirector.redirect("/control", victim.url("/admin"), status=302)
        async with Fetcher(address_policy=only_redirector.__eq__) as fetcher:
            with pytest.raises(UnsafeURLError):
                await fetcher.fetch_feed(redirector.url("/feed"), trusted=False)
            # Nor does a config feed's: ops trusted the host they wrote, not the one it names.
            with pytest.raises(UnsafeURLError):
                await fetcher.fetch_feed(redirector.url("/control"), trusted=True)
        assert [r.path for r in redirector.requests] == ["/feed", "/control"]
        assert victim.accepted == 0


async def test_a_config_feed_moved_to_another_host_is_not_trusted_there(feed_server):
    """A config feed's server (or whoever took its domain) answers 301 to a host of its
    choosing: the move must not carry ops' trust along. Were it reported, the bot would store
    the new URL and fetch it through the unguarded session from then on, so once that host's
    name answered a private address (DNS rebinding; 127.0.0.2 dropping out of the policy
    stands in for it) the bot would fetch an internal address for the attacker."""
    public = {ipaddress.ip_address("127.0.0.2")}
    async with FeedServer(host="127.0.0.2") as elsewhere:
        elsewhere.serve("/feed", RSS)
        feed_server.redirect("/feed", elsewhere.url("/feed"), status=301)
        async with Fetcher(address_policy=public.__contains__) as fetcher:
            first = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
            assert first.body == RSS and first.permanent_url is None
            public.clear()
            # What the pipeline polls next: the moved URL when one is reported (feed_store.py).
            with pytest.raises(UnsafeURLError):
                await fetcher.fetch_feed(
                    first.permanent_url or feed_server.url("/feed"), trusted=True
                )
        assert len(elsewhere.requests) == 1


async def test_a_config_feed_on_a_private_host_follows_its_own_redirects(feed_server):
    """An intranet feed ops wrote in the config (127.0.0.1 here, refused from chat) keeps its
    trust across a redirect on the same host, and the move is reported."""
    feed_server.serve("/feed/", RSS)
    feed_server.redirect("/feed", "/feed/", status=301)
    async with Fetcher() as fetcher:
        result = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
        with pytest.raises(UnsafeURLError):
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=False)
    assert result.body == RSS and result.permanent_url == feed_server.url("/feed/")


async def test_trusted_fetch_ignores_proxy_environment(feed_server, monkeypatch):
    async with ConnectionCounter() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("http_proxy", proxy.url())
        feed_server.serve("/feed", RSS)
        async with Fetcher() as fetcher:
            result = await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
        assert result.body == RSS
        assert proxy.accepted == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_are_passed_on(feed_server, status):
    feed_server.serve("/feed", b"slow down", status=status, headers={"Retry-After": "120"})
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError) as raised:
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert raised.value.retry_after == 120
    assert not raised.value.permanent
    assert str(status) in str(raised.value)


async def test_retry_after_http_date_is_passed_on(feed_server):
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    feed_server.serve("/feed", b"", status=429, headers={"Retry-After": when})
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError) as raised:
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert 590 <= raised.value.retry_after <= 600


def test_parse_retry_after_forms():
    now = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    assert parse_retry_after("0") == 0
    assert parse_retry_after(" 30 ") == 30
    assert parse_retry_after("Mon, 02 Jun 2025 10:05:00 GMT", now=now) == 300
    assert parse_retry_after("Mon, 02 Jun 2025 09:00:00 GMT", now=now) == 0
    assert parse_retry_after("99999999999") == 7 * 24 * 3600
    for junk in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(junk) is None


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_is_permanent(feed_server, status):
    feed_server.serve("/feed", b"", status=status)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match=f"HTTP {status}") as raised:
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert raised.value.permanent


@pytest.mark.parametrize("status", [400, 403, 500, 502])
async def test_other_errors_name_the_status_and_are_retryable(feed_server, status):
    feed_server.serve("/feed", b"", status=status)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match=f"answered HTTP {status}") as raised:
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert not raised.value.permanent
    assert raised.value.retry_after is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_has_a_clear_message():
    port = _closed_port()
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError) as raised:
            await fetcher.fetch_feed(f"http://127.0.0.1:{port}/feed", trusted=True)
    assert str(raised.value) == f"cannot connect to host 127.0.0.1:{port}: connection refused"


async def test_unknown_host_has_a_clear_message():
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match="^cannot resolve host no-such-host.invalid$"):
            await fetcher.fetch_feed("http://no-such-host.invalid/feed", trusted=True)


async def test_connection_dropped_mid_answer_has_a_clear_message(feed_server):
    async def hang_up(request: web.Request) -> web.StreamResponse:
        request.transport.close()
        return web.Response()

    feed_server.handle("/feed", hang_up)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match="closed the connection"):
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)


async def test_user_agent_and_accept_are_sent(feed_server):
    feed_server.serve("/feed", RSS)
    async with Fetcher(user_agent="test-agent/1") as fetcher:
        await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    headers = feed_server.requests[0].headers
    assert headers["User-Agent"] == "test-agent/1"
    assert "application/rss+xml" in headers["Accept"]


async def test_pages_are_fetched_and_non_text_refused(feed_server):
    feed_server.serve("/article", "<html><p>hi</p></html>", content_type="text/html")
    feed_server.serve("/report.pdf", b"%PDF-1.7", content_type="application/pdf")
    async with Fetcher() as fetcher:
        page = await fetcher.fetch_page(feed_server.url("/article"), trusted=True)
        with pytest.raises(FetchError, match="not a web page: .* sent application/pdf") as raised:
            await fetcher.fetch_page(feed_server.url("/report.pdf"), trusted=True)
    assert page.body == b"<html><p>hi</p></html>"
    assert page.content_type == "text/html"
    assert raised.value.permanent


async def test_pages_have_their_own_size_cap(feed_server):
    feed_server.serve("/article", b"x" * 4096, content_type="text/html")
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match="body larger than 2 KiB"):
            await fetcher.fetch_page(feed_server.url("/article"), trusted=True, max_bytes=2048)


async def test_at_most_four_fetches_per_host_at_once(feed_server):
    in_flight = peak = 0

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(body=RSS)

    feed_server.handle("/feed", slow)
    url = feed_server.url("/feed")
    async with Fetcher(allow_private=True) as fetcher:  # the limit spans both sessions
        results = await asyncio.gather(
            *(fetcher.fetch_feed(url, trusted=i % 2 == 0) for i in range(12))
        )
    assert all(r.body == RSS for r in results)
    assert peak == 4


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    assert backoff_delay(0) == 0
    for failures, nominal in [(1, 300), (2, 600), (3, 1200), (5, 4800)]:
        delays = [backoff_delay(failures) for _ in range(200)]
        assert all(0.9 * nominal <= d <= 1.1 * nominal for d in delays)
        assert len(set(delays)) > 1, "no jitter"
    assert all(backoff_delay(n) <= 6 * 3600 for n in (8, 20, 1000))
    assert backoff_delay(1000) >= 0.9 * 6 * 3600
    assert backoff_delay(3, base=10, cap=25) <= 25


async def test_a_host_that_asked_to_wait_is_not_asked_again_until_then(feed_server):
    # Eight article pages of one poll on a host answering 429 Retry-After: 3600 were eight
    # requests; one is enough to learn it, and its feeds wait too.
    feed_server.serve("/a/1", "slow down", status=429, headers={"Retry-After": "3600"})
    feed_server.serve("/a/2", b"<html><p>Troops arrived.</p></html>", content_type="text/html")
    feed_server.serve("/feed", RSS)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError) as first:
            await fetcher.fetch_page(feed_server.url("/a/1"), trusted=True)
        for path in ("/a/2", "/feed"):
            with pytest.raises(FetchError, match="asked to wait") as later:
                await fetcher.fetch_page(feed_server.url(path), trusted=True)
            assert 3500 < (later.value.retry_after or 0) <= 3600
    assert first.value.retry_after == 3600
    assert [r.path for r in feed_server.requests] == ["/a/1"]


async def test_an_endless_compressed_body_that_decodes_to_nothing_is_cut_at_the_cap(feed_server):
    # Empty deflate blocks yield no decoded chunk to count: the cap never tripped, and the
    # fetch drank the wire until its deadline (1.4 GB on loopback), then said "timed out".
    async def endless_empty(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "application/rss+xml", "Content-Encoding": "deflate"}
        )
        await response.prepare(request)
        compressor = zlib.compressobj()
        await response.write(compressor.compress(b"<rss>") + compressor.flush(zlib.Z_SYNC_FLUSH))
        with contextlib.suppress(ConnectionError):
            while True:
                await response.write(b"\x00\x00\x00\xff\xff" * 13_000)  # empty stored blocks
        return response

    feed_server.handle("/feed", endless_empty)
    started = time.monotonic()
    async with Fetcher(timeout=20, max_bytes=2**20) as fetcher:
        with pytest.raises(FetchError, match="larger than 1 MiB"):
            await fetcher.fetch_feed(feed_server.url("/feed"), trusted=True)
    assert time.monotonic() - started < 10
