"""`topics test` / chat `test`: why a text matches a query or topic, and above all why not.

A moderator reads the answer to fix a query; an answer that blames the wrong part sends
them looking for a problem that is not there (an alias that works, a query that is fine
while the referred topic's model said no)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.errors import QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.topics.explanation import explain
from bot.topics.load import load_topics


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def why_not(query: str, text: str, gazetteer: Gazetteer, topics=()) -> list[str]:
    ok, why = explain(query, text, gazetteer, list(topics))
    assert not ok, why
    return why.split("\n- ")


def test_an_entity_that_is_there_is_never_said_to_be_absent(gazetteer):
    assert why_not("NOT entity:Russia", "Moscow said", gazetteer) == [
        'excluded by `NOT entity:"Russia"`: entity Russia (as "Moscow")'
    ]
    assert why_not('entity:"North Korea" AND entity:Russia', "Pyongyang said", gazetteer) == [
        '`entity:"Russia"` is not in the text, by any of its names',
        'the text has entity North Korea (as "Pyongyang")',
    ]


def test_a_name_split_by_a_line_break_is_shown_on_one_line(gazetteer):
    # Aliases are found across a line break; the name "as written" kept it, and cut the
    # explanation (and an alert's "why") in two.
    ok, why = explain('entity:"North Korea"', "Headline\nSaid North\nKorea sent troops",
                      gazetteer, [])  # fmt: skip
    assert ok and why == "entity North Korea", why  # as the name: no "(as ...)"
    lines = why_not('entity:"North Korea" AND entity:Russia', "News\nSaid North\nKorea sent",
                    gazetteer)  # fmt: skip
    assert lines[-1] == "the text has entity North Korea", lines


def test_the_not_that_excluded_an_item_is_named_with_the_words_as_written(gazetteer):
    lines = why_not(
        "troops AND NOT (software NEAR/6 deploy*)", "Army deploys new software to troops", gazetteer
    )
    assert lines == [
        'excluded by `NOT (software NEAR/6 deploy*)`: "deploys" within 6 words of "software"'
        " in the title",
        'the text has "troops"',
    ]


def test_a_built_in_exclusion_is_shown_short_with_what_set_it_off(gazetteer):
    lines = why_not(
        "troop-deployments",
        "Microsoft to deploy cloud servers for the navy",
        gazetteer,
        load_topics(),
    )
    assert lines[0].startswith("excluded by `NOT ((software OR app OR")
    assert '"deploy" within 6 words of "cloud"' in lines[0] and len(lines[0]) < 160
    assert lines[1] == 'the text has "servers", "navy"'


def test_a_word_in_the_body_is_said_to_be_there_not_in_the_title(gazetteer):
    assert why_not("title:troops", "News\ntroops arrive", gazetteer) == [
        '"troops" is in the body, not the title'
    ]
    assert why_not("title:entity:Russia", "News\nMoscow said", gazetteer) == [
        'entity Russia (as "Moscow") is in the body, not the title'
    ]


def test_what_is_missing_and_what_is_too_far_apart(gazetteer):
    assert why_not("navy", "Seoul says", gazetteer) == ["`navy` is not in the text"]
    assert why_not("troops NEAR/2 border", "Troops were sent to the far border", gazetteer) == [
        '"troops" and "border" are not within 2 words of each other'
    ]
    # one word is "word", and NEAR/0 (nothing between) is "next to", on a miss and a match
    assert why_not("troops NEAR/1 border", "Troops at the border", gazetteer) == [
        '"troops" and "border" are not within 1 word of each other'
    ]
    assert why_not("border NEAR/0 troops", "Troops at the border", gazetteer) == [
        '"border" and "troops" are not next to each other'
    ]
    assert explain("troops NEAR/1 border", "Troops to border", gazetteer) == (
        True,
        '"border" within 1 word of "troops" in the title',
    )
    assert explain("at NEAR/0 border", "Troops at the border", gazetteer) == (
        False,
        '"at" and "border" are not next to each other',
    )
    assert explain("the NEAR/0 border", "Troops at the border", gazetteer) == (
        True,
        '"border" next to "the" in the title',
    )
    # sides that only overlap are not "too far apart": they are one place of the text
    assert why_not('entity:"North Korea" NEAR/3 korea*', "North Korea fires", gazetteer) == [
        '"north korea" and "korea" are the same words of the text: `NEAR/3` needs two places',
        "the text has entity North Korea",
    ]
    assert (
        why_not(  # one place, and another too far: the far one is the reason
            'entity:"North Korea" NEAR/1 korea*', "North Korea fires at South Korea", gazetteer
        )[0]
        == '"north korea" and "korea" are not within 1 word of each other'
    )
    assert why_not("troops NEAR/2 border", "Troops sent\nto the border", gazetteer) == [
        '"troops" is in the title and "border" in the body: `NEAR/2` does not join them'
    ]
    assert why_not("(troops OR soldiers) AND (border OR frontier)", "Soldiers rest", gazetteer) == [
        "none of `border OR frontier` is in the text",
        'the text has "soldiers"',
    ]


def test_a_long_query_quoted_in_an_explanation_is_cut_at_a_word_end(gazetteer):
    """A built-in list runs to a hundred words: quoted, it ends at a whole word ("OR ser…"
    read as a word of the query)."""
    words = ["troops", "soldiers", "servicemen", "paratroopers", "infantrymen", "sailors"] * 3
    query = " OR ".join(words)
    [line] = why_not(query, "Warships sail", gazetteer)
    shown = line.split("`")[1]
    assert shown.endswith("…") and len(shown) <= 60, line
    assert set(shown[:-1].split()) <= {*words, "OR"}, line


def test_a_referred_topic_whose_model_said_no_is_not_blamed_on_the_query(
    gazetteer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A toy model, loaded the way shipped ones are, that only trusts items with a text."""
    model = {"weights": {"bias": 2.0, "title_only": -4.0}, "threshold": 0.5, "relaxed": 0.3}
    (tmp_path / "toy.json").write_text(json.dumps(model), encoding="utf-8")
    monkeypatch.setattr("bot.relevance.model.HERE", tmp_path)
    judged = Topic("troops", "troops OR soldiers", relevance="toy")
    lines = why_not("topic:troops AND entity:Russia", "Soldiers to Russia", gazetteer, [judged])
    assert lines[0].startswith("topic troops: its query matches, but its model says no (relevance")
    assert lines[1:] == ['the text has "soldiers", entity Russia']
    missing = why_not("topic:troops", "Warships sail", gazetteer, [judged])
    assert missing == ["topic troops: none of `troops OR soldiers` is in the text"]


