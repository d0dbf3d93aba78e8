"""Why a report did not join its story, each source held out in turn (stop 43).

Replays every held-out source as `content.py` does (the join model refit without it, with
and without the sentence-vector cosine, bar 0.35, the shipped guards) and, for each report
whose story already has a part in the index that it does not join, says why: that part was
not a candidate at all (no rare word shared), a candidate below the bar, a candidate above
the bar that a guard refused, or another story came out higher. With `show`, the
headline-only "below the bar" cases are printed with their probability and vector cosine.

`PYTHONPATH=. python eval/experiments/grouping/misses.py [show]` (from the root), after
`embedjoin.py newest 0.35 headline` (whose cached headline vectors it reads).
"""

import sys
from collections import Counter, defaultdict

import numpy as np
from common import fit, vector_folds

from bot.grouping import train as T
from bot.stories import StoryIndex

TH = 0.35
SHOW = "show" in sys.argv[1:]


def models(sources, rows, held):
    """The vector model and the lexical one (candidates without vectors), `held` left out."""
    both = [r for o in sources if o != held for r in rows[o] if len(r[0]) == 16]
    lex = [r for o in sources if o != held for r in rows[o]]
    w16 = fit(np.array([f for f, _ in both]), np.array([float(y) for _, y in both]))
    w15 = fit(np.array([f[:15] for f, _ in lex]), np.array([float(y) for _, y in lex]))

    def probability(f):
        w = w16 if len(f) == 16 else w15
        return float(1 / (1 + np.exp(-np.clip(w[0] + np.array(f) @ w[1:], -30, 30))))

    return probability


def why(items, docs, probability, title_only, kinds):
    index, table, where = StoryIndex(window=T.WINDOW), {}, defaultdict(set)

    def vectors(ids):
        return {k: table[k] for k in ids if k in table}

    for doc in docs:
        index.prune(doc.published)
        cands = index.candidates(doc, vectors)
        found = {k: probability(f) for k, f in cands.items()}
        sid = index.choose(doc, found, TH)
        mine = doc.item_id if sid is None else sid
        index.add(doc, mine)
        table[doc.item_id] = doc.vector
        story = items[doc.item_id].story
        if not story:
            continue
        right = {x for x in where[story] if index.size(x)}
        if right and mine not in right:
            best = max(right, key=lambda r: found.get(r, -1.0))
            if best not in cands:
                kinds["not a candidate"] += 1
            elif found[best] < TH:
                kinds["a candidate below the bar"] += 1
                if SHOW and title_only:
                    f = cands[best]
                    vec = f"{f[15]:.2f}" if len(f) == 16 else "-"
                    print(
                        f"{found[best]:.2f} vec {vec} | {items[doc.item_id].title[:70]} "
                        f"|| {items[best].title[:70]}"
                    )
            elif sid is None:
                kinds["a guard refused"] += 1
            else:
                kinds["another story higher"] += 1
        where[story].add(mine)


sources, by, docs, rows = vector_folds()
kinds = {False: Counter(), True: Counter()}
for s in sources:
    probability = models(sources, rows, s)
    for t in (False, True):
        why(by[s], docs[(s, t)], probability, t, kinds[t])
for t in (False, True):
    print("headline only" if t else "with text", dict(kinds[t]))
