"""What both experiments share: the held-out folds, a replay with any join model, pair counts.

Run from the repository root with `PYTHONPATH=. python eval/experiments/grouping/<script>.py`.
"""

import functools
import numpy as np

from bot.grouping import train as T
from bot.stories import StoryIndex
from bot.gazetteer import Gazetteer


@functools.cache  # once per run: every model is scored on the same folds
def folds():
    """Train + validation by source (ABC 2003 left out, as the trainer leaves it out): the
    items, their docs (as written and headline only) and every candidate's join features."""
    gaz = Gazetteer.load()
    items = [
        i
        for n in ("train", "validation")
        for i in T._load(T.CORPUS, n)
        if i.source not in T.NOT_LEARNED_FROM
    ]
    sources = sorted({i.source for i in items})
    by = {s: [i for i in items if i.source == s] for s in sources}
    docs = {(s, t): T.docs_of(by[s], gaz, t) for s in sources for t in (False, True)}
    ex = {s: [r for t in (False, True) for r in T.examples(by[s], docs[(s, t)])] for s in sources}
    return sources, by, docs, ex


def replay(prob, docs, threshold, merge_bar=None):
    """Item -> story, as `bot.grouping.train.group` files them, with `prob` (a matrix of
    candidates' features -> their join probabilities) for the shipped model. `merge_bar`
    (`merge.py`): other candidates at or above it are merged into the story joined (a
    union-find over story ids; each story keeps its own candidate features)."""
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
            if merge_bar is None:  # as the bot files it (`StoryIndex.choose`, chain guard too)
                sid = index.choose(doc, dict(zip(keys, p.tolist(), strict=True)), threshold)
            elif p.max() >= threshold:
                sid = keys[int(p.argmax())]
                for k, q in zip(keys, p, strict=True):
                    if k != sid and q >= merge_bar:
                        a, b = find(k), find(sid)
                        if a != b:
                            parent[a] = b
        out[doc.item_id] = doc.item_id if sid is None else sid
        index.add(doc, out[doc.item_id])
    return {k: find(v) for k, v in out.items()}


def vector_folds(cache="/tmp/embedjoin-headline.npz"):
    """`folds()` with each doc's headline vector from `embedjoin.py newest 0.35 headline`'s
    cache: the sources, their items, docs and candidate rows (features as `candidates` gives
    them now, with the vector cosine where both sides have vectors)."""
    gaz = Gazetteer.load()
    sources, by, _, _ = folds()
    vectors = dict(np.load(cache))
    docs = {
        (s, t): T.docs_of(by[s], gaz, t, [r.astype("<f2").tobytes() for r in vectors[f"{s}|{t}"]])
        for s in sources
        for t in (False, True)
    }
    rows = {s: [r for t in (False, True) for r in T.examples(by[s], docs[(s, t)])] for s in sources}
    return sources, by, docs, rows


def replay_vectors(docs, probability, threshold):
    """Item -> story as the bot files them with sentence vectors (each doc's `vector` kept for
    the members later docs are compared with): `probability` maps one candidate's features
    (16 with the vector cosine, 15 without) to its join probability, and
    `StoryIndex.choose` picks, the shipped guards included."""
    index, out, table = StoryIndex(window=T.WINDOW), {}, {}

    def vectors(ids):
        return {k: table[k] for k in ids if k in table}

    for doc in docs:
        index.prune(doc.published)
        found = {k: probability(f) for k, f in index.candidates(doc, vectors).items()}
        sid = index.choose(doc, found, threshold)
        out[doc.item_id] = doc.item_id if sid is None else sid
        index.add(doc, out[doc.item_id])
        table[doc.item_id] = doc.vector
    return out


def counts(items, story):
    """Merged pairs, right merged pairs (same thread), story pairs, story pairs merged."""
    return np.array(T.pair_counts(items, story))


def prf(c):
    m, r, t, f = c
    p, rc = r / m, f / t
    return p, rc, 2 * p * rc / (p + rc)


def fit(X, y):
    """`bot.grouping.train.fit` in numpy: the same AdaGrad steps, bias first."""
    n = X.shape[1] + 1
    pos = y.sum() or 1
    cw = np.where(y == 1, np.sqrt((len(y) - pos) / pos), 1.0)
    A = np.hstack([np.ones((len(y), 1)), X])
    w, g2 = np.zeros(n), np.full(n, 1e-8)
    reg = np.r_[0.0, np.ones(n - 1)]
    for _ in range(T.EPOCHS):
        g = (1 / (1 + np.exp(-np.clip(A @ w, -30, 30))) - y) * cw
        grad = A.T @ g + T.PENALTY * len(y) * w * reg
        g2 += grad * grad
        w -= 0.5 * grad / np.sqrt(g2)
    return w


def linear(w, cols=None):
    """Join probabilities of a weight vector (bias first) over the chosen feature columns."""
    return lambda X: 1 / (1 + np.exp(-np.clip(w[0] + X[:, cols or slice(None)] @ w[1:], -30, 30)))


def held_out(name, make, thresholds, cols=None, merge_bar=None, more=None):
    """Print pooled pairwise P / R / F1 at each bar, every source held out in turn; `make`
    fits a model on (features, labels) and returns its probability function. `more`: further
    training rows by source (`extra.py`), those of the held-out source left out too."""
    sources, by, docs, ex = folds()
    tot = {(th, t): np.zeros(4) for th in thresholds for t in (False, True)}
    for s in sources:
        rows = [r for o in sources if o != s for r in ex[o]]
        rows += [r for o, rs in (more or {}).items() if o != s for r in rs]
        X = np.array([f for f, _ in rows])
        prob = make(X if cols is None else X[:, cols], np.array([float(y) for _, y in rows]))
        for th in thresholds:
            for t in (False, True):
                tot[(th, t)] += counts(by[s], replay(prob, docs[(s, t)], th, merge_bar))
    report(name, tot, thresholds)


def report(name, tot, thresholds):
    """One line per bar: pooled pairwise P / R / F1 with text and headline only, their mean."""
    for th in thresholds:
        (pf, rf, ff), (pt, rt, ft) = prf(tot[(th, False)]), prf(tot[(th, True)])
        print(
            f"{name} {th}: mean F1 {(ff + ft) / 2:.4f}; text {pf:.3f}/{rf:.3f}/{ff:.3f}; "
            f"headlines {pt:.3f}/{rt:.3f}/{ft:.3f}",
            flush=True,
        )


def fold_models(sources, rows):
    """Per held-out source, the join model fit on the others' rows: with the vector cosine
    (16 features) and, for candidates without vectors, the lexical one (`(s, "words")`)."""
    models = {}
    for s in sources:
        both = [r for o in sources if o != s for r in rows[o] if len(r[0]) == 16]
        models[s] = fit(np.array([f for f, _ in both]), np.array([float(y) for _, y in both]))
        lex = [r for o in sources if o != s for r in rows[o]]
        models[s, "words"] = fit(
            np.array([f[:15] for f, _ in lex]), np.array([float(y) for _, y in lex])
        )
    return models


def fold_probability(models, s):
    """One candidate's join probability under source `s`'s held-out models."""

    def probability(f):
        w = models[s] if len(f) == 16 else models[s, "words"]
        return float(1 / (1 + np.exp(-np.clip(w[0] + np.array(f) @ w[1:], -30, 30))))

    return probability
