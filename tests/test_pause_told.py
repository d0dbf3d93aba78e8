"""Each pause of a channel is told once: a second pause after a resume is told again, a
second error within one pause or a restart is not. Real SQLite, the real console adapter
(notices on stderr), chat's `subscribe` resuming the channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import Commands, Invocation, Reply
from bot.gone_channels import copy_to_ops
from bot.notice_outbox import deliver_notices
from bot.runtime import Runtime
from bot.send_errors import hold_channel
from tests.runtime import console_runtime, make_settings

PAUSED = "wirewatch notice: wirewatch paused alerts to console"


async def _resume(rt: Runtime) -> None:
    reply = await Commands(rt).handle(
        Invocation("console", "console", "op", "subscribe troop-deployments")
    )
    assert isinstance(reply, Reply) and reply.ok, reply


async def _told(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> int:
    await deliver_notices(rt.db, rt.adapters)
    return capsys.readouterr().err.count(PAUSED)


async def test_a_channel_paused_again_after_a_resume_is_told_again_and_only_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The notice's key was the channel's alone, queued once ever: the second pause of a
    # channel, after a moderator had resumed it, told nobody why alerts stopped again.
    settings = make_settings(tmp_path / "w.db", [])
    async with console_runtime(settings) as (rt, _):
        hold_channel(rt.db, "console", "not_in_channel")
        assert await _told(rt, capsys) == 1
        hold_channel(rt.db, "console", "not_in_channel")  # a send already under way fails too
        assert await _told(rt, capsys) == 0
        await _resume(rt)
        hold_channel(rt.db, "console", "is_archived")
        assert await _told(rt, capsys) == 1
    async with console_runtime(settings) as (rt, _):  # a restart tells the same pause no more
        hold_channel(rt.db, "console", "is_archived")
        assert await _told(rt, capsys) == 0


async def test_a_gone_channel_paused_again_after_a_resume_is_told_to_ops_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `gone:CHANNEL` and its copy `ops:gone:CHANNEL` were once per channel ever too.
    ops = "slack:C0OPS"  # no Slack adapter here: the copy waits queued, counted
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        hold_channel(rt.db, "console", "channel_not_found", "archived")
        assert copy_to_ops(rt.db, ops) == 1
        assert await _told(rt, capsys) == 1
        hold_channel(rt.db, "console", "channel_not_found", "archived")
        assert copy_to_ops(rt.db, ops) == 0
        assert await _told(rt, capsys) == 0
        await _resume(rt)
        hold_channel(rt.db, "console", "channel_not_found", "archived")
        assert copy_to_ops(rt.db, ops) == 1
        assert await _told(rt, capsys) == 1
