"""Gazetteer aliases that named the wrong entity, checked as a moderator checks them: with
`wirewatch topics test QUERY TEXT` (exit 0 and MATCH, or exit 1 and no match)."""

from __future__ import annotations

import pytest

from bot.cli import main


def topics_test(capsys: pytest.CaptureFixture[str], query: str, text: str) -> tuple[int, str]:
    """Exit code and printed answer of `wirewatch topics test QUERY TEXT`."""
    code = main(["topics", "test", query, text])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("query", "text"),
    [
        # The White House's and Russia's security councils are not the UN's...
        ('entity:"United Nations"', "White House National Security Council spokesman John Kirby"),
        ('entity:"United Nations"', "Russia's Security Council secretary Sergei Shoigu said"),
        ("topic:peacekeeping", "National Security Council weighs peacekeeping force for Gaza"),
        # ...Central and Latin America, South Americans and a film hero are not the US...
        ('entity:"United States"', "Central American migrants reach border"),
        ('entity:"United States"', "Troops sent to Central America"),
        ('entity:"United States"', "Latin America braces for drought"),
        ('entity:"United States"', "South American leaders meet in Brasilia"),
        ('entity:"United States"', "Captain America tops the box office"),
        # ...Brazzaville's Congo is not the DRC...
        (
            'entity:"Democratic Republic of the Congo"',
            "Republic of Congo President Sassou Nguesso arrives",
        ),
        ('entity:"Democratic Republic of the Congo"', "Angolan troops enter Congo Republic"),
        # ...and a US state and a Nigerian delta are not the countries their names start with.
        ("entity:Mexico", "Passenger flight diverted to New Mexico"),
        ("entity:Niger", "Gunmen attack oil pipeline in the Niger Delta"),
        ("entity:India", "American Indian tribes sue over pipeline"),
        ("entity:India", "West Indian fast bowler takes five wickets"),
    ],
)
def test_a_longer_name_is_not_the_entity_its_words_name_alone(capsys, query, text):
    code, out = topics_test(capsys, query, text)
    assert (code, out.split(":")[0]) == (1, "no match")


@pytest.mark.parametrize(
    ("query", "text", "alias"),
    [
        ('entity:"United Nations"', "UN Security Council weighs Gaza force", "UN Security Council"),
        ('entity:"United Nations"', "the U.N. Security Council voted", "U.N. Security Council"),
        (
            'entity:"United Nations"',
            "United Nations Security Council meets on Sudan",
            "United Nations Security Council",
        ),
        ('entity:"United Nations"', "UNSC extends Lebanon mission", "UNSC"),
        (
            "topic:peacekeeping",
            "UN Security Council weighs peacekeeping force for Gaza",
            "UN Security Council",
        ),
        ('entity:"United States"', "American troops land in Poland", "American"),
        ('entity:"United States"', "New Mexico National Guard deploys to border", "New Mexico"),
        ('entity:"Central America"', "Central American migrants reach border", "Central American"),
        (
            'entity:"Republic of the Congo"',
            "Republic of Congo President Sassou Nguesso arrives",
            "Republic of Congo",
        ),
        ('entity:"Republic of the Congo"', "Talks open in Brazzaville", "Brazzaville"),
        ('entity:"Republic of the Congo"', "Congo-Brazzaville votes", "Congo-Brazzaville"),
        (
            'entity:"Democratic Republic of the Congo"',
            "Democratic Republic of Congo troops retake Goma",
            "Democratic Republic of Congo",
        ),
        (
            'entity:"Democratic Republic of the Congo"',
            "Dem. Republic of Congo prepares for vote",
            "Dem. Republic of Congo",
        ),
        ('entity:"Democratic Republic of the Congo"', "Rwandan troops enter Congo", "Congo"),
        ('entity:"Democratic Republic of the Congo"', "DR Congo says M23 advancing", "DR Congo"),
        ('entity:"Democratic Republic of the Congo"', "Kinshasa accuses Kigali", "Kinshasa"),
        ("entity:Nigeria", "Gunmen attack oil pipeline in the Niger Delta", "Niger Delta"),
        ('entity:"North Korea"', "NKorea fires missile into sea", "NKorea"),
        ('entity:"North Korea"', "NKorean troops seen in Kursk", "NKorean"),
        ('entity:"North Korea"', "Ukraine captures two NKoreans", "NKoreans"),
        ('entity:"South Korea"', "SKorea scrambles jets", "SKorea"),
        ('entity:"South Korea"', "SKorean troops join drills", "SKorean"),
        ('entity:"South Korea"', "SKoreans rally in Seoul", "SKoreans"),
    ],
)
def test_each_name_finds_its_own_entity(capsys, query, text, alias):
    code, out = topics_test(capsys, query, text)
    assert code == 0 and out.startswith("MATCH")
    assert f'(as "{alias}")' in out


def test_the_two_koreas_stay_apart_in_ap_headline_spelling(capsys):
    code, out = topics_test(capsys, 'entity:"South Korea"', "NKorea fires missile")
    assert (code, out.split(":")[0]) == (1, "no match")
    code, out = topics_test(capsys, 'entity:"North Korea"', "SKorea scrambles jets")
    assert (code, out.split(":")[0]) == (1, "no match")
