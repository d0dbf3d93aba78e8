"""The chain guard (`bot.stories.index.CHAIN_GUARD`) on sources the join model did not learn from.

Leave-one-source-out as `cv.py` (train + validation, ABC 2003 left out of the fit): the join
model refit without the held-out source, the source replayed with the shipped bar (0.35), and
the guard off (0) and at several heights (shipped: 0.11, the best mean pairwise F1 here). Run: `PYTHONPATH=. python
eval/experiments/grouping/guard.py` (from the repository root).
"""

from common import fit, held_out, linear

from bot import stories

for guard in (0.0, 0.05, 0.08, 0.09, 0.1, 0.11, 0.12, 0.15, 0.2):
    stories.index.CHAIN_GUARD = guard  # set where `StoryIndex.choose` reads it
    held_out(f"guard {guard}", lambda X, y: linear(fit(X, y)), [0.35])
