"""What the staged files do to the word model alone, the encoder's saved folds held fixed.

`sources.py` pools a folds file's held-out rows with the word model refit without each
source. Here the word model also learns from staged files (`eval/staged/*.jsonl`, train and
validation items), while the encoder's opinions stay those of the shipped folds
(`eval/folds/deployments.json`, which never saw the staged files): the pooled held-out F1 of
the seven sources then moves only by what the word model learned. Rows without a saved
opinion (the staged items themselves) are not scored. Stop 37.
`python eval/experiments/encoder/staged_words.py [staged file ...]` from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sources import report  # noqa: E402

from bot.encoder.bars import items_of, pool  # noqa: E402
from bot.encoder.train import load_folds  # noqa: E402
from bot.labelled import load_labelled  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402

TOPIC, POSITIVE = "troop-deployments", "deploy"
SPLITS = {"train", "validation"}
FOLDS = CORPUS.parent / "folds" / "deployments.json"


def main() -> int:
    held_out = load_folds(FOLDS, CORPUS, TOPIC, SPLITS)
    items = items_of(CORPUS, SPLITS)
    for path in sys.argv[1:]:
        items += [i for i in load_labelled(Path(path)) if i.split in SPLITS]
    print(f"staged: {', '.join(sys.argv[1:]) or 'none'}; {len(items)} items")
    report(pool(items, held_out, TOPIC, POSITIVE, scored_only=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
