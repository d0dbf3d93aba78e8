"""Discord failures a running bot meets, against tests/discordstub.py through discord.py:
a global rate limit cut short by our deadline, a story's thread locked or archived, one
message refused, a channel deleted.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.discord_bot import DiscordAdapter
from bot.clock import utcnow
from bot.demo.server import serve_demo
from bot.errors import DeliveryError
from bot.poll_cycle import poll_once
from bot.send_errors import FAULT_ATTEMPTS
from bot.store import subscriptions
from tests.discordstub import DiscordStub
from tests.test_discord import adapter_for, alert, discord_runtime, settings_for
from tests.waiting import until

pytestmark = pytest.mark.slow
MESSAGES = r"^/channels/\d+/messages$"


@pytest_asyncio.fixture
async def started(stub: DiscordStub) -> AsyncIterator[DiscordAdapter]:
    adapter = adapter_for(stub, send_timeout=0.5)
    await adapter.start(None)
    try:
        yield adapter
    finally:
        await adapter.stop()


async def test_a_global_rate_limit_outliving_the_deadline_does_not_wedge_every_later_send(
    stub: DiscordStub, started: DiscordAdapter
) -> None:
    # discord.py holds every request while it sleeps out a global limit; cancelled in that
    # sleep (our send deadline), it never lifted the hold: nothing reached Discord again.
    stub.fail("POST", MESSAGES, 429, retry_after=1.0, scope="global")
    since = utcnow()
    with pytest.raises(DeliveryError) as raised:
        await started.post_alert(stub.alerts, alert(delivery_id=1))
    assert raised.value.maybe_posted  # in doubt: the outbox asks before sending it again
    await asyncio.sleep(1.5)  # the limit is over
    second = await started.post_alert(stub.alerts, alert(delivery_id=2))
    assert second.message_id in {m["id"] for m in stub.channel_messages(stub.alerts)}
    # The first went out once the limit was over, and the lookup in doubt finds it.
    assert await started.find_posted(stub.alerts, 1, since=since) is not None
    assert len(stub.channel_messages(stub.alerts)) == 2


@pytest.mark.parametrize("code", [50083, 160005])
async def test_an_update_for_a_locked_storys_thread_goes_into_the_channel(
    stub: DiscordStub, started: DiscordAdapter, code: int
) -> None:
    # A moderator archived and locked an old story's thread: Discord refuses posts there
    # (400), which was taken for a refusal of the channel: every alert to it was paused.
    started.send_timeout = 10.0
    parent = await started.post_alert(stub.alerts, alert(41))
    first = await started.post_update(parent, alert(42, kind="update"))
    assert first.thread_id == parent.message_id
    stub.close_thread(parent.message_id, code)
    update = await started.post_update(first_parent(parent, first), alert(43, kind="update"))
    assert update.channel == stub.alerts and update.thread_id is None
    assert update.message_id in {m["id"] for m in stub.channel_messages(stub.alerts)}
    # A lookup in doubt finds it where it went.
    assert await started.find_posted(stub.alerts, 43, first_parent(parent, first)) == update


def first_parent(parent, update):
    """The story's first message as the outbox knows it once its thread holds an update."""
    return type(parent)(parent.platform, parent.channel, parent.message_id, update.thread_id)


async def test_a_message_discord_refuses_fails_alone_and_the_channel_goes_on(
    stub: DiscordStub, tmp_path
) -> None:
    # A 400 "Invalid Form Body" is about the message, not the channel: it paused the
    # channel, and on resuming the same alert went first and paused it again, for good.
    stub.fail("POST", MESSAGES, 400, code=50035, times=FAULT_ATTEMPTS)
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": feed.name, "url": feed.url} for feed in feeds],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
        )
        async with discord_runtime(stub, settings) as (rt, _):
            _, stats = await poll_once(rt)
            rows = rt.db.execute("SELECT status, error FROM deliveries ORDER BY id").fetchall()
            [sub] = subscriptions(rt.db, f"discord:{stub.alerts}")
    assert sub.paused_reason is None
    assert rows[0][0] == "failed" and "Invalid Form Body" in rows[0][1]
    assert stats.failed == 1 and stats.sent == len(rows) - 1 >= 1
    assert all(status == "sent" for status, _ in rows[1:])


async def test_a_deleted_channel_is_paused_and_its_server_is_told_in_the_system_channel(
    stub: DiscordStub, tmp_path
) -> None:
    # discord.py forgets a deleted channel (CHANNEL_DELETE), and with it its server: the
    # notice that its alerts stopped had no system channel to fall back on and reached
    # nobody (tried ten times over some 40 minutes, then given up in the log).
    async with serve_demo() as feeds:
        settings = settings_for(
            tmp_path,
            feeds=[{"name": feeds[0].name, "url": feeds[0].url}],
            subscriptions=[{"topic": "troop-deployments", "channel": f"discord:{stub.alerts}"}],
        )
        async with discord_runtime(stub, settings) as (rt, adapter):
            await stub.delete_channel(stub.alerts)
            await until(lambda: adapter.client.get_channel(int(stub.alerts)) is None, 2.0)
            _, stats = await poll_once(rt)
            [sub] = subscriptions(rt.db, f"discord:{stub.alerts}")
            [(sent_at,)] = rt.db.execute("SELECT sent_at FROM notices").fetchall()
    assert stats.failed == 1 and "Unknown Channel" in (sub.paused_reason or "")
    [notice] = stub.channel_messages(stub.general)  # the server's system channel
    assert f"paused alerts to discord:{stub.alerts}" in notice["content"] and sent_at
