"""Socket Mode's connection lost while wirewatch runs, against tests/slackstub.py through the
real slack-bolt handler: what /readyz says until slack_sdk has reconnected.

The test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.commands import Commands
from bot.startup import open_runtime
from tests.slackstub import APP_TOKEN, TOKEN, SlackStub
from tests.test_slack import ADMIN, NEWS, settings_for

pytestmark = pytest.mark.slow  # slack_sdk tries to reconnect every 10 s


async def test_a_dropped_socket_is_not_ready_until_it_is_back(tmp_path: Path) -> None:
    # slack_sdk reconnects by itself; while Slack refused it (an app token revoked, Slack
    # down) every /wirewatch and button click failed with dispatch_failed, and /readyz
    # answered "ok" all along: `connected` only asked whether a socket had ever been made.
    async with SlackStub() as stub:
        stub.add_user(ADMIN, admin=True)
        stub.add_channel(NEWS, "news")
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
        adapter = SlackAdapter(client, app_token=APP_TOKEN, pace=0)
        async with open_runtime(settings_for(tmp_path), {"slack": adapter}) as rt:
            await adapter.start(Commands(rt).handle)
            try:
                for _ in range(100):  # made in the background
                    if adapter.connected:
                        break
                    await asyncio.sleep(0.05)
                assert adapter.connected and adapter.down_reason == ""
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
            finally:
                await adapter.stop()
