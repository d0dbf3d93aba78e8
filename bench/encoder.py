"""The encoder's cost per candidate item, against the linear relevance model it would join.

The budget (issue 11): under 5 ms per candidate item on 2 cores. Items: the labelled corpus's
train and validation items that pass troop-deployments' query (the only items the stage
sees), headline only (what the bot's encoder reads) and as written (title and summary: the
cost that made it read headlines alone). Batches: one item at a time (the
latency of a lone new item) and 32 at a time (a poll that brings many). Baseline in the same
run: the linear model's features and score for the same candidates. A third row: the
sentence vector every new item gets for story grouping (its headline, any item). And the
stage as the bot runs it (`as_run_alone_ms`): the linear model for every candidate, the
encoder on the headline, one item at a time, only for those its opinion could lift to a bar
(`LinearModel.opinion_matters`: `asked` of them), against the same loop asking the encoder
about every candidate's headline (as the bot did before stop 60).

`python -m bench.encoder [--quick]`
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.report import Section, run_alone

CORPUS = Path(__file__).resolve().parents[1] / "eval" / "corpus"
# Every new item's headline, candidate or not: its sentence vector for story grouping
# (`bot.sentencevectors`; the base weights without adapters, as `Encoder()` here).
EVERY_ITEM = "every item's headline (sentence vector)"


def run(quick: bool = False) -> Section:
    from bot.encoder import encoder_text, grouping_text
    from bot.encoder.model import Encoder
    from bot.gazetteer import Gazetteer
    from bot.labelled import load_labelled
    from bot.relevance import Relevance
    from bot.topics.load import load_topics
    from bot.topics.match import Matcher, prepare

    began = time.perf_counter()
    gazetteer = Gazetteer.load()
    topic = [t for t in load_topics() if t.name == "troop-deployments"]
    gate = Matcher(topic, gazetteer, relevance=False)
    judged = Matcher(topic, gazetteer)  # with the relevance model: whose opinion is wanted
    items = [i for f in ("train", "validation") for i in load_labelled(CORPUS / f"{f}.jsonl")]
    relevance, encoder = Relevance(gazetteer), Encoder()
    section = Section(
        "Encoder: cost per candidate item (wall clock, 2 cores)",
        ["input", "candidates", "linear_ms", "encoder_alone_ms", "encoder_batch32_ms",
         "alone_vs_linear", "batch32_vs_linear", "asked", "as_run_alone_ms",
         "as_run_vs_always"],
    )  # fmt: skip
    kinds = (("title and summary", False), ("headline only", True), (EVERY_ITEM, True))
    for kind, headline_only in kinds:
        texts, prepared, heads = [], [], []
        for i in items:
            text = "" if headline_only else i.description
            p = prepare(i.title, text, gazetteer)
            if kind == EVERY_ITEM or gate.match_prepared(p):
                texts.append(
                    grouping_text(i.title) if kind == EVERY_ITEM else encoder_text(i.title, text)
                )
                prepared.append(p)
                heads.append(encoder_text(i.title, ""))  # what the bot's encoder reads
        n = 64 if quick else 256
        texts, prepared, heads = texts[:n], prepared[:n], heads[:n]
        start = time.perf_counter()
        for p in prepared:
            relevance.verdict("deployments", p)
        linear = (time.perf_counter() - start) / len(prepared)
        encoder.embed(texts[:4])  # first touch of the mapped weights, not part of the cost
        start = time.perf_counter()
        for t in texts:
            encoder.embed([t])
        alone = (time.perf_counter() - start) / len(texts)
        start = time.perf_counter()
        encoder.embed(texts)
        batched = (time.perf_counter() - start) / len(texts)
        row = {}
        if kind != EVERY_ITEM:
            start = time.perf_counter()
            asked = 0
            for p, head in zip(prepared, heads, strict=True):
                if judged.opinions_wanted(p):  # the word model's verdict, as the bot asks
                    encoder.embed([head])
                    asked += 1
            as_run = (time.perf_counter() - start) / len(texts)
            start = time.perf_counter()  # the baseline: every candidate's headline asked
            for p, head in zip(prepared, heads, strict=True):
                judged.opinions_wanted(p)
                encoder.embed([head])
            always = (time.perf_counter() - start) / len(texts)
            row = {
                "asked": f"{asked / len(texts):.0%}",
                "as_run_alone_ms": 1e3 * as_run,
                "as_run_vs_always": f"{as_run / always:.2f}",
            }
        section.add(
            input=kind,
            candidates=len(texts),
            linear_ms=1e3 * linear,
            encoder_alone_ms=1e3 * alone,
            encoder_batch32_ms=1e3 * batched,
            alone_vs_linear=f"{alone / linear:.0f}",
            batch32_vs_linear=f"{batched / linear:.0f}",
            **row,
        )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
