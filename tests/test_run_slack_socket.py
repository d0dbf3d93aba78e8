"""`wirewatch run` in Socket Mode, as a black box (a real subprocess, tests/slackstub.py as
Slack's Web API and socket): an app-level token Slack refuses, and Slack's socket endpoint
failing at start.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.runtime import free_port
from tests.slackstub import APP_TOKEN, TOKEN, SlackStub
from tests.test_run_slack import ROOT, quiet_config

pytestmark = pytest.mark.slow


async def _start(tmp_path: Path, stub: SlackStub, app_token: str) -> tuple:
    port = free_port()
    logs = tmp_path / "wirewatch.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "WIREWATCH_HTTP_PORT": str(port),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": app_token,
        "SLACK_API_URL": stub.api_url,
    }
    with logs.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(quiet_config(tmp_path)),
            cwd=ROOT, stdout=sink, stderr=sink, env=env,
        )  # fmt: skip
    return proc, port, logs


async def test_an_app_token_slack_refuses_stops_run_at_once_naming_it(tmp_path: Path) -> None:
    # A revoked or mistyped xapp- token: slack_sdk asked Slack for a socket again every
    # 10 s inside `run`'s start, for good. Nothing was polled or posted, the log had only
    # slack_sdk's tracebacks, and SIGTERM was not heeded (docker's SIGKILL ended it).
    async with SlackStub() as stub:
        proc, _, logs = await _start(tmp_path, stub, "xapp-revoked")
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        said = logs.read_text(encoding="utf-8", errors="replace")
    assert code == 2, said[-3000:]
    assert "error: SLACK_APP_TOKEN" in said and "invalid_auth" in said, said[-3000:]


async def test_slack_s_socket_failing_at_start_leaves_run_up_and_stoppable(tmp_path: Path) -> None:
    # Slack's apps.connections.open failing (an outage) at start held `run` in its start
    # until it answered: no poll, no alert, and SIGTERM unheeded. Now the socket is made in
    # the background: /readyz says why it is not ready, commands work once Slack is back,
    # and SIGTERM stops it.
    async with SlackStub() as stub:
        stub.fail("apps.connections.open", status=503, times=1000)
        proc, port, logs = await _start(tmp_path, stub, APP_TOKEN)
        try:
            async with aiohttp.ClientSession() as http:
                deadline, said = time.monotonic() + 30, ""
                while "reconnecting" not in said:
                    assert proc.returncode is None, logs.read_text()[-3000:]
                    assert time.monotonic() < deadline, said
                    await asyncio.sleep(0.2)
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                            said = f"{r.status} {await r.text()}"
                    except aiohttp.ClientError:
                        continue
            assert said.startswith("503") and "slack" in said
            stub.recover("apps.connections.open")  # Slack is back: slack_sdk's next try
            await _readyz_ok(port)
            ack = await stub.socket_command(
                "help", user="U0ANYONE", channel="C0NEWS", response_url=stub.response_url()
            )
            assert "/wirewatch subscribe" in ack["text"]
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), timeout=10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 0, logs.read_text()[-3000:]


async def _readyz_ok(port: int) -> None:
    """/readyz answers 200 within 20 s (slack_sdk tries again every 10 s)."""
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                if r.status == 200:
                    return
                said = await r.text()
            assert time.monotonic() < deadline, said
            await asyncio.sleep(0.2)
