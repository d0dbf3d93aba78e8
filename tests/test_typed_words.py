"""Words as a newsroom user types them: a query without the accents the copy has (or with
those the copy dropped), entity aliases alike, and numbers written with a decimal comma, as
European copy writes them. Through `topics test` (`explain`), the matcher and the CLI."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.gazetteer import Gazetteer
from bot.model import Topic
from bot.text.fold import fold_latin
from bot.topics.explanation import explain
from bot.topics.match import Matcher
from bot.topics.query import words_of


def holds(query: str, text: str, gazetteer: Gazetteer) -> bool:
    """`topics test QUERY TEXT`: the first line is the title, the rest the body."""
    return explain(query, text, gazetteer)[0]


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("bogota", "Protest in Bogotá", True),
        ("Bogotá", "Protest in Bogotá", True),
        ("Bogotá", "Protest in Bogota", True),  # wire copy that dropped the accent
        ("bogota", nfd("Protest in Bogotá"), True),  # accents apart from their letters
        ('"sao paulo"', "Troops arrive in São Paulo", True),
        ('"cote d\'ivoire"', "Côte d’Ivoire sends troops", True),
        ('"côte d\'ivoire"', "COTE D'IVOIRE SENDS TROOPS", True),
        ("bogot*", "Protest in Bogotá", True),
        ("bogotá*", "Bogotano mayor", True),
        ("strasse", "Troops on the Straße", True),
        ("søren", "Soren Kierkegaard", True),
        ("diyarbakir", "Diyarbakır governor", True),
        ("viet", "Việt Nam", True),
        ("muller", "Thomas Müller", True),
        ("mueller", "Thomas Müller", False),  # "ü" is "u", not "ue"
        ("bogot", "Protest in Bogotá", False),  # still whole words
        ("иод", "йод", False),  # other scripts keep their letters: "й" is not "и"
        ("ελλαδα", "Ελλάδα", False),
    ],
)
def test_latin_accents_are_folded_on_both_sides(gazetteer, query, text, expected):
    assert holds(query, text, gazetteer) is expected


def test_one_query_may_name_a_word_with_and_without_its_accent(gazetteer):
    matcher = Matcher([Topic("t", 'bogota OR bogotá OR "sao paulo"')], gazetteer)
    [found] = matcher.match("Bogotá and São Paulo", "")
    assert set(found.matched) == {"bogotá", "são paulo"}


def test_the_explanation_shows_the_word_as_the_text_has_it(gazetteer):
    assert explain("bogota", "Protest in Bogotá", gazetteer) == (True, 'title has "bogotá"')
    _, why = explain("troops AND NOT bogota", "Troops in Bogotá", gazetteer)
    assert why.startswith('excluded by `NOT bogota`: title has "bogotá"\n')
    _, why = explain("title:bogota AND soldiers", "Protest\nin Bogotá", gazetteer)
    assert '"bogotá" is in the body, not the title' in why


def test_topics_test_on_the_command_line_finds_the_unaccented_query(capsys):
    assert main(["topics", "test", '"sao paulo"', "--text", "Troops arrive in São Paulo"]) == 0
    assert capsys.readouterr().out == 'MATCH: title has "são paulo"\n'


@pytest.fixture(scope="module")
def places() -> Gazetteer:
    return Gazetteer.from_mapping(
        {
            "Colombia": {"kind": "country", "aliases": ["Bogota"]},
            "Ivory Coast": {"kind": "country", "aliases": ["Côte d'Ivoire"]},
            "Faroe Islands": {"kind": "place", "aliases": ["Torshavn"]},
            "United Kingdom": {"kind": "country", "aliases": ["Grossbritannien"]},
        }
    )


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("entity:Colombia", "Troops in Bogotá"),
        ("entity:Colombia", nfd("Troops in Bogotá")),
        ("entity:Colombia", "TROOPS IN BOGOTÁ"),
        ('entity:"Ivory Coast"', "Cote d'Ivoire sends troops"),
        ('entity:"Ivory Coast"', "CÔTE D’IVOIRE SENDS TROOPS"),
        ("entity:bogotá", "Troops in Bogota"),  # the query's name is folded alike
        ("entity:Tórshavn", "Troops in Torshavn"),
    ],
)
def test_entity_aliases_fold_accents_alike(places, query, text):
    assert holds(query, text, places)


def test_an_entity_found_without_its_accent_is_named_as_the_text_has_it(places):
    assert explain("entity:Colombia", "Troops in Bogotá", places) == (
        True,
        'entity Colombia (as "Bogotá")',
    )


def test_a_letter_folded_to_two_does_not_shift_the_mentions(places):
    # "ß" folds to "ss" and "Æ" to "AE": longer in the folded text, so a mention with or after
    # them must be mapped back to the text's own offsets and words.
    text = "Title\nGroßbritannien and Ærø: the Tórshavn troops are ready"
    found = [(m.name, text[m.start : m.end], m.alias) for m in places.find(text)]
    assert found == [
        ("United Kingdom", "Großbritannien", "Großbritannien"),
        ("Faroe Islands", "Tórshavn", "Tórshavn"),
    ]
    assert holds('entity:"Faroe Islands" NEAR/0 troops', text, places)
    assert not holds('entity:"Faroe Islands" NEAR/0 ready', text, places)
    assert holds('entity:"United Kingdom" NEAR/0 and', text, places)


@given(st.text(alphabet="BogtáaÁ\u0301ßæÆøSão Pul’'-", max_size=40))
def test_mentions_are_the_text_as_written_whatever_its_latin_letters(text):
    gazetteer = Gazetteer.from_mapping(
        {
            "Colombia": {"kind": "country", "aliases": ["Bogota", "Bogotá"]},
            "Brazil": {"kind": "country", "aliases": ["São Paulo", "Sæ"]},
        }
    )
    for m in gazetteer.find(text):
        assert text[m.start : m.end] == m.alias


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("2.5", "2,5 millones de dólares", True),
        ('"2.5 million"', "2,5 million euros for the army", True),
        ("2,5", "a 2.5 million budget", True),
        ("12.75", "inflation at 12,75 %", True),
        ("25", "2,5 millones", False),
        ('"5 millones"', "2,5 millones", False),
        ("1500", "Russia sends 1,500 troops", True),  # a comma before three digits: thousands
        ("1.5", "Russia sends 1,500 troops", False),
        ("1500.5", "1.500,5 Euro", True),  # dotted thousands before a decimal comma
        ("1.500", "1.500 Soldaten", True),  # "1.500" alone may be 1.5 or 1500: kept as written
        ("1500", "1.500 Soldaten", False),
    ],
)
def test_a_decimal_comma_is_a_decimal_point(gazetteer, query, text, expected):
    assert holds(query, text, gazetteer) is expected


def test_numbers_with_a_decimal_comma_read_alike_in_queries_and_texts():
    assert words_of("2,5 millones; 1.500,5 Euro; 0,75; 1,500; 3,14159") == (
        "2.5",
        "millones",
        "1500.5",
        "euro",
        "0.75",
        "1500",
        "3.14159",
    )


@given(st.text(alphabet="aBé\u0301\u0303ßÆøı й\u093e1,5’'.-", max_size=40))
def test_folding_keeps_every_word_a_word_in_its_place(text):
    # The automaton reads the folded scan by word positions: folding may change letters, never
    # the number of words or their spaces.
    words = words_of(text)
    folded = fold_latin("".join(f" {w}" for w in words)).split(" ")[1:]
    assert len(folded) == len(words)
    assert all(w and not any(c.isspace() for c in w) for w in folded)
