"""Editors' feedback without a chat platform: the shared command, the console and the command
line, `/wirewatch status` counts, and the export as labelled items. Real SQLite, the bundled
demo feeds served on 127.0.0.1, the real `wirewatch` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.console import alert_json, alert_text
from bot.cli import main
from bot.clock import utcnow
from bot.commands import Commands, Invocation, Reply
from bot.db import open_database
from bot.demo.server import serve_demo
from bot.feedback import last_week, record_label
from bot.labelled import load_labelled
from bot.maintenance import prune
from bot.model import Alert
from bot.settings import Settings
from bot.startup import open_runtime

SLACK = "slack:C0NEWS"


@pytest.fixture(scope="module")
def demo_poll(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict]]:
    """One poll of the demo feeds, for the whole module: its database, its config text, and
    the alerts it printed. Alerts go to the console (printed as JSON lines, read back here)
    and are owed to a Slack channel too (no token: those wait, unsent)."""
    tmp = tmp_path_factory.mktemp("demo")
    config = tmp / "c.yaml"
    out = tmp / "alerts.jsonl"

    async def poll() -> None:
        async with serve_demo() as feeds:
            config.write_text(
                f"database: {tmp / 'w.db'}\nfeeds:\n"
                + "".join(f"  - {{name: {f.name!r}, url: '{f.url}'}}\n" for f in feeds)
                + "subscriptions:\n  - {topic: troop-deployments, channel: console}\n"
                + f"  - {{topic: troop-deployments, channel: '{SLACK}'}}\n"
                + "network: {allow_private_addresses: true}\n",
                encoding="utf-8",
            )
            args = ["poll", "--once", "--json", "--config", str(config)]
            with out.open("w") as stdout, contextlib.redirect_stdout(stdout):
                assert await asyncio.to_thread(main, args) == 0

    asyncio.run(poll())
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert alerts and all(a["channel"] == "console" for a in alerts)
    return tmp / "w.db", config.read_text(), alerts


@pytest.fixture
def polled(demo_poll, tmp_path: Path) -> tuple[Path, list[dict]]:
    """A config of this test's own, over a copy of the polled database."""
    db, text, alerts = demo_poll
    shutil.copy(db, tmp_path / "w.db")
    with sqlite3.connect(tmp_path / "w.db") as conn:  # as if Slack had taken them
        conn.execute("UPDATE deliveries SET status = 'sent' WHERE channel = ?", [SLACK])
    conn.close()
    config = tmp_path / "c.yaml"
    config.write_text(text.replace(str(db), str(tmp_path / "w.db")), encoding="utf-8")
    return config, alerts


def _settings(config: Path) -> Settings:
    from bot.check import load_checked
    from bot.gazetteer import Gazetteer

    return load_checked(config, Gazetteer.load())


def _slack_delivery(config: Path, item_title: str) -> int:
    db = open_database(_settings(config).database)
    row = db.execute(
        "SELECT d.id FROM deliveries d JOIN items i ON i.id = d.item_id "
        "WHERE d.channel = ? AND i.title = ?",
        [SLACK, item_title],
    ).fetchone()
    db.close()
    return row[0]


@asynccontextmanager
async def chat_replies(config: Path) -> AsyncIterator[Callable[..., Awaitable[Reply]]]:
    """The shared commands over the config's database, run as a Slack user would."""
    async with open_runtime(_settings(config), {}) as rt:
        commands = Commands(rt)

        async def run(text: str, user: str = "U1", channel: str = SLACK) -> Reply:
            return await commands.handle(Invocation("slack", channel, user, text))

        yield run


@asynccontextmanager
async def chat(config: Path) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """`chat_replies`, the answers' text alone."""
    async with chat_replies(config) as replies:

        async def run(text: str, user: str = "U1", channel: str = SLACK) -> str:
            return (await replies(text, user, channel)).text

        yield run


