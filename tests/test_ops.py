"""Ops: compose file valid, backup, prune, OPML, logs (the image: tests/test_image.py)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.clock import iso
from bot.db import open_database
from bot.errors import UsageError
from bot.logs import setup_logging
from bot.maintenance import PRUNE_BATCH, backup, prune
from bot.onebot import one_bot

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"  # see tests/data/SOURCES.md


def test_compose_file_validates_against_the_compose_spec():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)
    bot = compose["services"]["wirewatch"]
    assert "wirewatch-data:/data" in bot["volumes"] and bot["restart"] == "unless-stopped"
    assert bot["healthcheck"] and bot["stop_grace_period"]
    assert compose["services"]["datasette"]["profiles"] == ["browse"]


def _seed(db, now: datetime) -> None:
    db.execute(
        "INSERT INTO feeds (id, url, name, next_poll, created) VALUES "
        "(1, 'https://x.example/rss', 'X', ?, ?)",
        [iso(now), iso(now)],
    )
    db.execute(
        "INSERT INTO subscriptions (id, channel, topic, created) VALUES (1, 'console', 't', ?)",
        [iso(now)],
    )
    rows = [
        (1, now - timedelta(days=200), now - timedelta(days=200), None),  # old, closed
        (2, now - timedelta(days=200), now, None),  # old item of an open story
        (3, now - timedelta(days=200), now - timedelta(days=200), "pending"),
        (4, now - timedelta(days=1), now - timedelta(days=1), None),
    ]  # recent
    for n, seen, story_seen, delivery in rows:
        db.execute(
            "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (?, 't', ?, ?)",
            [n, iso(seen), iso(story_seen)],
        )
        db.execute(
            "INSERT INTO items (id, feed_id, identity, title, summary, published, "
            "first_seen, story_id) VALUES (?, 1, ?, ?, 's', ?, ?, ?)",
            [n, f"i{n}", f"title {n}", iso(seen), iso(seen), n],
        )
        if delivery:
            db.execute(
                "INSERT INTO deliveries (subscription_id, channel, story_id, item_id, kind, "
                "status, next_attempt, created) VALUES (1, 'console', ?, ?, 'new', ?, ?, ?)",
                [n, n, delivery, iso(now), iso(now)],
            )


def test_prune_keeps_open_stories_recent_items_and_pending_deliveries(tmp_path):
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    done = prune(db, older_than=90 * 86400, story_window=72 * 3600)
    assert done.items == 1 and done.stories == 1
    assert [r[0] for r in db.execute("SELECT id FROM items ORDER BY id")] == [2, 3, 4]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_big_prune_goes_in_short_transactions_and_shrinks_the_search_index(tmp_path):
    # One transaction held the write lock for minutes on a year's archive: every write of a
    # bot running beside it failed after the busy timeout.
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    old = iso(datetime.now(UTC) - timedelta(days=200))
    n = 2 * PRUNE_BATCH + 500
    with db.conn:
        db.conn.execute(
            "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (9, 't', ?, ?)",
            [old, old],
        )
        db.conn.executemany(
            "INSERT INTO items (feed_id, identity, title, summary, published, first_seen, "
            "story_id) VALUES (1, ?, ?, 'troops sent to the border', ?, ?, 9)",
            [(f"old-{i}", f"Old report {i} of troops", old, old) for i in range(n)],
        )
    fts_pages = "SELECT count(*) FROM items_fts_data"
    before = db.execute(fts_pages).fetchone()[0]
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    done = prune(db, older_than=90 * 86400, story_window=72 * 3600, vacuum=False)
    db.conn.set_trace_callback(None)
    assert done.items == n + 1 and done.stories == 2  # item 1 of _seed, and its story
    # PRUNE_BATCH items a transaction at most: each batch is its own temporary table.
    assert sum(s.startswith("CREATE TEMP TABLE doomed") for s in statements) == 3
    assert db.execute(
        "SELECT count(*) FROM items_fts WHERE items_fts MATCH 'troops'"
    ).fetchone() == (0,)
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")
    assert db.execute(fts_pages).fetchone()[0] < before / 4  # deleted rows merged away
    assert [r[0] for r in db.execute("SELECT id FROM items ORDER BY id")] == [2, 3, 4]


def test_backup_is_a_consistent_wirewatch_database(tmp_path):
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    size = backup(db, tmp_path / "b" / "copy.db")
    assert size > 0
    copy = open_database(tmp_path / "b" / "copy.db")
    assert copy.execute("SELECT count(*) FROM items").fetchone()[0] == 4
    with pytest.raises(UsageError, match="exists"):
        backup(db, tmp_path / "b" / "copy.db")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"database: {tmp_path / 'w.db'}\nfeeds: []\n", encoding="utf-8")
    return path


def test_db_commands_from_the_cli(tmp_path, capsys):
    config = _config(tmp_path)
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    db.close()
    assert main(["db", "backup", str(tmp_path / "bk.db"), "--config", str(config)]) == 0
    assert sqlite3.connect(tmp_path / "bk.db").execute("SELECT count(*) FROM items").fetchone()[0]
    assert main(["db", "prune", "--older-than", "90d", "--config", str(config)]) == 0
    assert "pruned 1 item," in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "soon", "--config", str(config)]) == 2


def test_prune_beside_a_running_bot_skips_vacuum_and_says_so(tmp_path, capsys):
    # VACUUM holds the write lock for seconds on a big file: the bot's writes would fail.
    config = _config(tmp_path)
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    db.close()
    with one_bot(str(tmp_path / "w.db")):
        assert main(["db", "prune", "--older-than", "90d", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "pruned 1 item," in out and "the file keeps its size" in out
    assert f"a wirewatch (pid {os.getpid()}) is running" in err and "VACUUM skipped" in err
    assert main(["db", "prune", "--older-than", "90d", "--config", str(config)]) == 0
    assert "VACUUM skipped" not in capsys.readouterr().err  # no bot: the usual VACUUM


def _items(path: Path) -> list[int]:
    return [r[0] for r in sqlite3.connect(path).execute("SELECT id FROM items ORDER BY id")]


@pytest.mark.parametrize("age", ["90", "0", "2.5"])
def test_prune_refuses_an_age_without_a_unit(tmp_path, capsys, age):
    config = _config(tmp_path)
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    db.close()
    assert main(["db", "prune", "--older-than", age, "--config", str(config)]) == 2
    assert f"{age} has no unit" in capsys.readouterr().err
    assert _items(tmp_path / "w.db") == [1, 2, 3, 4]


def _add_item(db, n: int, published: datetime, story_seen: datetime) -> None:
    db.execute(
        "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (?, 't', ?, ?)",
        [n, iso(story_seen), iso(story_seen)],
    )
    db.execute(
        "INSERT INTO items (id, feed_id, identity, title, summary, published, first_seen, "
        "story_id) VALUES (?, 1, ?, 't', 's', ?, ?, ?)",
        [n, f"i{n}", iso(published), iso(story_seen), n],
    )


@pytest.mark.parametrize("age", ["0s", "12h", "23h59m"])
def test_prune_under_a_day_needs_force(tmp_path, capsys, age):
    config = _config(tmp_path)
    db = open_database(tmp_path / "w.db")
    now = datetime.now(UTC)
    _seed(db, now)
    _add_item(db, 5, published=now - timedelta(days=1, hours=1), story_seen=now - timedelta(days=4))
    db.close()
    argv = ["db", "prune", "--older-than", age, "--config", str(config)]
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert _items(tmp_path / "w.db") == [1, 2, 3, 4, 5]
    assert main([*argv, "--force"]) == 0
    assert _items(tmp_path / "w.db") == [2, 3, 4]  # open stories' items, the waiting alert's


def test_prune_counts_age_from_publication_not_from_storing(tmp_path):
    """An article of 2016 seen for the first time last week is 2016's, not last week's."""
    db = open_database(tmp_path / "w.db")
    now = datetime.now(UTC)
    _seed(db, now)
    _add_item(db, 5, published=datetime(2016, 3, 1, tzinfo=UTC), story_seen=now - timedelta(days=7))
    done = prune(db, older_than=30 * 86400, story_window=72 * 3600)
    assert done.items == 2 and done.cutoff < iso(now)
    assert [r[0] for r in db.execute("SELECT id FROM items ORDER BY id")] == [2, 3, 4]


def test_prune_dry_run_counts_exactly_what_prune_deletes_and_changes_nothing(tmp_path, capsys):
    config = _config(tmp_path)
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    db.close()
    before = (tmp_path / "w.db").read_bytes()
    argv = ["db", "prune", "--older-than", "90d", "--config", str(config)]
    assert main([*argv, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert dry.startswith("would prune 1 item, 1 story, 0 deliveries (published before ")
    assert "nothing was changed" in dry
    assert (tmp_path / "w.db").read_bytes() == before and _items(tmp_path / "w.db") == [1, 2, 3, 4]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("pruned 1 item, 1 story, 0 deliveries")


OPML = """<?xml version="1.0"?><opml version="2.0"><head><title>Desk</title></head><body>
<outline text="World"><outline text="Al Jazeera" type="rss"
  xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"/>
