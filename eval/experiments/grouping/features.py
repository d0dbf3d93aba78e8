"""Two more join features, each source held out in turn (train + validation only).

Needs a checkout whose `StoryIndex._join_features` appends, after the shipped 15, the share
of the item's entities found in the story and the share of its title words found in the
story (the patch is described in README.md). The fit is `bot.grouping.train.fit` in numpy:
the same AdaGrad steps, checked to give the same held-out figures for the 15 features.
"""

from common import fit, held_out, linear

TH = [0.3, 0.35, 0.4, 0.45]
SETS = {
    "the shipped 15": list(range(15)),
    "+ entity share": list(range(16)),
    "+ title-word coverage": [*range(15), 16],
    "+ both": list(range(17)),
}
for name, cols in SETS.items():
    held_out(name, lambda X, y, cols=cols: linear(fit(X, y), cols), TH, cols)
