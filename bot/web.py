"""The bot's HTTP port: /healthz (alive), /readyz (ready to work), /metrics.

/healthz is what the image's HEALTHCHECK asks: 200 while the loop answers, 503 once a chat
connection has ended for good (a token revoked mid-run), which no wait or retry mends and an
operator must see in `docker compose ps`.

Slack's HTTP mode mounts `/slack/events` on this same server, so ops expose one port
(`WIREWATCH_HTTP_PORT`, default 3000).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot import metrics

log = logging.getLogger(__name__)

DEFAULT_PORT = 3000


def http_port(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        return int(env.get("WIREWATCH_HTTP_PORT", DEFAULT_PORT))
    except ValueError:
        return DEFAULT_PORT


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


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web.listening port=%d", port)
    return runner
