import pickle, sys
from pathlib import Path
from bot.labelled import load_labelled
from bot.gazetteer import Gazetteer
from bot.relevance import train as T
items = [i for f in sorted(T.CORPUS.glob("*.jsonl")) for i in load_labelled(f)]
items = [i for i in items if i.split != "test"]
gz = Gazetteer.load()
# rebuild rows with ids
rows, keys = [], []
for item in items:
    if item.ambiguous or item.label is None: continue
    r = T.examples([item], "troop-deployments", "deploy", gz)
    for x in r:
        rows.append(x); keys.append((item.id, x.title_only))
def prf(ps, ys, t):
    tp = sum(p >= t and y for p, y in zip(ps, ys)); pr = sum(p >= t for p in ps); ac = sum(ys)
    P = tp / pr if pr else 0; R = tp / ac if ac else 0
    return round(P, 3), round(R, 3), round(2 * P * R / (P + R), 3) if P + R else 0
for group in sys.argv[1:]:
    ft = {(i, t): p for p, i, t, y, g in pickle.load(open(f"/tmp/enc/lora-{group}.pkl", "rb"))}
    w, idx = T._fit([r for r in rows if r.group != group])
    sel = [k for k, r in enumerate(rows) if r.group == group]
    sc = T._scored(w, idx, [rows[k] for k in sel])
    for kind, bar in ((False, 0.40), (True, 0.55)):
        o = [(pl, ft.get(keys[k], 0.0) if not e.vetoed else 0.0, e.positive) for (pl, e, to), k in zip(sc, sel) if to is kind]
        ys = [y for _, _, y in o]
        print(group, "head" if kind else "text", "pos", sum(ys), "linear@bar", prf([a for a, _, _ in o], ys, bar),
              "ft@0.5", prf([b for _, b, _ in o], ys, 0.5),
              "mean", {t: prf([(a + b) / 2 for a, b, _ in o], ys, t) for t in (0.4, 0.5, 0.6, 0.7)})
