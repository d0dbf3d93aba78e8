"""Would the join model learn more from the corpus's other files? Each source of train +
validation held out in turn as `cv.py` does (the same held-out items, the shipped bar 0.35 and
chain guard), the model fit on the other sources' items of `train.jsonl` and `validation.jsonl`
(shipped) or on those plus the other sources' items of `extra.jsonl` and the two Reuters
2007-2016 files (every file the encoder and word model learn from). Rule fixed before the run:
adopt if mean pooled F1 rises by 0.01 or more and neither column falls by more than 0.005 (at
its best bar, which the extra negatives move).
Run: `PYTHONPATH=. python eval/experiments/grouping/extra.py` (from the repository root).
"""

import numpy as np
from common import counts, fit, folds, linear, prf, replay

from bot.grouping import train as T
from bot.topics.entities import Gazetteer

FILES = ("extra", "reuters2007-16", "reuters2007-16-dense")
BARS = (0.15, 0.2, 0.25, 0.3, 0.35)  # more negatives move the best bar: each is shown

sources, by, docs, ex = folds()
gaz = Gazetteer.load()
more = [i for n in FILES for i in T._load(T.CORPUS, n) if i.source not in T.NOT_LEARNED_FROM]
extra_ex = {}
for s in sorted({i.source for i in more}):
    mine = [i for i in more if i.source == s]
    extra_ex[s] = [r for t in (False, True) for r in T.examples(mine, T.docs_of(mine, gaz, t))]
print({s: len(r) for s, r in extra_ex.items()}, flush=True)

VARIANTS = (("shipped (train + validation)", False, (0.35,)), ("+ extra and Reuters", True, BARS))
for name, use_more, bars in VARIANTS:
    tot = {(b, t): np.zeros(4) for b in bars for t in (False, True)}
    for s in sources:
        rows = [r for o in sources if o != s for r in ex[o]]
        if use_more:
            rows += [r for o, rs in extra_ex.items() if o != s for r in rs]
        X = np.array([f for f, _ in rows])
        prob = linear(fit(X, np.array([float(y) for _, y in rows])))
        for b in bars:
            for t in (False, True):
                tot[(b, t)] += counts(by[s], replay(prob, docs[(s, t)], b))
    for b in bars:
        (pf, rf, ff), (pt, rt, ft) = prf(tot[(b, False)]), prf(tot[(b, True)])
        print(
            f"{name}, bar {b}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
            f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
            flush=True,
        )
