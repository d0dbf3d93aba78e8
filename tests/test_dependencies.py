"""Dependencies cannot break the bot: a feedparser release that moves the private names the
fast reader uses costs speed, never feeds. Made to fail for real, in a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.runtime import recent

FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title>
<link>https://w.example/1</link><guid>w1</guid><pubDate>{recent()}</pubDate>
<description>Warsaw said on Monday it had sent troops.</description></item>
</channel></rss>"""

# What a feedparser release that renamed one private helper looks like to the fast reader:
# feedparser itself keeps working (its modules hold their own references).
MOVED = "import feedparser.html\ndel feedparser.html._cp1252\n"


async def _poll(tmp_path: Path, url: str, pythonpath: str | None) -> tuple[int, str, str]:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{url}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "poll", "--once", "--json", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
@pytest.mark.parametrize("moved", [True, False], ids=["private-name-moved", "as-released"])
async def test_the_fast_reader_falls_back_to_feedparser_when_its_import_fails(
    tmp_path, feed_server, moved
):
    feed_server.serve("/rss", FEED)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(MOVED if moved else "", encoding="utf-8")
    code, out, err = await _poll(tmp_path, feed_server.url("/rss"), str(site))
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    assert [a["title"] for a in alerts] == ["Poland deploys 2,000 troops to the Belarus border"]
    assert ("parse.fast_reader_unavailable" in err) is moved
    if moved:
        assert "_cp1252" in err and "Traceback" not in err
