"""`wirewatch run` as ops run it: a process that polls, alerts, serves health, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import aiohttp
import pytest

from tests.runtime import free_port, read_until, recent

FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title>
<link>https://w.example/1</link><guid>w1</guid>
<pubDate>{recent()}</pubDate>
<description>Warsaw said on Monday it had sent troops.</description></item>
</channel></rss>"""


@pytest.mark.slow
async def test_run_polls_alerts_serves_health_and_stops_on_sigterm(tmp_path, feed_server):
    feed_server.serve("/rss", FEED)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{feed_server.url('/rss')}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
    )
    try:
        out = await read_until(proc.stdout, "Poland deploys", within=30)
        assert "Poland deploys 2,000 troops" in out
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                page = await r.text()
        assert 'wirewatch_alerts_delivered_total{platform="console"} 1.0' in page
        assert 'wirewatch_feeds_polled_total{result="ok"} 1.0' in page
        assert "wirewatch_outbox_depth 0.0" in page
        assert "wirewatch_publish_to_alert_seconds_count 1.0" in page
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=10)
        assert code == 0 and time.monotonic() - started < 10
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
