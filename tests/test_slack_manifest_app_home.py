"""config/slack-manifest.yml as a Slack admin installs it: people can type in the app's own
DM (its Messages tab), and the slash command's usage hint spells commands as they run.

Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.commands import SUBCOMMANDS

MANIFEST = Path(__file__).resolve().parent.parent / "config/slack-manifest.yml"


def test_the_apps_dm_takes_messages() -> None:
    # Without it nobody could run /wirewatch in the app's DM (docs/slack.md: a DM with the
    # app can get alerts), the DM the notices to slack.moderators arrive in.
    home = yaml.safe_load(MANIFEST.read_text())["features"]["app_home"]
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False


def test_the_usage_hint_spells_each_command_as_it_runs() -> None:
    # It said `test TOPIC TEXT`: the command takes a query too, and a page's URL.
    [command] = yaml.safe_load(MANIFEST.read_text())["features"]["slash_commands"]
    usages = {s.usage.removeprefix("/wirewatch ") for s in SUBCOMMANDS}
    hinted = command["usage_hint"].split(" · ")
    for hint in hinted:
        assert any(u == hint or u.startswith(hint + " [") for u in usages), hint
    assert "test TOPIC|QUERY TEXT|URL" in hinted
