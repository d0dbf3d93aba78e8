"""Joining through peripheral members (stop 35, not adopted).

A story grows by steps that each look right: a report that names two stories ("North Korea
fires missiles amid US sub visit, soldier crossing DMZ") joins one, and the other story's
reports then join through it. Tried: an item that joined with a probability below `margin`
stays in the story but is no candidate later items can join through. Leave-one-source-out as
`cv.py`, the shipped bar. Run: `PYTHONPATH=. python eval/experiments/grouping/periph.py`.
"""

import numpy as np
from common import counts, fit, folds, linear, prf, replay

from bot.stories import (
    _HEAD,
    MAX_CANDIDATES,
    POSTINGS_SCANNED,
    RAREST_TERMS,
    StoryIndex,
    _accumulate,
)

PERIPHERAL: set[int] = set()


def _candidates(self, query, published):
    """`StoryIndex._candidates`, skipping peripheral members."""
    df, postings = self._df, self._postings
    known = [t for t in query if isinstance(t, int) and df[t] > 0]
    partial = {}
    for t in sorted(known, key=df.__getitem__)[:RAREST_TERMS]:
        _accumulate(partial, postings[t][-POSTINGS_SCANNED:], query[t])
    window, found = self.window.total_seconds(), []
    for key in sorted(partial, key=partial.__getitem__, reverse=True)[: 3 * MAX_CANDIDATES]:
        entry = None if key in PERIPHERAL else self._entries.get(key)
        if entry is not None and abs(_HEAD.unpack_from(entry)[1] - published) <= window:
            found.append(entry)
            if len(found) == MAX_CANDIDATES:
                break
    return found


StoryIndex._candidates = _candidates


MARGIN = 0.0
_choose = StoryIndex.choose


def choose(self, doc, found, bar):
    """`StoryIndex.choose`; a join below MARGIN makes the item peripheral."""
    sid = _choose(self, doc, found, bar)
    if sid is not None and found[sid] < MARGIN:
        PERIPHERAL.add(doc.item_id)
    return sid


StoryIndex.choose = choose


sources, by, docs, ex = folds()
probs = {}
for s in sources:
    rows = [r for o in sources if o != s for r in ex[o]]
    probs[s] = linear(fit(np.array([f for f, _ in rows]), np.array([float(y) for _, y in rows])))
for margin in (0.0, 0.4, 0.45, 0.5, 0.6, 0.7):
    MARGIN = margin
    tot = {t: np.zeros(4) for t in (False, True)}
    for s in sources:
        for t in (False, True):
            PERIPHERAL.clear()
            tot[t] += counts(by[s], replay(probs[s], docs[(s, t)], 0.35))
    (pf, rf, ff), (pt, rt, ft) = prf(tot[False]), prf(tot[True])
    print(
        f"margin {margin}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
        f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
        flush=True,
    )
