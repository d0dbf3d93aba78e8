"""HTTP fetching of feeds and article pages, with the limits a bot on the open internet needs.

One `Fetcher` holds two aiohttp sessions: a trusted one for feed URLs ops wrote in the
config (their own scheme, host and port, redirects included), and a guarded one (see
guard.py) for URLs that came from chat, for every link found in a feed, config feeds
included, and for a config feed's redirect to another host. Every fetch has a total
deadline, a cap on the decoded body, redirects followed hop by hop (each hop re-checked when
guarded), and at most `per_host` fetches per host at once.
Failures become FetchError with a short message for a person.

Deliberately not here: parsing (parse.py), deciding when to poll (the scheduler uses
`backoff_delay` and FetchError.retry_after), and storing ETag/Last-Modified.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp
import yarl

from bot.errors import FetchError, UnsafeURLError
from bot.feeds.guard import (
    AddressPolicy,
    GuardedResolver,
    RefusedAddressError,
    check_url,
    guarded_socket_factory,
    is_public_ip,
)
from bot.model import FetchResult
from bot.text.invisible import strip_invisible

log = logging.getLogger(__name__)

# As settings.USER_AGENT (network.user_agent's default), for a Fetcher made without settings
DEFAULT_USER_AGENT = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, text/*;q=0.5"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
RETRY_LATER = frozenset({429, 503})
GONE = frozenset({404, 410})
MAX_RETRY_AFTER = 7 * 24 * 3600.0  # a server asking for more than a week is not believed
CHUNK = 64 * 1024
WIRE_CHECK = 0.1  # seconds between two looks at the bytes on the wire of a compressed body


class Fetcher:
    """Fetches feeds and pages; use as `async with Fetcher() as fetcher:`."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 20.0,
        max_bytes: int = 15 * 2**20,
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
        per_host: int = 4,
        address_policy: AddressPolicy = is_public_ip,
    ):
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._policy = address_policy
        self._limiter = _HostLimiter(per_host)
        # Host -> monotonic time before which it is not asked again: it answered 429/503 with
        # Retry-After (a feed's own backoff honours that too; eight article pages of one poll
        # on that host would not).
        self._not_before: dict[str, float] = {}
        self._trusted: aiohttp.ClientSession | None = None
        self._guarded: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        self._trusted = self._new_session(guarded=False)
        self._guarded = self._new_session(guarded=not self._allow_private)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        for session in (self._trusted, self._guarded):
            if session is not None:
                await session.close()

    def _new_session(self, *, guarded: bool) -> aiohttp.ClientSession:
        # The guard sits in both the resolver and the socket factory: see guard.py.
        connector = aiohttp.TCPConnector(
            ttl_dns_cache=60,
            resolver=GuardedResolver(allowed=self._policy) if guarded else None,
            socket_factory=guarded_socket_factory(self._policy) if guarded else None,
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self._user_agent},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # no state carried from one site to another
            trust_env=False,  # a proxy from the environment would bypass the address guard
        )

    async def fetch_feed(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool,
    ) -> FetchResult:
        """GET a feed, conditionally; status 304 with body None when it has not changed."""
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        result = await self._fetch(url, headers, trusted=trusted, max_bytes=self._max_bytes)
        if result.status == 304:
            return _keep_validators(result, etag, last_modified)
        return result

    async def fetch_page(
        self, url: str, *, trusted: bool, max_bytes: int = 5 * 2**20
    ) -> FetchResult:
        """GET an article page; refuses bodies that are not text (PDF, images, video...)."""
        headers = {"Accept": PAGE_ACCEPT}
        return await self._fetch(url, headers, trusted=trusted, max_bytes=max_bytes, page=True)

    async def _fetch(
        self,
        url: str,
        headers: dict[str, str],
        *,
        trusted: bool,
        max_bytes: int,
        page: bool = False,
    ) -> FetchResult:
        host = _host(url)
        wait = self._not_before.get(host, 0.0) - time.monotonic()
        if wait > 0:
            raise FetchError(
                f"{host} asked to wait (Retry-After): {wait:.0f} s left", retry_after=wait
            )
        async with self._limiter.slot(host):
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._follow(url, headers, trusted, max_bytes, page)
            except TimeoutError:
                raise FetchError(f"timed out after {self._timeout:g} s fetching {host}") from None
            except FetchError as exc:
                if exc.retry_after:
                    self._not_before[host] = time.monotonic() + exc.retry_after
                raise

    async def _follow(
        self, url: str, headers: dict[str, str], trusted: bool, max_bytes: int, page: bool
    ) -> FetchResult:
        if self._trusted is None or self._guarded is None:
            raise RuntimeError("Fetcher used outside `async with`")
        # Ops trusted the host they wrote, not wherever it redirects: a hop to another host
        # (a third party's choice) is guarded like a URL from chat. The host's own moves
        # (http to https, another port) keep the trust: an intranet feed may make them.
        trusted_host = _host_name(url) if trusted else None
        permanent = True
        for hop in range(self._max_redirects + 1):
            hop_trusted = trusted_host is not None and _host_name(url) == trusted_host
            if not hop_trusted:
                url = check_url(url, allow_private=self._allow_private, allowed=self._policy)
            session = self._trusted if hop_trusted else self._guarded
            response = await self._request(session, url, headers)
            async with response:
                location = response.headers.get("Location")
                if response.status in REDIRECTS and location:
                    permanent = permanent and response.status in PERMANENT_REDIRECTS
                    url = _redirect_target(url, location)
                    log.debug("fetch.redirect status=%s to=%s", response.status, url)
                    continue
                # A trusted feed moved to another host is not reported as moved: the store
                # would keep the new URL, and ops' trust with it, so a third party's host
                # would be fetched unguarded from then on (and could point its name at an
                # internal address). It is polled at the URL ops wrote, its hop guarded.
                # Its own host's move is reported, or every poll of it would ask twice.
                moved = hop and permanent and (not trusted or _host_name(url) == trusted_host)
                return await _result(response, url, max_bytes, url if moved else None, page)
        raise FetchError(f"too many redirects (more than {self._max_redirects}) from {_host(url)}")

    async def _request(
        self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        try:
            return await session.get(yarl.URL(url), headers=headers, allow_redirects=False)
        except aiohttp.ClientError as exc:
            raise describe_client_error(exc, _host(url)) from exc
        except ValueError as exc:
            raise FetchError(f"invalid URL {url}: {exc}", permanent=True) from exc


async def _result(
    response: aiohttp.ClientResponse, url: str, max_bytes: int, moved_to: str | None, page: bool
) -> FetchResult:
    host = _host(url)
    _raise_for_status(response, host)
    if page:
        _require_text(response, host)
    not_modified = response.status == 304
    body = None if not_modified else await _read_capped(response, max_bytes, host)
    return FetchResult(
        url=url,
        status=response.status,
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        permanent_url=moved_to,
        content_type=response.headers.get("Content-Type"),
    )


def _raise_for_status(response: aiohttp.ClientResponse, host: str) -> None:
    status = response.status
    if 200 <= status < 300 or status == 304:
        return
    what = f"{host} answered HTTP {status} {heard(response.reason or '')}".rstrip()
    if status in RETRY_LATER:
        # A date to wait until, measured from our clock and from the server's own Date:
        # each is stretched only when its own clock is behind (ours stepped back an hour, a
        # cache in front answering a stale Date), so the shorter wait is the one to keep.
        value = response.headers.get("Retry-After")
        ours = parse_retry_after(value)
        sent = _http_date(response.headers.get("Date"))
        theirs = parse_retry_after(value, now=sent) if sent else None
        retry = ours if theirs is None or ours is None else min(ours, theirs)
        raise FetchError(what, retry_after=retry)
    raise FetchError(what, permanent=status in GONE, gone=status == 410)


def _require_text(response: aiohttp.ClientResponse, host: str) -> None:
    declared = response.headers.get("Content-Type")
    kind = response.content_type  # aiohttp's parsed mimetype, lower case
    if declared and not (kind.startswith("text/") or kind == "application/xhtml+xml"):
        raise FetchError(f"not a web page: {host} sent {heard(kind)}", permanent=True)


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, host: str) -> bytes:
    """Read the DECODED body, stopping as soon as it passes `max_bytes` (gzip bombs), or
    as soon as the bytes ON THE WIRE do: an endless stream of compressed blocks that decode
    to nothing yields no chunk to count, and ran until the deadline (1.4 GB on loopback)."""
    too_big = FetchError(f"body larger than {_size(max_bytes)} from {host}")
    encoded = response.headers.get("Content-Encoding", "identity") != "identity"
    if not encoded and (response.content_length or 0) > max_bytes:
        raise too_big
    chunks: list[bytes] = []

    async def read() -> None:
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise too_big
            chunks.append(chunk)

    try:
        if encoded:
            await _watching_the_wire(read(), response, too_big, max_bytes)
        else:  # every byte read is a byte counted
            await read()
    except aiohttp.ClientError as exc:
        raise describe_client_error(exc, host) from exc
    return b"".join(chunks)


