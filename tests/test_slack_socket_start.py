"""Socket Mode's start against tests/slackstub.py through the real slack-bolt handler: how
many times it asks Slack for a socket.

The test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.commands import Commands
from bot.startup import open_runtime
from tests.slackstub import APP_TOKEN, TOKEN, SlackStub
from tests.test_slack import ADMIN, NEWS, settings_for


@asynccontextmanager
async def socket_adapter(stub: SlackStub, tmp_path: Path) -> AsyncIterator[SlackAdapter]:
    """A Slack adapter in Socket Mode on `stub`, started and connected (in the background,
    as `run` makes it), stopped at the end."""
    stub.add_user(ADMIN, admin=True)
    stub.add_channel(NEWS, "news")
    client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
    adapter = SlackAdapter(client, app_token=APP_TOKEN, pace=0)
    async with open_runtime(settings_for(tmp_path), {"slack": adapter}) as rt:
        await adapter.start(Commands(rt).handle)
        try:
            for _ in range(100):
                if adapter.connected:
                    break
                await asyncio.sleep(0.05)
            assert adapter.connected and adapter.down_reason == ""
            yield adapter
        finally:
            await adapter.stop()


async def test_a_start_asks_slack_for_one_socket_url_not_two(tmp_path: Path) -> None:
    # The app-token check at start asked apps.connections.open, then slack_sdk asked again
    # for the URL it connects to. Slack allows about one a minute: a bot restarting in a
    # loop met the rate limit, and /wirewatch was dead for the 30 s it asks to wait.
    async with SlackStub() as stub, socket_adapter(stub, tmp_path):
        ack = await stub.socket_command(
            "list", user=ADMIN, channel=NEWS, response_url=stub.response_url()
        )
    assert ack["response_type"] == "ephemeral"  # the socket it made serves commands
    assert len(stub.calls_to("apps.connections.open")) == 1
