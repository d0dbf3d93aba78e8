"""The built-in troop-deployments topic on cases an editor checks by hand, and the seed story.

How well it does on real news is measured on the frozen test split of eval/corpus
(tests/test_frozen_split.py); these cases only pin behaviour a newsroom relies on: the seed
reports match, refusals, withdrawals, casualties and software "deployments" do not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.text.clean import extract_article
from bot.topics.match import Matcher

REPO = Path(__file__).resolve().parents[1]
SHARED = next(
    (p for p in (REPO.parent / "shared", Path("/work/shared")) if (p / "data").is_dir()), None
)
ARTICLES = REPO / "bot" / "demo" / "articles"
LEAD_CHARS = 1500  # the pipeline matches on the article's lead, not its background


def topics_of(matcher: Matcher, title: str, text: str) -> dict[str, str]:
    return {m.topic: m.explanation for m in matcher.match(title, text)}


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("North Korea sends troops to Russia", "", True),
        ("Pyongyang has dispatched 3,000 more soldiers to Russia, Seoul said", "", True),
        ("Tens of thousands of troops massed at the border, officials say", "", True),
        ("Minister says sending troops is unlikely", "", False),
        ("No soldiers will be sent, president says", "", False),
        ("Government turns down a request for more troops", "", False),
        ("Japan to send warships to the Gulf", "", True),
        (
            "U.S. soldiers killed in ambush",
            "The troops, deployed last year, were on patrol.",
            False,
        ),
        ("Soldier faces court-martial", "He refused to deploy to Iraq.", False),
        ("Microsoft deploys patch", "The software update was deployed overnight.", False),
        ("Army deploys new cloud software", "", False),
        # A computing word near "deploys" is no veto when it is forces that are deployed.
        ("Live updates: Israel deploys troops to Lebanon border", "", True),
        ("US deploys troops and air defense network to Israel", "", True),
        ("Italy to withdraw troops from Iraq", "The troops were sent in 2003.", False),
        ("Germany rules out sending troops", "", False),
    ],
)
def test_editor_cases(matcher, title, text, expected):
    assert ("troop-deployments" in topics_of(matcher, title, text)) is expected


def seeds() -> list[Path]:
    return sorted((SHARED / "seeds").glob("*.txt")) if SHARED else []


@pytest.mark.parametrize("path", seeds(), ids=lambda p: p.name)
def test_seed_articles_match_deployments_and_nk_russia(matcher, gazetteer, path):
    # The page as saved: site furniture, then the headline (its first line naming Korea),
    # then the report. A feed gives the headline as the title, the rest as the text.
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(lines) if "Korea" in line)
    title, text = lines[at], "\n".join(lines[at + 1 :])
    found = topics_of(matcher, title, text)
    assert "troop-deployments" in found and "nk-russia" in found
    aliases = {m.alias for m in gazetteer.find(text) if m.name == "North Korea"}
    assert aliases & {"Pyongyang", "North Korean"}
    without_name = re.sub(r"North Korea\b", "the country", text)
    explanation = topics_of(matcher, "", without_name)["nk-russia"]
    assert re.search(r'entity North Korea \(as "(Pyongyang|North Korean)', explanation)


def test_seed_texts_are_there():
    if SHARED is None:
        pytest.skip("shared/ is not beside the repository")
    assert seeds()


def article(name: str) -> tuple[str, str]:
    html = (ARTICLES / name).read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    return (title.group(1).split(" | ")[0].strip() if title else ""), (extract_article(html) or "")[
        :LEAD_CHARS
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aljazeera-nk-troops.html", True),
        ("moscowtimes-nk-troops.html", True),
        ("yonhap-nk-troops.html", True),
        ("aljazeera-red-sea-warships.html", True),
        ("aljazeera-castillo-trial.html", False),
        ("aljazeera-drc-fighting.html", False),
        ("moscowtimes-ivanov-sentence.html", False),
        ("moscowtimes-belgorod-drone.html", False),
        ("yonhap-skt-5g.html", False),
        ("yonhap-nk-missile.html", False),
    ],
)
def test_full_article_text(matcher, name, expected):
    if not (ARTICLES / name).exists():
        pytest.skip(f"demo article {name} is gone")
    title, text = article(name)
    assert len(text) > 300
    assert ("troop-deployments" in topics_of(matcher, title, text)) is expected
