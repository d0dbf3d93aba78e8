"""How to combine the word model's probability with the encoder's, judged on held-out sources.

Reads the encoder folds' saved scores (`eval/folds/deployments.json`, or another folds file
given as the first argument) and pools them with the word model fit once per held-out source
(`bot.encoder.bars.pool`, as `--bars-only` does); train + validation only (the frozen test
split is not read).
For each way of combining the two, prints per kind of item (with text, headline only):
- pooled: the best F1 over the bar grid on all held-out rows pooled (how the bars are chosen);
- bar held out: each source's F1 at the bar chosen on the other sources' rows, pooled. This
  is what tomorrow's outlets get: bars chosen on the sources we have, applied to one we do not.
Run from the repository root: `python eval/experiments/encoder/combine.py [folds.json]`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.encoder.bars import GRID, Pooled, items_of, pool  # noqa: E402
from bot.relevance.model import combined  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402


def held_out_rows(folds: Path) -> list[Pooled]:
    """Both probabilities of every item and kind, each from models that did not see its
    source (`bot.encoder.bars.pool`, as the trainer pools them): a vetoed item or a positive
    the query missed scores 0 on both."""
    scores = json.loads(folds.read_text(encoding="utf-8"))["scores"]
    items = items_of(CORPUS, {"train", "validation"})
    return pool(items, scores, "troop-deployments", "deploy")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


RULES: dict[str, Callable[[float, float], float]] = {
    "mean (shipped until stop 25)": lambda w, e: (w + e) / 2,
    "geometric mean (shipped)": combined,
    "mean of logits": lambda w, e: _sigmoid((_logit(w) + _logit(e)) / 2),
    "harmonic mean": lambda w, e: 2 * w * e / (w + e) if w + e else 0.0,
    "the lower of the two": min,
    "word model alone": lambda w, e: w,
}


def f1(
    rows: list[Pooled], rule: Callable[[float, float], float], bar: float
) -> tuple[int, int, int]:
    tp = predicted = actual = 0
    for r in rows:
        hit = rule(r.words, r.encoder) >= bar
        actual += r.positive
        predicted += hit
        tp += hit and r.positive
    return tp, predicted, actual


def _f(counts: tuple[int, int, int]) -> float:
    tp, predicted, actual = counts
    p = tp / predicted if predicted else 0.0
    r = tp / actual if actual else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def best_bar(rows: list[Pooled], rule: Callable[[float, float], float]) -> float:
    return max(GRID, key=lambda b: _f(f1(rows, rule, b)))


def main() -> None:
    folds = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS.parent / "folds/deployments.json"
    rows = held_out_rows(folds)
    print(f"{folds}: {len(rows)} held-out rows")
    print(
        "| combination | with text: pooled (bar) | bar held out | headlines: pooled (bar) "
        "| bar held out |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, rule in RULES.items():
        cells = []
        for title_only in (False, True):
            kind = [r for r in rows if r.title_only is title_only]
            bar = best_bar(kind, rule)
            cells.append(f"{_f(f1(kind, rule, bar)):.3f} ({bar:.2f})")
            tp = predicted = actual = 0
            for group in sorted({r.group for r in kind}):
                others = [r for r in kind if r.group != group]
                mine = [r for r in kind if r.group == group]
                a, b, c = f1(mine, rule, best_bar(others, rule))
                tp, predicted, actual = tp + a, predicted + b, actual + c
            cells.append(f"{_f((tp, predicted, actual)):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
