"""Sentence embeddings as join features, each source held out in turn (train + validation).

Stop 33 (`semantic.py`) asked whether a cosine bar alone could join reports and found it
would also join a fifth of the different deployment stories. Here the base encoder's
embedding (all-MiniLM-L6-v2, no adapters, mean-pooled, normalised; the headline, or headline
and description as the doc is filed) is one more measure beside the lexical ones: the
learned join model weighs it. Two features are appended to the shipped 15: the best cosine
with any live member of the candidate story, and the cosine with the mean of its newest
`CHAIN_MEMBERS` members. The candidates stay the lexical index's.

Same folds, fit and replay as `common.held_out` (ABC 2003 out of the fit, chain guard on).
Run: `PYTHONPATH=. python eval/experiments/grouping/embedjoin.py [all|newest] [BAR ...]
[headline]` (a few minutes: the embeddings are computed once per source and view, cached in
/tmp). `all`: the best cosine over all live members and the cosine with the newest members'
mean; `newest`: over the newest `CHAIN_MEMBERS` and their mean cosine (what the bot can
afford); `headline`: the headline alone embedded, with text too (the shipped feature is
`newest ... headline`, its first column).
"""

import sys
from pathlib import Path

import numpy as np
from common import counts, fit, folds, linear, replay, report

from bot import stories
from bot.encoder.model import Encoder
from bot.grouping import train as T
from bot.stories import StoryIndex
from bot.text.wire import headline, strip_byline
from bot.gazetteer import Gazetteer

HEADLINE = "headline" in sys.argv  # the headline alone embedded, with text too
CACHE = Path("/tmp/embedjoin-headline.npz" if HEADLINE else "/tmp/embedjoin.npz")
sys.argv = [a for a in sys.argv if a != "headline"]
VARIANT = sys.argv[1] if len(sys.argv) > 1 else "all"
TH = [float(x) for x in sys.argv[2:]] or [0.3, 0.35, 0.4, 0.45]
EMB: dict[str, np.ndarray] = {"now": np.zeros((0, 384))}
shipped = StoryIndex._join_features


def patched(self, doc, query, qnorm, title, story_id, entries):
    out = shipped(self, doc, query, qnorm, title, story_id, entries)
    E = EMB["now"]
    if not len(E):  # `folds()` computing its lexical examples: not used here
        return out
    members = list(self._members.get(story_id, []))
    mine = E[doc.item_id]
    if VARIANT == "newest":  # as the bot can afford: the newest members, their mean cosine
        sims = E[members[-stories.CHAIN_MEMBERS :]] @ mine
        return [*out, float(sims.max()), float(sims.mean())]
    sims = E[members] @ mine
    mean = E[members[-stories.CHAIN_MEMBERS :]].mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return [*out, float(sims.max()), float(mean @ mine / norm) if norm else 0.0]


StoryIndex._join_features = patched


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def text_of(item, titles_only):
    if titles_only or not item.description or HEADLINE:
        return headline(item.title)
    return f"{headline(item.title)}. {strip_byline(item.description)}"


sources, by, docs, _ = folds()  # the docs carry no vectors: `patched` reads EMB by item id
cached = dict(np.load(CACHE)) if CACHE.exists() else {}
if not cached:
    enc = Encoder()
    for s in sources:
        for t in (False, True):
            cached[f"{s}|{t}"] = unit(enc.embed([text_of(i, t) for i in by[s]]))
            print(f"embedded {s} {t}", file=sys.stderr, flush=True)
    np.savez(CACHE, **cached)
ex = {}
for s in sources:
    ex[s] = []
    for t in (False, True):
        EMB["now"] = cached[f"{s}|{t}"]
        ex[s] += T.examples(by[s], docs[(s, t)])

SETS = {
    "the shipped 15": list(range(15)),
    "+ best member embedding": [*range(15), 15],
    "+ story mean embedding": [*range(15), 16],
    "+ both": list(range(17)),
}
for name, cols in SETS.items():
    tot = {(th, t): np.zeros(4) for th in TH for t in (False, True)}
    for s in sources:
        rows = [r for o in sources if o != s for r in ex[o]]
        X = np.array([f for f, _ in rows])[:, cols]
        prob = linear(fit(X, np.array([float(y) for _, y in rows])))
        for th in TH:
            for t in (False, True):
                EMB["now"] = cached[f"{s}|{t}"]
                tot[(th, t)] += counts(by[s], replay(lambda A, p=prob: p(A[:, cols]), docs[(s, t)], th))
    report(name, tot, TH)