async def test_a_click_is_recorded_once_per_person_with_who_when_and_what(polled) -> None:
    config, alerts = polled
    first = next(a for a in alerts if a["kind"] == "new" and "N. Korea" in a["title"])
    alert = _slack_delivery(config, first["title"])

    async with chat(config) as run:
        said = await run(f"feedback not-relevant {alert}")
        assert f"Recorded (alert {alert})" in said
        assert "not relevant to `troop-deployments`" in said and "only you see this" in said
        again = await run(f"feedback not-relevant {alert}")
        assert again.startswith("You already marked") and "nothing changed" in again
        assert "Recorded" in await run(f"feedback not-relevant {alert}", "U2")
        assert "Recorded" in await run(f"feedback wrong-story {alert}")

    db = open_database(_settings(config).database)
    rows = db.execute(
        "SELECT kind, platform, user, channel, topic, title, outlet FROM feedback ORDER BY id"
    ).fetchall()
    expected = ("slack", "U1", SLACK, "troop-deployments", first["title"], first["outlet"])
    assert rows[0] == ("not-relevant", *expected)
    assert [r[:3] for r in rows] == [
        ("not-relevant", "slack", "U1"),
        ("not-relevant", "slack", "U2"),
        ("wrong-story", "slack", "U1"),
    ]
    # The alert itself is untouched: the label is a row of its own.
    status = db.execute("SELECT status FROM deliveries WHERE id = ?", [alert]).fetchone()
    assert status == ("sent",)


async def test_a_click_from_another_channel_or_on_an_unknown_alert_records_nothing(
    polled,
) -> None:
    config, alerts = polled
    alert = _slack_delivery(config, alerts[0]["title"])
    async with chat(config) as run:
        other = await run(f"feedback not-relevant {alert}", channel="slack:C0OTHER")
        assert f"alert {alert} was not posted in this channel" in other
        unknown = await run("feedback wrong-story 99999")
        assert "does not know alert 99999" in unknown and "Nothing was recorded" in unknown
        for text, says in (
            ("feedback", "`feedback` needs one of `not-relevant`, `wrong-story`"),
            ("feedback not-relevant", "ALERT is the alert's number"),
            ("feedback not-relevant twelve", "not `twelve`"),
            ("feedback wrong-story 99999999999999999999", "ALERT is the alert's number"),
        ):
            assert says in await run(text), text
    db = open_database(_settings(config).database)
    assert db.execute("SELECT count(*) FROM feedback").fetchone() == (0,)


async def test_an_alert_not_posted_cannot_be_labelled_from_chat(polled) -> None:
    # Its number was shown to nobody in the channel: a guessed one must not make a label.
    config, alerts = polled
    alert = _slack_delivery(config, alerts[0]["title"])
    for status in ("pending", "muted", "held", "failed", "digest"):
        with sqlite3.connect(_settings(config).database) as conn:
            conn.execute("UPDATE deliveries SET status = ? WHERE id = ?", [status, alert])
        conn.close()
        async with chat(config) as run:
            said = await run(f"feedback not-relevant {alert}")
        if status == "digest":  # waiting for the next digest: no line showed its number
            assert f"`ref {alert}` is a story waiting for its channel's next digest" in said
        else:
            assert f"alert {alert} has not been posted here" in said, status
    db = open_database(_settings(config).database)
    assert db.execute("SELECT count(*) FROM feedback").fetchone() == (0,)
    db.close()


def test_the_console_prints_the_command_that_records_the_same_label(polled, capsys) -> None:
    config, alerts = polled
    update = next(a for a in alerts if a["kind"] == "update")
    argv = ["feedback", "wrong-story", str(update["delivery_id"]), "--config", str(config)]
    assert main([*argv, "--by", "night-desk"]) == 0
    said = capsys.readouterr().out
    assert f"Recorded (alert {update['delivery_id']})" in said and "does not belong" in said
    assert main([*argv, "--by", "night-desk"]) == 0
    assert "already marked" in capsys.readouterr().out
    assert main(["feedback", "not-relevant", "99999", "--config", str(config)]) == 2
    assert "does not know alert 99999" in capsys.readouterr().err

    db = open_database(_settings(config).database)
    row = db.execute("SELECT platform, user, channel, title FROM feedback").fetchone()
    assert row == ("console", "night-desk", "console", update["title"])


