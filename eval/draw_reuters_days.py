"""Draw the Reuters 2007-2016 items staged for the corpus (`staged/reuters2007-16.jsonl`,
moved into `corpus/` once the models are retrained on it) from the Reuters headline archive,
and split them once labelled.

The archive and how it is read: `heldout/draw_reuters.py` (the same commit, and the same
unpickler that refuses every class). Sixteen single days: the day with the most armed-force
words near verbs of sending in its month, for sixteen months spread over 2007-2015, none
within a week of a window of the held-out file. Every headline with a military word, and 25
others drawn at random per day (seed 20162); titles repeated within a day are kept once, and
items without a time left out (they cannot be replayed in order). Labelled by reading every
item (`LABELLING.md`), six labellers, a few days each.

    python eval/draw_reuters_days.py draw <extracted data folder>   # day_<YYYYMMDD>.jsonl here
    python eval/draw_reuters_days.py split <labelled.jsonl> > eval/staged/reuters2007-16.jsonl

`split` follows `extra.jsonl`'s rule (`README.md`, step 4): an item near a test-split
deployment (4 days apart at most) would be left out, and the rest go to train and
validation, 75/25 by thread (`sha256("wirewatch-split-v1:" + thread)`), so the frozen test
split stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "heldout"))

from draw_reuters import day_items, drawn, write  # noqa: E402

DAYS = [
    "20071127", "20080429", "20080923", "20090217", "20090420", "20100301", "20101108",
    "20110322", "20111011", "20120522", "20130226", "20131119", "20140624", "20141114",
    "20150422", "20151028",
]  # fmt: skip
OTHERS = 25
FIELDS = (
    "id", "source", "published", "outlet", "title", "description", "label", "ambiguous",
    "story", "thread", "split", "source_ref",
)  # fmt: skip
TEST = Path(__file__).resolve().parent / "corpus" / "test.jsonl"


def draw(folder: Path) -> None:
    rng = random.Random(20162)
    for day in DAYS:
        write(f"day_{day}.jsonl", drawn(day_items(folder, day), rng, OTHERS))


def when(row: dict) -> datetime:
    return datetime.fromisoformat(row["published"].replace("Z", "+00:00"))


def split(labelled: Path) -> None:
    tests = [json.loads(line) for line in TEST.open(encoding="utf-8")]
    near = [t for t in tests if t["label"] == "deploy" and t.get("published")]
    for line in labelled.open(encoding="utf-8"):
        row = json.loads(line)
        if any(abs(when(row) - when(t)) <= timedelta(days=4) for t in near):
            print(f"left out, near a test deployment: {row['id']}", file=sys.stderr)
            continue
        digest = hashlib.sha256(f"wirewatch-split-v1:{row['thread']}".encode()).hexdigest()
        row["split"] = "train" if int(digest[:8], 16) / 2**32 < 0.75 else "validation"
        print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))


if __name__ == "__main__":
    {"draw": draw, "split": split}[sys.argv[1]](Path(sys.argv[2]))
