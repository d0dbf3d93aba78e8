"""The command line as a user runs it: exit codes, JSON lines on stdout, logs on stderr."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.cli import build_parser, main
from bot.db import open_database
from bot.durations import parse_duration
from bot.settings import FeedSettings, Settings, SubscriptionSettings, TopicSettings
from tests.runtime import recent

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, feeds: list[tuple[str, str]], extra: str = "") -> Path:
    lines = ["database: " + str(tmp_path / "w.db"), "articles: {fetch: false}", "feeds:"]
    lines += [f"  - {{name: {n}, url: '{u}'}}" for n, u in feeds]
    lines += ["subscriptions:", "  - {topic: troop-deployments, channel: console}", extra]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title><link>https://w.example/1</link>
<guid>w1</guid><description>Warsaw said on Monday it had sent troops.</description>
<pubDate>{recent()}</pubDate></item>
<item><title>Chess champion wins again</title><link>https://w.example/2</link><guid>w2</guid>
<description>Nothing military here.</description><pubDate>{recent()}</pubDate></item>
</channel></rss>"""


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
    assert "polled 1 feed (0 failed)" in err
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


async def test_listing_feeds_with_another_config_changes_nothing(tmp_path, feed_server, capfd):
    """`feeds` run with the wrong config (`docker compose exec` without `--config`) marks what
    that config would change; it must not disable the feeds the running bot polls."""
    import asyncio
    import sqlite3

    feed_server.serve("/rss", FEED)
    feed_server.serve("/other", FEED.replace("w1", "o1").replace("w2", "o2"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = _config(tmp_path / "a", [("Wire", feed_server.url("/rss"))])
    other = _config(tmp_path / "b", [("Other", feed_server.url("/other"))])
    db = tmp_path / "a" / "w.db"
    other.write_text(other.read_text().replace(str(tmp_path / "b"), str(tmp_path / "a")))
    assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(ours)]) == 0

    def stored() -> list[tuple]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT url, name, disabled, disabled_reason FROM feeds").fetchall()

    before = stored()
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--json", "--config", str(other)]) == 0
    rows = {r["name"]: r for r in map(json.loads, capfd.readouterr().out.splitlines())}
    assert rows["Wire"]["config"] == "leaving" and not rows["Wire"]["disabled"]
    assert rows["Wire"]["items"] == 2  # as stored: its health is still shown
    assert rows["Other"]["config"] == "new" and rows["Other"]["items"] == 0
    assert await asyncio.to_thread(main, ["feeds", "--config", str(other)]) == 0
    text = capfd.readouterr().out
    assert "not in this config: disabled once the bot starts with it" in text
    assert "new in this config: not stored yet" in text
    out = tmp_path / "feeds.opml"
    assert await asyncio.to_thread(main, ["feeds", "export", str(out), "--config", str(other)]) == 0
    exported = out.read_text(encoding="utf-8")  # what the bot would poll with that config
    assert feed_server.url("/other") in exported and feed_server.url("/rss") not in exported
    assert stored() == before  # nothing written

    # The bot started with the other config disables Wire; listed with ours, it comes back.
    assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(other)]) == 0
    capfd.readouterr()
    assert await asyncio.to_thread(main, ["feeds", "--json", "--config", str(ours)]) == 0
    rows = {r["name"]: r for r in map(json.loads, capfd.readouterr().out.splitlines())}
    assert rows["Wire"]["disabled"] and rows["Wire"]["config"] == "returning"
    assert rows["Other"]["config"] == "leaving"
    assert await asyncio.to_thread(main, ["feeds", "export", "--config", str(ours)]) == 0
    exported = capfd.readouterr().out
    assert feed_server.url("/rss") in exported and feed_server.url("/other") not in exported


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


