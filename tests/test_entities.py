"""The gazetteer: entities found through their aliases, without catching ordinary words."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.gazetteer import Gazetteer


def test_the_shipped_gazetteer_is_broad_enough_for_world_news(gazetteer):
    kinds = {info.kind for info in gazetteer.entities.values()}
    assert 80 <= len(gazetteer.entities) <= 200
    assert kinds == {"country", "org", "place", "person"}
    for name in ["North Korea", "Russia", "Ukraine", "United States", "NATO", "Sudan", "Georgia"]:
        assert name in gazetteer.entities


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Pyongyang redeployed troops", "North Korea"),
        ("the North Koreans were sent", "North Korea"),
        ("DPRK state media said", "North Korea"),
        ("the Democratic People's Republic of Korea said", "North Korea"),
        ("The Kremlin denied it", "Russia"),
        ("Russian Federation forces", "Russia"),
        ("Seoul's intelligence agency", "South Korea"),
        ("the ROK army", "South Korea"),
        ("S.Koreans clash with police", "South Korea"),
        ("the Pentagon said", "United States"),
        ("U.S.-led forces", "United States"),
        ("US troops", "United States"),
        ("Americans abroad", "United States"),
        ("Nato allies", "NATO"),
        ("the U.N. Security Council", "United Nations"),
        ("Kyiv said", "Ukraine"),
        ("in Darfur", "Darfur"),
    ],
)
def test_aliases_demonyms_and_capitals_name_their_entity(gazetteer, text, name):
    assert gazetteer.names(text) == (name,)


@pytest.mark.parametrize(
    "text",
    [
        "let us know",  # the pronoun is not the United States
        "We serve a roast turkey on fine china",  # lowercase: not Turkey or China
        "USAID and MOSCOWITZ",  # part of a longer word
        "un petit mot",  # French 'un' is not the UN
    ],
)
def test_ordinary_words_are_not_entities(gazetteer, text):
    assert gazetteer.names(text) == ()


def test_headlines_in_capitals_still_match(gazetteer):
    assert gazetteer.names("NORTH KOREA SENDS TROOPS TO RUSSIA") == ("North Korea", "Russia")


def test_a_headline_without_capitals_still_names_countries_but_not_acronyms(gazetteer):
    """Some feeds lowercase their headlines: no case to go by, so names match in any case;
    an acronym still needs its capitals ("us" stays a pronoun)."""
    assert gazetteer.names("north korea sends troops to russia") == ("North Korea", "Russia")
    assert gazetteer.names("let us send troops to iraq") == ("Iraq",)


def test_longest_alias_wins_and_offsets_point_at_the_text(gazetteer):
    text = (
        "Democratic People's Republic of Korea and Latin American states, not the Republic of Korea"
    )
    mentions = gazetteer.find(text)
    assert [(m.name, m.alias) for m in mentions] == [
        ("North Korea", "Democratic People's Republic of Korea"),
        ("Latin America", "Latin American"),
        ("South Korea", "Republic of Korea"),
    ]
    assert all(text[m.start : m.end] == m.alias for m in mentions)


def test_names_are_unique_in_order_of_first_mention(gazetteer):
    text = "Moscow and Pyongyang; Russia again, then North Korea and Russian troops"
    assert gazetteer.names(text) == ("Russia", "North Korea")


def test_named_writes_each_mention_as_its_entity_and_leaves_the_rest_alone(gazetteer):
    text = "Pyongyang's soldiers reached Kursk, the Kremlin said; US and Seoul officials agreed"
    assert gazetteer.named(text) == (
        "North Korea's soldiers reached Kursk, the Russia said; "
        "United States and South Korea officials agreed"
    )
    assert gazetteer.named("us and them, no names here") == "us and them, no names here"
    assert gazetteer.named("") == ""


def test_canonical_accepts_names_and_aliases_in_any_case(gazetteer):
    assert gazetteer.canonical("north korea") == "North Korea"
    assert gazetteer.canonical("Pyongyang") == "North Korea"
    assert gazetteer.canonical("us") == "United States"
    assert gazetteer.canonical("Narnia") is None


@given(st.text(alphabet="İıßKkorea NthPyngUS.’'-", max_size=40))
def test_offsets_stay_right_whatever_the_unicode(text):
    gazetteer = Gazetteer.from_mapping({"North Korea": {"kind": "country", "aliases": ["US"]}})
    for m in gazetteer.find(text):
        assert text[m.start : m.end] == m.alias


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "entities.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_gazetteer_file_loads(tmp_path):
    path = write(tmp_path, "Narnia:\n  kind: place\n  aliases: [Narnian, Cair Paravel]\n")
    assert Gazetteer.load(path).names("the Narnian court at Cair Paravel") == ("Narnia",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Narnia:\n  kind: kingdom\n", "Narnia: kind must be one of country, org, place, person"),
        ("Narnia:\n  kind: place\n  aliases: Narnian\n", "Narnia: aliases must be a list"),
        ("Narnia:\n  kind: place\n  alias: [x]\n", "Narnia: unknown key(s) alias"),
        ("Narnia: place\n", "Narnia: expected kind and aliases"),
        ("- Narnia\n", "expected a mapping of entity name"),
        (
            "A:\n  kind: place\n  aliases: [Same]\nB:\n  kind: place\n  aliases: [same]\n",
            "B: alias 'same' is already an alias of A",
        ),
        (  # accents fold in matching (bot/topics/query.py): Pará and Para are one alias
            "Brazil:\n  kind: country\n  aliases: [Pará]\nSuriname:\n  kind: country\n"
            "  aliases: [Para]\n",
            "Suriname: alias 'Para' is already an alias of Brazil (case, accents and hyphens",
        ),
        ("Narnia:\n  kind: [place\n", "entities.yaml:3: not valid YAML"),
    ],
)
def test_a_malformed_file_names_where_and_what(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        Gazetteer.load(write(tmp_path, text))
    assert expected in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Gazetteer.load(tmp_path / "nope.yaml")
