"""What an operator meets at the command line: a chat platform without its token, `poll`
under cron, the HTTP port, which config and database a command uses, and a disabled feed.

Everything goes through `wirewatch` itself (`main`, or a subprocess for `run`), against
feeds served on 127.0.0.1 and real SQLite files.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.clock import parse_iso
from bot.db import open_database
from tests.runtime import free_port, read_until, recent

TITLE = "Poland deploys 2,000 troops to the Belarus border"
FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item>"
    f"<title>{TITLE}</title><guid>w1</guid><link>https://w.example/1</link>"
    f"<description>Warsaw sent troops.</description><pubDate>{recent()}</pubDate>"
    "</item></channel></rss>"
)
TOKENS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN")


@pytest.fixture(autouse=True)
def _no_tokens(monkeypatch):
    """The tests' own environment decides, whatever the machine running them has set."""
    for name in (*TOKENS, "WIREWATCH_DB", "WIREWATCH_CONFIG", "WIREWATCH_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, feeds: dict[str, str], *lines: str, db: str | None = None) -> Path:
    path = tmp_path / "wirewatch.yaml"
    text = [f"database: {db or tmp_path / 'w.db'}", "articles: {fetch: false}"]
    text += ["feeds:" if feeds else "feeds: []"]
    text += [f"  - {{name: {name}, url: '{url}'}}" for name, url in feeds.items()]
    text += ["subscriptions:", "  - {topic: troop-deployments, channel: console}", *lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


# -- 2: a subscribed platform without its token ----------------------------------------------


SLACK_SUB = "  - {topic: troop-deployments, channel: 'slack:C0123ABCD'}"


def test_check_warns_of_each_channel_no_adapter_would_serve_and_strict_fails(tmp_path, capsys):
    config = _config(tmp_path, {}, SLACK_SUB, "ops_channel: 'discord:42'")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, out
    assert "slack:C0123ABCD gets alerts but SLACK_BOT_TOKEN is not set" in warnings[1]
    assert "discord:42 gets feed health notices but DISCORD_BOT_TOKEN is not set" in warnings[0]
    assert "wait in the database, unsent" in warnings[1]
    assert main(["check", "--strict", "--config", str(config)]) == 2
    assert main(["check", "--strict", "--config", str(_config(tmp_path, {}))]) == 0


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "SLACK_SIGNING_SECRET: needed with SLACK_BOT_TOKEN"),
        (
            {"DISCORD_BOT_TOKEN": "t", "DISCORD_API_URL": "ftp://x"},
            "DISCORD_API_URL: must be http(s)",
        ),
        ({"WIREWATCH_HTTP_PORT": "abc"}, "WIREWATCH_HTTP_PORT: 'abc' is not a port number"),
    ],
    ids=["slack-without-mode", "discord-api-url", "port"],
)
def test_check_refuses_the_environment_run_would_refuse(tmp_path, capsys, monkeypatch, env, said):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = _config(tmp_path, {}, SLACK_SUB)
    assert main(["check", "--config", str(config)]) == 2
    assert f"error: {said}" in capsys.readouterr().err
    if "WIREWATCH_HTTP_PORT" not in env:  # what check predicts: poll stops on it too
        assert main(["poll", "--config", str(config)]) == 2
        assert f"error: {said}" in capsys.readouterr().err


async def test_poll_names_each_channel_whose_platform_has_no_adapter(tmp_path, feed_server, capfd):
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, {"Wire": feed_server.url("/rss")}, SLACK_SUB)
    assert await _cli("poll", "--config", str(config)) == 0
    err = capfd.readouterr().err
    assert "run.no_adapter slack:C0123ABCD gets alerts but SLACK_BOT_TOKEN is not set" in err


@pytest.mark.slow
async def test_run_is_not_ready_while_a_subscribed_platform_has_no_adapter(tmp_path):
    config = _config(tmp_path, {}, SLACK_SUB)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        stderr=asyncio.subprocess.PIPE,
        env={"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
    )
    try:
        said = await read_until(proc.stderr, "run.started", within=30)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as r,
        ):
            status, body = r.status, await r.json()
    finally:
        proc.terminate()
        await proc.wait()
    assert "run.no_adapter slack:C0123ABCD" in said, said
    assert status == 503 and body["status"] == "unready", body
    assert "slack:C0123ABCD (SLACK_BOT_TOKEN not set)" in body["reason"]


