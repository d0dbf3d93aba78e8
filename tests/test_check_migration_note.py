"""`wirewatch check` on the database of the release before tells the operator the truth about
when it is migrated: by the next command that can write to it, `status` and `search`
included, not only "when the bot starts". An operator who believed the old note ran
`wirewatch status` to look before starting the bot, and that migrated the file (so the old
release could no longer open it). The database is the previous release's schema, built as
tests/test_upgrade.py builds it; real SQLite, the real command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from bot.cli import main
from bot.migrations import SCHEMA_VERSION
from tests.test_upgrade import (
    PREVIOUS,
    _own_environment,  # noqa: F401 (an autouse fixture)
    config,
    previous_release_database,
)


def _version(path: Path) -> int:
    db = sqlite_utils.Database(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("command", [["status"], ["search", "troops"]])
def test_check_says_the_next_command_that_can_write_migrates_and_it_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    previous_release_database(tmp_path / "w.db")
    path = config(tmp_path)
    main(["check", "--config", str(path)])
    [note] = [line for line in capsys.readouterr().out.splitlines() if "schema version" in line]
    assert f"schema version {PREVIOUS}: the next wirewatch command that can write" in note
    assert f"`{command[0]}`" in note and "when it starts" not in note
    assert _version(tmp_path / "w.db") == PREVIOUS  # check itself migrates nothing

    assert main([*command, "--config", str(path)]) == 0
    assert _version(tmp_path / "w.db") == SCHEMA_VERSION  # as the note said
    main(["check", "--config", str(path)])
    assert "schema version" not in capsys.readouterr().out
