"""Leave-one-source-out: when an item clears the join bar for two or more open stories, merge
those stories (the item joins the best; the others become part of it).

Train + validation only; merged and story pairs summed over the held-out folds. The merge is
simulated with a union-find over story ids: each story keeps its own candidate features, as
a merge done in the index would not.
"""

import numpy as np
from common import counts, fit, folds, linear, prf

from bot.grouping import train as T
from bot.stories import StoryIndex

JOIN_BAR = 0.35  # the shipped bar
MERGE_BARS = [None, 0.35, 0.45, 0.55, 0.65]  # None: no merging (the shipped behaviour)


def replay(prob, docs, merge_bar):
    index, out, parent = StoryIndex(window=T.WINDOW), {}, {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for doc in docs:
        index.prune(doc.published)
        cands = index.candidates(doc)
        sid = None
        if cands:
            keys = list(cands)
            p = prob(np.array([cands[k] for k in keys]))
            if p.max() >= JOIN_BAR:
                sid = keys[int(p.argmax())]
                for k, q in zip(keys, p, strict=True):
                    if merge_bar is not None and k != sid and q >= merge_bar:
                        a, b = find(k), find(sid)
                        if a != b:
                            parent[a] = b
        out[doc.item_id] = doc.item_id if sid is None else sid
        index.add(doc, out[doc.item_id])
    return {k: find(v) for k, v in out.items()}


sources, by, docs, ex = folds()
tot = {(m, t): np.zeros(4) for m in MERGE_BARS for t in (False, True)}
for s in sources:
    rows = [r for o in sources if o != s for r in ex[o]]
    prob = linear(fit(np.array([f for f, _ in rows]), np.array([float(y) for _, y in rows])))
    for m in MERGE_BARS:
        for t in (False, True):
            tot[(m, t)] += counts(by[s], replay(prob, docs[(s, t)], m))
for m in MERGE_BARS:
    (pf, rf, ff), (pt, rt, ft) = prf(tot[(m, False)]), prf(tot[(m, True)])
    print(
        f"merge bar {m}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
        f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
        flush=True,
    )
