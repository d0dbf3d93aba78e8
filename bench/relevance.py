"""The relevance stage's cost per candidate item, against the query match it follows.

The claim under test (bot/relevance/): scoring a candidate (features + the linear model) costs
a fraction of a millisecond, far under the 5 ms budget per candidate item on 2 cores, and adds
little to matching. Items: the labelled corpus's train and validation items (real headlines and
summaries), prepared once as the parse workers do. Baseline in the same run: the matcher with
the model switched off (the query alone, `Matcher(..., relevance=False)`).

`python -m bench.relevance [--quick]`
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.report import Section, run_alone

CORPUS = Path(__file__).resolve().parents[1] / "eval" / "corpus"


def run(quick: bool = False) -> Section:
    from bot.gazetteer import Gazetteer
    from bot.labelled import load_labelled
    from bot.topics.load import load_topics
    from bot.topics.match import Matcher, prepare

    began = time.perf_counter()
    gazetteer = Gazetteer.load()
    items = [i for f in ("train", "validation") for i in load_labelled(CORPUS / f"{f}.jsonl")]
    items = items[: 600 if quick else len(items)]
    prepared = [prepare(i.title, i.description, gazetteer) for i in items]
    topic = [t for t in load_topics() if t.name == "troop-deployments"]
    section = Section(
        f"Relevance: cost per item ({len(items)} real items, one core)",
        ["stage", "us_per_item", "us_per_candidate", "candidates", "vs_query_alone"],
    )
    base = None
    for name, matcher in (
        ("query alone", Matcher(topic, gazetteer, relevance=False)),
        ("query + relevance model", Matcher(topic, gazetteer)),
    ):
        candidates = sum(1 for p in prepared if matcher.judge(p))
        start = time.process_time()
        for p in prepared:
            matcher.match_prepared(p, relaxed=True)
        spent = time.process_time() - start
        base = base or spent
        section.add(
            stage=name,
            us_per_item=1e6 * spent / len(prepared),
            us_per_candidate=1e6 * spent / max(candidates, 1),
            candidates=candidates,
            vs_query_alone=f"{spent / base:.2f}",
        )
    section.notes.append(
        "Every item is matched; only candidates (the query holds) reach the model, so the "
        "per-candidate cost of the second row minus the first is the model's own cost."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
