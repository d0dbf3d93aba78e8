"""Console alerts as an editor reads them (adapters/console.py): `wirewatch demo` run for
real, its printed blocks read back. Each alert says why in the words that fired and a score
(the model's features stay in the JSON `explanation` and in `topics test`), names who carries
the story in one line, and shows the `ref` that `wirewatch feedback` takes; an edit and a
corroboration mark say when and where, and the mark lists what each outlet reported."""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter, alert_json, alert_text
from bot.cli import main
from bot.gazetteer import Gazetteer
from bot.model import Alert, Corroboration, Source, Topic
from bot.topics.load import load_topics
from bot.topics.match import Matcher

pytestmark = pytest.mark.slow  # the demo, twice: some 10 seconds

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
MODEL_WORDS = ("bar ", "encoder", "words 0", "words 1", "+1.", "-1.", "+0.", "-0.")


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, str], list[dict]]:
    """`wirewatch demo` and `wirewatch demo --json` (the same alerts, delivered in the same
    order): the printed blocks by their head and ref (`NEW 2`, `CORROBORATED 2`), and the
    JSON alerts."""
    printed = []
    for args in (["demo"], ["demo", "--json"]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(args) == 0
        printed.append(out.getvalue())
    blocks = {}
    for block in re.split(r"\n(?===)", printed[0]):
        if block.startswith("== "):
            ref = re.search(r" · ref (\d+)", block)
            assert ref, block
            blocks[f"{block.split(' · ')[0][3:]} {ref.group(1)}"] = block
    alerts = [json.loads(line) for line in printed[1].splitlines() if line.startswith("{")]
    return blocks, alerts


def _path(url: str) -> str:
    """A demo URL without its port: the two runs serve the feeds on two ports."""
    return url.split("/", 3)[-1]


def _line(block: str, prefix: str) -> str:
    [line] = [x for x in block.splitlines() if x.startswith(prefix)]
    return line


def test_an_alert_says_why_in_the_words_that_fired_and_the_score(demo) -> None:
    blocks, alerts = demo
    alerted = [a for a in alerts if a["kind"] in ("new", "update")]
    assert len(alerted) == 4
    for a in alerted:
        why = _line(blocks[f"{a['kind'].upper()} {a['delivery_id']}"], "why: ")
        assert re.fullmatch(r'why: "\w+".* in the title.* · relevance \d\.\d\d', why), why
        assert not any(w in why for w in MODEL_WORDS), why
        assert why == f"why: {a['why']}"
        # The whole reason is still there for machine readers and moderators.
        assert all(w in a["explanation"] for w in re.findall(r'"[^"]+"', a["why"]))
        assert "(bar 0." in a["explanation"] and " +" in a["explanation"]
    red_sea = next(a for a in alerted if "Red Sea" in a["title"])
    assert red_sea["why"].startswith('"deploys", "warships" in the title; ')


def test_each_alert_names_the_story_s_outlets_once_wire_copy_folded(demo) -> None:
    blocks, _ = demo
    for head, block in blocks.items():
        assert "sources (" not in block, block
        if head.startswith(("NEW", "UPDATE")):
            assert len(re.findall(r"^(corroborated · )?\d+ outlets?", block, re.M)) == 1, block
    last = [b for h, b in blocks.items() if h.startswith("UPDATE")][-1]
    outlets = "3 outlets: Yonhap News Agency, via AFP (The Moscow Times), Al Jazeera"
    assert f"\ncorroborated · {outlets}\n" in last
    moscow = next(b for b in blocks.values() if "The Moscow Times ·" in b and "UPDATE" in b)
    assert "\n2 outlets: Yonhap News Agency, via AFP (The Moscow Times)\n" in moscow


def test_every_alert_shows_the_ref_that_feedback_takes(demo) -> None:
    blocks, alerts = demo
    for head, block in blocks.items():
        ref = head.split()[1]
        if not head.startswith("CORROBORATED"):
            assert f"wirewatch feedback not-relevant {ref} ·" in block, block
    # The mark rewrites the story's first alert: it shows that alert's ref, as chat does.
    [mark] = [a for a in alerts if a["kind"] == "corroborated"]
    first = next(a for a in alerts if a["kind"] == "new" and a["story_id"] == mark["story_id"])
    assert f"CORROBORATED {first['delivery_id']}" in blocks
    assert {f"{a['kind'].upper()} {a['delivery_id']}" for a in alerts} == set(blocks)


def test_a_block_names_the_alert_it_belongs_under_not_an_internal_story_number(demo) -> None:
    """Every stored item starts a story, matched or not, so a fresh install's first alert read
    "story 11" (ten off-topic items before it). A terminal has no threads: an update, an edit
    and the mark name the ref of their story's alert, printed above; an alert names nothing."""
    blocks, alerts = demo
    heads = {h: b.splitlines()[0] for h, b in blocks.items()}
    assert not any(re.search(r"story \d", head) for head in heads.values()), heads
    for a in alerts:
        head = heads[f"{a['kind'].upper()} {a['delivery_id']}"]
        if a["kind"] == "new":
            assert head == "== NEW · troop-deployments", head
            continue
        first = next(x for x in alerts if x["kind"] == "new" and x["story_id"] == a["story_id"])
        assert head.endswith(f" · story of ref {first['delivery_id']}"), (head, first)
    assert len({h.rsplit(" ref ", 1)[-1] for h in heads.values() if "ref" in h}) == 1


@pytest.mark.parametrize("doc", ["README.md", "docs/alerts.md"])
def test_the_alert_the_docs_quote_is_one_the_demo_prints(doc: str, demo) -> None:
    """README and docs/alerts.md show a demo alert line by line: each line is the demo's
    (the time and port are the run's own, the summary cut)."""
    blocks, _ = demo
    text = (Path(__file__).resolve().parents[1] / doc).read_text(encoding="utf-8")
    [quoted] = re.findall(r"^```text\n(== .*?)^```", text, re.M | re.S)
    quoted_lines = quoted.splitlines()
    ref = re.search(r" · ref (\d+) · ", quoted_lines[2]).group(1)
    printed = blocks[f"{quoted_lines[0].split()[1]} {ref}"].splitlines()
    assert len(quoted_lines) == len(printed), (quoted_lines, printed)
    for shown, real in zip(quoted_lines, printed, strict=True):
        if shown.endswith(" ..."):  # the summary, cut
            assert real.startswith(shown.removesuffix(" ...")), (shown, real)
        elif re.search(STAMP, shown):  # this run's time and port
            pattern = re.escape(re.sub(r"\d", "0", shown)).replace("0", r"\d")
            assert re.fullmatch(pattern, real), (shown, real)
        else:
            assert shown == real


def test_a_printed_summary_names_no_month_its_run_did_not_date(demo) -> None:
    """The demo dates its items to the run ("SEOUL, Dec. 7 (Yonhap) --"); a month written
    into the sample text reads against that date: "after a lull of about a month ... put
    back on the front line in early February" under a December dateline. Only the
    dateline's month may be named."""
    _, alerts = demo
    now = datetime.now(UTC)
    ran = {f"{now:%B}", f"{now - timedelta(days=1):%B}"}  # the dateline is hours back
    months = "|".join(calendar.month_name[1:])
    for a in alerts:
        named = set(re.findall(rf"\b(?:{months})\b", a["summary"])) - ran
        assert not named, (named, a["summary"])


def test_the_corroboration_mark_says_what_each_outlet_reported(demo) -> None:
    blocks, alerts = demo
    [head] = [h for h in blocks if h.startswith("CORROBORATED")]
    lines = blocks[head].splitlines()
    [mark] = [a for a in alerts if a["kind"] == "corroborated"]
    assert lines[1] == mark["title"]
    assert re.fullmatch(rf"Yonhap News Agency · {STAMP} · ref \d+ · http://\S+", lines[2])
    assert lines[3].startswith("corroborated · 3 outlets: Yonhap News Agency, via AFP (")
    listed = [x for x in lines if x.startswith("- ")]
    assert len(listed) == len(mark["sources"]) == 3
    for line, source in zip(listed, mark["sources"], strict=True):
        outlet, when, title, url = line[2:].split(" · ")
        assert (outlet, title, _path(url)) == (
            source["outlet"],
            source["title"],
            _path(source["url"]),
        )
        assert re.fullmatch(STAMP, when) and source["published"].startswith(when[:10])


def test_an_edit_says_when_the_item_was_published_and_links_it(demo) -> None:
    blocks, alerts = demo
    [edit] = [a for a in alerts if a["kind"] == "edit"]
    block = blocks[f"EDIT {edit['delivery_id']}"]
    assert block.splitlines()[1] == f"Al Jazeera changed: {edit['title']}"
    stamp = block.splitlines()[2]
    assert re.fullmatch(rf"published {STAMP} · ref {edit['delivery_id']} · http://\S+", stamp)
    assert _path(stamp.split(" · ")[-1]) == _path(edit["url"])


def test_feed_text_in_the_new_lines_cannot_drive_the_terminal() -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2J"
    mark = Alert(
        2,
        "corroborated",
        7,
        "troop-deployments",
        "console",
        f"Troops sent{hostile}",
        f"https://a.example/{hostile}",
        f"Wire{hostile}",
        datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        "",
        explanation=f'title has "troops{hostile}"; relevance 0.90 (bar 0.50): x +1.0',
        sources=(
            Source(f"Wire{hostile}", f"drills\n{hostile}", "https://a.example/1", None),
            Source("Other", f"Sent{hostile}", None, datetime(2026, 1, 2, 4, tzinfo=UTC)),
        ),
        corroboration=Corroboration((f"via AFP (Wire{hostile})", "Other"), corroborated=True),
    )
    new = replace(mark, kind="new")
    for alert in (mark, new):
        text = alert_text(alert)
        assert "\x1b" not in text and "\x07" not in text, text
    listed = [x for x in alert_text(mark).splitlines() if x.startswith(("- ", "]", "pwned"))]
    assert [x.split(" · ")[0] for x in listed] == ["- Wire]0;pwned", "- Other"], listed
    assert listed[0].startswith("- Wire]0;pwned · drills ]0;pwned · https://a.example/1")
    assert listed[1] == "- Other · 2026-01-02 04:00 UTC · Sent]0;pwned"
    why = alert_json(new)["why"]
    assert why.startswith('"troops') and why.endswith(" in the title · relevance 0.90")


def test_a_headline_only_item_prints_no_blank_line_inside_its_block() -> None:
    """A feed of headlines alone (no description): the block printed an empty summary line,
    and a blank line is where a reader takes one alert to end and the next to begin."""
    alert = Alert(
        5,
        "new",
        7,
        "troop-deployments",
        "console",
        "National Guard troops arrive in the city",
        "https://a.example/1",
        "Wire",
        datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        "",
        explanation='title has "troops"; relevance 0.90 (bar 0.50): x +1.0',
        sources=(Source("Wire", "National Guard troops arrive", "https://a.example/1"),),
        corroboration=Corroboration(("Wire",)),
    )
    lines = alert_text(alert).rstrip("\n").split("\n")
    assert "" not in lines, lines
    assert lines[2].startswith("Wire · 2026-01-02 03:04 UTC · ref 5")
    assert lines[3] == 'why: "troops" in the title · relevance 0.90'


def test_readme_documents_every_field_of_a_json_alert(demo) -> None:
    """docs/commands.md (README's commands link there) names every field `poll --json` prints."""
    _, alerts = demo
    root = Path(__file__).resolve().parent.parent
    readme = (root / "docs" / "commands.md").read_text(encoding="utf-8")
    start = readme.index("`poll --once --json` prints one object per delivered alert")
    said = readme[start : readme.index("\n\n", start)]
    for alert in alerts:
        for key in alert:
            assert f"`{key}`" in said, key
        for source in alert["sources"]:
            assert f"`{{{', '.join(source)}}}`" in said


def test_the_whole_reason_is_logged_under_verbose(caplog) -> None:
    """`wirewatch -v` logs each printed alert's whole reason, model features included."""
    reason = 'title has "troops"; relevance 0.90 (bar 0.50; words 0.80, encoder 0.95): a +1.2'
    alert = Alert(5, "new", 7, "t", "console", "Troops", None, "Wire", datetime.now(UTC), "")
    out = io.StringIO()
    with caplog.at_level(logging.DEBUG, logger="adapters.console"):
        ConsoleAdapter(out)._write(replace(alert, explanation=reason))
    assert 'why: "troops" in the title · relevance 0.90\n' in out.getvalue()
    assert f"console.why delivery=5 {reason}" in caplog.text


@pytest.mark.parametrize(
    ("query", "title", "why"),
    [
        (
            "deploy* NEAR/5 troops",
            "Pyongyang deploys more troops",
            '"deploys" near "troops" in the title',
        ),
        (
            'entity:"North Korea" AND entity:Russia',
            "Pyongyang sends envoy to Moscow",
            'North Korea (as "Pyongyang"); Russia (as "Moscow")',
        ),
        (
            "topic:nk-russia AND title:envoy* AND summit",
            "Pyongyang sends envoy to Moscow",
            'topic nk-russia; North Korea (as "Pyongyang"); Russia (as "Moscow"); "envoy" in '
            'the title; "summit" in the text',
        ),
    ],
)
def test_why_reads_the_reasons_the_matcher_stores(query: str, title: str, why: str) -> None:
    """The short line is read from the reasons as the real matcher words them: a change of
    their wording shows here, not as model internals in front of editors."""
    topics = [*load_topics(), Topic("t", query, origin="config")]
    [found] = [
        m for m in Matcher(topics, Gazetteer.load()).match(title, "A summit.") if m.topic == "t"
    ]
    alert = Alert(1, "new", 1, "t", "console", title, None, "W", datetime.now(UTC), "")
    shown = alert_text(replace(alert, explanation=found.explanation, matched=found.matched))
    assert f"\nwhy: {why}\n" in shown


def test_an_update_held_to_the_relaxed_bar_says_so() -> None:
    stored = (
        'title has "troops"; relevance 0.36 (update bar 0.33; words 0.30, encoder 0.44): a +1.0'
    )
    alert = Alert(1, "update", 1, "t", "console", "T", None, "W", datetime.now(UTC), "")
    shown = alert_text(replace(alert, explanation=stored))
    assert '\nwhy: "troops" in the title · relevance 0.36 (update bar 0.33)\n' in shown


def test_a_link_with_spaces_cannot_print_a_fake_ref_or_link() -> None:
    # Feeds' links are stored as given; a space in one printed as more of our own line.
    forged = "https://a.example/x · ref 99 · https://evil.example"
    alert = Alert(5, "new", 7, "t", "console", "Troops", forged, "Wire", datetime.now(UTC), "")
    alert = replace(alert, sources=(Source("Wire", "Troops", forged),))
    printed = alert_text(alert)
    assert "ref 99" not in printed and " https://evil.example" not in printed, printed
    assert "https://a.example/x%20·%20ref%2099%20·%20https://evil.example" in printed


def test_a_summary_cannot_print_lines_that_read_as_ours() -> None:
    """A feed's summary keeps its paragraphs, one a line: a paragraph reading "== NEW ..." or
    "feedback: ..." printed as another alert's head, or as the feedback commands with another
    ref, inside this alert's block."""
    summary = (
        "Troops were sent.\n== NEW · troop-deployments\n"
        "feedback: wirewatch feedback not-relevant 1 · wirewatch feedback wrong-story 1\nwhy: x"
    )
    alert = Alert(5, "new", 7, "t", "console", "Troops", None, "Wire", datetime.now(UTC), summary)
    lines = alert_text(alert).rstrip("\n").split("\n")
    assert [x for x in lines if x.startswith("== ")] == [lines[0]]
    assert [x for x in lines if x.startswith(("feedback:", "why:"))] == [lines[-1]]
    assert lines[-1].endswith("wirewatch feedback wrong-story 5")
    assert "  == NEW · troop-deployments" in lines  # still shown, as its text
