"""Leave-one-source-out: the linear join model against gradient-boosted trees.

Train + validation only; merged and story pairs are summed over the held-out folds.
"""

import math
import sys
from itertools import combinations

import numpy as np
from bot.grouping import train as T
from bot.stories import StoryIndex
from bot.topics.entities import Gazetteer
from sklearn.ensemble import HistGradientBoostingClassifier

gaz = Gazetteer.load()
items_all = [
    i
    for n in ("train", "validation")
    for i in T._load(T.CORPUS, n)
    if i.source not in T.NOT_LEARNED_FROM
]
sources = sorted({i.source for i in items_all})
by = {s: [i for i in items_all if i.source == s] for s in sources}
docs = {(s, t): T.docs_of(by[s], gaz, t) for s in sources for t in (False, True)}
ex = {s: [r for t in (False, True) for r in T.examples(by[s], docs[(s, t)])] for s in sources}
print({s: len(ex[s]) for s in sources}, file=sys.stderr, flush=True)


def group_with(prob, d, threshold):
    index, out = StoryIndex(window=T.WINDOW), {}
    for doc in d:
        index.prune(doc.published)
        cands = index.candidates(doc)
        best, sid = threshold, None
        if cands:
            keys = list(cands)
            ps = prob(np.array([cands[k] for k in keys]))
            for s, p in zip(keys, ps):
                if p >= best:
                    best, sid = p, s
        out[doc.item_id] = doc.item_id if sid is None else sid
        index.add(doc, out[doc.item_id])
    return out


def counts(items, story):
    m = r = t = f = 0
    for a, b in combinations(range(len(items)), 2):
        x, y = items[a], items[b]
        same = story[a] == story[b]
        truth = bool(x.story) and x.story == y.story
        if same:
            m += 1
            r += (x.thread or x.story) == (y.thread or y.story)
        if truth:
            t += 1
            f += same
    return np.array([m, r, t, f])


TH = [0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]


def linear(rows):
    w = T.fit(rows)
    wa = np.array(w[1:])
    return lambda A: 1 / (1 + np.exp(-np.clip(w[0] + A @ wa, -30, 30)))


def gb(depth, iters, lr):
    def make(rows):
        X = np.array([f for f, _ in rows])
        y = np.array([int(b) for _, b in rows])
        pos = y.mean()
        m = HistGradientBoostingClassifier(
            max_depth=depth,
            max_iter=iters,
            learning_rate=lr,
            random_state=0,
            l2_regularization=1.0,
            min_samples_leaf=40,
        )
        m.fit(X, y, sample_weight=np.where(y == 1, math.sqrt((1 - pos) / pos), 1.0))
        return lambda A: m.predict_proba(A)[:, 1]

    return make


for name, maker in [
    ("linear", linear),
    ("gb3-100", gb(3, 100, 0.1)),
    ("gb2-200", gb(2, 200, 0.1)),
    ("gb2-100", gb(2, 100, 0.1)),
]:
    tot = {(th, t): np.zeros(4) for th in TH for t in (False, True)}
    per = {}
    for s in sources:
        prob = maker([r for o in sources if o != s for r in ex[o]])
        for th in TH:
            for t in (False, True):
                c = counts(by[s], group_with(prob, docs[(s, t)], th))
                tot[(th, t)] += c
                per[(th, t, s)] = c
    for th in TH:
        line = []
        f1s = []
        for t in (False, True):
            m, r, tt, f = tot[(th, t)]
            p, rc = r / m, f / tt
            f1 = 2 * p * rc / (p + rc)
            f1s.append(f1)
            line.append(f"{'T' if t else 'F'} {p:.3f}/{rc:.3f}/{f1:.3f}")
        # macro over sources (each source's F1, mean)
        mac = []
        for t in (False, True):
            for s in sources:
                m, r, tt, f = per[(th, t, s)]
                p = r / m if m else 1
                rc = f / tt if tt else 1
                mac.append(2 * p * rc / (p + rc) if p + rc else 0)
        print(name, th, f"pooled {np.mean(f1s):.4f} macro {np.mean(mac):.4f}", *line, flush=True)
