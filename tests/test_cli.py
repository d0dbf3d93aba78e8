"""The command line as a user runs it: exit codes, JSON lines on stdout, logs on stderr."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from bot.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, feeds: list[tuple[str, str]], extra: str = "") -> Path:
    lines = ["database: " + str(tmp_path / "w.db"), "articles: {fetch: false}", "feeds:"]
    lines += [f"  - {{name: {n}, url: '{u}'}}" for n, u in feeds]
    lines += ["subscriptions:", "  - {topic: troop-deployments, channel: console}", extra]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title><link>https://w.example/1</link>
<guid>w1</guid><description>Warsaw said on Monday it had sent troops.</description></item>
<item><title>Chess champion wins again</title><link>https://w.example/2</link><guid>w2</guid>
<description>Nothing military here.</description></item></channel></rss>"""


def test_check_reports_every_problem_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "feeds:\n  - {name: A, url: 'gopher://x'}\nsubscriptions:\n"
        "  - {topic: nope, channel: console}\n",
        encoding="utf-8",
    )
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "feeds[0].url" in err


def test_check_semantic_problem_exits_2(tmp_path, capsys):
    path = _config(
        tmp_path, [("A", "https://a.example/rss")], "topics:\n  bad: {query: 'troops AND'}"
    )
    assert main(["check", "--config", str(path)]) == 2
    assert "topics.bad.query" in capsys.readouterr().err


def test_check_ok(tmp_path, capsys):
    assert main(["check", "--config", str(_config(tmp_path, [("A", "https://a.example/r")]))]) == 0
    assert "ok" in capsys.readouterr().out


async def test_poll_once_json_then_nothing_the_second_time(tmp_path, feed_server, capfd):
    feed_server.serve("/rss", FEED)
    path = _config(tmp_path, [("Wire", feed_server.url("/rss"))])
    import asyncio

    code = await asyncio.to_thread(main, ["poll", "--once", "--config", str(path), "--json"])
    out, err = capfd.readouterr()
    assert code == 0
    (alert,) = [json.loads(line) for line in out.splitlines()]
    assert alert["kind"] == "new" and alert["outlet"] == "Wire"
    assert alert["title"] == "Poland deploys 2,000 troops to the Belarus border"
    assert set(alert) >= {
        "kind",
        "story_id",
        "topic",
        "channel",
        "title",
        "url",
        "outlet",
        "published",
        "summary",
        "entities",
        "matched",
        "sources",
    }
    assert "Poland" in alert["entities"] and alert["matched"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", alert["published"])
    assert "polled 1 feeds" in err
    code = await asyncio.to_thread(main, ["poll", "--once", "--config", str(path), "--json"])
    assert code == 0 and capfd.readouterr().out == ""


async def test_feeds_json_reports_health(tmp_path, feed_server, capfd):
    import asyncio

    feed_server.serve("/rss", FEED)
    path = _config(
        tmp_path, [("Wire", feed_server.url("/rss")), ("Gone", feed_server.url("/missing"))]
    )
    await asyncio.to_thread(main, ["poll", "--once", "--config", str(path)])
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--config", str(path), "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capfd.readouterr().out.splitlines())}
    assert rows["Wire"]["items"] == 2 and rows["Wire"]["failures"] == 0
    assert rows["Gone"]["failures"] == 1 and "404" in rows["Gone"]["last_error"]
    assert set(rows["Wire"]) >= {"name", "url", "items", "last_polled", "last_error", "failures"}


def test_topics_test_explains_a_match_and_a_miss(capsys):
    text = "North Korea has sent more troops to Russia, South Korea says"
    assert main(["topics", "test", "troop-deployments", "--text", text]) == 0
    assert capsys.readouterr().out.startswith("MATCH")
    assert (
        main(
            [
                "topics",
                "test",
                'entity:"North Korea" AND entity:Russia',
                "--text",
                "Pyongyang and Moscow sign a deal",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["topics", "test", "troop-deployments", "--text", "Stocks rose on Monday"]) == 1
    assert main(["topics", "test", "(troops AND", "--text", "x"]) == 2
    assert "query" in capsys.readouterr().err


def _help_lines(argv: list[str], capsys) -> dict[str, str]:
    """`wirewatch ... --help` as a user sees it: each listed command with its one-line help."""
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return dict(re.findall(r"^ {4}(\S+) +(\S.*)$", capsys.readouterr().out, re.M))


def _commands(parser) -> dict[str, object]:
    """Subcommand name -> its parser (argparse keeps them behind its subparsers action)."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def test_every_command_is_listed_with_help_and_is_in_the_readme(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _commands(build_parser())
    listed = _help_lines([], capsys)
    assert set(listed) == set(commands), "a command is missing from `wirewatch --help`"
    for name, parser in commands.items():
        assert f"wirewatch {name}" in readme, f"README does not document `wirewatch {name}`"
        actions = _commands(parser)
        if actions:
            assert set(_help_lines([name], capsys)) == set(actions)
        for action in actions:
            assert f"wirewatch {name} {action}" in readme, f"`wirewatch {name} {action}`"
    assert "pytest" in readme


@pytest.mark.parametrize("argv", [["poll", "--config", "/nonexistent/x.yaml"]])
def test_missing_config_is_a_clear_error(argv, capsys):
    assert main(argv) == 2
    assert "no such file" in capsys.readouterr().err
