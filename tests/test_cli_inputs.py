"""The command line under odd input: a clear error, never a traceback, nothing written over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_database


def _config(tmp_path: Path, database: Path | None = None) -> Path:
    path = tmp_path / "c.yaml"
    db = database or tmp_path / "w.db"
    path.write_text(f"database: {db}\nfeeds: []\n", encoding="utf-8")
    return path


def _stored_db(tmp_path: Path) -> Path:
    db = tmp_path / "w.db"
    open_database(db).close()
    return db


@pytest.mark.parametrize(
    "argv",
    [["feeds", "export", "{db}"], ["eval", "--feedback", "{db}"]],
    ids=["feeds-export", "eval-feedback"],
)
def test_an_export_never_writes_over_the_database(tmp_path, capsys, argv):
    db = _stored_db(tmp_path)
    before = db.read_bytes()
    args = [a.format(db=db) for a in argv] + ["--config", str(_config(tmp_path))]
    assert main(args) == 2
    assert "is a SQLite database" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_feeds_export_to_a_missing_folder_is_an_error_and_dash_is_stdout(tmp_path, capsys):
    _stored_db(tmp_path)
    config = str(_config(tmp_path))
    assert main(["feeds", "export", str(tmp_path / "no" / "f.opml"), "--config", config]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err
    assert main(["feeds", "export", "-", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("<?xml")
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["feedback", "not-relevant", "1"],
        ["topics", "backtest", "troop-deployments"],
        ["db", "prune", "--older-than", "90d"],
    ],
)
def test_a_command_on_stored_data_does_not_create_an_empty_database(tmp_path, capsys, argv):
    """A config pointing at the wrong path must not answer from a new, empty database."""
    assert main([*argv, "--config", str(_config(tmp_path))]) in (1, 2)
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["feedback", "not-relevant", "1"],
        ["topics", "backtest", "troop-deployments"],
        ["db", "backup", "copy.db"],
        ["db", "prune", "--older-than", "90d"],
    ],
    ids=["feedback", "backtest", "backup", "prune"],
)
def test_a_missing_database_at_a_relative_path_says_which_file_was_looked_for(
    tmp_path, capsys, monkeypatch, argv
):
    """`feeds` said where a relative `database` led, from the folder the command ran in;
    these four said only `data/w.db`, which is the bot's file when run from its folder."""
    config = tmp_path / "c.yaml"
    config.write_text("database: data/w.db\nfeeds: []\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--config", str(config)]) == 1
    expected = f"(that is {tmp_path.resolve() / 'data' / 'w.db'}: relative to this folder)"
    assert expected in capsys.readouterr().err


def test_an_alert_number_beyond_sqlites_integers_is_refused(tmp_path, capsys):
    _stored_db(tmp_path)
    argv = ["feedback", "wrong-story", str(2**63), "--config", str(_config(tmp_path))]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "there is no alert" in err and "Traceback" not in err


def test_an_alert_not_in_the_database_says_which_database_was_asked(tmp_path, capsys):
    """An alert printed by a bot run with another --config was "not known", with no word of
    which file had been asked: the newcomer checked the number, not the config."""
    db = _stored_db(tmp_path)
    config = _config(tmp_path)
    assert main(["feedback", "not-relevant", "4", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "does not know alert 4" in err
    assert f"Looked in {db.resolve()}, the database of {config}" in err


def _eval(tmp_path: Path, lines: list[object], *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["eval", str(path), *extra])
    return code, out.getvalue(), err.getvalue()


NK = "North Korea has sent more troops to Russia, South Korea says"


@pytest.mark.parametrize("published", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_eval_refuses_a_date_no_news_has(tmp_path, published):
    code, _, err = _eval(tmp_path, [{"title": NK, "label": "deploy", "published": published}])
    assert code == 2 and "not a year of news" in err and "Traceback" not in err


def test_eval_refuses_json_nested_too_deeply(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert main(["eval", str(path)]) == 2


def test_eval_reads_the_positive_label_in_any_case_and_refuses_one_not_there(tmp_path):
    items = [{"title": NK, "label": "deploy"}, {"title": "Chess champion wins", "label": "other"}]
    code, out, _ = _eval(tmp_path, items, "--positive", "Deploy")
    assert code == 0 and "recall 1.000" in out
    code, _, err = _eval(tmp_path, items, "--positive", "deployment")
    assert code == 2 and "--positive 'deployment' is not a label" in err


def test_eval_takes_unix_seconds_written_as_text(tmp_path):
    code, out, _ = _eval(tmp_path, [{"title": NK, "label": "deploy", "published": "1733400000"}])
    assert code == 0 and "recall 1.000" in out


def test_undated_items_are_replayed_beside_the_dated_ones_before_them(tmp_path):
    """Two reports of one story, the second undated: it must join the first, not land in
    the year 2000."""
    items = [
        {"title": NK, "label": "deploy", "story": "s", "published": "2024-11-20T10:00:00Z"},
        {
            "title": "North Korea sends more troops to Russia: Seoul",
            "label": "deploy",
            "story": "s",
        },
    ]
    code, out, _ = _eval(tmp_path, items)
    stories = next(line for line in out.splitlines() if line.startswith("stories:"))
    assert code == 0 and "recall 1.000" in stories, stories


def test_undated_items_before_the_first_dated_one_lead_up_to_it(tmp_path):
    """The first report undated, the second dated: the first must be replayed just before
    the second (one story, one alert), not in the year 2000."""
    items = [
        {"title": NK, "label": "deploy", "story": "s"},
        {
            "title": "North Korea sends more troops to Russia: Seoul",
            "label": "deploy",
            "story": "s",
            "published": "2024-11-20T10:00:00Z",
        },
    ]
    code, out, _ = _eval(tmp_path, items)
    stories = next(line for line in out.splitlines() if line.startswith("stories:"))
    assert code == 0 and "recall 1.000" in stories, stories
    assert "0 stories alerted more than once" in out


def test_a_backup_under_a_file_is_an_error_not_a_traceback(tmp_path, capsys):
    _stored_db(tmp_path)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    argv = ["db", "backup", str(tmp_path / "afile" / "b.db"), "--config", str(_config(tmp_path))]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "backup to" in err and "failed" in err and "Traceback" not in err


def test_a_backup_onto_an_existing_file_is_refused_as_a_bad_argument_and_keeps_the_file(
    tmp_path, capsys
):
    _stored_db(tmp_path)
    earlier = tmp_path / "monday.db"
    earlier.write_bytes(b"last week's backup")
    argv = ["db", "backup", str(earlier), "--config", str(_config(tmp_path))]
    assert main(argv) == 2  # docs/commands.md: 2 for a bad argument or file
    assert "exists; choose a new file name" in capsys.readouterr().err
    assert earlier.read_bytes() == b"last week's backup"


def test_a_feedback_export_of_a_mistyped_topic_leaves_the_last_export_alone(tmp_path, capsys):
    _stored_db(tmp_path)
    out = tmp_path / "labels.jsonl"
    out.write_text('{"title": "kept"}\n', encoding="utf-8")
    argv = ["eval", "--feedback", str(out), "--topic", "troop-deployment"]
    assert main([*argv, "--config", str(_config(tmp_path))]) == 2
    assert "is not a topic" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == '{"title": "kept"}\n'
