"""Wire furniture ("UPDATE 2-", Yonhap's "(LEAD)", "(Reuters)", "AP - ") says how an item
was sent, not what it reports: it must neither hide a deployment from the topic nor join
unrelated stories that carry the same mark.

The story tests run through `bot.replay` (the bot's store, story index and matcher, as
`wirewatch eval` runs them) with 300 unrelated real headlines of the corpus as background.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.gazetteer import Gazetteer
from bot.replay import ReplayInput, replay
from bot.text.wire import headline, strip_byline
from bot.topics.load import load_topics
from bot.topics.match import prepare
from tests.conftest import T0


@pytest.mark.parametrize(
    ("title", "reads"),
    [
        ("UPDATE 2-France deploys troops to Bangui", "France deploys troops to Bangui"),
        ("REFILE-UPDATE 3-Obama to send 3,000 troops", "Obama to send 3,000 troops"),
        ("EXCLUSIVE-Navy to send two destroyers", "Navy to send two destroyers"),
        ("(LEAD) N. Korea sends more troops", "N. Korea sends more troops"),
        ("(2nd LD) (URGENT) N. Korea sends more troops", "N. Korea sends more troops"),
        ("BREAKING: Troops enter the capital", "Troops enter the capital"),
        ("Update 2: Troops enter the capital", "Troops enter the capital"),
        ("AP Exclusive: Marines to deploy to Darwin", "Marines to deploy to Darwin"),
        ("AP PHOTOS: Troops arrive in Kabul", "Troops arrive in Kabul"),
        ("Watch | Marines land [VIDEO]", "Marines land"),
        ("Rwandan troops arrive in Darfur (Reuters)", "Rwandan troops arrive in Darfur"),
        ("Rwandan troops arrive in Darfur - AFP", "Rwandan troops arrive in Darfur"),
        ("U.S. to send more troops to Iraq (Update2)", "U.S. to send more troops to Iraq"),
        # Not furniture: kept as written. A factbox is not a fresh report: its label stays.
        ("FACTBOX-Japan's overseas troop dispatches", "FACTBOX-Japan's overseas troop dispatches"),
        ("(News Focus) Seoul weighs troop dispatch", "(News Focus) Seoul weighs troop dispatch"),
        ("Call of Duty: Modern Warfare review", "Call of Duty: Modern Warfare review"),
        ("U.S. TROOPS LAND IN GULF", "U.S. TROOPS LAND IN GULF"),
        ("Troops sent to border (update on p. 2)", "Troops sent to border (update on p. 2)"),
        ("BREAKING:", "BREAKING:"),
    ],
)
def test_headline_drops_known_wire_furniture_and_nothing_else(title: str, reads: str) -> None:
    assert headline(title) == reads


def test_the_story_index_reads_no_genre_label_either() -> None:
    """An analysis of a story belongs in it: "FACTBOX" or "(News Focus)" is no shared word."""
    assert headline("RPT-FACTBOX-Japan's dispatches", genre=False) == "Japan's dispatches"
    assert headline("(News Focus) Seoul weighs troop dispatch", genre=False) == (
        "Seoul weighs troop dispatch"
    )
    assert headline("Analysis: Russia moves troops", genre=False) == "Russia moves troops"
    assert headline("AP Explains: Why troops go", genre=False) == "Why troops go"
    assert headline("AP Explains: Why troops go") == "AP Explains: Why troops go"


def test_a_byline_goes_and_the_dateline_place_stays() -> None:
    assert strip_byline("AP - Dozens of soldiers flew in") == "Dozens of soldiers flew in"
    assert strip_byline("BAGHDAD (Reuters) - Troops moved").startswith("BAGHDAD ")
    assert "Reuters" not in strip_byline("BAGHDAD (Reuters) - Troops moved")


def test_an_agency_tag_names_no_country() -> None:
    """'(Canadian Press)' is who sent it: Canada is not in the story."""
    gazetteer = Gazetteer.load()
    tagged = prepare("Rwandan troops arrive in Darfur (Canadian Press)", "", gazetteer)
    plain = prepare("Rwandan troops arrive in Darfur", "", gazetteer)
    assert tagged.names == plain.names
    assert "Canada" not in tagged.names


def _replay(background: list[ReplayInput], *titles: str):
    topic = next(t for t in load_topics() if t.name == "troop-deployments")
    inputs = [
        *background,
        *(
            ReplayInput(f"item{n}", title, "", T0 + timedelta(minutes=20 * n), "Wire")
            for n, title in enumerate(titles)
        ),
    ]
    return replay(inputs, topic, Gazetteer.load())[len(background) :]


def test_a_reuters_update_of_a_deployment_is_alerted(background):
    """ "UPDATE 2-" next to "deploys" once read as a software rollout and was dropped."""
    (outcome,) = _replay(background, "UPDATE 2-France deploys troops to secure Bangui airport")
    assert outcome.matched and outcome.alert == "new"


def test_yonhap_version_marks_join_nothing_and_a_later_version_threads(background):
    """Every Yonhap story of a day is "(LEAD)" or "(2nd LD)": the marks alone joined a pop
    concert and a company's profits into one story."""
    titles = [
        "(LEAD) N. Korea sends more troops to Russia: NIS",
        "(LEAD) S. Korea's exports rise for 5th month on chip demand",
        "(2nd LD) BTS to hold first concert in Busan since military service",
        "(LEAD) Yoon, Kishida agree to boost supply chain cooperation",
        "(2nd LD) Samsung Electronics Q3 operating profit jumps",
        "(LEAD) Heavy rain warnings issued for Seoul, Gyeonggi",
        "(3rd LD) Opposition leader indicted on bribery charges",
        "(LEAD) Inflation slows to 2.1 pct in October",
        "(2nd LD) N. Korea sends more troops to Russia: NIS",
    ]
    *first_versions, later = _replay(background, *titles)
    assert first_versions[0].alert == "new"
    assert len({o.story for o in first_versions}) == len(first_versions)
    assert later.story == first_versions[0].story and later.alert == "update"
