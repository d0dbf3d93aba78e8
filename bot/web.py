"""The bot's HTTP port: /healthz (alive), /readyz (ready to work), /metrics.

/healthz is what the image's HEALTHCHECK asks: 200 while the loop answers, 503 once a chat
connection has ended for good (a token revoked mid-run), which no wait or retry mends and an
operator must see in `docker compose ps`.

Slack's HTTP mode mounts `/slack/events` on this same server, so ops expose one port
(`WIREWATCH_HTTP_PORT`, default 3000), on every address of the host (0.0.0.0).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot import metrics
from bot.errors import WirewatchError
from bot.settings import DEFAULT_PORT, http_port

log = logging.getLogger(__name__)
__all__ = ["DEFAULT_PORT", "HOST", "build_app", "http_port", "serve"]

HOST = "0.0.0.0"  # every address: docker publishes the port from outside the container


def build_app(
    ready: Callable[[], tuple[bool, str]],
    routes: Iterable[web.RouteDef] = (),
    outbox_depth: Callable[[], int] = lambda: 0,
    gave_up: Callable[[], int] = lambda: 0,
    broken: Callable[[], str] = lambda: "",
) -> web.Application:
    """`ready()` answers (ok, reason); `broken()` names what needs an operator ("" if
    nothing): liveness is the loop answering, unless something has ended for good."""

    async def healthz(_: web.Request) -> web.Response:
        if why := broken():
            return web.json_response({"status": "failed", "reason": why}, status=503)
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, reason = ready()
        return web.json_response(
            {"status": "ok" if ok else "unready", "reason": reason}, status=200 if ok else 503
        )

    async def metrics_page(_: web.Request) -> web.Response:
        body = metrics.render(outbox_depth, gave_up)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_routes(list(routes))
    return app


async def serve(app: web.Application, port: int, host: str = HOST) -> web.AppRunner:
    """The server, listening; a port it cannot take is an error that says which and why."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise WirewatchError(_cannot_listen(port, exc)) from None
    log.info("web.listening host=%s port=%d", host, port)
    return runner


def _cannot_listen(port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is in use (WIREWATCH_HTTP_PORT): another program listens on it; "
            "stop it or set WIREWATCH_HTTP_PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return (
            f"port {port} needs privileges this user lacks (WIREWATCH_HTTP_PORT): use a port "
            "above 1023"
        )
    return f"cannot listen on port {port} (WIREWATCH_HTTP_PORT): {exc.strerror or exc}"
