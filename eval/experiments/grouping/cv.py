"""Leave-one-source-out: the linear join model against gradient-boosted trees (scikit-learn).

Train + validation only; merged and story pairs are summed over the held-out folds.
"""

import math

import numpy as np
from common import fit, held_out, linear
from sklearn.ensemble import HistGradientBoostingClassifier

TH = [0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]


def trees(depth, rounds):
    def make(X, y):
        pos = y.mean()
        m = HistGradientBoostingClassifier(
            max_depth=depth,
            max_iter=rounds,
            learning_rate=0.1,
            random_state=0,
            l2_regularization=1.0,
            min_samples_leaf=40,
        )
        m.fit(X, y, sample_weight=np.where(y == 1, math.sqrt((1 - pos) / pos), 1.0))
        return lambda A: m.predict_proba(A)[:, 1]

    return make


MODELS = {
    "linear": lambda X, y: linear(fit(X, y)),
    "trees depth 3, 100 rounds": trees(3, 100),
    "trees depth 2, 200 rounds": trees(2, 200),
    "trees depth 2, 100 rounds": trees(2, 100),
}

for name, make in MODELS.items():
    held_out(name, make, TH)
