"""Leave-one-source-out: when an item clears the join bar for two or more open stories, merge
those stories (the item joins the best; the others become part of it).

Train + validation only; merged and story pairs summed over the held-out folds. The merge is
simulated in `common.replay` (`merge_bar`).
"""

import numpy as np
from common import counts, fit, folds, linear, prf, replay

JOIN_BAR = 0.35  # the shipped bar
MERGE_BARS = [None, 0.35, 0.45, 0.55, 0.65]  # None: no merging (the shipped behaviour)

sources, by, docs, ex = folds()
tot = {(m, t): np.zeros(4) for m in MERGE_BARS for t in (False, True)}
for s in sources:
    rows = [r for o in sources if o != s for r in ex[o]]
    prob = linear(fit(np.array([f for f, _ in rows]), np.array([float(y) for _, y in rows])))
    for m in MERGE_BARS:
        for t in (False, True):
            tot[(m, t)] += counts(by[s], replay(prob, docs[(s, t)], JOIN_BAR, m))
for m in MERGE_BARS:
    (pf, rf, ff), (pt, rt, ft) = prf(tot[(m, False)]), prf(tot[(m, True)])
    print(
        f"merge bar {m}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
        f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
        flush=True,
    )
