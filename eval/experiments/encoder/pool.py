"""Pooled held-out-source figures: linear vs mean(linear, encoder), bars chosen on the pool.

READS=headline: the encoder's opinion of an item with text is its opinion of the headline alone
(what the bot ships since stop 21: the 5 ms budget); READS=text: of title + summary."""
import pickle, sys, os
from bot.labelled import load_labelled
from bot.gazetteer import Gazetteer
from bot.relevance import train as T
PFX = os.environ.get("PFX", "lora")
HEADLINE = os.environ.get("READS", "headline") == "headline"
items = [i for f in sorted(T.CORPUS.glob("*.jsonl")) for i in load_labelled(f)]
items = [i for i in items if i.split != "test"]
gz = Gazetteer.load()
rows, keys = [], []
for item in items:
    if item.ambiguous or item.label is None: continue
    for x in T.examples([item], "troop-deployments", "deploy", gz):
        rows.append(x); keys.append((item.id, x.title_only))
def prf(ps, ys, t):
    tp = sum(p >= t and y for p, y in zip(ps, ys)); pr = sum(p >= t for p in ps); ac = sum(ys)
    P = tp / pr if pr else 0; R = tp / ac if ac else 0
    return round(P, 3), round(R, 3), round(2 * P * R / (P + R), 3) if P + R else 0
pool = {False: [], True: []}
for group in sys.argv[1:]:
    ft = {(i, t): p for p, i, t, y, g in pickle.load(open(f"/tmp/enc/{PFX}-{group}.pkl", "rb"))}
    w, idx = T._fit([r for r in rows if r.group != group])
    sel = [k for k, r in enumerate(rows) if r.group == group]
    sc = T._scored(w, idx, [rows[k] for k in sel])
    for (pl, e, to), k in zip(sc, sel):
        pool[to].append((group, pl, ft.get((keys[k][0], True) if HEADLINE else keys[k], 0.0) if not e.vetoed else 0.0, e.positive))
grid = [x / 100 for x in range(10, 91)]
for kind in (False, True):
    o = pool[kind]; ys = [y for *_, y in o]
    lin = [a for _, a, _, _ in o]; mean = [(a + b) / 2 for _, a, b, _ in o]
    bl = max(grid, key=lambda t: prf(lin, ys, t)[2]); bm = max(grid, key=lambda t: prf(mean, ys, t)[2])
    print("head" if kind else "text", "n", len(o), "pos", sum(ys))
    print("  linear best bar", bl, prf(lin, ys, bl), "at shipped", prf(lin, ys, 0.55 if kind else 0.40))
    print("  mean   best bar", bm, prf(mean, ys, bm), "at 0.5", prf(mean, ys, 0.5))
    for g in sys.argv[1:]:
        sub = [(a, b, y) for gg, a, b, y in o if gg == g]; yy = [y for *_, y in sub]
        print("   ", g, "linear", prf([a for a, _, _ in sub], yy, bl), "mean", prf([(a + b) / 2 for a, b, _ in sub], yy, bm))
import math
def lg(p): p = min(max(p, 1e-4), 1 - 1e-4); return math.log(p / (1 - p))
print("weights of the linear model in a logit mix / prob mix:")
for kind in (False, True):
    o = pool[kind]; ys = [y for *_, y in o]
    out = []
    for wl in (0.3, 0.4, 0.5, 0.6, 0.7):
        pm = [wl * a + (1 - wl) * b for _, a, b, _ in o]
        lm = [1 / (1 + math.exp(-(wl * lg(a) + (1 - wl) * lg(b)))) for _, a, b, _ in o]
        out.append((wl, max(prf(pm, ys, t)[2] for t in grid), max(prf(lm, ys, t)[2] for t in grid)))
    print("head" if kind else "text", out)
if os.environ.get("WRITE"):
    import json, hashlib
    bars = {}
    for kind in (False, True):
        o = pool[kind]; ys = [y for *_, y in o]; mean = [(a + b) / 2 for _, a, b, _ in o]
        bm = max(grid, key=lambda t: prf(mean, ys, t)[2])
        lin = [a for _, a, _, _ in o]
        bars[kind] = (bm, prf(mean, ys, bm), prf(lin, ys, 0.55 if kind else 0.40))
    out = {
        "head": "deployments",
        "threshold": bars[False][0], "relaxed": T._relaxed(bars[False][0]),
        "threshold_title_only": bars[True][0], "relaxed_title_only": T._relaxed(bars[True][0]),
        "meta": {
            "score": "mean of the word model's probability and the encoder's",
            "encoder_reads": "the headline (title) alone" if HEADLINE else "title and summary",
            "bars_from": "the best F1 of that mean on held-out-source scores: each source held out in turn, "
                         "both models fit on the others (eval/experiments/encoder/ft_lora.py, pool.py)",
            "held_out_sources": sys.argv[1:],
            "held_out_scores": {"text": {"with_encoder": bars[False][1], "word_model_alone": bars[False][2]},
                                "headline": {"with_encoder": bars[True][1], "word_model_alone": bars[True][2]}},
            "scores_are": "precision, recall, F1 of the gated candidates (positives the query missed not counted)",
            "corpus_sha256": T.corpus_digest(T.CORPUS),
            "base_weights_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
    }
    open(os.environ["WRITE"], "w").write(json.dumps(out, indent=1, sort_keys=True) + "\n")
