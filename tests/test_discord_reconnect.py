"""A gateway reconnect, as /readyz sees it: the real discord.py client against
tests/discordstub.py's gateway on 127.0.0.1, the socket dropped mid-run.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.readiness import readiness
from bot.settings import Settings
from bot.startup import open_runtime
from tests.test_discord import adapter_for

pytestmark = pytest.mark.slow


async def _until(condition, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {what}")


@pytest.mark.parametrize("resumes", [True, False], ids=["resumed", "ready-anew"])
async def test_readiness_says_reconnecting_from_a_gateway_drop_until_discord_resumes(
    stub,  # noqa: F811
    tmp_path: Path,
    resumes: bool,
) -> None:
    # discord.py reconnects by itself and keeps `is_ready()` true meanwhile: /readyz said
    # "ok" while no gateway session was up (seconds on a blip; as long as Discord took to
    # answer the reconnect otherwise).
    stub.resumes = resumes  # RESUMED; else INVALID_SESSION, then IDENTIFY and READY
    adapter = adapter_for(stub)
    await adapter.start()
    settings = Settings.model_validate({"database": str(tmp_path / "w.db")})
    try:
        async with open_runtime(settings, {"discord": adapter}) as rt:
            rt.scheduler = AsyncIOScheduler()
            rt.scheduler.start()
            try:
                assert readiness(rt) == (True, "ok")
                stub.gateway_open.clear()  # Discord takes its time over the reconnect
                [first] = stub.sessions
                await first.ws.close(code=4000, message=b"Unknown error.")  # resumable
                await _until(lambda: stub.reconnects_waiting, "reconnected its socket")
                ready, why = readiness(rt)
                assert not ready and not adapter.connected
                assert why.startswith("not connected: discord (reconnecting:"), why
                stub.gateway_open.set()  # the RESUME answered
                await _until(lambda: adapter.connected, "connected again")
                assert readiness(rt) == (True, "ok") and adapter.down_reason == ""
            finally:
                stub.gateway_open.set()
                rt.scheduler.shutdown(wait=False)
    finally:
        await adapter.stop()
