"""`wirewatch run` in Socket Mode stopped by SIGTERM while Slack has not answered the start's
app-token check (apps.connections.open): a real subprocess, tests/slackstub.py as Slack."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.slackstub import APP_TOKEN, SlackStub
from tests.test_run_slack_socket import _start

pytestmark = pytest.mark.slow


async def test_sigterm_while_slack_never_answers_at_start_stops_run_at_once(tmp_path) -> None:
    # Slack accepting the connection and never answering (an incident, a proxy holding it):
    # the start's token check waited the Web API's 15 s for it, deaf to SIGTERM, past the
    # 10 s docker gives before its SIGKILL.
    async with SlackStub() as stub:
        stub.hang = 60.0
        stub.lose_response("apps.connections.open", "timeout", times=100)
        proc, _, logs = await _start(tmp_path, stub, APP_TOKEN)
        try:
            deadline = time.monotonic() + 30
            while not stub.calls_to("apps.connections.open"):
                assert proc.returncode is None, logs.read_text()[-3000:]
                assert time.monotonic() < deadline, logs.read_text()[-3000:]
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # well inside the check's wait
            asked = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), timeout=30)
            took = time.monotonic() - asked
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    said = logs.read_text(encoding="utf-8", errors="replace")
    assert code == 0, said[-3000:]
    assert took < 5.0, f"SIGTERM took {took:.1f} s to stop run\n{said[-3000:]}"
