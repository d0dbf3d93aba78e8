"""Round-ups (live blogs, briefings, "at a glance", videos): kept out of stories, or leaves.

A day's live blog or briefing names everything of a war's day, so a story that takes it grows
into a blob of the day's threads through it. Variants, on the same folds, fit and rule as
`content.py` (each source of train + validation held out, bar 0.35; adopt on +0.01 mean
pooled F1, neither column down by more than 0.005):
  none      as shipped;
  nojoin    a round-up never joins a story (it starts its own, which later items may join);
  isolated  a round-up neither joins nor is joined (its own story, kept out of the index);
  leaf      a round-up joins as usual but is kept out of the index: no later item joins
            through it.

Run: `PYTHONPATH=. python eval/experiments/grouping/roundup.py VARIANT ...` after
`embedjoin.py newest 0.35 headline` (whose cached headline vectors it reads).
"""

import re
import sys

import numpy as np
from common import counts, fold_models, fold_probability, report, vector_folds

from bot.grouping import train as T
from bot.stories import StoryIndex

TH = 0.35
ROUNDUP = re.compile(
    r"(\blive\b(?!\s*(fire|ammunition|rounds?|bullets|weapons|shells|munitions))|at a glance"
    r"|what we know|what to know|\bexplained\b|\bexplainer\b|^analysis\b|^opinion\b"
    r"|key events|\bbriefing\b|the latest\b|^latest\b|in pictures|in photos|podcast"
    r"|newsletter|news wrap|\bwatch\b|^video\b|takeaways|things to know)",
    re.I,
)


def replay(docs, probability, variant):
    index, out, table = StoryIndex(window=T.WINDOW), {}, {}

    def vectors(ids):
        return {k: table[k] for k in ids if k in table}

    for doc in docs:
        index.prune(doc.published)
        rounded = variant != "none" and bool(ROUNDUP.search(doc.title))
        sid = None
        if not (rounded and variant in ("nojoin", "isolated")):
            found = {k: probability(f) for k, f in index.candidates(doc, vectors).items()}
            sid = index.choose(doc, found, TH)
        out[doc.item_id] = doc.item_id if sid is None else sid
        if not (rounded and variant in ("isolated", "leaf")):
            index.add(doc, out[doc.item_id])
            table[doc.item_id] = doc.vector
    return out


sources, by, docs, rows = vector_folds()
models = fold_models(sources, rows)

for variant in sys.argv[1:]:
    tot = {(TH, t): np.zeros(4) for t in (False, True)}
    for s in sources:
        probability = fold_probability(models, s)
        for t in (False, True):
            tot[(TH, t)] += counts(by[s], replay(docs[(s, t)], probability, variant))
    report(variant, tot, [TH])