async def _watching_the_wire(
    read: Coroutine[Any, Any, None],
    response: aiohttp.ClientResponse,
    too_big: FetchError,
    max_bytes: int,
) -> None:
    """Run `read`, raising `too_big` once the bytes received pass `max_bytes`."""
    reading = asyncio.ensure_future(read)
    try:
        while not reading.done():
            await asyncio.wait({reading}, timeout=WIRE_CHECK)
            if _wire_bytes(response) > max_bytes and not reading.done():
                raise too_big
        reading.result()
    finally:
        if not reading.done():
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)


def _wire_bytes(response: aiohttp.ClientResponse) -> int:
    """Bytes received so far, before decoding (aiohttp 3.12+; 0 where it cannot tell)."""
    return getattr(response.content, "total_raw_bytes", 0) or 0


def describe_client_error(exc: aiohttp.ClientError, host: str) -> FetchError:
    """A short message a person can act on, instead of aiohttp's repr."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, RefusedAddressError):
        return UnsafeURLError(str(os_error))
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return FetchError(f"TLS certificate of {host} is not valid: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError(f"cannot resolve host {host}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return FetchError(f"cannot connect to host {host}: {_os_reason(os_error)}")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchError(f"timed out connecting to {host}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return FetchError(f"{host} closed the connection without answering")
    if isinstance(exc, aiohttp.ClientOSError):
        return FetchError(f"connection to {host} failed: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return FetchError(f"broken response body from {host}: {heard(_root_message(exc))}")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(f"invalid URL: {exc}", permanent=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        return FetchError(f"bad HTTP response from {host}: {heard(exc.message)}")
    return FetchError(f"cannot fetch from {host}: {heard(str(exc))}")


def heard(text: str, limit: int = 200) -> str:
    """What a server said (a reason phrase, a content type, a parser's complaint that quotes
    its bytes) fit for a feed's last error: one line, capped, without control characters.
    That error is printed on the operator's terminal (`wirewatch feeds`, the log) and sent to
    chat; "500 \\x1b]0;pwned\\x07\\x1b[2J" would retitle and clear the terminal."""
    text = " ".join(strip_invisible(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_reason(error: OSError | None) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    return (error.strerror or str(error) or type(error).__name__).lower() if error else "failed"


def _root_message(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _redirect_target(current: str, location: str) -> str:
    try:
        target = yarl.URL(current).join(yarl.URL(location))
    except ValueError as exc:
        raise FetchError(f"bad redirect from {_host(current)}: {exc}") from None
    if target.scheme not in ("http", "https"):
        raise FetchError(f"{_host(current)} redirects to a non-web URL ({target.scheme}:)")
    return str(target)


def _keep_validators(result: FetchResult, etag: str | None, modified: str | None) -> FetchResult:
    """A 304 need not repeat ETag/Last-Modified; the caller's still hold then."""
    return FetchResult(
        url=result.url,
        status=304,
        body=None,
        etag=result.etag or etag,
        last_modified=result.last_modified or modified,
        permanent_url=result.permanent_url,
        content_type=result.content_type,
    )


