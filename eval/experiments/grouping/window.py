"""The story window (stop 35): `python eval/experiments/grouping/window.py HOURS`.

Leave-one-source-out as `cv.py`, with the join model's examples and the replays both drawn
with a window of HOURS (one run per window: `common.folds` is computed once per process).
"""

import sys
from datetime import timedelta

from common import fit, held_out, linear

from bot.grouping import train as T

T.WINDOW = timedelta(hours=float(sys.argv[1]))
held_out(f"window {sys.argv[1]} h", lambda X, y: linear(fit(X, y)), [0.35])
