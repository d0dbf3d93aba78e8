"""A Slack member's id (slack:U…, slack:W…) written as a channel is refused by `wirewatch
check` and at start, with what to write instead.

chat.postMessage takes a member's id and posts in their DM with the app, but the message
then belongs to the DM (D…): chat.update of its source list failed and the channel was
looked up as gone. Each test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main


@pytest.mark.parametrize(
    "where", ["subscriptions:\n  - {topic: troop-deployments, channel: X}\n", "ops_channel: X\n"]
)
@pytest.mark.parametrize("member", ["slack:U0123ABCD", "slack:W0123ABCD"])
def test_a_member_id_as_a_channel_is_refused_with_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, member: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(where.replace("X", member), encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "a Slack member's id, not a channel's" in err
    assert "/wirewatch subscribe TOPIC` in that DM" in err and "slack:D…" in err


def test_a_dm_or_channel_id_is_still_taken(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "ops_channel: slack:D0123ABCD\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: slack:C0123ABCD}\n",
        encoding="utf-8",
    )
    assert main(["check", "--config", str(path)]) == 0
