"""Retrain a relevance model from the labelled corpus: `python -m bot.relevance.train`.

Deterministic: the same corpus and code give the same weights, byte for byte (full-batch
training, no random order, features sorted). Steps:
1. items of the `train` and `validation` splits that pass the topic's query (the model only
   ever sees those at run time) become feature sets (`features.featurize`), each twice: as
   written and headline only;
2. for each regularisation strength, fit on `train`, score `validation`; keep the strength and
   the threshold with the best validation F1 (ambiguous items are left out everywhere);
3. fit again on train + validation with that strength, and write the weights, the thresholds
   and the scores of every split (the frozen `test` split is scored, never tuned on).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.labelled import LabelledItem, load_labelled
from bot.relevance.features import featurize
from bot.relevance.model import HERE
from bot.topics.entities import Gazetteer
from bot.topics.match import Matcher, load_topics, prepare

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "eval" / "corpus"
STRENGTHS = (0.3, 1.0, 3.0, 10.0)  # L2 penalty, per 1,000 items
EPOCHS = 300
MIN_COUNT = 2  # a feature seen once in training is noise
RELAXED_RATIO = 0.5  # an update needs half the odds a new alert needs
# A refusal or negation just before a verb of sending or the forces, or just after the forces,
# in the title ("rules out sending troops", "no soldiers will be sent", "sending troops is
# unlikely"): 131 of 134 such training and validation items were not deployments, so the cue
# vetoes whatever the score says.
VETOES = ("t<NEG<SEND", "t<NEG<UNIT", "t>UNIT>NEG")


@dataclass(frozen=True)
class Example:
    feats: tuple[int, ...]
    positive: bool
    split: str
    vetoed: bool = False


def examples(
    items: Iterable[LabelledItem], topic: str, positive: str, gazetteer: Gazetteer
) -> list[tuple[set[str], bool, str]]:
    """(features, label, split) of the items the topic's query lets through."""
    gate = Matcher([t for t in load_topics() if t.name == topic], gazetteer, relevance=False)
    out = []
    for item in items:
        if item.ambiguous or item.label is None:
            continue
        # Every item twice, as written and as a headline-only feed would carry it: the model
        # must hold on both, and headlines alone are what many feeds give.
        for text in dict.fromkeys((item.description, "")):
            prepared = prepare(item.title, text, gazetteer)
            if gate.match_prepared(prepared):
                feats = featurize(prepared, gazetteer.kind)
                out.append((feats, item.label == positive, item.split or "train"))
    return out


def fit(data: Sequence[Example], n_feats: int, strength: float) -> list[float]:
    """L2-regularised logistic regression by full-batch AdaGrad; positives weigh more."""
    pos = sum(e.positive for e in data)
    weight_pos = math.sqrt((len(data) - pos) / pos) if pos else 1.0
    lam = strength / 1000.0
    w, g2 = [0.0] * n_feats, [1e-8] * n_feats
    for _ in range(EPOCHS):
        grad = [0.0] * n_feats
        for e in data:
            z = sum(w[i] for i in e.feats)
            p = 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0
            g = (p - e.positive) * (weight_pos if e.positive else 1.0)
            for i in e.feats:
                grad[i] += g
        for i in range(1, n_feats):  # feature 0 is the bias: not penalised
            grad[i] += lam * len(data) * w[i]
        for i in range(n_feats):
            g2[i] += grad[i] * grad[i]
            w[i] -= 0.5 * grad[i] / math.sqrt(g2[i])
    return w


def scores(w: list[float], data: Sequence[Example]) -> list[float]:
    """Probabilities as the model will give them; a vetoed item never clears a bar."""
    return [
        0.0 if e.vetoed else 1.0 / (1.0 + math.exp(-max(-30.0, sum(w[i] for i in e.feats))))
        for e in data
    ]


def prf(probs: Sequence[float], data: Sequence[Example], threshold: float) -> tuple[float, ...]:
    tp = sum(p >= threshold and e.positive for p, e in zip(probs, data, strict=True))
    predicted = sum(p >= threshold for p in probs)
    actual = sum(e.positive for e in data)
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(probs: Sequence[float], data: Sequence[Example]) -> tuple[float, float]:
    """The threshold (on a 0.05 grid) with the best F1, and that F1."""
    grid = [round(0.05 * k, 2) for k in range(2, 19)]
    best = max(grid, key=lambda t: (prf(probs, data, t)[2], -abs(t - 0.5)))
    return best, prf(probs, data, best)[2]


def train(corpus: Path, topic: str, positive: str, out: Path) -> dict:
    gazetteer = Gazetteer.load()
    items = [i for f in sorted(corpus.glob("*.jsonl")) for i in load_labelled(f)]
    rows = examples(items, topic, positive, gazetteer)
    counts = Counter(f for feats, _, split in rows if split == "train" for f in feats)
    vocab = ["bias", *sorted(f for f, n in counts.items() if n >= MIN_COUNT and f != "bias")]
    index = {f: i for i, f in enumerate(vocab)}
    data = [
        Example(tuple(index[f] for f in sorted(fs) if f in index), y, s, bool(fs & set(VETOES)))
        for fs, y, s in rows
    ]
    split = {name: [e for e in data if e.split == name] for name in ("train", "validation", "test")}
    tried = []
    for strength in STRENGTHS:
        w = fit(split["train"], len(vocab), strength)
        threshold, f1 = best_threshold(scores(w, split["validation"]), split["validation"])
        tried.append((f1, -strength, strength, threshold, w))
        print(f"strength {strength}: validation F1 {f1:.3f} at {threshold}", file=sys.stderr)
    _, _, strength, threshold, w_train = max(tried, key=lambda t: t[:2])
    w = fit(split["train"] + split["validation"], len(vocab), strength)
    names = ("precision", "recall", "f1")
    report = {
        name: dict(zip(names, prf(scores(m, rows_), rows_, threshold), strict=True))
        for name, m, rows_ in (
            ("train", w_train, split["train"]),
            ("validation", w_train, split["validation"]),
            ("test", w, split["test"]),
        )
    }
    model = {
        "threshold": threshold,
        "relaxed": _relaxed(threshold),
        "vetoes": list(VETOES),
        "weights": {f: round(x, 4) for f, x in zip(vocab, w, strict=True) if abs(x) >= 1e-3},
        "meta": {
            "topic": topic,
            "strength": strength,
            "items": {k: len(v) for k, v in split.items()},
            "positives": {k: sum(e.positive for e in v) for k, v in split.items()},
            "scores": {k: {m: round(x, 3) for m, x in v.items()} for k, v in report.items()},
            "corpus_sha256": corpus_digest(corpus),
        },
    }
    out.write_text(json.dumps(model, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    return model


def _relaxed(threshold: float) -> float:
    odds = threshold / (1 - threshold) * RELAXED_RATIO
    return round(odds / (1 + odds), 3)


def corpus_digest(corpus: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(corpus.glob("*.jsonl")):
        h.update(f.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.relevance.train", description=__doc__)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of labelled *.jsonl")
    ap.add_argument("--topic", default="troop-deployments")
    ap.add_argument("--positive", default="deploy")
    ap.add_argument("--out", type=Path, default=HERE / "deployments.json")
    args = ap.parse_args(argv)
    model = train(args.corpus, args.topic, args.positive, args.out)
    print(json.dumps(model["meta"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
