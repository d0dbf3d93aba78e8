"""`topic:NAME` in queries: the named topic's verdict, never a copy of its query; unknown and
circular references refused with a clear message; the same answers as the query written out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.topics.explanation import explain
from bot.topics.match import Matcher
from bot.topics.query import And, Entity, Not, Term, TopicRef, parse_query
from bot.topics.usable import usable_topics

TROOPS = Topic("troops", "troops OR soldiers")
NK_TROOPS = Topic("nk-troops", 'topic:troops AND entity:"North Korea"')


def fired(matcher: Matcher, title: str, text: str = "") -> list[str]:
    return [m.topic for m in matcher.match(title, text)]


def test_parse_topic_references() -> None:
    assert parse_query('topic:troop-deployments AND entity:"North Korea"') == And(
        (TopicRef("troop-deployments"), Entity("North Korea"))
    )
    assert parse_query("NOT topic:sport") == Not(TopicRef("sport"))
    assert str(parse_query("(topic:a OR b) AND NOT topic:c")) == "(topic:a OR b) AND NOT topic:c"
    assert parse_query("topic:a b") == And((TopicRef("a"), Term(("b",))))


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("topic:", "topic: needs a topic's name"),
        ('topic:"two words"', "topic: needs a topic's name"),
        ("topic:no*", "topic: needs a topic's name"),
        ("title:topic:a", "topic: cannot be inside title:"),
        ("title:(troops OR topic:a)", "topic: cannot be inside title:"),
    ],
)
def test_bad_references_are_refused_where_they_are(query: str, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert says in str(caught.value) and caught.value.position is not None


def test_a_reference_holds_when_the_named_topic_does(gazetteer: Gazetteer) -> None:
    matcher = Matcher([NK_TROOPS, TROOPS], gazetteer)
    assert fired(matcher, "Pyongyang sends soldiers to Russia") == ["nk-troops", "troops"]
    assert fired(matcher, "Poland sends soldiers to its border") == ["troops"]
    assert fired(matcher, "Pyongyang fires a missile") == []
    [found] = [m for m in matcher.match("North Korean troops in Kursk", "") if m.topic != "troops"]
    assert (
        found.explanation
        == 'topic troops; title has "troops"; entity North Korea (as "North Korean")'
    )
    assert "troops" in found.matched


def test_references_chain_and_negate(gazetteer: Gazetteer) -> None:
    topics = [
        Topic("no-drills", "topic:nk-troops AND NOT topic:drills"),
        Topic("drills", "drill* OR exercise*"),
        NK_TROOPS,
        TROOPS,
    ]
    matcher = Matcher(topics, gazetteer)
    assert "no-drills" in fired(matcher, "North Korea moves troops to the border")
    assert "no-drills" not in fired(matcher, "North Korea moves troops for drills")
    assert "no-drills" not in fired(matcher, "Russia moves troops to the border")


def test_a_reference_follows_the_topics_relevance_model_not_just_its_query(
    gazetteer: Gazetteer, tmp_path, monkeypatch
) -> None:
    """A toy model, loaded the way shipped ones are, that only trusts items with a text."""
    model = {"weights": {"bias": 2.0, "title_only": -4.0}, "threshold": 0.5, "relaxed": 0.3}
    (tmp_path / "toy.json").write_text(json.dumps(model), encoding="utf-8")
    monkeypatch.setattr("bot.relevance.model.HERE", tmp_path)
    judged = Topic("troops", "troops OR soldiers", relevance="toy")
    matcher = Matcher([NK_TROOPS, judged], gazetteer)
    assert fired(matcher, "North Korean troops in Kursk", "Seoul says so.") == [
        "nk-troops",
        "troops",
    ]
    assert fired(matcher, "North Korean troops in Kursk") == []  # the model says no
    ok, why = explain(
        "topic:troops AND entity:Russia", "Soldiers to Russia\nMoscow says so.", gazetteer, [judged]
    )
    assert ok and why.startswith("topic troops;"), why
    ignoring = Matcher([NK_TROOPS, judged], gazetteer, relevance=False)
    assert fired(ignoring, "North Korean troops in Kursk") == ["nk-troops", "troops"]


def test_each_topic_is_decided_once_per_item_however_often_referred_to(
    gazetteer: Gazetteer,
) -> None:
    decided: list[str] = []

    class Counting(Matcher):
        def _decide(self, compiled, doc, prepared):
            decided.append(compiled.topic.name)
            return super()._decide(compiled, doc, prepared)

    topics = [
        TROOPS,
        Topic("a", "topic:troops AND russia"),
        Topic("b", "topic:troops OR topic:a"),
        Topic("c", "topic:a AND topic:b AND topic:troops"),
    ]
    matcher = Counting(topics, gazetteer)
    assert fired(matcher, "Soldiers sent to Russia") == ["troops", "a", "b", "c"]
    assert sorted(decided) == ["a", "b", "c", "troops"]


@pytest.mark.parametrize(
    ("topics", "says", "topic"),
    [
        (
            [Topic("a", "topic:troopz AND x"), TROOPS],
            "unknown topic 'troopz' (did you mean troops?)",
            "a",
        ),
        ([Topic("a", "topic:a OR x")], "in a circle: a -> a", "a"),
        (
            [Topic("a", "x AND topic:b"), Topic("b", "y OR topic:c"), Topic("c", "NOT topic:a")],
            "in a circle: a -> b -> c -> a",
            "c",
        ),
    ],
)
def test_unknown_and_circular_references_are_refused(
    gazetteer: Gazetteer, topics: list[Topic], says: str, topic: str
) -> None:
    with pytest.raises(QueryError) as caught:
        Matcher(topics, gazetteer)
    assert says in str(caught.value)
    assert caught.value.topic == topic and caught.value.position is not None


def test_usable_topics_drop_the_broken_and_what_refers_to_them(gazetteer: Gazetteer) -> None:
    topics = [
        TROOPS,
        Topic("bad", "entity:Narnia"),
        Topic("uses-bad", "topic:bad OR troops"),
        Topic("uses-that", "topic:uses-bad"),
        Topic("fine", "topic:troops"),
    ]
    good, problems = usable_topics(topics, gazetteer)
    assert [t.name for t in good] == ["troops", "fine"]
    assert "Narnia" in str(problems["bad"])
    assert "refers to topic 'bad', which does not work" in str(problems["uses-bad"])
    assert "refers to topic 'uses-bad'" in str(problems["uses-that"])


def test_explain_resolves_references_among_known_topics(gazetteer: Gazetteer) -> None:
    ok, why = explain(
        "topic:troops AND entity:Russia", "Soldiers head to Russia", gazetteer, [TROOPS]
    )
    assert ok and why.startswith("topic troops;")
    with pytest.raises(QueryError, match="unknown topic 'navy'"):
        explain("topic:navy", "warships", gazetteer, [TROOPS])


WORDS = ["troops", "soldiers", "sent", "russia", "pyongyang", "parade", "drills", "border"]
text_of = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(title=text_of, body=text_of)
def test_references_agree_with_the_query_written_out(title: str, body: str) -> None:
    """With no verdict beyond the query, `topic:x` answers exactly as x's query in brackets,
    so the triggers that skip topics never skip one a reference would make hold."""
    gazetteer = _GAZETTEER
    referring = Matcher(
        [_NK, Topic("t", "topic:nk AND NOT (parade OR drills)"), *_WRITTEN], gazetteer
    )
    got = {m.topic for m in referring.match(title, body)}
    written = {m.topic for m in _WRITTEN_MATCHER.match(title, body)}
    assert ("t" in got) == ("t2" in written)
    assert ("nested" in got) == ("nested2" in written)


_GAZETTEER = Gazetteer.load()
_NK = Topic("nk", '(troops OR soldiers) NEAR/3 sent AND (entity:"North Korea" OR border)')
_WRITTEN = [
    Topic("nested", "topic:t OR (russia AND NOT topic:nk)"),
]
_WRITTEN_MATCHER = Matcher(
    [
        Topic("t2", f"({_NK.query}) AND NOT (parade OR drills)"),
        Topic(
            "nested2",
            f"(({_NK.query}) AND NOT (parade OR drills)) OR (russia AND NOT ({_NK.query}))",
        ),
    ],
    _GAZETTEER,
)