# -- 3: poll under cron, and a disabled feed brought back ------------------------------------


async def test_poll_leaves_a_failing_feed_to_its_backoff_and_polls_a_healthy_one(
    tmp_path, feed_server, capfd
):
    feed_server.serve("/good", FEED)
    feed_server.serve("/bad", "down", status=503)
    feeds = {"Good": feed_server.url("/good"), "Bad": feed_server.url("/bad")}
    config = _config(tmp_path, feeds, "max_failures: 3")
    for _ in range(4):  # a cron's `poll` each minute, during an outage of Bad
        assert await _cli("poll", "--config", str(config)) == 0
    err = capfd.readouterr().err
    with sqlite3.connect(tmp_path / "w.db") as db:
        bad = db.execute("SELECT failures, disabled FROM feeds WHERE name = 'Bad'").fetchone()
    assert len(feed_server.requests_to("/good")) == 4  # healthy: every time (conditional GET)
    assert len(feed_server.requests_to("/bad")) == 1
    assert bad == (1, 0)
    assert err.count("1 feed backing off after failures, next try ") == 3, err
    assert err.count("poll.failed feed=Bad") == 1  # logged once, by the pipeline
    assert "feed Bad failed" not in err


async def test_poll_says_when_a_backing_off_feed_is_tried_next_in_utc(tmp_path, feed_server):
    """Everything else wirewatch prints is UTC: so is the next try, on a host that is not."""
    feed_server.serve("/bad", "down", status=503)
    config = _config(tmp_path, {"Bad": feed_server.url("/bad")})
    said = ""
    for _ in range(2):  # the first poll fails; the second leaves the feed to its backoff
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "poll",
            "--config",
            str(config),
            stderr=asyncio.subprocess.PIPE,
            # Nepal, UTC+05:45 (a POSIX rule: no tz database needed): no minute is UTC's.
            env={"TZ": "NPT-5:45", "PATH": "/usr/bin:/bin"},
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        said = err.decode()
    with sqlite3.connect(tmp_path / "w.db") as db:
        [next_poll] = db.execute("SELECT next_poll FROM feeds WHERE name = 'Bad'").fetchone()
    at = parse_iso(next_poll)
    line = next(x for x in said.splitlines() if "backing off" in x)
    assert f"next try {at:%H:%M} UTC" in line or f"next try {at:%b %d %H:%M} UTC" in line, line


async def test_a_disabled_feed_is_enabled_from_the_cli_as_its_notice_says(
    tmp_path, feed_server, capfd
):
    url = feed_server.url("/rss")
    feed_server.serve("/rss", "oops", status=500, content_type="text/plain")
    config = _config(tmp_path, {"Wire": url}, "max_failures: 1", "ops_channel: console")
    assert await _cli("poll", "--config", str(config)) == 0
    notice = capfd.readouterr().err
    assert "disabled the feed Wire" in notice
    assert f"`wirewatch feeds enable {url}`" in notice and f"`/wirewatch feeds add {url}`" in notice
    assert await _cli("feeds", "--config", str(config)) == 0
    listed = capfd.readouterr().out
    assert "DISABLED (1 failure in a row; last: " in listed
    assert listed.count("HTTP 500") == 1, listed  # the reason carries it; not said twice

    feed_server.serve("/rss", FEED)
    assert await _cli("feeds", "enable", url, "--config", str(config)) == 0
    assert "enabled Wire" in capfd.readouterr().err
    assert await _cli("poll", "--once", "--json", "--config", str(config)) == 0
    out, err = capfd.readouterr()
    assert TITLE in out and "has recovered" in err
    assert await _cli("feeds", "enable", "Nope", "--config", str(config)) == 2
    assert "no feed 'Nope'" in capfd.readouterr().err


async def test_a_feed_removed_from_the_config_is_not_enabled_behind_its_back(
    tmp_path, feed_server, capfd
):
    feed_server.serve("/rss", FEED)
    url = feed_server.url("/rss")
    assert await _cli("poll", "--config", str(_config(tmp_path, {"Wire": url}))) == 0
    config = _config(tmp_path, {})  # Wire left the config: disabled at the next start
    assert await _cli("poll", "--config", str(config)) == 0
    capfd.readouterr()
    assert await _cli("feeds", "enable", "Wire", "--config", str(config)) == 2
    assert "removed from the config" in capfd.readouterr().err


