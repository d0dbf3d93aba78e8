"""Would the join model learn from RSS 2024's staged days (`eval/staged/rss2024.jsonl`: 680
items of thirteen outlets, 54 stories told by more than one)? As `extra.py`: each source of
train + validation held out in turn, the model fit on the other sources' items, or on those
plus the staged file's. Rule fixed before the run (`extra.py`'s): adopt if mean pooled F1
rises by 0.01 or more and neither column falls by more than 0.005, at its best bar.
Run: `PYTHONPATH=. python eval/experiments/grouping/staged2024.py` (from the repository root).
"""

from common import fit, held_out, linear

from bot.grouping import train as T
from bot.labelled import load_labelled
from bot.gazetteer import Gazetteer

BARS = [0.3, 0.35, 0.4, 0.45]

gaz = Gazetteer.load()
staged = load_labelled(T.CORPUS.parent / "staged" / "rss2024.jsonl")
rows = [r for t in (False, True) for r in T.examples(staged, T.docs_of(staged, gaz, t))]
more = {"rss2024": rows}
print({s: len(r) for s, r in more.items()}, flush=True)


def logistic(X, y):
    return linear(fit(X, y))


held_out("shipped (train + validation)", logistic, [0.35])
held_out("+ RSS 2024 staged", logistic, BARS, more=more)
