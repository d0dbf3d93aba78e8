"""Should the encoder read an item's summary too? Held-out F1 of its ways of reading.

The bot's encoder reads the headline alone (cost). This scores rows with a summary, held
out by source, with the encoder's opinion of the headline (shipped), of title and summary,
and the max, mean and geometric mean of the two, each at its own pooled bar (`plateau_bar`).

Input: a folds file whose scores also hold `<item id>#text`, the fold encoder's probability
of the item's title and summary (`bot.encoder.encoder_text`). The shipped command does not
write those: stop 34 ran the folds of the five sources with summaries in a scratch clone
whose `bot.encoder.train.fold` also scored `encoder_text(title, description)` of each
held-out item with a description (its headline scores matched the shipped folds' exactly).
Train + validation only. Run from the repository root:
`python eval/experiments/encoder/reads.py folds-with-text.json`
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.encoder.bars import Pooled, items_of, plateau_bar, pool, prf  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402

TOPIC, POSITIVE = "troop-deployments", "deploy"
Row = tuple[str, float, float, float, bool]  # source, words, headline, title+summary, truth


def rows(folds: dict[str, dict[str, float]]) -> list[Row]:
    """Every held-out row with a summary (`bot.encoder.bars.pool`, pooled twice: with the
    headline scores, and with each item's title-and-summary score in their place)."""
    items = items_of(CORPUS, {"train", "validation"})
    texts = {
        g: {k.removesuffix("#text"): v for k, v in scores.items() if k.endswith("#text")}
        for g, scores in folds.items()
    }
    read = {g: {**folds[g], **texts[g]} for g in folds}
    heads, whole = (pool(items, f, TOPIC, POSITIVE) for f in (folds, read))
    return [
        (h.group, h.words, h.encoder, t.encoder, h.positive)
        for h, t in zip(heads, whole, strict=True)
        if not h.title_only
    ]


WAYS: dict[str, Callable[[float, float], float]] = {
    "headline (shipped)": lambda h, t: h,
    "title and summary": lambda h, t: t,
    "max of the two": max,
    "mean of the two": lambda h, t: (h + t) / 2,
    "geometric mean of the two": lambda h, t: math.sqrt(h * t),
}


def main() -> int:
    folds = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))["scores"]
    held = rows(folds)
    groups = sorted({r[0] for r in held})
    print(f"{len(held)} rows with a summary, {sum(r[4] for r in held)} positive: {groups}")
    for name, way in WAYS.items():
        pooled = [Pooled(g, w, way(h, t), y, False) for g, w, h, t, y in held]
        bar = plateau_bar(pooled)
        p, r, f1 = prf(pooled, bar)
        each = " ".join(
            f"{g} {prf([x for x in pooled if x.group == g], bar)[2]:.3f}" for g in groups
        )
        print(f"{name:26} bar {bar:.2f}: P {p:.3f} R {r:.3f} F1 {f1:.3f} | {each}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
