"""Search options typed wrong or left empty (`page:-1`, `outlet:`, `since:`) were searched as
words, `entity:` dropped; `—channel`, a phone's long dash for `--channel`, was told "search
cannot leave words out", `--channel=C1` searched as words. Each is refused with what to
write. Real SQLite, the shared commands as chat runs them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.commands import Commands
from bot.commands.lookups import CLI_OPTIONS
from bot.startup import open_runtime
from tests.test_commands import make_settings, run

ASKED = [
    ("search troops page:-1", "`page:-1`: a page is a number from 1, like `page:2`"),
    ("search troops page:", "`page:`: a page is a number from 1"),
    ("search troops outlet:", "`outlet:`: an outlet is a feed's name, like `outlet:Reuters`"),
    ('search troops outlet:""', '`outlet:""`: an outlet is a feed\'s name'),
    ("search troops since:", "`since:`: since: takes a duration, like `since:7d`"),
    # Searched without it, unsaid: an editor thought the entity was looked for.
    ("search troops entity:", "`entity:`: an entity is a name, like `entity:Russia`"),
    ('search troops entity:""', '`entity:""`: an entity is a name'),
    # Told "cannot leave words out", and searched as the words `channel` and `C1`.
    ("search troops \u2014channel=C1", "`\u2014channel=C1` is an option of `wirewatch search`"),
    ("search troops --channel=C1", "`--channel=C1` is an option of `wirewatch search`"),
    ("search troops \u2014channel C1", "`\u2014channel` is an option of `wirewatch search`"),
    ("search troops \u2013json", "(`--json` with a long dash)"),
    ("digest 12h page:-1", "`page:-1`: a page is a number from 1, like `page:2`"),
]


@pytest.mark.parametrize("typed, says", ASKED)
async def test_a_search_option_typed_wrong_is_refused_with_what_to_write(
    typed: str, says: str, tmp_path: Path
) -> None:
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        reply = await run(Commands(rt), typed)
    assert not reply.ok and says in reply.text
    assert "nothing stored matches" not in reply.text and "leave words out" not in reply.text


async def test_the_options_still_work_and_a_word_to_leave_out_is_still_refused(
    tmp_path: Path,
) -> None:
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        fine = await run(cmds, "search troops page:2 since:7d")
        left_out = await run(cmds, "search troops \u2014drill")
    assert fine.ok and fine.text.startswith("nothing stored matches `troops")
    assert not left_out.ok and "search cannot leave words out (`\u2014drill`)" in left_out.text


def test_the_options_a_long_dash_is_read_for_are_the_command_line_s() -> None:
    search = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["search"]
    options = {o.removeprefix("--") for a in search._actions for o in a.option_strings}
    assert set(CLI_OPTIONS) == options - {"-h"}
