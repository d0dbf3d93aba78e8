"""docs/commands.md names every field a script reads from `--json`: a field the code adds
(`search --json --channel` printed `channel`, `feeds --json` `disabled_reason`, neither
documented) is found by whoever writes a script only if the page says it, and a field the page
names that the code no longer prints breaks their script silently.

The objects are the real ones: `demo --json` (the alerts `poll --json` prints: new, update,
corroborated and edit), then `poll`, `feeds`, `search` and `status` on a feed served on
127.0.0.1. Each field, nested ones included, must appear in a `code span` of the section of
docs/commands.md that describes that command.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.feedserver import FeedServer
from tests.runtime import recent

PAGE = Path(__file__).resolve().parent.parent / "docs" / "commands.md"

FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title>
<link>https://w.example/1</link><guid>w1</guid>
<description>Warsaw said on Monday it had sent troops to the border.</description>
<pubDate>{recent()}</pubDate></item>
</channel></rss>"""


def _section(heading: str) -> str:
    """The text under the heading that starts with `heading` (not the heading: its usage
    line names options, not fields), up to the next heading."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}") + 1
    body = text.index("\n", start)
    end = re.search(r"^#{2,3} ", text[body:], re.M)
    return text[body : body + end.start()] if end else text[body:]


def _named(section: str) -> set[str]:
    """Every word of the section's code spans (`refs`, `{op, text}`, `"new"`), but an
    option's: `--channel slack:C0123` does not name the field `channel`."""
    spans = re.findall(r"(?<!`)`([^`]+)`(?!`)", section)
    return {w for span in spans if not span.startswith("-") for w in re.findall(r"\w+", span)}


def _fields(obj: Any, path: str = "") -> set[str]:
    """Every key of a JSON value, nested ones as `edit.title.op`."""
    if isinstance(obj, dict):
        found = set()
        for key, value in obj.items():
            found |= {path + key} | _fields(value, f"{path}{key}.")
        return found
    if isinstance(obj, list):
        return set().union(*(_fields(v, path) for v in obj)) if obj else set()
    return set()


def _undocumented(objects: list[dict], section: str) -> list[str]:
    named = _named(section)
    fields = set().union(*(_fields(o) for o in objects))
    return sorted(f for f in fields if f.split(".")[-1] not in named)


async def _lines(capfd: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    capfd.readouterr()
    assert await asyncio.to_thread(main, list(argv)) == 0, capfd.readouterr().err
    out = capfd.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.slow
async def test_every_field_of_an_alert_s_json_is_documented(capfd):
    alerts = await _lines(capfd, "demo", "--json")
    kinds = {a["kind"] for a in alerts}
    assert kinds == {"new", "update", "corroborated", "edit"}, kinds  # every shape, edits too
    section = _section("## `poll --json`")
    assert _undocumented(alerts, section) == []
    ops = {part["op"] for a in alerts if "edit" in a for part in a["edit"]["title"]}
    for value in kinds | ops:
        assert f'"{value}"' in section, value  # `kind` and `op` values a script compares


async def test_every_field_of_feeds_search_and_status_json_is_documented(
    tmp_path: Path, feed_server: FeedServer, capfd
):
    feed_server.serve("/rss", FEED)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{feed_server.url('/rss')}'}}\n"
        f"  - {{name: Gone, url: '{feed_server.url('/gone')}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    given = ("--config", str(config))
    assert len(await _lines(capfd, "poll", "--json", *given)) == 1
    feeds = await _lines(capfd, "feeds", "--json", *given)
    assert _undocumented(feeds, _section("### `wirewatch feeds [")) == []
    search = _section("### `wirewatch search ")
    for argv in ([], ["--channel", "console"]):
        stories = await _lines(capfd, "search", "troops", "--json", *argv, *given)
        reports = await _lines(capfd, "search", "troops", "--json", "--reports", *argv, *given)
        assert stories and reports
        assert _undocumented(stories + reports, search) == [], argv
    [status] = await _lines(capfd, "status", "--json", *given)
    assert _undocumented([status["bot"]], _section("### `wirewatch status ")) == []