# -- 4: the HTTP port ------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_busy_port_is_one_line_and_exit_1_not_a_traceback(tmp_path):
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--config",
            str(_config(tmp_path, {})),
            stderr=asyncio.subprocess.PIPE,
            env={"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode == 1, text
    assert f"error: port {port} is in use (WIREWATCH_HTTP_PORT)" in text
    assert "Traceback" not in text


async def test_a_second_run_beside_the_first_is_told_of_the_first_not_of_its_port(tmp_path):
    # Started twice on one host (same config, same port), the second said "port in use:
    # another program listens on it; set WIREWATCH_HTTP_PORT": following that advice only
    # led to the database lock's refusal. The other wirewatch is named first.
    config, port = str(_config(tmp_path, {})), free_port()
    env = {"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"}
    argv = (sys.executable, "-m", "bot.cli", "run", "--config", config)
    pipe = asyncio.subprocess.PIPE
    first = await asyncio.create_subprocess_exec(*argv, stderr=pipe, env=env)
    try:
        assert first.stderr is not None
        await read_until(first.stderr, "run.started", within=60)
        second = await asyncio.create_subprocess_exec(*argv, stderr=pipe, env=env)
        _, err = await asyncio.wait_for(second.communicate(), 60)
    finally:
        first.kill()
        await first.wait()
    text = err.decode()
    assert second.returncode == 1, text
    assert f"error: another wirewatch (pid {first.pid}) is running on" in text
    assert "is in use" not in text and "Traceback" not in text


async def test_a_port_that_is_not_a_number_is_refused_before_anything_starts(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(_config(tmp_path, {})),
        stderr=asyncio.subprocess.PIPE,
        env={"WIREWATCH_HTTP_PORT": "abc", "PATH": "/usr/bin:/bin"},
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:  # it started anyway, on some other port
            proc.kill()
            await proc.wait()
    assert proc.returncode == 2
    assert "WIREWATCH_HTTP_PORT: 'abc' is not a port number" in err.decode()
    assert not (tmp_path / "w.db").exists()


# -- 8: which config and database --------------------------------------------------------------


def test_check_says_which_config_and_database_it_resolved(tmp_path, capsys, monkeypatch):
    config = _config(tmp_path, {}, db="data/w.db")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"config: {config}\n" in out
    assert f"database: {tmp_path / 'data' / 'w.db'} (data/w.db in the config, relative to " in out
    assert "not created yet" in out

    monkeypatch.setenv("WIREWATCH_CONFIG", str(config))
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path / "env.db"))
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"config: {config} (named by WIREWATCH_CONFIG)" in out
    assert f"database: {tmp_path / 'env.db'} (named by WIREWATCH_DB; not created yet" in out


def test_a_missing_config_named_by_the_environment_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WIREWATCH_CONFIG", str(tmp_path / "nope.yaml"))
    assert main(["check"]) == 2
    assert "no such file (named by WIREWATCH_CONFIG" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["feeds"], ["feeds", "export"], ["feeds", "enable", "W"]])
def test_reading_feeds_from_the_wrong_folder_creates_no_database(
    tmp_path, capsys, monkeypatch, argv
):
    config = _config(tmp_path, {}, db="data/w.db")
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"no database at data/w.db yet (that is {tmp_path / 'data' / 'w.db'}" in err
    assert not (tmp_path / "data").exists()


# -- 12: counts said as people say them ----------------------------------------------------------


async def test_one_of_a_thing_is_said_in_the_singular(tmp_path, feed_server, capfd):
    feed_server.serve("/rss", FEED)
    config = _config(tmp_path, {"Wire": feed_server.url("/rss")})
    assert await _cli("check", "--config", str(config)) == 0
    assert "1 feed, 1 subscription\n" in capfd.readouterr().out
    assert await _cli("poll", "--config", str(config)) == 0
    capfd.readouterr()
    assert await _cli("topics", "backtest", "troop-deployments", "--config", str(config)) == 0
    said = capfd.readouterr().out
    assert "troop-deployments: 1 alert and 0 updates from 1 item published" in said


def test_a_new_database_logs_one_line_not_one_per_migration(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bot.db"):
        open_database(tmp_path / "w.db").close()
        open_database(tmp_path / "w.db").close()  # up to date: nothing to say
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1 and lines[0].startswith("db.created "), lines
