"""Socket Mode's connection lost while wirewatch runs, against tests/slackstub.py through the
real slack-bolt handler: what /readyz says until slack_sdk has reconnected.

The test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.slackstub import SlackStub
from tests.test_slack import ADMIN, NEWS
from tests.test_slack_socket_start import socket_adapter

pytestmark = pytest.mark.slow  # slack_sdk tries to reconnect every 10 s


async def test_a_dropped_socket_is_not_ready_until_it_is_back(tmp_path: Path) -> None:
    # slack_sdk reconnects by itself; while Slack refused it (an app token revoked, Slack
    # down) every /wirewatch and button click failed with dispatch_failed, and /readyz
    # answered "ok" all along: `connected` only asked whether a socket had ever been made.
    async with SlackStub() as stub, socket_adapter(stub, tmp_path) as adapter:
        asked = len(stub.calls_to("apps.connections.open"))
        stub.fail("apps.connections.open", error="invalid_auth", times=1)
        await stub.drop_socket()
        for _ in range(100):  # slack_sdk notices the close, asks for a new URL
            if stub.calls_to("apps.connections.open")[asked:]:
                break
            await asyncio.sleep(0.05)
        assert not adapter.connected
        assert "reconnecting" in adapter.down_reason
        assert "SLACK_APP_TOKEN" in adapter.down_reason
        for _ in range(300):  # its next try (every 10 s) is served: back
            if adapter.connected:
                break
            await asyncio.sleep(0.05)
        assert adapter.connected and adapter.down_reason == ""
        ack = await stub.socket_command(
            "list", user=ADMIN, channel=NEWS, response_url=stub.response_url()
        )
        assert ack["response_type"] == "ephemeral"