def test_an_unknown_referred_topic_gets_the_hint_check_gives(gazetteer):
    with pytest.raises(QueryError, match=r"unknown topic 'nk-rusia' \(did you mean nk-russia\?\)"):
        explain("topic:nk-rusia", "Seoul says", gazetteer, load_topics())


@pytest.mark.parametrize(
    ("query", "text", "why"),
    [
        ("NOT drill*", "Troops deploy", "nothing the query excludes is in the text: `NOT drill*`"),
        (
            "title:NOT troops",
            "News\ntroops",
            "nothing the query excludes is in the text: `title:(NOT troops)`",
        ),
        (
            "NOT topic:troop-deployments",
            "The weather is fine",
            "nothing the query excludes is in the text: `NOT topic:troop-deployments`",
        ),
        ("NOT NOT soldiers", "Soldiers rest", 'title has "soldiers"'),  # no exclusion: x
    ],
)
def test_a_match_made_of_exclusions_says_why_in_every_caller(gazetteer, capsys, query, text, why):
    assert explain(query, text, gazetteer, load_topics()) == (True, why)
    assert main(["topics", "test", query, "--text", text]) == 0
    assert capsys.readouterr().out == f"MATCH: {why}\n"


WORDS = ["troops", "soldiers", "sent", "border", "drills", "Moscow", "Pyongyang", "Seoul"]
PIECES = [*WORDS, "deploy*", '"troops sent"', "entity:Russia", 'entity:"North Korea"']
QUERY = st.recursive(
    st.sampled_from(PIECES),
    lambda q: st.one_of(
        st.builds("NOT {}".format, q),
        st.builds("title:({})".format, q),
        st.builds("({}) AND ({})".format, q, q),
        st.builds("({}) OR ({})".format, q, q),
        st.builds("({}) NEAR/{} ({})".format, q, st.integers(0, 3), q),
    ),
    max_leaves=6,
)
TEXT = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(query=QUERY, title=TEXT, body=TEXT)
def test_every_answer_gives_a_reason_one_line_each(gazetteer, query, title, body):
    """Whatever the query and text, matched or not, the answer says why: a line of its
    own per reason, none empty (the CLI printed a bare `MATCH: `)."""
    try:
        ok, why = explain(query, f"{title}\n{body}", gazetteer)
    except QueryError:
        return  # NEAR joining a NOT: refused with its own message
    assert why and all(line.strip() for line in why.split("\n"))
    assert ok or all(line.startswith("- ") for line in why.split("\n")[1:])


def test_a_phrase_split_by_a_sentence_end_is_said_so(gazetteer):
    # A phrase stays within a sentence; its miss read "not in the text" with both words there.
    assert why_not('"sent seoul"', "Troops were sent. Seoul says", gazetteer) == [
        '`"sent seoul"` is in the text, but split by a sentence end'
    ]
    # the title and the text are not one sentence: there, it is simply not in the text
    assert why_not('"korea russia"', "North Korea\nRussia said", gazetteer) == [
        '`"korea russia"` is not in the text'
    ]


def test_a_double_negation_names_what_fired(gazetteer):
    # `NOT (NOT x)` is x (a desk's `--except 'NOT entity:Russia'` reads so): its match said
    # only "`NOT NOT troops` holds", as if nothing of the text had made it.
    assert explain("NOT NOT troops", "Troops arrive", gazetteer) == (True, 'title has "troops"')
    assert explain("sent AND NOT (NOT entity:Russia)", "Troops sent\nMoscow said", gazetteer) == (
        True,
        'title has "sent"; entity Russia (as "Moscow")',
    )
    assert (
        why_not("NOT (NOT troops)", "Soldiers arrive", gazetteer)[0]
        == "`troops` is not in the text"
    )