def test_topics_test_takes_the_text_after_the_topic_and_wants_exactly_one(capsys):
    """`wirewatch topics test TOPIC "some headline"`: what a moderator types first."""
    text = "North Korea has sent more troops to Russia, South Korea says"
    assert main(["topics", "test", "troop-deployments", text]) == 0
    assert capsys.readouterr().out.startswith("MATCH")
    assert main(["topics", "test", "troop-deployments", "Stocks rose on Monday"]) == 1
    assert capsys.readouterr().out.startswith("no match")
    for args in ([], [text, "--text", text]):
        assert main(["topics", "test", "troop-deployments", *args]) == 2
        assert "one text to test: after the topic, --text TEXT or --file FILE" in (
            capsys.readouterr().err
        )


@pytest.mark.parametrize("given", [[""], ["--text", "  "], ["--file", "empty.txt"]])
def test_topics_test_of_an_empty_text_says_so_and_how_to_give_one(given, tmp_path, capsys):
    # It answered "no match: none of `troop OR troops ...` is in the text", as if tested.
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    given = [str(tmp_path / g) if g == "empty.txt" else g for g in given]
    assert main(["topics", "test", "troop-deployments", *given]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "the text to test is empty" in err, err
    assert 'wirewatch topics test TOPIC "HEADLINE AND TEXT"' in err


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


def _command_paths(parser: argparse.ArgumentParser, path: str = "") -> dict[str, list]:
    """Every command path ("db prune") with its arguments, from the parser itself."""
    found = {}
    own = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    subs = [a for a in own if isinstance(a, argparse._SubParsersAction)]
    if path and (not subs or not subs[0].required):
        found[path] = [a for a in own if a not in subs]
    for action in subs:
        for name, child in action.choices.items():
            found |= _command_paths(child, f"{path} {name}".strip())
    return found


def _readme_table(heading: str, doc: str = "README.md") -> list[list[str]]:
    readme = (ROOT / doc).read_text(encoding="utf-8")
    section = readme.split(f"\n## {heading}\n", 1)[1]
    lines = section[section.index("\n| ") + 1 :].split("\n\n", 1)[0].splitlines()[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def _commands_page_usages() -> list[str]:
    """docs/commands.md gives each command a heading of its usage: `### `wirewatch ...``."""
    page = (ROOT / "docs/commands.md").read_text(encoding="utf-8")
    return [
        code
        for heading in re.findall(r"^### (.*)$", page, re.M)
        for code in re.findall(r"`(wirewatch [^`]+)`", heading)
    ]


@pytest.mark.parametrize("doc", ["README.md", "docs/commands.md"])
def test_readme_commands_table_matches_the_parser(doc):
    """Each command's row (README) or heading (docs/commands.md) names every option it
    takes, and no option it does not."""
    usages = (
        [
            code.replace("\\|", "|")
            for row in _readme_table("Commands")
            for code in re.findall(r"`(wirewatch [^`]+)`", row[0])
        ]
        if doc == "README.md"
        else _commands_page_usages()
    )
    commands = _command_paths(build_parser())
    documented = {}
    for usage in usages:  # "wirewatch feeds import FILE.opml" documents "feeds import"
        path = max((p for p in commands if f"{usage} ".startswith(f"wirewatch {p} ")), key=len)
        documented[path] = usage
    assert set(documented) == set(commands), f"{doc} misses a command"
    for path, actions in commands.items():
        row = documented[path]
        for action in actions:
            name = action.option_strings[-1] if action.option_strings else action.metavar
            name = name or action.dest.upper()
            assert name in row, f"`wirewatch {path}`: {doc} does not show {name}"
        shown = set(re.findall(r"--[a-z-]+", row))
        taken = {o for a in actions for o in a.option_strings}
        assert shown <= taken, f"`wirewatch {path}`: {doc} shows {shown - taken}"


def _readme_default(cell: str) -> object:
    text = cell.strip("`")
    if text == "none" or text.startswith("none ") or text == "[]":
        return "empty"
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"\d+", text):
        return int(text)
    if mib := re.fullmatch(r"(\d+) MiB", text):
        return int(mib.group(1)) * 2**20
    try:
        return parse_duration(text)
    except ValueError:
        return text


def _config_keys(model: type[BaseModel], prefix: str = "") -> dict[str, object]:
    """Every key of the config file with its default; lists and maps of entries as one key."""
    keys: dict[str, object] = {}
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            keys |= _config_keys(type(default), f"{prefix}{name}.")
        else:
            keys[f"{prefix}{name}"] = "empty" if default in ([], {}, None) else default
    return keys


@pytest.mark.parametrize(
    ("doc", "heading"), [("README.md", "Configuration"), ("docs/configuration.md", "Every setting")]
)
def test_readme_config_table_matches_the_settings(doc, heading):
    """Every key, and each default as the code has it (not as the shipped file sets it), in
    README's short table and in docs/configuration.md's full one."""
    rows = {
        key: row
        for row in _readme_table(heading, doc)
        for key in re.findall(r"`([a-z_.]+)`", row[0])
    }
    code = _config_keys(Settings)
    assert set(rows) == set(code)
    for key, default in code.items():
        assert _readme_default(rows[key][1]) == default, f"{doc}'s default for {key}"
    entries = {
        "feeds": FeedSettings,
        "topics": TopicSettings,
        "subscriptions": SubscriptionSettings,
    }
    for key, model in entries.items():
        for name, field in model.model_fields.items():
            name = field.alias or name  # as written in the file: `except`, not `except_`
            assert re.search(rf"\b{name}\b", rows[key][2]), f"{doc}: {key} entries' {name}"


@pytest.mark.parametrize("argv", [["poll", "--config", "/nonexistent/x.yaml"]])
def test_missing_config_is_a_clear_error(argv, capsys):
    assert main(argv) == 2
    assert "no such file" in capsys.readouterr().err


def test_version_names_the_installed_package(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"wirewatch {version('wirewatch')}"


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["pol"], "wirewatch poll"),
        (["db", "prnue"], "wirewatch db prune"),
        (["chek"], "wirewatch check"),
    ],
)
def test_a_mistyped_command_gets_a_suggestion(capsys, argv, meant):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert f"did you mean {meant}" in capsys.readouterr().err


