"""Held-out F1 of a folds file on some of its sources: did new training data help the old ones?

Folding a new source into the corpus adds a fold and changes what every other fold learned
from, so the pooled figure of the new run is not comparable with the old one. This pools the
new run's held-out rows (`bot.encoder.bars.pool`: the word model fit without each source)
over the sources named, picks that pool's bar as the command does (`plateau_bar`), and
prints precision, recall and F1 with text and headline only; with no sources named, all of
them. Train + validation only; the frozen test split is not read. Run from the repository
root, against the corpus the folds ran on:
`python eval/experiments/encoder/sources.py eval/folds/deployments.json abc2003 reuters1987 ...`
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.encoder.bars import items_of, plateau_bar, pool, prf  # noqa: E402
from bot.encoder.train import load_folds  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402

TOPIC, POSITIVE = "troop-deployments", "deploy"
SPLITS = {"train", "validation"}


def main() -> int:
    folds, wanted = Path(sys.argv[1]), set(sys.argv[2:])
    held_out = load_folds(folds, CORPUS, TOPIC, SPLITS)
    pooled = pool(items_of(CORPUS, SPLITS), held_out, TOPIC, POSITIVE)
    unknown = wanted - {r.group for r in pooled}
    if unknown:
        raise SystemExit(f"no held-out rows of {', '.join(sorted(unknown))} in {folds}")
    rows = [r for r in pooled if not wanted or r.group in wanted]
    print(f"sources: {', '.join(sorted({r.group for r in rows}))}")
    report(rows)
    return 0


def report(rows: list) -> None:
    """Pooled P / R / F1 with text and headline only, each at its own plateau bar."""
    for kind, title_only in (("with text", False), ("headline only", True)):
        mine = [r for r in rows if r.title_only is title_only]
        bar = plateau_bar(mine)
        p, r_, f1 = prf(mine, bar)
        print(f"{kind}: {len(mine)} rows, bar {bar:.2f}: P {p:.3f} R {r_:.3f} F1 {f1:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
