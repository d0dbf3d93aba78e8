"""How well the built-in troop-deployments topic finds deployment reports, measured.

Sets: shared/data/dev-deployments-agnews.jsonl (76 real 2004 wire items, labelled by us) and
tests/data/deploy_extra.jsonl (108 wire-style items written for this test: deployments,
announced plans, protests about a dispatch, and hard negatives: battles, casualty reports,
courts-martial, software deployments, withdrawals, refusals, arms sales, games). Positive label:
`deploy`. The topic must reach F1 >= 0.85 on each, on title + description only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.text.clean import extract_article
from bot.topics.match import Matcher

REPO = Path(__file__).resolve().parents[1]
EXTRA = REPO / "tests" / "data" / "deploy_extra.jsonl"
SHARED = next(
    (p for p in (REPO.parent / "shared", Path("/work/shared")) if (p / "data").is_dir()), None
)
ARTICLES = REPO / "bot" / "demo" / "articles"
LEAD_CHARS = 1500  # the pipeline matches on the article's lead, not its background


def topics_of(matcher: Matcher, title: str, text: str) -> dict[str, str]:
    return {m.topic: m.explanation for m in matcher.match(title, text)}


def scores(matcher: Matcher, path: Path) -> tuple[float, float, float, list[str]]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    tp = fp = fn = 0
    errors = []
    for item in items:
        hit = "troop-deployments" in topics_of(matcher, item["title"], item["description"])
        truth = item["label"] == "deploy"
        tp, fp, fn = tp + (hit and truth), fp + (hit and not truth), fn + (truth and not hit)
        if hit != truth:
            errors.append(f"{'FP' if hit else 'FN'}: {item['title']}")
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    print(
        f"\n{path.name}: {len(items)} items, {tp + fn} positive: "
        f"P={precision:.3f} R={recall:.3f} F1={f1:.3f}"
    )
    print("\n".join(errors))
    return precision, recall, f1, errors


def test_f1_on_the_real_dev_items(matcher):
    if SHARED is None:
        pytest.skip("shared/data is not beside the repository")
    _, _, f1, errors = scores(matcher, SHARED / "data" / "dev-deployments-agnews.jsonl")
    assert f1 >= 0.85, errors


def test_f1_on_our_extra_items_with_hard_negatives(matcher):
    _, _, f1, errors = scores(matcher, EXTRA)
    assert f1 >= 0.85, errors


def test_the_extra_set_is_balanced_and_hard():
    items = [json.loads(line) for line in EXTRA.read_text(encoding="utf-8").splitlines()]
    labels = [i["label"] for i in items]
    assert len(items) >= 60 and 0.3 <= labels.count("deploy") / len(items) <= 0.6
    assert labels.count("withdraw") >= 5


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("North Korea sends troops to Russia", "", True),
        ("", "Pyongyang has dispatched 3,000 more soldiers to Russia, Seoul said.", True),
        ("Japan to send warships to the Gulf", "", True),
        (
            "U.S. soldiers killed in ambush",
            "The troops, deployed last year, were on patrol.",
            False,
        ),
        ("Soldier faces court-martial", "He refused to deploy to Iraq.", False),
        ("Microsoft deploys patch", "The software update was deployed overnight.", False),
        ("Army deploys new cloud software", "", False),
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
    text = path.read_text(encoding="utf-8")
    found = topics_of(matcher, "", text)  # no title: the text alone must carry it
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
