"""An operator upgrading: the database of the release before is migrated by whichever command
first opens it with write access, and that command says so.

`wirewatch check` notes that "the bot migrates it when it starts", but `status`, `search`,
`feeds` or a cron's `poll` run first just as often, and those log at warning level only: the
migration went unsaid, and the operator learned that the old release could no longer open the
file only by trying. The database here is the previous release's schema (the first 20 steps),
as test_topic_added_by builds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from bot.cli import main
from bot.db import APPLICATION_ID
from bot.migrations import MIGRATIONS, SCHEMA_VERSION

PREVIOUS = 20  # the last release's schema


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WIREWATCH_DB", "WIREWATCH_CONFIG", "WIREWATCH_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)


def previous_release_database(path: Path) -> None:
    db = sqlite_utils.Database(path)
    for step in MIGRATIONS[:PREVIOUS]:
        step(db)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {PREVIOUS}")
    db.conn.commit()
    db.close()


def config(tmp_path: Path) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\nfeeds: []\narticles: {{fetch: false}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", [["status"], ["feeds"], ["search", "troops"]])
def test_the_first_command_on_the_old_database_says_it_migrated_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert PREVIOUS < SCHEMA_VERSION
    previous_release_database(tmp_path / "w.db")
    argv = [*command, "--config", str(config(tmp_path))]

    assert main(argv) == 0
    said = capsys.readouterr().err
    assert f"db.migrated database={tmp_path / 'w.db'} from={PREVIOUS} to={SCHEMA_VERSION}" in said

    assert main(argv) == 0  # migrated already: nothing more to say about it
    assert "db.migrated" not in capsys.readouterr().err
