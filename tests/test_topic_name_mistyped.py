"""A topic's name typed in capitals (`Nk-russia`, a phone's first capital) or near one, at
`wirewatch topics test`: it tested the words "nk russia" and answered "no match", read as the
topic failing a text it matches. Chat's `test` refused it already; now both do (bot.catalog)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands import Commands
from bot.startup import open_runtime
from tests.test_commands import make_settings, run

TEXT = "North Korea has sent more troops to Russia"


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("Troop-deployments", "did you mean troop-deployments? (topic names are lowercase)"),
        ("TROOP-DEPLOYMENTS", "did you mean troop-deployments? (topic names are lowercase)"),
        ("Troop-deployment", "did you mean troop-deployments?"),
    ],
)
def test_cli_refuses_a_topic_name_in_capitals_with_the_name_meant(typed, meant, capsys):
    assert main(["topics", "test", typed, TEXT]) == 2
    out, err = capsys.readouterr()
    assert "no match" not in out and f"no topic {typed}: {meant}" in err
    assert "`" not in err  # the shell's style: names plain, not in chat's backticks
    # The way out, typed as shown, tests the words.
    hint = err.rsplit("put them in double quotes: ", 1)[1].strip()
    assert main(["topics", "test", *shlex.split(hint), TEXT]) == 1
    assert capsys.readouterr().out.startswith("no match")


def test_cli_still_tests_a_word_in_capitals_no_topic_is_near(capsys):
    assert main(["topics", "test", "F-16", "Poland buys F-16 jets"]) == 0
    assert capsys.readouterr().out.startswith("MATCH")


async def test_chat_test_refuses_a_near_miss_in_capitals_in_its_backticks(tmp_path: Path) -> None:
    """`test Troop-deployment TEXT` (a phone's capital, an s lost) tested the words."""
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        near, far = [
            await run(Commands(rt), f"test {typed} {TEXT}")
            for typed in ("Troop-deployment", "F-16")
        ]
    assert not near.ok and "no match" not in near.text
    assert "no topic `Troop-deployment`: did you mean `troop-deployments`?" in near.text
    assert far.ok and far.text.startswith("no match")  # a word no topic is near: tested


@pytest.mark.parametrize(
    "typed, text",
    [
        ("NATO-deployments", "NATO deployments grow on the eastern flank"),
        ("US-deployments", "US deployments to the Gulf rise again"),
        ("Drone-deployments", "Drone deployments along the border doubled"),
    ],
)
def test_cli_tests_words_in_capitals_that_only_look_like_a_topic_name(typed, text, capsys):
    """At difflib's 0.6, these were refused as `troop-deployments` misspelt: a query an
    editor meant, answered "did you mean troop-deployments?"."""
    assert main(["topics", "test", typed, text]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("MATCH") and "no topic" not in err, (out, err)


async def test_chat_test_tests_words_in_capitals_that_only_look_like_a_topic_name(
    tmp_path: Path,
) -> None:
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        reply = await run(Commands(rt), "test NATO-deployments NATO deployments grow")
    assert reply.ok and "no topic" not in reply.text, reply.text
