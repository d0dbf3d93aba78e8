"""Names the gazetteer knows, read as their entity's name by the story index (`stories.named`).

"North Korea has sent more troops to Russia" and "Pyongyang's soldiers redeployed to the Kursk
front line" share one title word as written ("troops"); read as names, "North Korea" too. Each
variant is a `doc_terms`; the join model is refit on each. Scored two ways:
- leave-one-source-out as `guard.py` (train + validation, ABC 2003 left out, shipped bar);
- ABC 2003 (one outlet's headlines through a war: never learned from), with the model fit on
  every other source of train + validation, at the same bar.
Run: `PYTHONPATH=. python eval/experiments/grouping/named.py` (from the repository root).
"""

import sys

import numpy as np
from common import counts, fit, folds, held_out, linear, prf, replay

from bot import stories
from bot.grouping import train as T
from bot.text.wire import headline
from bot.gazetteer import Gazetteer

GAZ = Gazetteer.load()
# Entities inside a country, added to a doc's entities (the index's only): Kursk in Russia.
WITHIN = {
    "Kursk": "Russia", "Darfur": "Sudan", "Donbas": "Ukraine", "South Ossetia": "Georgia",
    "Gaza": "Palestine", "West Bank": "Palestine", "Houthis": "Yemen", "Hezbollah": "Lebanon",
    "Taliban": "Afghanistan", "Islamic Revolutionary Guard Corps": "Iran",
    "Wagner Group": "Russia", "Kim Jong Un": "North Korea", "Vladimir Putin": "Russia",
    "Volodymyr Zelensky": "Ukraine", "Xi Jinping": "China", "Alexander Lukashenko": "Belarus",
    "Recep Tayyip Erdogan": "Turkey", "Benjamin Netanyahu": "Israel", "Ali Khamenei": "Iran",
}  # fmt: skip


def variant(title=False, text=False, boost=0.5, within=False):
    def doc_terms(doc):
        counts = {}
        head = headline(doc.title, genre=False)
        for term in stories.terms(GAZ.named(head) if title else head):
            counts[term] = counts.get(term, 0) + stories.TITLE_BOOST
        body = GAZ.named(doc.text) if text else doc.text
        for term in stories.terms(body, stories.MAX_BODY_TERMS):
            counts[term] = counts.get(term, 0) + 1
        names = doc.entities
        if within:
            names += tuple(WITHIN[n] for n in doc.entities if n in WITHIN)
        for name in dict.fromkeys(names):
            counts["e:" + name.lower()] = counts.get("e:" + name.lower(), 0) + boost
        return counts

    return doc_terms


def abc(bar=0.35):
    """ABC 2003 (train + validation) replayed with the model fit on every other source."""
    sources, _, _, ex = folds()
    rows = [r for s in sources for r in ex[s]]
    w = fit(np.array([f for f, _ in rows]), np.array([float(y) for _, y in rows]))
    both = [i for n in ("train", "validation") for i in T._load(T.CORPUS, n)]
    items = [i for i in both if i.source == "abc2003"]
    docs = T.docs_of(items, GAZ, True)  # ABC has headlines only
    p, r, f = prf(counts(items, replay(linear(w), docs, bar)))
    print(f"  abc2003 {bar}: {p:.3f}/{r:.3f}/{f:.3f}", flush=True)


VARIANTS = {
    "as shipped before (names as written, entity 0.5)": variant(),
    "entity 1": variant(boost=1.0),
    "entities within countries": variant(within=True),
    "names in title and text, entity 1": variant(True, True, 1.0),
    "names in title and text, entity 0.5": variant(True, True, 0.5),
    "names in title, entity 1": variant(True, False, 1.0),
    "names in text, entity 1": variant(False, True, 1.0),
}
for name, doc_terms in VARIANTS.items():
    if len(sys.argv) > 1 and sys.argv[1] not in name:
        continue
    stories.postings.doc_terms = doc_terms  # what StoryIndex._doc_terms calls
    folds.cache_clear()
    held_out(name, lambda X, y: linear(fit(X, y)), [0.35, 0.4])
    abc()
