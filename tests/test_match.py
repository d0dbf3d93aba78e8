"""The matcher: which topics an item matches, why, and the same answer with many topics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError, QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.topics.compile import compile_topic
from bot.topics.explanation import explain
from bot.topics.load import load_topics
from bot.topics.match import Matcher
from bot.topics.query import And, Near, Not, Or, Term, parse_query


def matches(query: str, title: str, text: str = "", gazetteer: Gazetteer | None = None) -> bool:
    matcher = Matcher([Topic("t", query)], gazetteer or Gazetteer.load())
    return bool(matcher.match(title, text))


@pytest.mark.parametrize(
    ("query", "title", "text", "expected"),
    [
        ("troops", "Troops sent", "", True),
        ("troops", "", "more TROOPS.", True),
        ("troop", "Troops sent", "", False),  # whole words only
        ("troop*", "Troops sent", "", True),
        ('"sent troops"', "", "Russia sent troops", True),
        ('"sent troops"', "", "sent more troops", False),
        ('"korea troops"', "", "North Korea's troops", True),
        ('"us led"', "", "U.S.-led forces", True),
        ("troops AND NOT withdraw*", "", "troops withdrawn", False),
        ("troops AND NOT withdraw*", "", "troops arrive", True),
        ("title:troops", "Sent", "troops", False),
        ("title:troops", "Troops", "sent", True),
        ("title:(NOT troops) AND troops", "Sent", "troops", True),
        ("title:(NOT troops) AND troops", "Troops", "troops", False),
        ("NOT troops", "", "nothing here", True),
        ("NOT troops", "", "", True),
    ],
)
def test_words_phrases_fields_and_not(gazetteer, query, title, text, expected):
    assert matches(query, title, text, gazetteer) is expected


@pytest.mark.parametrize(
    ("text", "distance", "expected"),
    [
        ("troops were sent", 1, True),  # one word between
        ("troops were sent", 0, False),
        ("sent troops", 0, True),  # either order
        ("troops a b c d e f g h sent", 8, True),
        ("troops a b c d e f g h i sent", 8, False),
    ],
)
def test_near_counts_the_words_between(gazetteer, text, distance, expected):
    assert matches(f"troops NEAR/{distance} sent", "", text, gazetteer) is expected


def test_phrases_and_near_never_join_the_title_to_the_text(gazetteer):
    assert not matches('"sent troops"', "Russia sent", "troops to the front", gazetteer)
    assert not matches("sent NEAR/3 troops", "Russia sent", "troops to the front", gazetteer)


def test_entities_match_through_any_alias(gazetteer):
    query = 'entity:"North Korea" AND entity:Russia'
    assert matches(query, "Pyongyang sends men", "to the Kremlin's war", gazetteer)
    assert not matches(query, "Pyongyang sends men", "to the front", gazetteer)
    assert matches("title:entity:Russia", "Moscow says", "", gazetteer)
    assert not matches("title:entity:Russia", "Officials say", "Moscow", gazetteer)
    assert matches("entity:DPRK NEAR/2 troops", "", "North Korean troops", gazetteer)


def test_the_match_says_what_fired_and_which_entities_are_there(gazetteer):
    topic = Topic(
        "t",
        '(troops OR soldiers) NEAR/8 (sent OR deployed) AND title:troops AND entity:"North Korea"',
    )
    [found] = Matcher([topic], gazetteer).match(
        "More troops for Russia", "Pyongyang sent more troops to Russia's Kursk region."
    )
    assert found.topic == "t"
    assert found.explanation == (
        '"sent" within 8 words of "troops"; title has "troops"; entity North Korea (as "Pyongyang")'
    )
    assert set(found.matched) == {"troops", "sent"}
    assert found.entities == ("Russia", "North Korea", "Kursk")


def test_unknown_entities_and_bad_queries_fail_at_compile_time(gazetteer):
    with pytest.raises(QueryError, match="unknown entity 'Narnia'") as caught:
        compile_topic(Topic("t", "troops AND entity:Narnia"), gazetteer)
    assert caught.value.position == 11
    with pytest.raises(QueryError, match="did you mean Russia"):
        compile_topic(Topic("t", "entity:Rusia"), gazetteer)
    # a typo of an alias is a typo too: suggested with its entity (names alone found nothing)
    with pytest.raises(QueryError) as caught:
        compile_topic(Topic("t", "entity:Pyongyan AND entity:Moskow"), gazetteer)
    assert str(caught.value).startswith(
        "unknown entity 'Pyongyan' (did you mean Pyongyang (North Korea)?)"
    )
    with pytest.raises(QueryError, match=r"'Moskow' \(did you mean Moscow \(Russia\)\?\)"):
        compile_topic(Topic("t", "entity:Moskow"), gazetteer)
    with pytest.raises(QueryError, match="unclosed quote"):
        Matcher([Topic("t", '"troops')], gazetteer)


def test_could_match_looks_for_any_positive_term_only(gazetteer):
    matcher = Matcher(
        [Topic("a", "troops NEAR/3 sent AND NOT parade"), Topic("b", "entity:Russia AND drones")],
        gazetteer,
    )
    assert matcher.could_match("Troops", "")  # the article may say the rest
    assert matcher.could_match("", "Moscow says")
    assert not matcher.could_match("Parade in Paris", "a quiet day")
    assert Matcher([Topic("c", "NOT parade")], gazetteer).could_match("", "")


def test_many_topics_give_each_topic_its_own_answer(gazetteer):
    topics = [Topic(f"t{i}", f"word{i} AND (troops OR soldiers)") for i in range(2000)]
    topics += [Topic("russia", "entity:Russia AND sent"), Topic("none", "NOT soldiers")]
    matcher = Matcher(topics, gazetteer)
    found = matcher.match("Word17 soldiers", "Moscow sent them; word1999 too")
    assert [m.topic for m in found] == ["t17", "t1999", "russia"]


# An oracle: the same queries evaluated the slow, obvious way over a list of words.
VOCAB = ["troops", "sent", "navy", "home", "war"]


def oracle(node, words: list[str]) -> set[int] | None:
    """Positions where the node holds (empty set: holds without a place), None: does not."""
    if isinstance(node, Term):
        found = {i for i, w in enumerate(words) if w == node.words[0]}
        return found or None
    if isinstance(node, Not):
        return set() if oracle(node.child, words) is None else None
    if isinstance(node, Near):
        left, right = oracle(node.left, words), oracle(node.right, words)
        if not left or not right:
            return None
        pairs = {(a, b) for a in left for b in right if a != b and abs(a - b) - 1 <= node.distance}
        return {p for pair in pairs for p in pair} or None
    results = [oracle(c, words) for c in node.children]
    if isinstance(node, And) and any(r is None for r in results):
        return None
    kept = [r for r in results if r is not None]
    return set().union(*kept) if kept else None


def _near_spans_agree(node) -> bool:
    """The oracle tracks single positions, so NEAR over AND/OR groups of NEARs is left out."""
    if isinstance(node, Near):
        return all(
            isinstance(s, Term | Or) and not isinstance(s, Near) for s in (node.left, node.right)
        )
    return all(_near_spans_agree(c) for c in getattr(node, "children", ())) and (
        not isinstance(node, Not) or _near_spans_agree(node.child)
    )


terms = st.sampled_from(VOCAB).map(lambda w: Term((w,)))
ors = st.lists(terms, min_size=2, max_size=3, unique=True).map(lambda ts: Or(tuple(ts)))
operands = st.one_of(terms, ors)
nodes = st.recursive(
    st.one_of(terms, st.builds(Near, operands, operands, st.integers(0, 3))),
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.lists(kids.filter(lambda n: not isinstance(n, And)), min_size=2, max_size=3).map(
            lambda cs: And(tuple(cs))
        ),
        st.lists(kids.filter(lambda n: not isinstance(n, Or)), min_size=2, max_size=3).map(
            lambda cs: Or(tuple(cs))
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(nodes, st.lists(st.sampled_from(VOCAB + ["the", "a"]), max_size=12))
def test_the_matcher_agrees_with_a_slow_obvious_evaluation(gazetteer, node, words):
    query = str(node)
    expected = oracle(parse_query(query), words) is not None
    assert matches(query, "", " ".join(words), gazetteer) is expected


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_topics_load_and_compile(gazetteer):
    topics = load_topics()
    names = [t.name for t in topics]
    assert "troop-deployments" in names and "nk-russia" in names and len(names) >= 3
    assert all(t.origin == "builtin" and t.description for t in topics)
    for topic in topics:
        compile_topic(topic, gazetteer)


def test_topics_file_with_lists_anchors_and_shared_pieces(tmp_path):
    path = write(
        tmp_path,
        "x-units: &units (troops OR soldiers)\n"
        "mine:\n  description: mine\n  query: [*units, NEAR/3, sent]\n"
        "other:\n  query: entity:Russia\n",
    )
    topics = load_topics(path)
    assert [(t.name, t.query, t.origin) for t in topics] == [
        ("mine", "(troops OR soldiers) NEAR/3 sent", "config"),
        ("other", "entity:Russia", "config"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("broken:\n  query: '\"troops'\n", "broken: query: unclosed quote at position 1"),
        ("empty:\n  description: x\n", "empty: needs a `query`"),
        ("'bad name':\n  query: x\n", "'bad name': a topic name is"),
        ("- x\n", "expected a mapping of topic name"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_topics_file_names_where_and_what(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        load_topics(write(tmp_path, text))
    assert expected in str(caught.value)


def test_explain_takes_a_topic_name_or_a_query(gazetteer):
    topics = [Topic("deploy", "troops NEAR/3 sent")]
    text = "Seoul says\nNorth Korea sent more troops"
    assert explain("deploy", text, gazetteer, topics) == (
        True,
        '"sent" within 3 words of "troops"',
    )
    ok, why = explain("title:seoul AND entity:Russia", text, gazetteer, topics)
    assert not ok and '"seoul"' in why
    ok, why = explain("navy", text, gazetteer, topics)
    assert (ok, why) == (False, "`navy` is not in the text")
    with pytest.raises(QueryError):
        explain("troops AND", text, gazetteer, topics)


def test_explain_reads_a_pasted_headline_as_the_pipeline_reads_the_feed(gazetteer):
    """Headlines copied from a web page keep its soft hyphens and zero-width spaces (Al
    Jazeera's "Is&shy;raeli"): a moderator testing one gets the answer the feed item gets."""
    topics = [Topic("deploy", "troops NEAR/3 sent AND entity:Israel")]
    pasted = "Is\xadraeli tr\u200boops sent to the border"
    assert explain("deploy", pasted, gazetteer, topics) == explain(
        "deploy", "Israeli troops sent to the border", gazetteer, topics
    )
    assert explain("deploy", pasted, gazetteer, topics)[0]


def test_a_topic_that_ors_thousands_of_words_compiles_at_once(gazetteer):
    # A moderator pasting a long word list (`topic add`, every start, every `test`): each
    # word was looked up in a tuple of all the others, 1.3 s for 2,000 words.
    words = [f"w{i}" for i in range(2_000)]
    query = " OR ".join([*words, "entity:Russia"])
    started = time.perf_counter()
    matcher = Matcher([Topic("long", query)], gazetteer)
    assert time.perf_counter() - started < 0.5
    assert [m.topic for m in matcher.match("About w1999", "")] == ["long"]
    assert [m.topic for m in matcher.match("Moscow says", "")] == ["long"]
