"""`wirewatch check` names a chat token pasted into the wrong variable: the developer
portals show several look-alike values, and `run` only got the platform's bare refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

TOKENS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN")


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\nsubscriptions:\n"
        "  - {topic: troop-deployments, channel: slack:C0123ABCD}\n"
        "  - {topic: troop-deployments, channel: discord:123456789012345678}\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize(
    "env, says",
    [
        (
            {"SLACK_BOT_TOKEN": "xapp-1-A0-1-abc", "SLACK_APP_TOKEN": "xoxb-1-2-abc"},
            ["SLACK_BOT_TOKEN: this xapp-", "SLACK_APP_TOKEN: the app-level token starts"],
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxp-1-2-abc", "SLACK_SIGNING_SECRET": "s"},
            ["SLACK_BOT_TOKEN: this xoxp-… token is a user token"],
        ),
        ({"DISCORD_BOT_TOKEN": "123456789012345678"}, ["looks like the Application ID"]),
        ({"DISCORD_BOT_TOKEN": "0123456789abcdef" * 4}, ["looks like the Public Key"]),
        ({"DISCORD_BOT_TOKEN": "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9_bC-e"}, ["the OAuth2 Client Secret"]),
    ],
    ids=["slack-swapped", "slack-user-token", "discord-app-id", "discord-key", "discord-secret"],
)
def test_a_token_in_the_wrong_variable_is_named_by_check(tmp_path, capsys, monkeypatch, env, says):
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check", "--config", str(_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err


@pytest.mark.parametrize(
    "env",
    [
        {"SLACK_BOT_TOKEN": "xoxe.xoxb-1-abc", "SLACK_SIGNING_SECRET": "s"},  # rotated
        {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A0-1-abc"},
        {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"},
    ],
    ids=["slack-rotated", "slack-socket", "discord"],
)
def test_tokens_of_the_right_kind_pass(tmp_path, capsys, monkeypatch, env):
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check", "--config", str(_config(tmp_path))]) == 0
    assert "DISCORD_BOT_TOKEN:" not in capsys.readouterr().err
