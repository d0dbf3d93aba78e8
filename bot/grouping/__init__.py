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
import struct
from dataclasses import dataclass
from operator import mul
from pathlib import Path
from typing import TypeGuard

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
# Appended when the item and the story's newest members have sentence vectors of their
# headlines: reports told in other words ("Pyongyang dispatches additional soldiers to help
# Moscow" / "North Korea has sent more troops to Russia") share meaning, not words. Stop 39:
# on sources the join model did not learn from, pairwise F1 0.857 / 0.772 -> 0.868 / 0.794
# (with text / headlines only; eval/experiments/grouping/README.md).
VECTOR_FEATURE = "best sentence-vector cosine with the story's newest members"
VECTOR_DIM = 384  # all-MiniLM-L6-v2's, mean-pooled, unit length (bot.encoder.sentence_vectors)
_VECTOR = struct.Struct(f"<{VECTOR_DIM}e")  # stored as float16: 768 bytes


@dataclass(frozen=True)
class JoinWeights:
    """Bias and weights of the two join models: over the lexical features, and over those
    and the sentence-vector cosine (None: not trained; items are then joined by words)."""

    words: tuple[float, ...]
    vectors: tuple[float, ...] | None = None


def vector_bytes_ok(vector: object) -> TypeGuard[bytes]:
    """Whether `vector` is a sentence vector as stored (anything else is read as none)."""
    return isinstance(vector, bytes) and len(vector) == _VECTOR.size


def cosines(mine: bytes, theirs: list[bytes]) -> list[float]:
    """Cosines of unit sentence vectors (`vector_bytes_ok` ones), within [-1, 1]; 0 for a
    pair that is not a number (a damaged stored vector must not make every story look
    alike: NaN would read as the model's certainty)."""
    a = _VECTOR.unpack(mine)
    out = []
    for b in theirs:
        c = sum(map(mul, a, _VECTOR.unpack(b)))
        out.append(max(-1.0, min(1.0, c)) if math.isfinite(c) else 0.0)
    return out


@functools.lru_cache(maxsize=1)
def join_model(path: Path | None = None) -> tuple[JoinWeights, float]:
    """(both models' bias and weights, threshold) of the shipped model."""
    data = json.loads((path or HERE / "join.json").read_text(encoding="utf-8"))
    words = tuple(float(w) for w in data["weights"])
    if len(words) != len(JOIN_FEATURES) + 1:
        raise ValueError(f"join model: {len(words)} weights for {len(JOIN_FEATURES)} features")
    vectors = data.get("vector_weights")
    if vectors is not None and len(vectors) != len(JOIN_FEATURES) + 2:
        raise ValueError(f"join model: {len(vectors)} vector weights for {len(JOIN_FEATURES)} + 1")
    return JoinWeights(words, tuple(float(w) for w in vectors) if vectors else None), float(
        data["threshold"]
    )


def could_reach(lexical: list[float], weights: JoinWeights, bar: float) -> bool:
    """Whether a candidate with these word features could reach `bar` by either model,
    whatever its sentence-vector cosine (at most 1, at least -1): when not, its members'
    vectors need not be read, and no decision changes."""
    if join_probability(lexical, weights) >= bar:
        return True
    if weights.vectors is None:
        return False
    best = 1.0 if weights.vectors[-1] >= 0 else -1.0
    return join_probability([*lexical, best], weights) >= bar


def join_probability(features: list[float], weights: JoinWeights) -> float:
    """The probability that the item reports the candidate story: by the vector model when
    the features hold the vector cosine and it was trained, else by words alone."""
    if len(features) > len(JOIN_FEATURES) and weights.vectors is not None:
        w = weights.vectors
    else:
        w, features = weights.words, features[: len(JOIN_FEATURES)]
    z = w[0] + sum(a * x for a, x in zip(w[1:], features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
