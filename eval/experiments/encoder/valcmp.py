"""Validation: linear (fit on train) vs encoder (fit on train) vs combinations."""
import sys, pickle
from pathlib import Path
import numpy as np
from bot.labelled import load_labelled
from bot.gazetteer import Gazetteer
from bot.topics.load import load_topics
from bot.topics.match import Matcher, prepare
from bot.relevance import train as T
from bot.encoder.model import Encoder
from bot.encoder.train import encoder_text
head = Path(sys.argv[1]); split = sys.argv[2] if len(sys.argv) > 2 else "validation"
gz = Gazetteer.load()
items = [i for f in sorted(T.CORPUS.glob("*.jsonl")) for i in load_labelled(f)]
rows = T.examples(items, "troop-deployments", "deploy", gz)
# the same order as examples(): recompute texts
texts = []
gate = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz, relevance=False)
for item in items:
    if item.ambiguous or item.label is None: continue
    for text in dict.fromkeys((item.description, "")):
        p = prepare(item.title, text, gz)
        if gate.match_prepared(p) or item.label == "deploy":
            texts.append(encoder_text(item.title, text))
assert len(texts) == len(rows)
fit_on = [r for r in rows if r.split == "train"]
w, idx = T._fit(fit_on)
sel = [k for k, r in enumerate(rows) if r.split == split]
scored = T._scored(w, idx, [rows[k] for k in sel])
enc = Encoder(head=head)
es = enc.scores([texts[k] for k in sel])
out = []
for (pl, e, title_only), pe, k in zip(scored, es, sel):
    r = rows[k]
    pe = 0.0 if (not r.gated or e.vetoed) else pe
    out.append((pl, pe, e.positive, title_only, r.group))
pickle.dump(out, open(f"/tmp/enc/cmp-{split}.pkl", "wb"))
def prf(ps, ys, t):
    tp = sum(p >= t and y for p, y in zip(ps, ys)); pr = sum(p >= t for p in ps); ac = sum(ys)
    P = tp / pr if pr else 0; R = tp / ac if ac else 0
    return round(P, 3), round(R, 3), round(2 * P * R / (P + R), 3) if P + R else 0
for kind in (False, True):
    o = [x for x in out if x[3] is kind]; ys = [x[2] for x in o]
    print("headline" if kind else "text", "n", len(o), "pos", sum(ys))
    for name, f in (("linear", lambda a, b: a), ("encoder", lambda a, b: b), ("mean", lambda a, b: (a + b) / 2), ("geo", lambda a, b: (a * b) ** 0.5)):
        ps = [f(x[0], x[1]) for x in o]
        best = max((prf(ps, ys, t / 20)[2], t / 20) for t in range(2, 19))
        print(f"  {name:8s} @0.4 {prf(ps, ys, 0.4)} @0.5 {prf(ps, ys, 0.5)} best {best}")
