"""Leave-one-source-out: when an item clears the join bar for two or more open stories, merge
those stories (the item joins the best; the others become part of it).

Train + validation only; merged and story pairs summed over the held-out folds. The merge is
simulated in `common.replay` (`merge_bar`).
"""

from common import fit, held_out, linear

JOIN_BAR = 0.35  # the shipped bar
MERGE_BARS = [None, 0.35, 0.45, 0.55, 0.65]  # None: no merging (the shipped behaviour)

for m in MERGE_BARS:
    held_out(f"merge bar {m}, join bar", lambda X, y: linear(fit(X, y)), [JOIN_BAR], merge_bar=m)
