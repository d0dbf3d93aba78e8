"""A real HTTP server on 127.0.0.1 for tests, and a listener that only counts connections.

`FeedServer` serves bodies at paths with a given status and headers, answers conditional GETs
with 304 (ETag / Last-Modified), redirects, gzips, drips bodies slowly, and records every
request. `ConnectionCounter` accepts TCP connections, counts them, and answers a tiny 200: a
test that expects a refused URL asserts its count stays 0.

Load as a pytest plugin (`pytest_plugins = ["tests.feedserver"]` in tests/conftest.py) for the
`feed_server` and `connection_counter` fixtures; both classes are also async context managers
for tests that need a second server or another loopback address (e.g. 127.0.0.2).
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import pytest_asyncio
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Route:
    """What to answer at one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    drip: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)


class FeedServer:
    """`async with FeedServer() as server:`; `server.url("/feed")` is where to fetch."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self.requests: list[SeenRequest] = []
        self._routes: dict[str, Route | Handler] = {}
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        drip: tuple[int, float] | None = None,
    ) -> None:
        """Answer GET `path` with `body`; `gzip` sends it Content-Encoding: gzip."""
        data = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if gzip:
            data = gzip_module.compress(data, compresslevel=9)
            all_headers["Content-Encoding"] = "gzip"
        self._routes[path] = Route(data, status, all_headers, etag, last_modified, drip)

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        self._routes[path] = Route(status=status, headers={"Location": to})

    def handle(self, path: str, handler: Handler) -> None:
        """Answer `path` with any aiohttp handler, for behaviour `serve` does not cover."""
        self._routes[path] = handler

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == path]

    async def __aenter__(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(SeenRequest(request.method, request.path_qs, dict(request.headers)))
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such route in FeedServer")
        if callable(route):
            return await route(request)
        if _not_modified(request, route):
            return web.Response(status=304, headers=_validators(route))
        headers = {**route.headers, **_validators(route)}
        if route.drip:
            return await _drip(request, route, headers)
        return web.Response(status=route.status, body=route.body, headers=headers)


def _validators(route: Route) -> dict[str, str]:
    found = {"ETag": route.etag, "Last-Modified": route.last_modified}
    return {name: value for name, value in found.items() if value}


def _not_modified(request: web.Request, route: Route) -> bool:
    if route.status != 200:
        return False
    if route.etag and "If-None-Match" in request.headers:
        tags = [t.strip() for t in request.headers["If-None-Match"].split(",")]
        return route.etag in tags or "*" in tags
    since = request.headers.get("If-Modified-Since")
    if route.last_modified and since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False


async def _drip(request: web.Request, route: Route, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(status=route.status, headers=headers)
    response.content_length = len(route.body)
    await response.prepare(request)
    size, pause = route.drip or (1, 1.0)
    try:
        for start in range(0, len(route.body), size):
            await response.write(route.body[start : start + size])
            await asyncio.sleep(pause)
    except (ConnectionResetError, RuntimeError):
        pass  # the client gave up, which is what slow-drip tests expect
    return response


class ConnectionCounter:
    """Counts TCP connections accepted on (host, port); answers each with a tiny HTTP 200."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def __aenter__(self) -> ConnectionCounter:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        try:
            await writer.drain()
        finally:
            writer.close()


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A FeedServer on 127.0.0.1, fresh for each test."""
    async with FeedServer() as server:
        yield server


@pytest_asyncio.fixture
async def connection_counter() -> AsyncIterator[ConnectionCounter]:
    """A ConnectionCounter on 127.0.0.1, fresh for each test."""
    async with ConnectionCounter() as counter:
        yield counter
