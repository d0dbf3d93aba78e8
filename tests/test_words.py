"""How texts and queries are cut into words, as a user sees it through `topics test`: text in
any Unicode form, numbers, sentence ends, entity aliases written with hyphens or odd spaces,
scripts without spaces, and long NEAR chains on a hostile text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.topics.evaluate import MAX_SPANS, _eval
from bot.topics.explanation import explain
from bot.topics.match import Matcher, prepare
from bot.topics.query import Term, parse_query, tokenize, words_of


def nfd(text: str) -> str:
    """As a Mac (or a feed copied from one) may send it: accents apart from their letters."""
    return unicodedata.normalize("NFD", text)


def holds(query: str, text: str, gazetteer: Gazetteer) -> bool:
    """`topics test QUERY TEXT`: the first line is the title, the rest the body."""
    return explain(query, text, gazetteer)[0]


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("ménard", nfd("Ménard said"), True),
        (nfd("ménard"), "Ménard said", True),
        ("nard", nfd("Ménard said"), False),  # not a word of its own
        ("me", nfd("Ménard said"), False),
        ("entity:France", nfd("Élysée says"), True),
        # Devanagari vowel signs are part of the word: "India" is not in "Indian army".
        ("भारत", "भारतीय सेना", False),
        ("भारतीय", "भारतीय सेना", True),
        ('"भारतीय सेना"', "भारतीय सेना", True),
        # Arabic harakat belong to the word, and a word is the same word without them.
        ("كوريا", "مُحَمَّد كُورِيَا", True),
        ("كُورِيَا", "كوريا الشمالية", True),
    ],
)
def test_accents_and_vowel_signs_are_part_of_their_word(gazetteer, query, text, expected):
    assert holds(query, text, gazetteer) is expected


def test_offsets_stay_right_after_decomposed_accents_and_odd_spaces(gazetteer):
    # Entity mentions are placed among the words by their offsets: NFD letters and a double
    # space before the entity must not shift it off "troops".
    text = "Title\n" + nfd("Ménard: the Élysée says North  Korea troops are ready")
    assert holds('entity:"North Korea" NEAR/0 troops', text, gazetteer)
    assert holds("entity:France NEAR/0 says", text, gazetteer)
    assert not holds('entity:"North Korea" NEAR/0 ready', text, gazetteer)


_ODD = "İıKkoreaNthPyng US.’'-\u2011\u00a0\n\u0301\u0307\u093e1,5"


@given(st.text(alphabet=_ODD, max_size=40))
def test_mentions_are_the_text_as_written_whatever_its_unicode(text):
    gazetteer = Gazetteer.from_mapping(
        {"North Korea": {"kind": "country", "aliases": ["US", "Pyongyang", "North-Korean"]}}
    )
    for m in gazetteer.find(text):
        assert text[m.start : m.end] == m.alias


@given(st.text(alphabet=_ODD, max_size=40))
def test_every_word_is_a_word_of_the_text(text):
    # The matcher joins words with spaces and counts them: a word is never empty or spaced.
    for token in tokenize(text):
        assert token.word and not any(c.isspace() for c in token.word)
        assert 0 <= token.start < token.end <= len(text)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("incirlik", "US jets land at İncirlik Air Base"),
        ("istanbul", "İstanbul attack"),
        ("istanbul", nfd("İstanbul attack")),
        ("İstanbul", "ISTANBUL ATTACK"),
        ("entity:Turkey", "TÜRKİYE SENDS TROOPS"),
        ("entity:Turkey", "Türkiye sends troops"),
    ],
)
def test_the_turkish_dotted_capital_i_is_an_i(gazetteer, query, text):
    assert holds(query, text, gazetteer)


def test_the_explanation_shows_the_word_without_a_stray_dot(gazetteer):
    _, why = explain("İstanbul", "İstanbul attack", gazetteer)
    assert why == 'title has "istanbul"'


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ('entity:"North Korea"', "North-Korean troops"),
        ('entity:"North Korea"', "North\u2011Korean troops"),  # non-breaking hyphen
        ('entity:"Kim Jong Un"', "Kim Jong\u2011un visits"),
        ('entity:"North Korea"', "Title\nsaid North  Korea sent"),
        ('entity:"North Korea"', "Title\nsaid North\r\n Korea sent"),
        ('entity:"North Korea"', "Title\nsaid North\u00a0Korea sent"),
        ("entity:al-Qaeda", "Al Qaeda claims attack"),
        ('entity:"North-Korea"', "Pyongyang said"),  # the query's name is folded alike
    ],
)
def test_entity_aliases_read_hyphens_and_spaces_like_words_do(gazetteer, query, text):
    assert holds(query, text, gazetteer)


def test_mentions_point_at_the_text_as_written(gazetteer):
    text = nfd("Élysée:  North\u2011Korean\n\ntroops")
    found = [(m.name, m.alias, text[m.start : m.end]) for m in gazetteer.find(text)]
    assert found == [
        ("France", nfd("Élysée"), nfd("Élysée")),
        ("North Korea", "North\u2011Korean", "North\u2011Korean"),
    ]


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ('"500 troops"', "Russia sends 1,500 troops", False),
        ("500", "Russia sends 1,500 troops", False),
        ("1500", "Russia sends 1,500 troops", True),
        ("1,500", "Russia sends 1500 troops", True),
        ("10,000", "10000 troops", True),
        ('"5 million"', "a 2.5 million budget", False),
        ('"2.5 million"', "a 2.5 million budget", True),
        ("1500000", "1.500.000 Soldaten", True),  # dotted thousands, two groups or more
        ('"2,5 millionen"', "2,5 Millionen Euro", True),
        ("1990", "in the 1990's", True),
    ],
)
def test_numbers_are_one_word_whatever_their_separators(gazetteer, query, text, expected):
    assert holds(query, text, gazetteer) is expected


def test_numbers_in_queries_and_texts_are_read_alike():
    assert words_of("1,500 troops; 2.5 million; 1,500.25") == (
        "1500",
        "troops",
        "2.5",
        "million",
        "1500.25",
    )


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ('"korea russia"', "North Korea. Russia said", False),
        ('"korea russia"', "North Korea; Russia said", False),
        ('"korea russia"', "Did it reach North Korea? Russia said no", False),
        ('"korea russia"', 'He said "North Korea." Russia agreed', False),
        ('"korea russia"', "North Korea, Russia said", True),
        ('"korea russia"', "a summit of North Korea... russia and china", True),  # no capital
        ('"korea russia"', "Title\nNorth Korea. Russia said", False),
        # A full stop after an abbreviation or an initial does not end a sentence.
        ('"st petersburg"', "Troops arrive in St. Petersburg", True),
        ('"gen smith"', "Gen. Smith said", True),
        ('"w bush"', "George W. Bush sent troops", True),
        ('"us troops"', "the U.S. Troops arrive", True),
        ('"2024 troops"', "in 2024. Troops arrive", False),
        ('"朝鲜 俄罗斯"', "朝鲜。俄罗斯", False),
    ],
)
def test_phrases_end_at_the_end_of_a_sentence(gazetteer, query, text, expected):
    assert holds(query, text, gazetteer) is expected


def test_words_on_either_side_of_a_sentence_end_still_match(gazetteer):
    text = "Title\nTroops arrived. They were deployed. Seoul said."
    assert holds("troops AND arrived AND deployed AND said AND seoul*", text, gazetteer)
    assert holds('"arrived" AND "were deployed"', text, gazetteer)


def test_near_counts_words_across_a_sentence_end(gazetteer):
    # Documented: NEAR is a distance in words, whatever the sentences ("They" is the troops).
    text = "Title\nTroops arrived. They were deployed at dawn."
    assert holds("troops NEAR/3 deployed", text, gazetteer)
    assert not holds("troops NEAR/2 deployed", text, gazetteer)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("북한*", "북한이 러시아에 파병"),
        ("러시아*", "북한이 러시아에 파병"),
        ("朝鲜*", "朝鲜向俄罗斯派兵"),
        ("朝*", "朝鲜向俄罗斯派兵"),
    ],
)
def test_a_hangul_or_cjk_prefix_may_be_one_or_two_characters(gazetteer, query, text):
    assert holds(query, text, gazetteer)


def test_short_latin_prefixes_are_still_refused():
    assert parse_query("북*") == Term(("북",), True)
    with pytest.raises(QueryError, match="too short"):
        parse_query("de*")
    with pytest.raises(QueryError, match="too short"):
        parse_query("ab*")


def test_chinese_without_spaces_is_one_word(gazetteer):
    # Documented: a run of CJK characters is not split into words, so only a prefix finds it.
    assert not holds("俄罗斯", "朝鲜向俄罗斯派兵", gazetteer)
    assert words_of("朝鲜向俄罗斯派兵") == ("朝鲜向俄罗斯派兵",)


def hostile(words: int = 600) -> str:
    """A body as long as a summary and an article's lead together, one phrase over and over."""
    return " ".join(("the troops of the army said the troops were sent " * 80).split()[:words])


def chain(links: int) -> str:
    vocabulary = ["the", "troops", "army", "said", "sent", "were"]
    return " NEAR/100 ".join(vocabulary[i % len(vocabulary)] for i in range(links + 1))


def test_a_near_chain_keeps_a_bounded_number_of_spans(gazetteer):
    query = chain(3)
    matcher = Matcher([Topic("t", query)], gazetteer, relevance=False)
    doc = matcher._doc(prepare("Title", hostile(), gazetteer))
    compiled = matcher.compiled[0]
    link = compiled.tree
    while True:  # every link of the chain, the outermost first
        found = _eval(link, doc, False)
        assert found is not None
        # One left span may add at most 2 * (distance + 1) joined spans past the cap.
        assert len(found.spans) <= MAX_SPANS + 2 * 101
        if not hasattr(link.left, "left"):
            break
        link = link.left


def test_a_long_near_chain_on_a_hostile_text_still_answers_right(gazetteer):
    body = hostile()
    assert holds(chain(59), f"Title\n{body}", gazetteer)
    assert not holds(f"{chain(30)} NEAR/100 navy", f"Title\n{body}", gazetteer)
