"""A command that pages says so where a user looks first: its help line and Discord's menu.

docs/commands.md tells how `search` and `digest SINCE` page (`page:2`); someone who only reads
`/wirewatch help`, or the option's hint under Discord's box, must learn it there too, or the
older stories stay out of reach. The help lines are the real ones (bot.commands.grammar), the
menu the real payload wirewatch registers with Discord (adapters.discord_schema).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.discord_schema import SUB_COMMAND_GROUP, command_payload
from bot.commands import SUBCOMMANDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "commands.md"


def _entries() -> dict[str, str]:
    """Each chat command's bullet in docs/commands.md, by the command's name."""
    text = DOC.read_text(encoding="utf-8")
    bullets = re.findall(
        r"^- `([a-z][a-z ]*?)(?: [A-Z\[].*?)?`(.*?)(?=^- `|^#|\Z)", text, re.S | re.M
    )
    return {name: body for name, body in bullets}


def _option_hints(name: str) -> str:
    """What Discord shows under `name`'s boxes as they are typed in: its options' hints."""
    for option in command_payload()["options"]:
        subs = option["options"] if option["type"] == SUB_COMMAND_GROUP else [option]
        for sub in subs:
            path = option["name"] if sub is option else f"{option['name']} {sub['name']}"
            if path == name:
                return " ".join(o["description"] for o in sub["options"])
    raise AssertionError(f"{name} is not in Discord's menu")


PAGED = [s.name for s in SUBCOMMANDS if "page:" in _entries().get(s.name, "")]


def test_the_docs_name_the_commands_that_page() -> None:
    assert {"search", "digest"} <= set(PAGED), PAGED  # an empty list would pass below


@pytest.mark.parametrize("name", PAGED)
def test_a_command_that_pages_says_so_in_its_help_and_in_discords_menu(name: str) -> None:
    [sub] = [s for s in SUBCOMMANDS if s.name == name]
    assert "page:2" in sub.help, sub.help
    assert "page:2" in _option_hints(name), _option_hints(name)