def test_a_printed_alert_ends_with_the_feedback_commands() -> None:
    alert = Alert(17, "new", 3, "troop-deployments", "console", "Sent", None, "W", utcnow(), "")
    assert alert_text(alert).rstrip().splitlines()[-1] == (
        "feedback: wirewatch feedback not-relevant 17 · wirewatch feedback wrong-story 17"
    )
    edited = replace(alert, delivery_id=18, shown_delivery=17)  # a first message, re-rendered
    assert alert_text(edited) == alert_text(alert) and alert_json(edited)["delivery_id"] == 17


async def test_status_counts_each_topics_alerts_and_clicks_over_seven_days(polled) -> None:
    config, printed = polled
    alerts = [a for a in printed if a["kind"] in ("new", "update")]
    assert len(alerts) < len(printed)  # the corroboration mark is no alert of its own
    async with chat(config) as run:
        before = await run("status")
    counts = f"`troop-deployments` (every channel): {len(alerts)} alerts posted,"
    assert f"{counts} 0 marked not relevant, 0 marked wrong story" in before
    db = open_database(_settings(config).database)
    ids = [a["delivery_id"] for a in alerts]
    for n, user in enumerate(("U1", "U2")):
        record_label(db, "not-relevant", ids[n], platform="slack", user=user, channel="console")
    stale = utcnow() - timedelta(days=8)
    record_label(db, "not-relevant", ids[2], platform="console", user="x", channel="", now=stale)
    record_label(db, "wrong-story", ids[2], platform="console", user="x", channel="")
    db.close()
    async with chat(config) as run:
        after = await run("status")
    assert f"{counts} 2 alerts marked not relevant, 1 alert marked wrong story" in after
    db = open_database(_settings(config).database)
    week = last_week(db, now=utcnow() + timedelta(days=8))  # everything has aged out
    assert week == []


async def test_labels_export_as_labelled_items_and_outlive_their_alerts(polled, tmp_path, capsys):
    config, alerts = polled
    story = next(a for a in alerts if a["kind"] == "update")["story_id"]
    first, update = [a for a in alerts if a["story_id"] == story][:2]
    other = next(a for a in alerts if a["story_id"] != first["story_id"])
    cli = ["--config", str(config), "--by"]
    assert main(["feedback", "not-relevant", str(other["delivery_id"]), *cli, "a"]) == 0
    assert main(["feedback", "wrong-story", str(update["delivery_id"]), *cli, "a"]) == 0
    assert main(["feedback", "wrong-story", str(update["delivery_id"]), *cli, "b"]) == 0
    capsys.readouterr()

    # `db prune` removes the alerts (once the Slack channel, unsubscribed in the config,
    # owes nothing more); the labels keep what a corpus needs.
    slack = f"  - {{topic: troop-deployments, channel: '{SLACK}'}}\n"
    config.write_text(config.read_text().replace(slack, ""))
    async with chat(config):  # a start: subscriptions follow the config
        pass
    db = open_database(_settings(config).database)
    assert prune(db, older_than=1.0, story_window=0.0, vacuum=False).deliveries >= len(alerts)
    db.close()
    out = tmp_path / "labels.jsonl"
    assert main(["eval", "--feedback", str(out), "--config", str(config)]) == 0
    assert "2 labelled items of topic troop-deployments" in capsys.readouterr().err

    items = load_labelled(out)  # the format `wirewatch eval` and the trainers read
    lines = {json.loads(line)["title"]: json.loads(line) for line in out.read_text().splitlines()}
    not_relevant, wrong = lines[other["title"]], lines[update["title"]]
    assert not_relevant["label"] == "other" and not_relevant["story"] is None
    assert not_relevant["outlet"] == other["outlet"] and not_relevant["published"]
    assert wrong["label"] is None  # its relevance was not judged
    assert wrong["story"] == wrong["thread"] == f"feedback-item-{wrong['id'].split('-')[1]}"
    assert wrong["wrong_story"] == f"story-{update['story_id']}"
    assert wrong["wrong_story_title"]
    assert [f["by"] for f in wrong["feedback"]] == ["console:a", "console:b"]
    assert {i.title for i in items} == {other["title"], update["title"]}

    # The exported file replays like any labelled file.
    assert main(["eval", str(out), "--config", str(config)]) == 0
    assert "2 items from" in capsys.readouterr().out

    # A click on a pruned alert says so.
    async with chat(config) as run:
        said = await run(f"feedback not-relevant {first['delivery_id']}")
    assert "does not know alert" in said


