"""One of `bot.stories`' constants set otherwise, on held-out sources (stop 35).

`PYTHONPATH=. python eval/experiments/grouping/knob.py CHAIN_MEMBERS 16` (from the root):
leave-one-source-out as `cv.py`, the join model's examples and the replays both drawn with
the constant so set (one process per setting: `common.folds` is computed once).
"""

import sys
sys.path.insert(0, "eval/experiments/grouping")
from bot.stories import index, postings, scoring, words
name, value = sys.argv[1], float(sys.argv[2])
found = [m for m in (words, scoring, postings, index) if hasattr(m, name)]
if not found:
    raise SystemExit(f"bot.stories has no {name}")
for module in found:  # set wherever the package's code reads it
    setattr(module, name, type(getattr(module, name))(value))
from common import fit, held_out, linear
held_out(f"{name}={value}", lambda X, y: linear(fit(X, y)), [0.35])
