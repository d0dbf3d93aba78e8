"""Join-model variants around the sentence-vector cosine, each source held out (stop 43).

Same folds, fit, bar (0.35) and guards as `content.py`. Variants: `none` (shipped), `vec*head`
(the cosine times "the item has a title only" as a 17th feature), `vec^2` (the cosine
squared), `both` (the two), `separate` (one model fit on headline-only items' candidates and
another on items with text, each deciding its own items).

`PYTHONPATH=. python eval/experiments/grouping/vecterms.py none vec*head vec^2 both separate`
(from the root), after `embedjoin.py newest 0.35 headline` (whose cached vectors it reads).
"""

import sys

import numpy as np
from common import counts, fit, replay_vectors, report, vector_folds

TH = 0.35
HEADLINE = 8  # the feature "the item has a title only"
VECTOR = 15  # the sentence-vector cosine, when both sides have vectors


def extended(f, how):
    f = list(f)
    if len(f) != 16 or how in ("none", "separate"):
        return f
    extra = {
        "vec*head": [f[VECTOR] * f[HEADLINE]],
        "vec^2": [f[VECTOR] ** 2],
        "both": [f[VECTOR] * f[HEADLINE], f[VECTOR] ** 2],
    }
    return f + extra[how]


def models(sources, rows, held, how):
    """(headline only?, with vectors?) -> weights; one pair serving both unless `separate`."""
    out = {}
    for title_only in (False, True):

        def mine(f, title_only=title_only):
            return how != "separate" or (f[HEADLINE] > 0.5) == title_only

        both = [
            (extended(f, how), y)
            for o in sources
            if o != held
            for f, y in rows[o]
            if len(f) == 16 and mine(f)
        ]
        lex = [(f[:15], y) for o in sources if o != held for f, y in rows[o] if mine(f)]
        for key, data in ((True, both), (False, lex)):
            X, y = np.array([f for f, _ in data]), np.array([float(y) for _, y in data])
            out[title_only, key] = fit(X, y)
    return out


sources, by, docs, rows = vector_folds()
for how in sys.argv[1:] or ["none"]:
    tot = {(TH, t): np.zeros(4) for t in (False, True)}
    for s in sources:
        w = models(sources, rows, s, how)

        def probability(f, w=w):
            vectored = len(f) == 16
            x = np.array(extended(f, how) if vectored else f)
            v = w[f[HEADLINE] > 0.5, vectored]
            return float(1 / (1 + np.exp(-np.clip(v[0] + x @ v[1:], -30, 30))))

        for t in (False, True):
            tot[(TH, t)] += counts(by[s], replay_vectors(docs[(s, t)], probability, TH))
    report(how, tot, [TH])
