"""Serves the bundled demo feeds and article pages from 127.0.0.1 for `wirewatch demo`.

The files under feeds/ and articles/ carry two kinds of placeholder, filled in once when the
server starts so that every poll during one demo sees the same bytes (and gets its 304):
`{BASE}` becomes http://127.0.0.1:PORT, and `{NOW}`, `{NOW-2h}`, `{NOW-1h35m}` become a
time relative to the start, written as the document expects (RFC 822 in RSS, RFC 3339 in
Atom and HTML). A `:fmt` suffix picks another form for prose, such as `{NOW-3h:weekday}`.

With `edits=True` (the `wirewatch demo` command), a feed listed in EDITS is served as first
written on its first request and edited from the second on, as an outlet rewrites a story
it already published: the demo's second cycle shows how wirewatch reports an edit.

It deliberately does nothing else: no fetching, parsing or matching (the demo runs those
through the real code), and it never binds anything but the loopback address.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

_DATA = Path(__file__).resolve().parent
HOST = "127.0.0.1"

# Feed file -> the outlet's name as users see it; the order is the order the demo polls in.
DEMO_OUTLETS: dict[str, str] = {
    "yonhap.xml": "Yonhap News Agency",
    "aljazeera.xml": "Al Jazeera",
    "moscowtimes.xml": "The Moscow Times",
}

# Feed file -> (text as first served, text from the second request on): an outlet adds a
# figure to its headline and rewrites its summary after publishing.
EDITS: dict[str, tuple[tuple[str, str], ...]] = {
    "aljazeera.xml": (
        (
            "North Korea has sent more troops to Russia, South Korea says",
            "North Korea has sent 3,000 more troops to Russia, South Korea says",
        ),
        (
            "redeployed troops to the front in Russia’s Kursk region after suffering heavy",
            "sent at least 3,000 more troops to the front in Russia’s Kursk region this year "
            "after suffering heavy",
        ),
    ),
}

# {NAME}, {NAME-1h35m}, {NAME+2d:fmt}: one sign, then amounts with units.
_PLACEHOLDER = re.compile(r"\{([A-Z]+)(?:([-+])((?:\d+[dhm])+))?(?::([a-z0-9]+))?\}")
_LEFTOVER = re.compile(r"\{(?:NOW|BASE)")
_ROOT = re.compile(r"<(rss|feed)[\s>]")
_AMOUNT = re.compile(r"(\d+)([dhm])")
_UNIT = {"d": "days", "h": "hours", "m": "minutes"}

# Wire-style month names, as in Yonhap's datelines.
_AP_MONTHS = (
    "Jan.",
    "Feb.",
    "March",
    "April",
    "May",
    "June",
    "July",
    "Aug.",
    "Sept.",
    "Oct.",
    "Nov.",
    "Dec.",
)

_FORMATS: dict[str, Callable[[datetime], str]] = {
    "rfc822": lambda t: format_datetime(t, usegmt=True),
    "rfc3339": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "weekday": lambda t: t.strftime("%A"),  # "said Thursday"
    "long": lambda t: f"{t.day} {t:%B %Y %H:%M} GMT",  # "27 February 2025 10:05 GMT"
    "ap": lambda t: f"{_AP_MONTHS[t.month - 1]} {t.day}",  # "SEOUL, Feb. 27 (Yonhap)"
}


@dataclass(frozen=True)
class DemoFeed:
    """One bundled feed as the demo subscribes to it."""

    name: str
    url: str


@dataclass(frozen=True)
class _Page:
    body: bytes
    content_type: str
    etag: str


def _content_type(path: Path, text: str) -> str:
    """RSS or Atom by the root element, as a real server's configuration would say."""
    if path.suffix == ".html":
        return "text/html; charset=utf-8"
    root = _ROOT.search(text)
    return "application/atom+xml" if root and root.group(1) == "feed" else "application/rss+xml"


