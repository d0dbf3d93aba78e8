"""The query language: what people type parses to what they mean, or fails saying where."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.topics.query import And, Entity, Near, Not, Or, Term, Title, parse_query, words_of


def w(text: str, prefix: bool = False) -> Term:
    return Term(tuple(text.split()), prefix)


def test_precedence_is_not_then_near_then_and_then_or():
    assert parse_query("a b OR c NOT d") == Or((And((w("a"), w("b"))), And((w("c"), Not(w("d"))))))
    assert parse_query("a NEAR/3 b AND c") == And((Near(w("a"), w("b"), 3), w("c")))
    assert parse_query("a OR b NEAR/2 c") == Or((w("a"), Near(w("b"), w("c"), 2)))
    assert parse_query("(a OR b) AND c") == And((Or((w("a"), w("b"))), w("c")))


def test_adjacent_terms_mean_and_and_lowercase_keywords_are_words_only_when_quoted():
    assert parse_query('troops "and" sent') == And((w("troops"), w("and"), w("sent")))
    assert parse_query("troops AND sent") == parse_query("troops sent")
    assert parse_query('"rock and roll"') == w("rock and roll")
    assert parse_query("troops near border") == And((w("troops"), w("near"), w("border")))
    assert parse_query("not sent troops and") == And(
        (w("not"), w("sent"), w("troops"), w("and"))
    )  # not between two terms: no keyword was meant
    # NEAR cannot join a NOT: after it, `not` can only be the word
    assert parse_query("pleaded NEAR/2 not") == Near(w("pleaded"), w("not"), 2)


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        # `-drill` read as a word asks for drill, the opposite of what was meant
        ("troops -drill", "-drill: use NOT drill to exclude a word", 7),
        ("troops \u2013drill", "\u2013drill: use NOT drill to exclude a word", 7),
        ("+troops sent", "+troops: no + is needed (every word is required): troops", 0),
        ("troops or soldiers", "keywords are uppercase: did you mean OR?", 7),
        ('troops or "north korea"', 'put it in quotes: "or"', 7),
        ("rock and roll", "did you mean AND?", 5),
        ("(troops) not (drill)", "did you mean NOT?", 9),
        ("title:troops Or entity:Russia", "did you mean OR?", 13),
        ("troops near/5 border", "keywords are uppercase: did you mean NEAR/5?", 7),
        ("troops Near/x border", "keywords are uppercase: did you mean NEAR/5?", 7),
        # a lowercase `not` after an operator: read as a word, the topic asked for "not" and
        # the exclusion was lost (`troops AND not drill` never matched a drill-free item)
        ("troops AND not drill", "did you mean NOT?", 11),
        ('troops OR not "live fire"', "did you mean NOT?", 10),
        ("troops (not drill)", "did you mean NOT?", 8),
        ("title:not drill troops", "did you mean NOT?", 6),
    ],
)
def test_search_engine_habits_that_would_invert_a_query_are_refused(query, message, position):
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_words_phrases_and_prefixes():
    query = 'deploy* "North Korea\'s army" "fighter jet*"'
    assert parse_query(query) == And(
        (w("deploy", True), w("north korea army"), w("fighter jet", True))
    )


def test_words_are_read_like_the_text_is_tokenised():
    assert words_of("U.S.-led forces") == ("us", "led", "forces")
    assert words_of("North Korea’s troops, Koreans' homes") == (
        "north",
        "korea",
        "troops",
        "koreans",
        "homes",
    )
    assert parse_query("court-martial") == w("court martial")
    assert parse_query("U.S.") == w("us")


def test_curly_quotes_are_quotes():
    # Typed in a chat app or word processor, "aircraft carrier" arrives curly: read as words it
    # became `aircraft AND carrier` (matching "carrier aircraft") and entity names broke.
    assert parse_query("“aircraft carrier” OR „blue helmets”") == parse_query(
        '"aircraft carrier" OR "blue helmets"'
    )
    assert parse_query("entity:“North Korea”") == parse_query('entity:"North Korea"')
    # and guillemets, as French or Russian copy quotes: «Северная Корея» was two ANDed words
    assert parse_query("«porte-avions» OR «Северная Корея»") == parse_query(
        '"porte-avions" OR "Северная Корея"'
    )
    assert parse_query("«aircraft carrier»") == w("aircraft carrier")


def test_fields():
    assert parse_query("title:troops") == Title(w("troops"))
    assert parse_query('title:("north korea" OR pyongyang)') == Title(
        Or((w("north korea"), w("pyongyang")))
    )
    assert parse_query('entity:"North Korea" entity:Russia') == And(
        (Entity("North Korea"), Entity("Russia"))
    )
    assert parse_query("title:entity:Russia") == Title(Entity("Russia"))
    assert parse_query("TITLE:x") == Title(w("x"))


def test_near_examples_from_the_docs():
    query = "(troops OR soldiers) NEAR/8 (sent OR deployed)"
    expected = Near(Or((w("troops"), w("soldiers"))), Or((w("sent"), w("deployed"))), 8)
    assert parse_query(query) == expected
    assert parse_query("a NEAR/1 b NEAR/2 c") == Near(Near(w("a"), w("b"), 1), w("c"), 2)


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ('troops "sent to', "unclosed quote", 7),
        ("troops AND", "AND needs something on its right", 7),
        ("troops OR )", "OR needs something on its right", 7),
        ("AND troops", "AND needs something on its left", 0),
        ("NOT", "NOT needs something on its right", 0),
        ("foo:bar", "unknown field 'foo:' (use title:, entity: or topic:)", 0),
        ("(troops OR sent", "unclosed '('", 0),
        ("troops)", "unmatched ')'", 6),
        ("()", "empty parentheses", 0),
        ("a NEAR b", "NEAR needs a distance, like NEAR/5", 2),
        ("a NEAR/500 b", "NEAR/500 is too far", 2),
        ("a NEAR/x b", "NEAR/x: NEAR's distance is a number of words, like NEAR/5", 2),
        ("troops NEAR5 border", "NEAR5: did you mean NEAR/5?", 7),
        ("a NEAR/-3 b", "NEAR/-3: NEAR's distance is a number of words", 2),
        ("NOT a NEAR/2 b", "NEAR cannot join a NOT", 6),
        ("de*", "too short", 0),
        # "F-16" is the words "f" "16": the message names the short one, and a way to write it
        (
            "troops F-16*",
            "the prefix in 'F-16*' is too short: its last word is '16' (hyphens and "
            "punctuation split words), and a prefix needs at least 3 letters",
            7,
        ),
        ("dep*loy", "a wildcard * may only end a word", 0),
        ('"deploy* troops"', "a wildcard * may only end a phrase", 0),
        ('entity:""', 'entity: needs a name, like entity:Russia or entity:"North Korea"', 0),
        ('entity:"Rus*"', "entity: takes no wildcard *", 0),
        ('""', "empty phrase", 0),
        ("entity:", "entity: needs a name", 0),
        # title:(a OR b) works, so entity:(a OR b) is tried: said how to write it
        (
            "troops entity:(Russia OR Ukraine)",
            "entity: takes one name, not a group: write (entity:Russia OR entity:Ukraine)",
            7,
        ),
        ("title:", "title: needs a word, phrase or group", 0),
        ("   ", "the query is empty", None),
    ],
)
def test_errors_say_what_and_where(query, message, position):
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert caught.value.query == query


def test_hostile_queries_fail_cleanly():
    for query in ["(" * 500 + "a" + ")" * 500, "NOT " * 2000 + "a", "a " * 20_000]:
        with pytest.raises(QueryError):
            parse_query(query)


@pytest.mark.parametrize(
    "query, limit",
    [
        ("a NEAR/1 " * 1800 + "a", "at most 60 levels"),  # 15 kB: was a RecursionError
        ("(" * 200 + "a" + ")" * 200, "at most 60 levels"),
        ("title:(" * 40 + "a NEAR/1 " * 30 + "a" + ")" * 40, "at most 60 levels"),
        ("a " * 11_000, "at most 20,000"),
    ],
)
def test_queries_past_a_limit_are_refused_naming_the_limit(query, limit):
    with pytest.raises(QueryError, match=limit):
        parse_query(query)


def test_queries_just_inside_the_limits_can_be_matched_explained_and_printed():
    from bot.gazetteer import Gazetteer
    from bot.topics.explanation import explain

    text = "a " * 12  # too few words for the 60-NEAR chain, which must still be evaluated
    cases = {
        "a NEAR/1 " * 60 + "a": False,
        "(" * 59 + "a" + ")" * 59: True,
        "NOT " * 59 + "b": True,
    }
    for query, matches in cases.items():
        tree = parse_query(query)
        assert parse_query(str(tree)) == tree
        assert explain(query, text, Gazetteer.load(), [])[0] is matches


words = st.sampled_from(["troops", "sent", "north", "korea", "us", "o'clock", "f16s", "navy"])
leaves = st.one_of(
    st.builds(
        lambda ws, p: Term(tuple(ws), p and len(ws[-1]) >= 3),
        st.lists(words, min_size=1, max_size=3),
        st.booleans(),
    ),
    st.builds(Entity, st.sampled_from(["Russia", "North Korea", "U.S."])),
)


def _trees(children):
    and_kids = children.filter(lambda n: not isinstance(n, And))
    or_kids = children.filter(lambda n: not isinstance(n, Or))
    near_kids = children.filter(lambda n: not isinstance(n, Not))
    return st.one_of(
        st.builds(Title, children),
        st.builds(Not, children),
        st.builds(
            Near,
            near_kids,
            near_kids.filter(lambda n: not isinstance(n, Near)),
            st.integers(0, 100),
        ),
        st.builds(lambda cs: And(tuple(cs)), st.lists(and_kids, min_size=2, max_size=3)),
        st.builds(lambda cs: Or(tuple(cs)), st.lists(or_kids, min_size=2, max_size=3)),
    )


@given(st.recursive(leaves, _trees, max_leaves=12))
def test_printing_a_tree_gives_a_query_that_parses_back_to_it(tree):
    assert parse_query(str(tree)) == tree


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_query_error(text):
    try:
        parse_query(text)
    except QueryError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)


def test_an_error_in_a_long_query_shows_the_text_where_it_is():
    # A config's list of strings is joined into one line, and a pasted word list runs to
    # thousands of characters: "at position 9,799" alone cannot be found in either.
    words = " OR ".join(f"w{i}" for i in range(40))
    with pytest.raises(QueryError) as caught:
        parse_query(words.replace("w12 OR", "w12 OR OR"))
    assert str(caught.value) == (
        "OR needs something on its right at position 79 ('OR OR w13 OR w14 OR w15 OR w16…')"
    )
    with pytest.raises(QueryError) as caught:
        parse_query(f"{words} OR (")
    assert str(caught.value).endswith("(at its end, after '… w36 OR w37 OR w38 OR w39 OR (')")
    with pytest.raises(QueryError) as caught:  # a short query is read whole: no excerpt
        parse_query('troops OR "carrier')
    assert str(caught.value) == "unclosed quote at position 11"
