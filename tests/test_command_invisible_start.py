"""A /wirewatch command whose text starts with a character nobody sees (a zero-width space,
a BOM pasted in, the direction mark a phone's keyboard puts first) runs as typed. Through
the real bolt app and slack_sdk against tests/slackstub.py; the parser is the core's, which
Discord's commands go through too.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import subscriptions
from tests.test_slack import NEWS, slack_env


@pytest.mark.parametrize("unseen", ["\u200b", "\ufeff", "\u200e", "\u200f ", "\u200b\u2060"])
async def test_a_command_starting_with_an_invisible_character_runs(
    tmp_path: Path, unseen: str
) -> None:
    # It was "unknown command `help`: did you mean `/wirewatch help`?", naming the very
    # command typed; a moderator's `subscribe` was refused the same way.
    async with slack_env(tmp_path) as env:
        assert "/wirewatch subscribe" in await env.command(f"{unseen}help")
        reply = await env.command(f"{unseen}subscribe troop-deployments")
        assert "unknown command" not in reply
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.topic == "troop-deployments"