def render(text: str, base: str, now: datetime, default_format: str) -> str:
    """Fill every placeholder; an unknown one is a bug in the data, so it raises."""

    def fill(m: re.Match[str]) -> str:
        name, sign, amounts, fmt = m.groups()
        if name == "BASE" and sign is None and fmt is None:
            return base
        fmt = fmt or default_format
        if name != "NOW" or fmt not in _FORMATS:
            raise ValueError(f"unknown demo placeholder {m.group(0)!r}")
        delta = sum(
            (timedelta(**{_UNIT[unit]: int(n)}) for n, unit in _AMOUNT.findall(amounts or "")),
            timedelta(),
        )
        return _FORMATS[fmt](now + delta if sign == "+" else now - delta)

    out = _PLACEHOLDER.sub(fill, text)
    if leftover := _LEFTOVER.search(out):
        raise ValueError(f"malformed demo placeholder near {out[leftover.start() :][:30]!r}")
    return out


def _load(base: str, now: datetime, edited: bool = False) -> dict[str, _Page]:
    """Every bundled file, rendered once, keyed by the URL path it is served at; `edited`:
    only the feeds of EDITS, as they read after their edit."""
    pages: dict[str, _Page] = {}
    for folder in ("feeds", "articles"):
        for path in sorted((_DATA / folder).iterdir()):
            if path.suffix not in (".xml", ".html") or (edited and path.name not in EDITS):
                continue
            raw = path.read_text(encoding="utf-8")
            for old, new in EDITS.get(path.name, ()) if edited else ():
                if old not in raw:
                    raise ValueError(f"demo edit of {path.name} does not apply: {old[:40]!r}")
                raw = raw.replace(old, new)
            ctype = _content_type(path, raw)
            fmt = "rfc822" if ctype == "application/rss+xml" else "rfc3339"
            body = render(raw, base, now, fmt).encode("utf-8")
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            pages[f"/{folder}/{path.name}"] = _Page(body, ctype, etag)
    return pages


def _not_modified(request: web.Request, page: _Page, since: datetime) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since only counts when it is absent."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return tags.strip() == "*" or page.etag in (t.strip() for t in tags.split(","))
    asked = request.if_modified_since
    return asked is not None and asked >= since


def _app(
    pages: dict[str, _Page], started: datetime, edited: dict[str, _Page] | None = None
) -> web.Application:
    last_modified = started.replace(microsecond=0)
    served: set[str] = set()

    async def serve(request: web.Request) -> web.StreamResponse:
        page = pages.get(request.path)
        if page is None:
            raise web.HTTPNotFound()
        if request.path in served and edited and request.path in edited:
            page = edited[request.path]  # the outlet edited it since the first request
        served.add(request.path)
        headers = {"ETag": page.etag, "Last-Modified": format_datetime(last_modified, True)}
        if _not_modified(request, page, last_modified):
            return web.Response(status=304, headers=headers)
        return web.Response(body=page.body, headers={**headers, "Content-Type": page.content_type})

    app = web.Application()
    app.router.add_get("/feeds/{name}", serve)
    app.router.add_get("/articles/{name}", serve)
    return app


def _bind(port: int) -> socket.socket:
    """Bind first so the port is known before the pages that name it are rendered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def serve_demo(
    port: int = 0, now: datetime | None = None, *, edits: bool = False
) -> AsyncIterator[list[DemoFeed]]:
    """Serve the demo data on 127.0.0.1 (port 0: any free port) and yield its feeds.

    `now` anchors the items' relative dates (default: the moment the server starts), so
    every item is recent whenever the demo runs; tests pin it. `edits`: the feeds of EDITS
    are edited after their first request.
    """
    if now is None:
        now = datetime.now(UTC)
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    sock = _bind(port)
    base = f"http://{HOST}:{sock.getsockname()[1]}"
    runner: web.AppRunner | None = None
    try:
        # No access log: the demo's output is the alerts, not our request lines.
        edited = _load(base, now, edited=True) if edits else None
        runner = web.AppRunner(_app(_load(base, now), now, edited), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        log.info("demo_server_started base=%s", base)
        yield [DemoFeed(outlet, f"{base}/feeds/{file}") for file, outlet in DEMO_OUTLETS.items()]
    finally:
        if runner is not None:
            await runner.cleanup()
        sock.close()
        log.info("demo_server_stopped base=%s", base)
