"""/wirewatch options as Discord delivers them, typed by members: out-of-range values and
mentions, through discord.py against tests/discordstub.py.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

import pytest

from bot.store import subscriptions
from tests.test_discord import assert_nothing_pings, discord_runtime, settings_for, text_of

pytestmark = pytest.mark.slow


async def test_a_duration_past_any_range_is_answered_with_the_range(stub, tmp_path) -> None:
    # "99999d" is already the short form, which `meant` offered back; reading that offer
    # raised past the command's refusal: "something went wrong on wirewatch's side".
    async with discord_runtime(stub, settings_for(tmp_path)) as (rt, _):
        await stub.command("subscribe", user=stub.moderator, topic="troop-deployments")
        muted = await stub.command("mute", user=stub.moderator, duration="99999999d")
        recap = await stub.command("digest", user=stub.member, since="99999d")
        [sub] = subscriptions(rt.db, f"discord:{stub.general}")
    assert "a mute lasts at least 1s and at most 90d" in text_of(muted), text_of(muted)
    assert "at most 7d" in text_of(recap), text_of(recap)
    assert sub.muted_until is None
    assert_nothing_pings(stub)
