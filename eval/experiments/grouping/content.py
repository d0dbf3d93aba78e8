"""Stories that share only countries' names with an item: a guard on what else they share.

On a war's busy days every report names the same two countries: "Jordan leave it late to
beat Iraq and reach Asian Cup quarter-finals" joined the story of the drone strike on US
troops in Jordan, a prisoner swap joined Russia's call-up. `StoryIndex.choose` now also asks,
of a story of `CONTENT_MIN` members or more, the item's cosine with the story's newest
members with countries' names left out (`story_cosines`, `CONTENT_GUARD`). Same folds, fit
and rule as `embedjoin.py` / `actors.py` (each source of train + validation held out, ABC 2003
out of the fit, the join model refit without the held-out source, bar 0.35; adopt on +0.01
mean pooled F1, neither column down by more than 0.005).

Run: `PYTHONPATH=. python eval/experiments/grouping/content.py [NAMES] MIN:GUARD ...` after
`embedjoin.py newest 0.35 headline` (whose cached headline vectors it reads). NAMES, which
terms count as names: `countries` (shipped: the terms the gazetteer's country names are read
as), `written` (those and the names' words as written: "north", "united"), `nonorg` (every
name but organisations'), `all` (every name and alias). `3:0` is the index without the guard.
"""

import sys

import numpy as np
from common import counts, fold_models, fold_probability, replay_vectors, report, vector_folds

from bot.stories import index as S  # the module the guards and `_country_words` are read in
from bot.stories import stem, terms
from bot.gazetteer import shipped

TH = 0.35
args = sys.argv[1:]
names = args.pop(0) if args and ":" not in args[0] else "countries"
ents = list(shipped().entities.values())


def words(texts, written=True):
    out = set()
    for text in texts:
        out.update(terms(text))
        if written:
            for w in text.lower().split():
                out.update((w, stem(w)))
    return frozenset(out)


NAMES = {
    "countries": lambda: words((i.name for i in ents if i.kind == "country"), written=False),
    "written": lambda: words(i.name for i in ents if i.kind == "country"),
    "nonorg": lambda: words(i.name for i in ents if i.kind != "org"),
    "all": lambda: words(t for i in ents for t in (i.name, *i.aliases)),
}
chosen = NAMES[names]()
S._country_words = lambda: chosen

sources, by, docs, rows = vector_folds()
models = fold_models(sources, rows)

for arg in args:
    low, bar = arg.split(":")
    S.CONTENT_MIN, S.CONTENT_GUARD = int(low), float(bar)
    tot = {(TH, t): np.zeros(4) for t in (False, True)}
    for s in sources:
        probability = fold_probability(models, s)
        for t in (False, True):
            out = replay_vectors(docs[(s, t)], probability, TH)
            tot[(TH, t)] += counts(by[s], out)
    report(f"{names} min {S.CONTENT_MIN} guard {S.CONTENT_GUARD}", tot, [TH])
