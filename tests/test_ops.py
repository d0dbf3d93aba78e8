"""Ops: compose file valid, backup, prune, OPML, logs (the image: tests/test_image.py)."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.clock import iso
from bot.db import open_database
from bot.errors import StoreError
from bot.logs import setup_logging
from bot.maintenance import backup, prune

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


def test_backup_is_a_consistent_wirewatch_database(tmp_path):
    db = open_database(tmp_path / "w.db")
    _seed(db, datetime.now(UTC))
    size = backup(db, tmp_path / "b" / "copy.db")
    assert size > 0
    copy = open_database(tmp_path / "b" / "copy.db")
    assert copy.execute("SELECT count(*) FROM items").fetchone()[0] == 4
    with pytest.raises(StoreError, match="exists"):
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
    assert "pruned 1 items" in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "soon", "--config", str(config)]) == 2


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
    assert "imported 2 feeds" in capsys.readouterr().err
    assert main(["feeds", "export", str(tmp_path / "out.opml"), "--config", str(config)]) == 0
    from bot.opml import read_opml

    feeds = read_opml((tmp_path / "out.opml").read_bytes())
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
    assert main(["feeds", "import", str(tmp_path / "in.opml"), "--config", str(config)]) == 1
    assert "OPML" in capsys.readouterr().err
    assert open_database(tmp_path / "w.db").execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


def test_json_logs_one_object_per_line_and_no_tokens(capsys):
    setup_logging(logging.INFO, "json")
    logging.getLogger("bot.test").info("slack.auth token=xoxb-1234-5678-abcdefabcdef ok")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "INFO" and "xoxb-" not in line and "[secret]" in entry["message"]
    setup_logging(logging.WARNING, "text")


async def test_readyz_names_what_is_not_ready(tmp_path):
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.app import readiness
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
