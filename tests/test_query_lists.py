"""A list written as prose, `troops, soldiers, marines`, and a phrase in single quotes,
`'aircraft carrier'`, are refused saying what to write: read as words, the first needed all
three words (the topic matched almost nothing) and the second matched "carrier aircraft".

A query-language trial (stop 63) found both saved without a word of warning.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands import Commands
from bot.errors import ConfigError, QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.notice_outbox import deliver_notices
from bot.redecide import save_topic, subscribe
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import list_topics
from bot.topics.explanation import explain
from bot.topics.load import load_topics
from bot.topics.query import Entity, parse_query
from tests.runtime import console_runtime
from tests.test_commands import make_settings, run

EITHER = "a comma is not an operator: write `troops OR soldiers` for either"


@pytest.mark.parametrize(
    ("query", "shown", "position"),
    [
        ("troops, soldiers, marines", "`troops OR soldiers` for either, `troops soldiers`", 6),
        ("troops,soldiers", "`troops OR soldiers`", 6),  # was the phrase "troops soldiers"
        ("troops ,soldiers", "`troops OR soldiers`", 7),
        ('"air force", navy', '`"air force" OR navy`', 11),
        ("deploy*, troop*", "`deploy* OR troop*`", 7),
        ("U.S., Japan", "`U.S. OR Japan`", 4),
        ("F-16,F-35", "`F-16 OR F-35`", 4),
        ("1,500,troops", "`1,500 OR troops`", 5),
        ("title:Kyiv, Kharkiv", "`Kyiv OR Kharkiv`", 10),
        ("北韩、俄罗斯", "`北韩 OR 俄罗斯`", 2),  # the ideographic comma lists words too
        ("troops, (drill OR exercise)", "write OR between alternatives", 6),
        ("entity:Russia, entity:Ukraine", "write OR between alternatives", 13),
    ],
)
def test_a_comma_between_words_is_refused_where_it_is(query, shown, position):
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert str(caught.value).startswith("a comma is not an operator: ")
    assert shown in str(caught.value)
    assert caught.value.position == position


def test_a_comma_in_a_number_or_a_phrase_or_next_to_nothing_stays():
    assert parse_query("1,500 troops") == parse_query("1500 troops")
    assert parse_query("2,5 millones") == parse_query("2.5 millones")
    assert parse_query('"Seoul, South Korea"') == parse_query('"Seoul South Korea"')
    assert parse_query('entity:"Korea, North"') == Entity("Korea, North")
    assert parse_query("troops,") == parse_query("troops")  # joins nothing: changes nothing
    assert parse_query("troops, OR soldiers") == parse_query("troops OR soldiers")
    assert parse_query("(troops OR soldiers,) sent") == parse_query("(troops OR soldiers) sent")


@pytest.mark.parametrize(
    ("query", "phrase", "position"),
    [
        ("'aircraft carrier'", '"aircraft carrier"', 0),
        ("warship* OR ‘aircraft carrier’", '"aircraft carrier"', 12),  # as a Mac types them
        ("entity:'North Korea'", '"North Korea"', 7),
        ("'North Korea's army' troops", '"North Korea\'s army"', 0),
        ("'fighter jet*' sent", '"fighter jet*"', 0),
    ],
)
def test_words_in_single_quotes_are_refused_saying_to_use_double_quotes(query, phrase, position):
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    message = str(caught.value)
    assert message.startswith("single quotes do not make a phrase: use double quotes")
    assert f"as in {phrase} at position {position + 1}" in message
    assert caught.value.position == position


def test_apostrophes_in_and_around_one_word_stay_as_they_were():
    assert parse_query("O'Brien's army") == parse_query("o'brien army")
    assert parse_query("Korea's troops") == parse_query("korea troops")
    assert parse_query("'90s troops") == parse_query("90s troops")
    assert parse_query("soldiers' families") == parse_query("soldiers families")
    assert parse_query("'carrier' sent") == parse_query("carrier sent")
    assert parse_query("rock 'n' roll") == parse_query("rock n roll")
    # an operator between: no one quoted run, and no phrase guessed across OR
    assert parse_query("'90s veterans OR soldiers' families") == parse_query(
        "90s veterans OR soldiers families"
    )


def test_the_double_quoted_phrase_it_asks_for_matches_what_was_meant():
    text = "US aircraft carrier sails into the South China Sea"
    assert explain('"aircraft carrier"', text, Gazetteer.load(), [])[0]
    assert not explain('"aircraft carrier"', "Carrier aircraft grounded", Gazetteer.load(), [])[0]


def test_a_space_is_no_thousands_separator():
    # as docs/topics.md says: "10 000 troops" is three words, `10000` does not match it
    gazetteer = Gazetteer.load()
    assert not explain("10000", "Russia masses 10 000 troops", gazetteer, [])[0]
    assert explain('"10 000"', "Russia masses 10 000 troops", gazetteer, [])[0]
    assert explain("10000", "Russia masses 10,000 troops", gazetteer, [])[0]


def test_a_config_topic_written_as_a_list_is_refused_naming_the_topic(tmp_path: Path, capsys):
    topics = tmp_path / "topics.yaml"
    topics.write_text("ground-forces: {query: 'troops, soldiers, marines'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_topics(topics)
    assert f"ground-forces: query: {EITHER}" in str(caught.value)

    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        "feeds:\n  - {name: A, url: 'https://a.example/rss'}\n"
        "topics:\n  ground-forces: {query: 'troops, soldiers'}\n"
        "  carriers: {query: \"'aircraft carrier' OR warship*\"}\n"
        "subscriptions:\n  - {topic: ground-forces, channel: console}\n",
        encoding="utf-8",
    )
    for command in ("check", "run"):  # `run` stops at start, before it opens anything
        assert main([command, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert f"topics.ground-forces.query: {EITHER}, `troops soldiers` for both at " in err
        assert "topics.carriers.query: single quotes do not make a phrase" in err
    assert not (tmp_path / "w.db").exists()


async def test_topic_add_in_chat_answers_where_the_comma_is_and_saves_nothing(tmp_path: Path):
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        cmds = Commands(rt)
        reply = await run(cmds, "topic add ground troops, soldiers, marines")
        assert not reply.ok
        assert f"the query does not work: {EITHER}" in reply.text
        assert "at position 7" in reply.text
        quoted = await run(cmds, "topic add carriers 'aircraft carrier'")
        assert not quoted.ok and 'use double quotes for a phrase, as in "aircraft' in quoted.text
        assert {t.name for t in list_topics(rt.db)}.isdisjoint({"ground", "carriers"})


async def test_a_list_saved_from_chat_before_is_skipped_and_its_channel_told(
    tmp_path: Path, capsys
) -> None:
    settings = Settings.model_validate(
        {"database": str(tmp_path / "w.db"), "articles": {"fetch": False}}
    )
    async with console_runtime(settings) as (rt, _):  # as an older version saved it
        save_topic(rt.db, Topic("ground", "troops, soldiers", origin="chat"))
        subscribe(rt.db, "console", "ground", "instant")
    async with console_runtime(settings) as (rt, _):
        await deliver_notices(rt.db, rt.adapters)
        assert "ground" not in {c.topic.name for c in rt.pipeline.matcher.compiled}
    told = [line for line in capsys.readouterr().err.splitlines() if "notice:" in line]
    # (the notice writes the reason's backticks as quotes, to keep its own paired)
    assert len(told) == 1 and "topic `ground` no longer works (a comma is not an" in told[0]


@pytest.mark.parametrize(
    "query",
    ["a," * 9_999, "a" + "," * 19_990, "'a " * 6_666, "x " + "1,5 " * 4_000],
    ids=["commas between words", "commas after one word", "quote-led words", "numbers"],
)
def test_a_hostile_query_of_commas_or_quotes_is_read_at_once(query):
    # Checked at each `topic add`, each start and each `test`: a first version looked at every
    # comma against every word (12 s for 10,000 of them) and every quote against what followed.
    started = time.perf_counter()
    with contextlib.suppress(QueryError):
        parse_query(query)
    assert time.perf_counter() - started < 1.0
