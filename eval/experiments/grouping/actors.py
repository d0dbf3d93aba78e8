"""Different actors doing the same thing: a join feature for countries that do not meet.

"France deploys warship to the Red Sea" and "Italy sends navy frigate to the Red Sea" share
the sea, the verb and the ship, and join (p 0.86 with the stop-39 model); issue 11 asks that
they do not. The shipped "entities on both sides, none shared" cannot fire: the sea is shared.
Tried here, appended after the shipped 16 (the sentence-vector cosine included): whether both
sides name a country (the gazetteer's `kind: country`) and none of the item's countries is
among the story's candidate members' ones. Same folds, fit and rule as `embedjoin.py` (each
source of train + validation held out, ABC 2003 out of the fit, chain guard on; adopt on
+0.01 mean pooled F1, neither column down by more than 0.005).

Run: `PYTHONPATH=. python eval/experiments/grouping/actors.py [BAR ...]` after
`embedjoin.py newest 0.35 headline` (whose cached headline vectors it reads).
"""

import sys

import numpy as np
from common import counts, fit, replay_vectors, report, vector_folds

from bot.stories import StoryIndex, _unpack_terms
from bot.gazetteer import Gazetteer

TH = [float(x) for x in sys.argv[1:]] or [0.35]
gaz = Gazetteer.load()
COUNTRIES = {"e:" + n.lower() for n in gaz.entities if gaz.kind(n) == "country"}
shipped = StoryIndex._join_features


def patched(self, doc, query, qnorm, title, story_id, entries):
    out = shipped(self, doc, query, qnorm, title, story_id, entries)
    term_of = self._term_of
    mine = {term_of[t] for t in query if isinstance(t, int)} & COUNTRIES
    theirs = {term_of[t] for e in entries for t in _unpack_terms(e)[0]} & COUNTRIES
    return [*out, float(bool(mine) and bool(theirs) and not mine & theirs)]


StoryIndex._join_features = patched
sources, by, docs, rows = vector_folds()
# A row: the shipped 15, the conflict (16th), then the vector cosine when both have vectors.
VARIANTS = (
    ("the shipped 16", False, False),
    ("+ countries that do not meet", True, False),
    ("the shipped 16, countries that do not meet never join (a guard)", False, True),
)
for name, extra, veto in VARIANTS:
    tot = {(th, t): np.zeros(4) for th in TH for t in (False, True)}
    for s in sources:
        train = [r for o in sources if o != s for r in rows[o] if len(r[0]) == 17]
        cols = [*range(15), *([15] if extra else []), 16]
        X = np.array([[f[c] for c in cols] for f, _ in train])
        w = fit(X, np.array([float(y) for _, y in train]))

        def prob(A, w=w, cols=cols, veto=veto):
            z = w[0] + A[:, cols] @ w[1:]
            p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
            return p * (1 - A[:, 15]) if veto else p

        for th in TH:
            for t in (False, True):
                out = replay_vectors(
                    docs[(s, t)], lambda f, prob=prob: float(prob(np.array([f]))[0]), th
                )
                tot[(th, t)] += counts(by[s], out)
    report(name, tot, TH)
# How often the conflict fires, and the weight it learns on every source together.
train = [r for s in sources for r in rows[s] if len(r[0]) == 17]
fires = [y for f, y in train if f[15]]
w = fit(np.array([f for f, _ in train]), np.array([float(y) for _, y in train]))
print(
    f"conflict fires on {len(fires)} of {len(train)} candidates, {sum(fires)} of them the "
    f"true story; its weight {w[16]:.3f}"
)
