"""WIREWATCH_DB of only spaces beside a `$VAR` in the config's `database:`: the operator is
told of the blank WIREWATCH_DB, what they set last, not asked to set WIREWATCH_DB."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.check import load_checked
from bot.errors import ConfigError
from bot.gazetteer import Gazetteer
from bot.settings import load_settings


@pytest.mark.parametrize("load", [load_settings, lambda p: load_checked(p, Gazetteer.load())])
def test_a_blank_wirewatch_db_is_said_before_the_config_s_shell_variable(
    load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("database: $HOME/wirewatch.db\n", encoding="utf-8")
    monkeypatch.setenv("WIREWATCH_DB", "   ")
    with pytest.raises(ConfigError) as refused:
        load(config)
    said = "\n".join(refused.value.problems)
    assert "WIREWATCH_DB: blank; unset it or name the database file" in said
    assert "is not expanded in the config file" not in said
