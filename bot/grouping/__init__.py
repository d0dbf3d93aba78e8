"""Does a new item join a candidate story? A small learned model over similarity features.

The story index (`bot.stories`) finds candidate stories and measures how the item resembles
each (`JOIN_FEATURES` names the measures); this module turns those measures into the
probability that the item reports the same story, with weights trained on the labelled
corpus (`python -m bot.grouping.train`) and shipped as JSON. A fixed cosine threshold could
not serve both a headline-only feed (few words to share) and a wire story with a lead; the
model weighs title overlap, rare shared words, entities, numbers and time for each case.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

HERE = Path(__file__).parent

JOIN_FEATURES = (
    "best member cosine",
    "story score (best and mean of the best few)",
    "title overlap with the best member",
    "cosine with the candidate members together",
    "entities shared with the story",
    "hours to the nearest member (log)",
    "story size (log)",
    "numbers shared with the story",
    "the item has a title only",
    "best member cosine squared",
    "together cosine squared",
    "title overlap, title-only item",
    "rarest shared title word",
    "entities on both sides, none shared",
    "title words shared beyond generic ones (troop, deploy...)",
)


@functools.lru_cache(maxsize=1)
def join_model(path: Path | None = None) -> tuple[tuple[float, ...], float]:
    """(bias and weights, threshold) of the shipped model."""
    data = json.loads((path or HERE / "join.json").read_text(encoding="utf-8"))
    weights = tuple(float(w) for w in data["weights"])
    if len(weights) != len(JOIN_FEATURES) + 1:
        raise ValueError(f"join model: {len(weights)} weights for {len(JOIN_FEATURES)} features")
    return weights, float(data["threshold"])


def join_probability(features: list[float], weights: tuple[float, ...]) -> float:
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
