"""Slack Connect: in a channel shared with another organisation, only the app's own
workspace's admins and owners may run moderator commands. users.info says `is_admin` of a
member of the other organisation too (their own workspace's admin). Through the real bolt
app and slack_sdk against tests/slackstub.py.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

from bot.store import subscriptions
from tests.slackstub import TEAM
from tests.test_slack import ADMIN, NEWS, slack_env

GUEST = "U0GUEST"


async def test_another_organisations_admin_may_not_moderate_a_shared_channel(
    tmp_path: Path,
) -> None:
    async with slack_env(tmp_path) as env:
        env.stub.add_user(GUEST, admin=True, owner=True)
        env.stub.users[GUEST]["team_id"] = "T0OTHERORG"
        reply = await env.command("subscribe troop-deployments", user=GUEST)
        assert "moderators" in reply and subscriptions(env.rt.db, f"slack:{NEWS}") == []
        # Our own workspace's admin still may, and auth.test is not asked again for it.
        asked = len(env.stub.calls_to("auth.test"))
        await env.command("subscribe troop-deployments", user=ADMIN)
        assert [s.topic for s in subscriptions(env.rt.db, f"slack:{NEWS}")] == ["troop-deployments"]
        assert len(env.stub.calls_to("auth.test")) == asked


async def test_an_admin_of_another_workspace_of_our_grid_org_still_may(tmp_path: Path) -> None:
    # Enterprise Grid: a member whose home workspace is another of the org's, in ours too.
    async with slack_env(tmp_path) as env:
        env.stub.add_user(GUEST, admin=True)
        env.stub.users[GUEST]["team_id"] = "T0SISTER"
        env.stub.users[GUEST]["enterprise_user"] = {
            "enterprise_id": "E0ORG",
            "teams": ["T0SISTER", TEAM],
            "is_admin": True,
        }
        await env.command("subscribe troop-deployments", user=GUEST)
        assert len(subscriptions(env.rt.db, f"slack:{NEWS}")) == 1
