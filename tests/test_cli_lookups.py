"""What an operator asks on the bot's host, beside what moderators ask in chat: `wirewatch
status`, `wirewatch search` and the times and stalls `wirewatch feeds` shows. Through the
command line's entry, on a database the real pipeline filled (`wirewatch poll --once` of feeds
served on 127.0.0.1), and for search against chat's own answer on a real runtime."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from bot.check import load_checked
from bot.cli import main
from bot.commands import Commands, Invocation
from bot.gazetteer import Gazetteer
from tests.feedserver import FeedServer
from tests.runtime import console_runtime
from tests.test_lookback import CONVOYS, rss

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
POLAND = "Poland deploys 2,000 troops to the Belarus border"
ITEMS = [
    (POLAND, "Warsaw said on Monday it had sent troops."),
    ("Pyongyang sends thousands more troops to Russia's Kursk front", "They left by train."),
    ("Central bank cuts its key rate", "The bank cut rates by a quarter point."),
] + CONVOYS  # twelve stories with the word "convoy": a story is one line of a search
WAITING = "slack:C0WAITING"  # no Slack token here: its alerts wait unsent
DIGEST = "discord:42"


def _config(tmp_path: Path, feed_server: FeedServer) -> Path:
    feed_server.serve("/rss", rss(ITEMS))
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: {tmp_path / 'w.db'}\n"
        "articles: {fetch: false}\n"
        "network: {allow_private_addresses: true}\n"
        "feeds:\n"
        f"  - {{name: Wire, url: '{feed_server.url('/rss')}'}}\n"
        f"  - {{name: Gone, url: '{feed_server.url('/missing')}'}}\n"
        "subscriptions:\n"
        "  - {topic: troop-deployments, channel: console}\n"
        f"  - {{topic: troop-deployments, channel: '{WAITING}'}}\n"
        f"  - {{topic: troop-deployments, channel: '{DIGEST}', mode: digest}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def no_chat_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


async def _polled(tmp_path: Path, feed_server: FeedServer, capfd) -> Path:
    """A config whose database one real `wirewatch poll --once` filled."""
    path = _config(tmp_path, feed_server)
    assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(path)]) == 0
    capfd.readouterr()
    return path


def _run(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def _later(hours: float):
    """The wall clock `hours` on, nothing polled meanwhile: a bot that stopped polling."""
    return time_machine.travel(datetime.now(UTC) + timedelta(hours=hours), tick=True)


async def test_feeds_shows_times_as_chat_does_and_flags_a_stalled_poll(
    tmp_path, feed_server, capfd, no_chat_tokens
):
    config = str(await _polled(tmp_path, feed_server, capfd))
    _, out, _ = _run(capfd, "feeds", "--config", config)
    wire = out.split("Gone  ")[0] if out.startswith("Wire") else out.split("Wire  ")[1]
    assert re.search(rf"last poll {STAMP} · ok", wire), out  # not 2025-06-08T02:43:35Z
    assert "NOT POLLED WHEN DUE" not in out
    _, out, _ = _run(capfd, "feeds", "--json", "--config", config)
    rows = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert re.fullmatch(ISO, rows["Wire"]["last_polled"]) and rows["Wire"]["overdue"] is False

    with _later(2):
        _, out, _ = _run(capfd, "feeds", "--config", config)
        _, js, _ = _run(capfd, "feeds", "--json", "--config", config)
    for name in ("Wire", "Gone"):
        line = out.split(f"{name}  ")[1].splitlines()[1]
        assert re.search(r"NOT POLLED WHEN DUE 1h\d\dm ago: polling has stopped", line), line
    assert "· 1 failure" in out.split("Gone  ")[1].splitlines()[1]  # what it was, kept
    rows = {r["name"]: r for r in map(json.loads, js.splitlines())}
    assert rows["Wire"]["overdue"] is True and re.fullmatch(ISO, rows["Wire"]["next_poll"])


async def test_status_on_the_host(tmp_path, feed_server, capfd, no_chat_tokens):
    config = str(await _polled(tmp_path, feed_server, capfd))
    code, out, err = _run(capfd, "status", "--config", config)
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(
        rf"database: {re.escape(str(tmp_path / 'w.db'))}, [\d,]+ bytes, schema \d+ "
        r"\(this wirewatch's\)",
        lines[0],
    )
    assert re.fullmatch(  # the one-off `poll` of `_polled`, said as such
        rf"bot: no `wirewatch run` or `poll` on this database now; the last, a one-off "
        rf"`wirewatch poll`, ended its poll cycle {STAMP} \(\d+s ago\)",
        lines[1],
    ), lines[1]
    assert re.fullmatch(rf"feeds: 2 polled, 1 failing, 0 disabled; last poll {STAMP}", lines[2])
    assert "failing: Gone (`wirewatch feeds` says why)" in lines
    # Both troop items alerted: the console's were sent, Slack's wait for a token.
    assert "alerts waiting to be sent: 2 (slack 2)" in lines
    assert any(
        re.fullmatch(rf"digest for {DIGEST}: 2 stories \(2 reports\) waiting, due {STAMP}", x)
        for x in lines
    ), out
    assert "POLLING HAS STOPPED" not in out

    _, out, _ = _run(capfd, "status", "--json", "--config", config)
    report = json.loads(out)
    assert report["feeds"] == {"polled": 2, "failing": 1, "disabled": 0}
    assert report["alerts"] == {"slack": {"waiting": 2, "held": 0, "failed": 0}}
    assert report["digests"]["channels"] == {DIGEST: {"stories": 2, "reports": 2}}
    assert report["polling_stopped"] is None and report["bot_pid"] is None
    assert re.fullmatch(ISO, report["last_poll"])

    with _later(2):
        _, out, _ = _run(capfd, "status", "--config", config)
        _, js, _ = _run(capfd, "status", "--json", "--config", config)
    assert re.search(
        r"^POLLING HAS STOPPED: 2 feeds not polled when due, the first due 1h\d\dm ago; "
        r"no bot is running, and the last `wirewatch poll` ended 2h ago: is cron still "
        r"running it\?$",
        out,
        re.M,
    ), out  # Gone too: its 5-minute backoff is long over
    assert "digest for discord:42: 2 stories (2 reports) waiting, due now" in out
    assert json.loads(js)["polling_stopped"]["feeds"] == 2


def test_status_and_search_never_create_a_database(tmp_path, capfd):
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {tmp_path / 'none.db'}\n", encoding="utf-8")
    for argv in (["status"], ["search", "troops"]):
        code, _, err = _run(capfd, *argv, "--config", str(config))
        assert code == 1 and "no database at" in err, err
    assert not (tmp_path / "none.db").exists()


async def _chat_search(config: Path, text: str, channel: str) -> str:
    """The same words asked in chat, on a runtime over the same database and config."""
    settings = load_checked(config, Gazetteer.load())
    async with console_runtime(settings) as (rt, _):
        inv = Invocation(channel.split(":")[0], channel, "U1", f"search {text}")
        reply = await Commands(rt).handle(inv)
    assert reply is not None
    return reply.text


async def test_search_is_chats_search_spelled_for_the_shell(
    tmp_path, feed_server, capfd, no_chat_tokens
):
    config = await _polled(tmp_path, feed_server, capfd)
    asked = [
        ["Poland", "troops"],
        ["convoy"],
        ["convoy", "page:2"],
        ['"Belarus border"', "OR", "Kursk"],
        ["outlet:wire", "tractor"],
        ["since:1d", "troops"],
        ["nothing-like-this"],
    ]
    for words in asked:
        code, out, err = _run(
            capfd, "search", *words, "--channel", "console", "--config", str(config)
        )
        assert code == 0, err
        chat = await _chat_search(config, " ".join(words), "console")
        assert out.rstrip("\n") == chat.replace("`/wirewatch ", "`wirewatch "), words
    _, out, _ = _run(capfd, "search", "convoy", "--config", str(config))
    assert out.startswith("12 stories; 1-10, newest first:\n")
    assert out.rstrip().endswith("older: `wirewatch search convoy page:2`")  # what to type here
    _, out, _ = _run(capfd, "search", "Poland", "--channel", "console", "--config", str(config))
    assert "alerted here" in out


async def test_search_refuses_what_chat_refuses_with_exit_2(
    tmp_path, feed_server, capfd, no_chat_tokens
):
    config = str(await _polled(tmp_path, feed_server, capfd))
    code, _, err = _run(capfd, "search", "since:7", "troops", "--config", config)
    assert code == 2 and "since:7: 7 has no unit" in err
    code, _, err = _run(capfd, "search", "outlet:Nope", "--config", config)
    assert code == 2 and "no feed is called `Nope`: `wirewatch feeds` lists them" in err
    # --channel is written as the config's channels: a channel's name or a bare id matched
    # no delivery, and the answer said nothing of the channel, as if it had got nothing.
    for channel, said in (("#news", "a channel's id, not its name"), ("C0123ABCD", "slack:")):
        with pytest.raises(SystemExit) as done:
            main(["search", "troops", "--channel", channel, "--config", config])
        err = capfd.readouterr().err
        assert done.value.code == 2 and "argument --channel: must be console" in err, err
        assert said in err


async def test_search_json_reports_one_object_per_matching_report(
    tmp_path, feed_server, capfd, no_chat_tokens
):
    """`--json --reports`: the listing `--json` gave before it listed stories, kept for the
    scripts written against it."""
    config = str(await _polled(tmp_path, feed_server, capfd))
    _, out, _ = _run(
        capfd, "search", "troops", "--json", "--reports", "--channel", "console", "--config", config
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["title"] for r in rows][0] == POLAND
    poland = rows[0]
    assert poland["outlet"] == "Wire" and re.fullmatch(ISO, poland["published"])
    assert poland["rank"] == 1 and poland["of"] == len(rows) == 2
    assert poland["status"] == "sent" and isinstance(poland["delivery"], int)
    _, out, _ = _run(capfd, "search", "convoy", "page:2", "--json", "--reports", "--config", config)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["rank"] for r in rows] == [11, 12] and all(r["of"] == 12 for r in rows)
    assert "status" not in rows[0]  # no --channel: nobody's deliveries
    code, _, err = _run(capfd, "search", "troops", "--reports", "--config", config)
    assert code == 2 and "--reports lists JSON objects: add --json" in err


# Its own words: Wire's text again would be one report republished, one outlet (as the
# story's alert counts them, bot.corroboration), "Agency (also Wire)".
AGENCY = [(f"{POLAND}, defence ministry says", "The ministry said soldiers moved east overnight.")]


async def test_search_json_is_the_text_answer_one_object_per_story(
    tmp_path, feed_server, capfd, no_chat_tokens
):
    """A script reading `--json` gets what a person reading the answer gets: the same
    stories in the same order, the same page, a story's reports from two outlets as one
    object (its outlets, reports, span, first headline, the report that placed it) and
    what the channel got of it, as the line says it."""
    config = _config(tmp_path, feed_server)
    feed_server.serve("/agency", rss(AGENCY, "agency.example"))
    text = config.read_text(encoding="utf-8").replace(
        "  - {name: Gone,",
        f"  - {{name: Agency, url: '{feed_server.url('/agency')}'}}\n  - {{name: Gone,",
    )
    config.write_text(text, encoding="utf-8")
    assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(config)]) == 0
    capfd.readouterr()
    for words in (["troops"], ["convoy"], ["convoy", "page:2"]):
        argv = ["search", *words, "--channel", "console", "--config", str(config)]
        _, said, _ = _run(capfd, *argv)
        _, out, _ = _run(capfd, *argv, "--json")
        rows = [json.loads(line) for line in out.splitlines()]
        lines = [line for line in said.splitlines() if line.startswith("- ")]
        assert len(rows) == len(lines) > 0, words
        for r, line in zip(rows, lines, strict=True):
            assert line.startswith(f"- {r['title']} ("), (r, line)
            assert (f" · {r['here']}" in line) if r["here"] else (" · " not in line), line
        page = 2 if "page:2" in words else 1
        assert [r["rank"] for r in rows] == list(range(10 * page - 9, 10 * page - 9 + len(rows)))
        head = said.splitlines()[0]
        assert all(head.startswith(f"{r['of']} stor") for r in rows), head
    _, out, _ = _run(
        capfd, "search", "troops", "--json", "--channel", "console", "--config", str(config)
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2 and rows[0]["title"] in (POLAND, AGENCY[0][0])
    poland = rows[0]
    assert sorted(poland["outlets"]) == ["Agency", "Wire"] and poland["reports"] == 2
    assert isinstance(poland["story_id"], int) and re.fullmatch(ISO, poland["first"])
    assert (
        poland["matched"]["outlet"] in ("Agency", "Wire") and poland["matched"]["first_has_words"]
    )
    assert poland["here"].startswith("alerted here, ref ")
    assert poland["refs"][0]["status"] == "sent"
    assert f"ref {poland['refs'][0]['delivery']}" in poland["here"]