def _host_name(url: str) -> str:
    """The host a URL names, lower case: what ops' trust in a config feed is given to."""
    return (yarl.URL(url).host or "").lower()


def _host(url: str) -> str:
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return url
    return parsed.host_port_subcomponent or parsed.raw_host or url


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if junk."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    when = _http_date(value)
    if when is None:
        return None
    wait = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date header as an aware datetime; None when missing or junk."""
    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when and when.tzinfo is None else when


def backoff_delay(failures: int, *, base: float = 300, cap: float = 6 * 3600) -> float:
    """Seconds before the next poll after `failures` failures in a row: base x 2^(n-1), jittered.

    Jitter (+-10%) keeps feeds that failed together from retrying together; never above cap.
    """
    if failures <= 0:
        return 0.0
    delay = min(cap, base * 2 ** min(failures - 1, 32))
    return min(cap, delay * random.uniform(0.9, 1.1))


class _HostLimiter:
    """At most `per_host` fetches to one host at a time, across both sessions."""

    def __init__(self, per_host: int):
        self._per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        semaphore = self._slots.setdefault(host, asyncio.Semaphore(self._per_host))
        self._users[host] = self._users.get(host, 0) + 1
        try:
            async with semaphore:
                yield
        finally:
            self._users[host] -= 1
            if not self._users[host]:  # forget idle hosts so the dict does not grow forever
                del self._users[host], self._slots[host]
