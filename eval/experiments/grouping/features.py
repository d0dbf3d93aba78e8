"""Two more join features, each source held out in turn (train + validation only).

Needs a checkout whose `StoryIndex._join_features` appends, after the shipped 15, the share
of the item's entities found in the story and the share of its title words found in the
story (the patch is described in README.md). The fit is `bot.grouping.train.fit` in numpy:
the same AdaGrad steps, checked to give the same held-out figures for the 15 features.
"""

import sys
from itertools import combinations
import numpy as np
from bot.grouping import train as T
from bot.stories import StoryIndex
from bot.topics.entities import Gazetteer

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


def fit(X, y):
    n = X.shape[1] + 1
    pos = y.sum() or 1
    up = np.sqrt((len(y) - pos) / pos)
    A = np.hstack([np.ones((len(y), 1)), X])
    cw = np.where(y == 1, up, 1.0)
    w = np.zeros(n)
    g2 = np.full(n, 1e-8)
    reg = np.ones(n)
    reg[0] = 0
    for _ in range(T.EPOCHS):
        z = np.clip(A @ w, -30, 30)
        g = (1 / (1 + np.exp(-z)) - y) * cw
        grad = A.T @ g + T.PENALTY * len(y) * w * reg
        g2 += grad * grad
        w -= 0.5 * grad / np.sqrt(g2)
    return w


def group_with(w, cols, d, th):
    index, out = StoryIndex(window=T.WINDOW), {}
    for doc in d:
        index.prune(doc.published)
        c = index.candidates(doc)
        best, sid = th, None
        for s, f in c.items():
            p = 1 / (1 + np.exp(-np.clip(w[0] + np.array(f)[cols] @ w[1:], -30, 30)))
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


TH = [0.3, 0.35, 0.4, 0.45]
nf = len(ex[sources[0]][0][0])
for name, cols in [
    ("base15", list(range(15))),
    ("+entshare", list(range(16))),
    ("+wordcover", list(range(15)) + [16]),
    ("+both", list(range(nf))),
]:
    tot = {(th, t): np.zeros(4) for th in TH for t in (False, True)}
    for s in sources:
        rows = [r for o in sources if o != s for r in ex[o]]
        X = np.array([f for f, _ in rows])[:, cols]
        y = np.array([float(b) for _, b in rows])
        w = fit(X, y)
        for th in TH:
            for t in (False, True):
                tot[(th, t)] += counts(by[s], group_with(w, cols, docs[(s, t)], th))
    for th in TH:
        f1s, line = [], []
        for t in (False, True):
            m, r, tt, f = tot[(th, t)]
            p, rc = r / m, f / tt
            f1 = 2 * p * rc / (p + rc)
            f1s.append(f1)
            line.append(f"{'T' if t else 'F'} {p:.3f}/{rc:.3f}/{f1:.3f}")
        print(name, th, f"pooled {np.mean(f1s):.4f}", *line, flush=True)
