"""Which rule should pick a bar among equal F1s? Judged by sources no bar was chosen on.

`bot.encoder.bars.choose` kept the best pooled F1 of held-out-source scores, F1 rounded to
three places, and the lowest bar of equals. The F1 curve is flat near its top, so which of
the equals is kept decides by chance; a retrained word model once moved the bar from 0.30 to
0.25 on such a tie. Since stop 28 it keeps the best F1 averaged over the bars 0.05 either
side (`bot.encoder.bars.plateau_bar`), the rule this script chose.

Here each source is left out in turn: every rule picks a bar on the other sources' pooled
rows, the left-out source is counted at it, and the counts are summed over sources (a
nested hold-out: neither the models nor the bar saw the scored rows).
Train + validation only; the frozen test split is not read.

Run from the repository root: `python eval/experiments/encoder/tierule.py [folds.json]`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.encoder.bars import GRID, Pooled, items_of, plateau_bar, pool, prf  # noqa: E402
from bot.encoder.train import load_folds  # noqa: E402
from bot.relevance.model import combined  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402

TOPIC, POSITIVE = "troop-deployments", "deploy"
SPLITS = {"train", "validation"}
Rule = Callable[[list[Pooled]], float]


def curve(rows: list[Pooled]) -> list[float]:
    return [prf(rows, t)[2] for t in GRID]


def lowest(rows: list[Pooled]) -> float:
    f = curve(rows)
    return GRID[f.index(max(f))]


def highest(rows: list[Pooled]) -> float:
    f = curve(rows)
    return GRID[len(f) - 1 - f[::-1].index(max(f))]


def middle(rows: list[Pooled]) -> float:
    """The middle of the equal-best bars."""
    f = curve(rows)
    best = [t for t, x in zip(GRID, f, strict=True) if x == max(f)]
    return best[len(best) // 2]


def precise(rows: list[Pooled]) -> float:
    """The most precise of the equal-best bars (the highest, as precision rises with it)."""
    f = [prf(rows, t) for t in GRID]
    top = max(x[2] for x in f)
    return max((x[0], t) for t, x in zip(GRID, f, strict=True) if x[2] == top)[1]


def smoothed(half: int) -> Rule:
    """The best mean F1 over the bar and `half` grid steps either side (lowest of equals)."""
    return lambda rows: plateau_bar(rows, half)


RULES: dict[str, Rule] = {
    "lowest of equals (before)": lowest,
    "highest of equals": highest,
    "middle of equals": middle,
    "most precise of equals": precise,
    "smoothed, +-0.02": smoothed(2),
    "smoothed, +-0.03": smoothed(3),
    "smoothed, +-0.05 (shipped now)": smoothed(5),
    "smoothed, +-0.07": smoothed(7),
    "smoothed, +-0.10": smoothed(10),
}


def counts(rows: list[Pooled], bar: float) -> tuple[int, int, int]:
    hit = [combined(r.words, r.encoder) >= bar for r in rows]
    return (
        sum(h and r.positive for h, r in zip(hit, rows, strict=True)),
        sum(hit),
        sum(r.positive for r in rows),
    )


def main() -> int:
    folds = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS.parent / "folds" / "deployments.json"
    items = items_of(CORPUS, SPLITS)
    pooled = pool(items, load_folds(folds, CORPUS, TOPIC, SPLITS), TOPIC, POSITIVE)
    groups = sorted({r.group for r in pooled})
    for kind, title_only in (("with text", False), ("headline only", True)):
        rows = [r for r in pooled if r.title_only is title_only]
        print(f"{kind}: {len(rows)} rows")
        for name, rule in RULES.items():
            tp = flagged = positives = 0
            bars = []
            for g in groups:
                bar = rule([r for r in rows if r.group != g])
                bars.append(bar)
                a, b, c = counts([r for r in rows if r.group == g], bar)
                tp, flagged, positives = tp + a, flagged + b, positives + c
            p, r_ = tp / flagged, tp / positives
            f1 = 2 * p * r_ / (p + r_)
            print(
                f"  {name:28} nested P {p:.3f} R {r_:.3f} F1 {f1:.3f}   "
                f"bars {min(bars):.2f}-{max(bars):.2f}   on all: {rule(rows):.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
