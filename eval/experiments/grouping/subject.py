"""The headline's subject as a 16th join feature (stop 36), each source held out in turn.

A scratch patch of `StoryIndex._join_features` (this process only) appends three candidates:
is the headline's first term among the story's candidate members' terms; among their
headlines' terms; the share of its first two terms among the members' terms. Each is fit
beside the shipped 15 as `features.py` fits its own.
`PYTHONPATH=. python eval/experiments/grouping/subject.py` (from the root).
"""

import sys

sys.path.insert(0, "eval/experiments/grouping")

from common import fit, held_out, linear

from bot import stories as S
from bot.text.wire import headline

shipped = S.StoryIndex._join_features


def patched(self, doc, query, qnorm, title, story_id, entries):
    features = shipped(self, doc, query, qnorm, title, story_id, entries)
    first = [self._vocab.get(t) for t in S.terms(headline(doc.title, genre=False))[:2]]
    anywhere, titles = set(), set()
    for entry in entries:
        terms, weights = S._unpack_terms(entry)
        anywhere.update(terms)
        titles.update(t for t, w in zip(terms, weights, strict=True) if w >= S.TITLE_TENTHS)
    lead = first[0] if first else None
    features.append(float(lead is not None and lead in anywhere))
    features.append(float(lead is not None and lead in titles))
    features.append(sum(1 for t in first if t is not None and t in anywhere) / 2)
    return features


S.StoryIndex._join_features = patched
SETS = {
    "the shipped 15": list(range(15)),
    "+ first term in the story": [*range(15), 15],
    "+ first term in the story's headlines": [*range(15), 16],
    "+ share of the first two terms in the story": [*range(15), 17],
}
for name, cols in SETS.items():
    held_out(name, lambda X, y, cols=cols: linear(fit(X, y), cols), [0.3, 0.35, 0.4], cols)