<outline title="Yonhap &amp; co" xmlUrl="https://en.yna.co.kr/RSS/news.xml"/></outline>
<outline text="dupe" xmlUrl="https://en.yna.co.kr/RSS/news.xml"/>
<outline text="not a feed" xmlUrl="javascript:alert(1)"/></body></opml>"""


def test_opml_import_then_export_round_trips(tmp_path, capsys):
    config = _config(tmp_path)
    (tmp_path / "in.opml").write_text(OPML, encoding="utf-8")
    assert main(["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "2 new feeds, 0 already present" in err
    # the first import makes the database: where, said (from the wrong folder, it shows)
    assert "note: no database yet: creating " in err
    assert main(["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)]) == 0
    assert "no database yet" not in capsys.readouterr().err
    assert main(["feeds", "export", str(tmp_path / "out.opml"), "--config", str(config)]) == 0
    from bot.opml import read_opml

    feeds = read_opml((tmp_path / "out.opml").read_bytes()).feeds
    assert {(f.name, f.url) for f in feeds} == {
        ("Al Jazeera", "https://www.aljazeera.com/xml/rss/all.xml"),
        ("Yonhap & co", "https://en.yna.co.kr/RSS/news.xml"),
    }


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>',
        b"<html><body>no</body></html>",
        b"\x00\x01garbage",
    ],
)
def test_bad_opml_is_refused_and_adds_nothing(tmp_path, body, capsys):
    config = _config(tmp_path)
    (tmp_path / "in.opml").write_bytes(body)
    # A bad file, like a bad argument, exits 2 (README: exit codes).
    assert main(["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)]) == 2
    assert "OPML" in capsys.readouterr().err
    assert open_database(tmp_path / "w.db").execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


def test_json_logs_one_object_per_line_and_no_tokens(capsys):
    setup_logging(logging.INFO, "json")
    logging.getLogger("bot.test").info("slack.auth token=xoxb-1234-5678-abcdefabcdef ok")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "INFO" and "xoxb-" not in line and "[secret]" in entry["message"]
    setup_logging(logging.WARNING, "text")


def test_logs_mask_every_discord_token_and_the_secret_variables_values(capsys, monkeypatch):
    """A bot id starting 8 or 9 gives a token starting O (bots of 2020-2021), which the
    pattern missed; a signing secret is plain hex, which no pattern can tell from a hash."""
    discord = "ODEyMzQ1Njc4OTAxMjM0NTY3.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789AB"
    signing = "8f14e45fceea167a5a36dedd4bea2543"
    monkeypatch.setenv("SLACK_SIGNING_SECRET", signing)
    for fmt in ("json", "text"):
        setup_logging(logging.INFO, fmt)
        logging.getLogger("bot.test").info("auth token=%s secret=%s", discord, signing)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert discord[:10] not in line and signing not in line and line.count("[secret]") == 2
    setup_logging(logging.WARNING, "text")


@pytest.mark.parametrize("command", [["check"], ["run"], ["poll"]])
def test_a_log_format_that_is_not_one_is_refused(tmp_path, capsys, monkeypatch, command):
    """`WIREWATCH_LOG_FORMAT=jsonl` gave text logs, silently, to a pipeline that reads JSON."""
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {tmp_path / 'w.db'}\nfeeds: []\n")
    monkeypatch.setenv("WIREWATCH_LOG_FORMAT", "jsonl")
    with socket.socket() as taken:  # a `run` that went ahead would stop here, not run on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("WIREWATCH_HTTP_PORT", str(taken.getsockname()[1]))
        assert main([*command, "--config", str(config)]) == 2
    assert "WIREWATCH_LOG_FORMAT: 'jsonl' is not a log format" in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()
    monkeypatch.setenv("WIREWATCH_LOG_FORMAT", " JSON ")
    assert main(["check", "--config", str(config)]) == 0
    setup_logging(logging.WARNING, "text")


async def test_readyz_names_what_is_not_ready(tmp_path):
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.readiness import readiness
    from tests.runtime import console_runtime, make_settings

    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        assert readiness(rt) == (False, "scheduler not running")
        rt.scheduler = AsyncIOScheduler()
        rt.scheduler.start()
        assert readiness(rt) == (True, "ok")

        class Disconnected:
            connected = False

        rt.adapters["discord"] = Disconnected()
        assert readiness(rt) == (False, "not connected: discord")
        rt.scheduler.shutdown(wait=False)


ODD_OUTLINES = """<?xml version="1.0"?><opml version="2.0"><body>
<outline text="Wire" xmlUrl="https://wire.example/rss" interval="15m"/>
<outline text="Old FTP" xmlUrl="ftp://files.example/feed.xml"/>
<outline text="Homepage only" htmlUrl="https://home.example/"/>
<outline text="Folder"><outline text="Desk" xmlUrl="https://desk.example/rss"/></outline>
</body></opml>"""


def test_opml_import_names_what_it_skips_and_counts_what_was_there(tmp_path, capsys):
    config = _config(tmp_path)
    (tmp_path / "in.opml").write_text(ODD_OUTLINES, encoding="utf-8")
    argv = ["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "skipped: Old FTP: ftp://files.example/feed.xml is not an http" in err
    assert "skipped: Homepage only: no xmlUrl" in err
    assert "Folder" not in err  # a folder is not a feed: nothing to report
    assert "2 new feeds, 0 already present, 2 outlines skipped" in err
    assert "\r" not in err  # stderr is not a terminal here: no progress line
    assert main(argv) == 0
    assert "0 new feeds, 2 already present" in capsys.readouterr().err


def test_opml_export_keeps_each_feeds_interval(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\nfeeds:\n"
        "  - {name: Slow, url: 'https://slow.example/rss', interval: 2h}\n"
        "  - {name: Odd, url: 'https://odd.example/rss', interval: 3700s}\n"
        "  - {name: Plain, url: 'https://plain.example/rss'}\n",
        encoding="utf-8",
    )
    (tmp_path / "in.opml").write_text(ODD_OUTLINES, encoding="utf-8")
    main(["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)])
    assert main(["feeds", "export", str(tmp_path / "out.opml"), "--config", str(config)]) == 0
    from bot.opml import read_opml

    exported = read_opml((tmp_path / "out.opml").read_bytes())
    assert {f.name: f.interval for f in exported.feeds} == {
        "Slow": 7200,
        "Odd": 3700,
        "Plain": None,
        "Wire": 900,
        "Desk": None,
    }
    assert exported.skipped == []


def test_every_variable_env_example_offers_reaches_the_container():
    """Compose's `environment` overrides `env_file`: a variable set there to a value makes
    .env's line dead (WIREWATCH_LOG_FORMAT=text in .env still gave JSON logs)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["wirewatch"]["environment"]
    offered = [
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
    assert "WIREWATCH_LOG_FORMAT" in offered
    for name in offered:
        set_here = str(environment.get(name, "${" + name + "}"))
        assert set_here.startswith("${" + name), f"{name}: {set_here} overrides .env"


def test_compose_file_needs_and_names_compose_2_24():
    """`env_file` with `required: false` came with Compose 2.24: older ones refuse the file."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    readme = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    env_files = compose["services"]["wirewatch"]["env_file"]
    assert any(isinstance(e, dict) and "required" in e for e in env_files)
    deployment = readme.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    assert "Docker Compose 2.24" in deployment and "docker compose config" in deployment
