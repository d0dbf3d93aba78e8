"""The arithmetic the story index scores with: cosines of weighted term vectors, a story's
score from its members' similarities, and partial scores summed over postings.

Deliberately not here: the weights themselves (the index weighs terms by its own document
frequencies, bot.stories.index) or any state: these are pure functions.
"""

from __future__ import annotations

import math
from array import array
from itertools import repeat
from operator import add

MEAN_OF = 4  # a story's score averages this many of its best members


def _accumulate(scores: dict[int, float], keys: array, weight: float) -> None:
    """`scores[key] += weight` for each key, looped in C (a postings array lists a key once)."""
    added = map(add, map(scores.get, keys, repeat(0.0)), repeat(weight))
    scores.update(zip(keys, added, strict=True))


def _story_score(sims: list[float], size: int) -> float:
    """Half the best member's similarity, half the mean of the best few (missing ones count 0).

    One look-alike is then not enough to join a story several outlets already told alike, and
    a big story stays joinable: only its MEAN_OF best members count.
    """
    k = min(size, MEAN_OF)
    top = sorted(sims, reverse=True)[:k]  # heapq.nlargest is slower on a few values
    return (top[0] + sum(top) / k) / 2


def _norm(vector: dict[int | str, float]) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


def _cosine_of(
    query: dict[int | str, float], qnorm: float, vector: dict[int | str, float]
) -> float:
    """Cosine of two weighted term vectors; `qnorm` may count query terms `vector` cannot
    hold (terms the index has never seen, keyed by their text)."""
    norm = _norm(vector)
    dot = sum(w * vector.get(t, 0.0) for t, w in query.items() if isinstance(t, int))
    return dot / (qnorm * norm) if qnorm and norm else 0.0
