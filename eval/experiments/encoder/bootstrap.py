"""Is one encoder run better than another, or is the difference noise? A paired bootstrap.

Two folds files (`python -m bot.encoder.train` keeps one in `eval/folds/`), say the shipped
run and a variant's. Both are pooled with the same word model (`bot.encoder.bars.pool`, one
word model per held-out source; train + validation only, the frozen test split is not read),
each run at its own best pooled bar (`bot.encoder.bars.choose`'s rule), and the difference
in F1 is recomputed on 2,000 resamples of the threads (a thread's items are drawn together:
one story's reports are not independent). Printed per kind of item: both F1s, how often the
variant comes out ahead, and the 90 % interval of the difference.

Why: two encoder runs that differ only by 2 % of their training rows read about 0.02 apart
(README, "a wider query"), so a single pooled figure cannot tell a better variant from luck.
Run from the repository root:
`python eval/experiments/encoder/bootstrap.py eval/folds/deployments.json other-folds.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.encoder.bars import GRID, Pooled, items_of, pool, prf  # noqa: E402
from bot.labelled import LabelledItem  # noqa: E402
from bot.relevance import train as words  # noqa: E402
from bot.relevance.model import combined  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402
from bot.gazetteer import Gazetteer  # noqa: E402

TOPIC, POSITIVE = "troop-deployments", "deploy"
DRAWS = 2000


def threads_of_rows(items: list[LabelledItem], groups: list[str]) -> list[str]:
    """The thread of each row `pool` returns, in its order (source by source, then file
    order; one row per form of an item the query lets through)."""
    gazetteer = Gazetteer.load()
    per_item = [
        (words.examples([i], TOPIC, POSITIVE, gazetteer), i.thread or i.story or i.id)
        for i in items
    ]
    return [
        thread
        for group in groups
        for examples, thread in per_item
        for row in examples
        if row.group == group
    ]


def counts(rows: list[Pooled], bar: float, threads: list[str], index: dict[str, int]) -> np.ndarray:
    """Per thread: true positives, items flagged, positives (an array of threads x 3)."""
    out = np.zeros((len(index), 3))
    for r, t in zip(rows, threads, strict=True):
        hit = combined(r.words, r.encoder) >= bar
        out[index[t]] += (hit and r.positive, hit, r.positive)
    return out


def f1(c: np.ndarray) -> np.ndarray:
    tp, flagged, actual = c[..., 0], c[..., 1], c[..., 2]
    return 2 * tp / np.maximum(flagged + actual, 1)


def main() -> None:
    first, second = (Path(a) for a in sys.argv[1:3])
    items = items_of(CORPUS, {"train", "validation"})
    folds = [json.loads(path.read_text(encoding="utf-8"))["scores"] for path in (first, second)]
    groups = list(folds[0])
    if list(folds[1]) != groups:  # rows are paired by position: same sources, same order
        raise SystemExit(f"{first} and {second} hold different sources: {groups}, {list(folds[1])}")
    runs = [pool(items, scores, TOPIC, POSITIVE) for scores in folds]
    threads = threads_of_rows(items, groups)
    if len(threads) != len(runs[0]):  # `pool` no longer gives the rows we walk
        raise SystemExit("threads_of_rows no longer follows bot.encoder.bars.pool's order")
    rng = np.random.default_rng(20261204)
    for title_only in (False, True):
        keep = [k for k, r in enumerate(runs[0]) if r.title_only is title_only]
        kind_threads = [threads[k] for k in keep]
        index = {t: n for n, t in enumerate(dict.fromkeys(kind_threads))}
        per_run = []
        for rows in runs:
            kind = [rows[k] for k in keep]
            bar = max(GRID, key=lambda b: prf(kind, b)[2])
            per_run.append((bar, counts(kind, bar, kind_threads, index)))
        draws = rng.multinomial(len(index), np.full(len(index), 1 / len(index)), size=DRAWS)
        a, b = (f1(draws @ c) for _, c in per_run)
        diff = b - a
        low, high = np.quantile(diff, [0.05, 0.95])
        print(
            f"{'headline only' if title_only else 'with text'}: "
            f"{first.name} {f1(per_run[0][1].sum(0)):.3f} (bar {per_run[0][0]:.2f}), "
            f"{second.name} {f1(per_run[1][1].sum(0)):.3f} (bar {per_run[1][0]:.2f}); "
            f"second ahead in {100 * np.mean(diff > 0):.0f} % of draws, "
            f"difference 90 % interval {low:+.3f} to {high:+.3f}"
        )


if __name__ == "__main__":
    main()
