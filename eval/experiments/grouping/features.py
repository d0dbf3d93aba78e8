"""Two more join features, each source held out in turn (train + validation only).

Needs a checkout whose `StoryIndex._join_features` appends, after the shipped 15, the share
of the item's entities found in the story and the share of its title words found in the
story (the patch is described in README.md). The fit is `bot.grouping.train.fit` in numpy:
the same AdaGrad steps, checked to give the same held-out figures for the 15 features.
"""

import numpy as np
from common import counts, fit, folds, linear, prf, replay

TH = [0.3, 0.35, 0.4, 0.45]
sources, by, docs, ex = folds()
n = len(ex[sources[0]][0][0])
SETS = {
    "the shipped 15": list(range(15)),
    "+ entity share": list(range(16)),
    "+ title-word coverage": [*range(15), 16],
    "+ both": list(range(n)),
}
for name, cols in SETS.items():
    tot = {(th, t): np.zeros(4) for th in TH for t in (False, True)}
    for s in sources:
        rows = [r for o in sources if o != s for r in ex[o]]
        X = np.array([f for f, _ in rows])[:, cols]
        prob = linear(fit(X, np.array([float(y) for _, y in rows])), cols)
        for th in TH:
            for t in (False, True):
                tot[(th, t)] += counts(by[s], replay(prob, docs[(s, t)], th))
    for th in TH:
        (pf, rf, ff), (pt, rt, ft) = prf(tot[(th, False)]), prf(tot[(th, True)])
        print(
            f"{name} {th}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
            f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
            flush=True,
        )