def test_feeds_help_shows_its_action_as_optional(capsys):
    with pytest.raises(SystemExit):
        main(["feeds", "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "[ACTION]" in usage and " ACTION " not in usage


def test_topics_test_refuses_a_name_no_topic_has(capsys):
    text = "North Korea has sent more troops to Russia"
    assert main(["topics", "test", "troop-deployment", "--text", text]) == 2
    err = capsys.readouterr().err
    assert "no topic named troop-deployment" in err and "did you mean troop-deployments?" in err
    # Quoted, the same words are a query, tested as such.
    assert main(["topics", "test", '"troop-deployment"', "--text", text]) == 1
    assert main(["topics", "test", "troops", "--text", text]) == 0


def test_topics_test_cannot_read_its_file_exits_2_not_1(tmp_path, capsys):
    argv = ["topics", "test", "troops", "--file", str(tmp_path / "missing.txt")]
    assert main(argv) == 2  # 1 means "no match": a missing file is not one
    assert "cannot read" in capsys.readouterr().err
    assert main(["topics", "test", "troops", "--file", str(tmp_path)]) == 2


def test_topics_test_reads_a_saved_page_as_chat_reads_the_page_at_its_url(capsys):
    """A moderator saves an article and tests it: its title is the headline and its article
    the text, as chat's `test TOPIC URL` reads them; not "<!DOCTYPE html>" and markup, on
    which the relevance model said no to a plain troop deployment."""
    page = ROOT / "bot" / "demo" / "articles" / "yonhap-nk-troops.html"
    assert main(["topics", "test", "troop-deployments", "--file", str(page)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('MATCH: title has "troops"') and 'text has "redeployed"' in out
    # A text file is still read as it is, its first line the title.
    plain = ROOT / "bot" / "demo" / "articles" / "yonhap-bok-rate.html"
    assert main(["topics", "test", "troop-deployments", "--file", str(plain)]) == 1


@pytest.mark.parametrize("where", [[], ["--text"]])
def test_topics_test_refuses_a_url_it_would_read_as_a_headline(where, capsys):
    """Chat's `test` fetches a URL; the command line does not, and tested the address's own
    words as a headline (`.../troops-sent` a MATCH, a real report's address a miss)."""
    url = "https://news.example/2026/12/troops-sent-to-russia"
    assert main(["topics", "test", "troop-deployments", *where, url]) == 2
    err = capsys.readouterr().err
    assert "reads text, not pages" in err and "--file PAGE.html" in err


def test_check_notes_a_config_that_can_never_alert(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(f"database: {tmp_path / 'w.db'}\n", encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok: " in out and "note: no feeds" in out and "note: no subscriptions" in out


async def test_feeds_shows_times_without_microseconds(tmp_path, feed_server, capfd):
    import asyncio

    feed_server.serve("/rss", FEED)
    path = _config(tmp_path, [("Wire", feed_server.url("/rss"))])
    await asyncio.to_thread(main, ["poll", "--once", "--config", str(path)])
    capfd.readouterr()
    await asyncio.to_thread(main, ["feeds", "--config", str(path), "--json"])
    (row,) = map(json.loads, capfd.readouterr().out.splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["last_polled"])
    await asyncio.to_thread(main, ["feeds", "--config", str(path)])
    when = re.search(r"last poll (.+?) ·", capfd.readouterr().out).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", when)  # as chat and alerts say it


@pytest.mark.slow
async def test_the_demo_prints_each_alert_under_one_plain_header(capfd):
    """README's first command: one alert per story, later outlets as updates to it, the
    story three outlets carry marked corroborated, then (second cycle) an outlet's edit."""
    import asyncio

    assert await asyncio.to_thread(main, ["demo"]) == 0
    out, err = capfd.readouterr()
    heads = re.findall(r"^== (.*)$", out, re.M)
    cycles = re.findall(r"^polled .* (\d+) alerts? delivered$", err, re.M)
    assert heads and cycles == ["5", "1"]  # the first cycle's alerts, then the edit: "1 alert"
    assert "1 alert delivered" in err
    # Its database is gone: a `feedback:` line typed afterwards is not about these alerts.
    assert err.rstrip().endswith("typed here they would label that install's alerts)"), err
    for head in heads:
        kind, topic, *story = head.split(" · ")
        assert kind in ("NEW", "UPDATE", "CORROBORATED", "EDIT") and topic == "troop-deployments"
        assert story == ([] if kind == "NEW" else [story[0]]), head
        assert kind == "NEW" or re.fullmatch(r"story of ref \d+", story[0]), head
    news = re.findall(r"^== NEW .*\n.*\n.* · (ref \d+) · ", out, re.M)
    assert len(news) == len(set(news)) == 2  # North Korea's troops, the Red Sea warships
    assert all(h.split(" of ")[-1] in news for h in heads if " of " in h)  # to an alert above
    kinds = [h.split(" · ")[0] for h in heads]
    assert kinds.count("CORROBORATED") == 1 and kinds[-1] == "EDIT", kinds
    assert "3 outlets: Yonhap News Agency, via AFP (The Moscow Times), Al Jazeera" in out
    edit = out[out.index("== EDIT") :]
    assert "title: North Korea has sent {+3,000+} more troops" in edit, edit
    assert "[-redeployed-] {+sent at least 3,000 more+}" in edit, edit


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`wirewatch feeds | head -1`: no BrokenPipeError traceback on stderr."""
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    feeds = "".join(f"  - {{name: F{i}, url: 'https://f{i}.example/rss'}}\n" for i in range(2000))
    config.write_text(f"database: {tmp_path / 'w.db'}\nfeeds:\n{feeds}", encoding="utf-8")
    open_database(tmp_path / "w.db").close()  # `feeds` lists, never creates, a database
    wirewatch = Path(sys.executable).with_name("wirewatch")
    done = subprocess.run(
        f"'{wirewatch}' feeds --config '{config}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("F0  https://f0.example/rss")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_the_demo_into_a_closed_pipe_stops_as_unix_tools_do(tmp_path):
    """`wirewatch demo --json | head -1`: the console's reader is gone. It was a send in
    doubt, retried ("outbox.retry ... BrokenPipeError") for as long as the run lasted."""
    import subprocess
    import sys

    wirewatch = Path(sys.executable).with_name("wirewatch")
    done = subprocess.run(
        ["bash", "-c", f"'{wirewatch}' demo --json | head -1; echo \"rc=${{PIPESTATUS[0]}}\""],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    first, status = done.stdout.splitlines()
    assert json.loads(first)["kind"] == "new" and status == "rc=141", done.stdout
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_topics_test_says_how_to_quote_a_name_like_query_at_a_shell_prompt(capsys):
    """The hint said `"x-ray"`, which a shell hands over as x-ray: the same refusal again."""
    text = "An x-ray of the army's deployment"
    assert main(["topics", "test", "x-ray", "--text", text]) == 2
    hint = capsys.readouterr().err.rsplit("put them in double quotes: ", 1)[1].strip()
    typed = shlex.split(hint)  # what the shell passes on when the hint is typed as shown
    assert main(["topics", "test", *typed, "--text", text]) == 0


@pytest.mark.parametrize(
    "argv, says",
    [
        (["digest", "12h"], "`digest` is a command of chat's /wirewatch: type `/wirewatch digest"),
        (["mute", "2h", "--config", "c.yaml"], "type `/wirewatch mute ...` in the channel"),
        (["topic", "add", "mine", "troops"], "`topic` is a command of chat's /wirewatch"),
        (["test", "troops", "Troops sent"], "on the host: wirewatch topics test"),
        (["subscribe", "troop-deployments"], "on the host: the config's `subscriptions:`"),
        (["feeds", "add", "https://news.example/rss"], "or wirewatch feeds import FILE.opml"),
    ],
    ids=["digest", "mute-with-config", "topic-add", "test", "subscribe", "feeds-add"],
)
def test_a_chat_command_typed_at_the_shell_is_told_where_it_runs(capsys, argv, says):
    """docs/commands.md lists chat's commands beside the command line's. Typed at the shell,
    argparse listed the choices as for a typo, `topic` was offered `wirewatch topics` (which
    adds nothing), and a --config after the chat word was said to go after the command."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and says in err
    assert "goes after the command" not in err and "did you mean" not in err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["check", "-v"], "-v goes before the command: wirewatch -v check"),
        (["topics", "test", "-drill", "Army drill near the border"], "the query says NOT drill"),
        (["topics", "test", "-drill", "--text", "Army drill"], "the query says NOT drill"),
        (["--config", "c.yaml", "run"], "--config goes after the command: wirewatch run --config"),
        (["--json", "feeds"], "--json goes after the command: wirewatch feeds --json"),
        (["topics", "--config", "c.yaml"], "--config goes after the action: wirewatch topics"),
    ],
    ids=[
        "verbose-after-command",
        "dash-query-then-text",
        "dash-query-then-option",
        "config-before-command",
        "json-before-command",
        "config-before-action",
    ],
)
def test_a_word_taken_for_an_unknown_option_is_explained(capsys, argv, says):
    """argparse alone said `unrecognized arguments: -v`, that QUERY|TOPIC was missing, or
    that the config file was no command; `-drill` never reached the query language, which
    says what to write instead."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert says in capsys.readouterr().err
