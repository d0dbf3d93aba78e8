"""Subscriptions follow the config file: one removed stops at the next `poll --once` or start.

Driven through the command line (`wirewatch poll --once --json --config FILE`) with a config
file edited between runs, a feed on 127.0.0.1 and Slack's stand-in reached through the real
slack_sdk client (SLACK_API_URL). Slack's alerts are held back by a 429 so that one is still
waiting when the subscription goes: it must be dropped and counted, never posted.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.clock import iso, utcnow
from tests.slackstub import SIGNING_SECRET, TOKEN, SlackStub

pytestmark = pytest.mark.slow  # three runs of the command line: about 7 s
NEWS = "C0NEWS"
REPORTS = [
    "Poland deploys 2,000 troops to the Belarus border",
    "Japan dispatches destroyers to the Gulf of Aden",
    "Britain deploys 500 troops to Estonia",
]


def _feed(count: int) -> str:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{title}</title><guid>r{i}</guid><link>https://wire.example/{i}</link>"
        f"<description>{title}.</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=10 - i))}</pubDate></item>"
        for i, title in enumerate(REPORTS[:count])
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>"


def _write_config(path: Path, feed_url: str, channels: list[str]) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "database": str(path.parent / "w.db"),
                "feeds": [{"name": "Wire", "url": feed_url}],
                "articles": {"fetch": False},
                "subscriptions": [{"topic": "troop-deployments", "channel": c} for c in channels],
            }
        ),
        encoding="utf-8",
    )


async def _poll(config: Path, capfd) -> tuple[list[str], str]:
    """One `wirewatch poll --once --json`: the titles printed on the console, and stderr."""
    assert await asyncio.to_thread(main, ["poll", "--once", "--json", "--config", str(config)]) == 0
    out, err = capfd.readouterr()
    return [json.loads(line)["title"] for line in out.splitlines()], err


async def test_a_subscription_removed_from_the_config_stops_and_drops_what_waits(
    tmp_path, feed_server, monkeypatch, capfd
):
    config = tmp_path / "wirewatch.yaml"
    both = ["console", f"slack:{NEWS}"]
    async with SlackStub() as slack:
        slack.add_channel(NEWS)
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("WIREWATCH_HTTP_PORT", "0")

        feed_server.serve("/wire", _feed(1))
        _write_config(config, feed_server.url("/wire"), both)
        slack.fail("chat.postMessage", status=429, retry_after=60)
        printed, _ = await _poll(config, capfd)
        assert printed == REPORTS[:1] and slack.posts() == []  # Slack's copy waits

        _write_config(config, feed_server.url("/wire"), ["console"])  # Slack's removed
        feed_server.serve("/wire", _feed(2))
        with sqlite3.connect(tmp_path / "w.db") as db:  # its wait would be over by now
            db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        printed, err = await _poll(config, capfd)
        assert printed == REPORTS[1:2]
        assert slack.posts() == [], "a removed subscription was still delivered"
        assert "subscription.ended" in err and "dropped=1" in err
        with sqlite3.connect(tmp_path / "w.db") as db:
            rows = db.execute(
                "SELECT status, error FROM deliveries WHERE channel = ?", [f"slack:{NEWS}"]
            ).fetchall()
        assert rows == [("cancelled", "removed from config")]  # nothing new was queued

        _write_config(config, feed_server.url("/wire"), both)  # and back again
        feed_server.serve("/wire", _feed(3))
        printed, _ = await _poll(config, capfd)
        assert printed == REPORTS[2:]
        [post] = slack.posts(NEWS)  # only what came after: the dropped alert stays dropped
        assert post.args["metadata"]["event_payload"]["story_id"] == 3