def test_eval_takes_a_file_to_measure_or_feedback_to_export_not_both(polled, tmp_path, capsys):
    config, _ = polled
    out = tmp_path / "x.jsonl"
    assert main(["eval", "--feedback", str(out), str(out), "--config", str(config)]) == 2
    assert "measures nothing" in capsys.readouterr().err
    assert main(["eval", "--config", str(config)]) == 2
    assert "eval needs FILE.jsonl" in capsys.readouterr().err
    assert main(["eval", "--feedback", "-", "--topic", "nk-russia", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no feedback on nk-russia" in captured.err
    missing = tmp_path / "no" / "such" / "dir.jsonl"
    assert main(["eval", "--feedback", str(missing), "--config", str(config)]) == 2
    assert f"cannot write {missing}" in capsys.readouterr().err


def _delivery(config: Path, channel: str, kind: str, story_id: int | None = None) -> int:
    db = open_database(_settings(config).database)
    row = db.execute(
        "SELECT id FROM deliveries WHERE channel = ? AND kind = ? AND story_id = "
        "coalesce(?, story_id) ORDER BY id LIMIT 1",
        [channel, kind, story_id],
    ).fetchone()
    db.close()
    return row[0]


def _labels(config: Path) -> list[tuple]:
    db = open_database(_settings(config).database)
    rows = db.execute("SELECT delivery_id, kind, platform FROM feedback ORDER BY id").fetchall()
    db.close()
    return rows


async def test_a_click_that_records_nothing_is_not_ok(polled) -> None:
    # Adapters and logs read Reply.ok: "nothing was recorded" is no success.
    config, alerts = polled
    alert = _slack_delivery(config, alerts[0]["title"])
    async with chat_replies(config) as run:
        unknown = await run("feedback not-relevant 99999")
        elsewhere = await run(f"feedback not-relevant {alert}", channel="slack:C0OTHER")
        recorded = await run(f"feedback not-relevant {alert}")
        already = await run(f"feedback not-relevant #{alert}")
    assert not unknown.ok and "Nothing was recorded" in unknown.text
    assert not elsewhere.ok and "nothing was recorded here" in elsewhere.text
    assert recorded.ok and already.ok and "already marked" in already.text
    db = open_database(_settings(config).database)
    db.execute("UPDATE deliveries SET status = 'pending' WHERE id = ?", [alert])
    db.conn.commit()
    db.close()
    async with chat_replies(config) as run:
        unposted = await run(f"feedback wrong-story {alert}")
    assert not unposted.ok and "has not been posted here" in unposted.text


async def test_wrong_story_on_a_storys_lone_first_alert_is_refused(polled, capsys) -> None:
    # Nothing was grouped with it: exported as "a story of its own", the label would say
    # nothing, and "X does not belong to the story X" made no sense to the editor.
    config, alerts = polled
    lone = next(
        a
        for a in alerts
        if not any(b["kind"] == "update" for b in alerts if b["story_id"] == a["story_id"])
    )
    slack = _slack_delivery(config, lone["title"])
    async with chat_replies(config) as run:
        reply = await run(f"feedback wrong-story {slack}")
        relevant = await run(f"feedback not-relevant {slack}")  # that one still counts
    assert not reply.ok and reply.text.startswith(f"alert {slack} is the first report")
    assert "no other report has been grouped with it here" in reply.text
    assert relevant.ok
    argv = ["feedback", "wrong-story", str(lone["delivery_id"]), "--config", str(config)]
    assert main(argv) == 2
    assert "grouped with it in its channel" in capsys.readouterr().err
    assert _labels(config) == [(slack, "not-relevant", "slack")]


async def test_wrong_story_on_a_first_alert_says_the_reports_under_it_are_not_its_story(
    polled, tmp_path, capsys
) -> None:
    config, alerts = polled
    story = next(a for a in alerts if a["kind"] == "update")["story_id"]
    first = next(a for a in alerts if a["story_id"] == story and a["kind"] == "new")
    async with chat(config) as run:
        said = await run(f"feedback wrong-story {_slack_delivery(config, first['title'])}")
    title = " ".join(first["title"].split())
    assert f'the reports grouped under "{title}" are not the same story as it' in said
    assert "mark those in its thread instead" in said and "does not belong" not in said
    out = tmp_path / "labels.jsonl"
    assert main(["eval", "--feedback", str(out), "--config", str(config)]) == 0
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["story"] == line["thread"] and line["story"].startswith("feedback-item-")
    assert line["wrong_story"] == f"story-{story}"  # set apart from the reports under it


async def test_a_corroboration_marks_number_is_no_alert_to_label(polled, capsys) -> None:
    # The mark rewrites the story's first message; its buttons label that message's alert.
    config, _ = polled
    for channel in ("console", SLACK):
        mark = _delivery(config, channel, "corroborated")
        first = _delivery(config, channel, "new", story_id=_story_of(config, mark))
        if channel == "console":
            assert main(["feedback", "wrong-story", str(mark), "--config", str(config)]) == 2
            said = capsys.readouterr().err
        else:
            async with chat_replies(config) as run:
                reply = await run(f"feedback not-relevant {mark}")
            assert not reply.ok
            said = reply.text
        assert f"{mark} is not an alert's number" in said, channel
        assert f"label alert {first} instead" in said and "Nothing was recorded" in said
    assert _labels(config) == []


def _story_of(config: Path, delivery: int) -> int:
    db = open_database(_settings(config).database)
    (story,) = db.execute("SELECT story_id FROM deliveries WHERE id = ?", [delivery]).fetchone()
    db.close()
    return story


@pytest.mark.parametrize("ref", [["ref", "{n}"], ["ref{n}"], ["#{n}"], ["REF", "{n}"]])
def test_the_command_line_takes_the_ref_as_chat_does(polled, capsys, ref) -> None:
    config, alerts = polled
    n = next(a for a in alerts if a["kind"] == "update")["delivery_id"]
    words = [w.format(n=n) for w in ref]
    assert main(["feedback", "not-relevant", *words, "--config", str(config)]) == 0
    assert f"Recorded (alert {n})" in capsys.readouterr().out
    assert _labels(config) == [(n, "not-relevant", "console")]


@pytest.mark.parametrize("words", [["ref"], ["ref", "x"], ["3", "4"], ["alert", "3"]])
def test_the_command_line_refuses_what_is_no_alert_number(polled, capsys, words) -> None:
    config, _ = polled
    assert main(["feedback", "not-relevant", *words, "--config", str(config)]) == 2
    assert "ALERT is the alert's number" in capsys.readouterr().err
    assert _labels(config) == []
