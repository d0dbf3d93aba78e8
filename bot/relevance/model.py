"""A linear model over `features.featurize`: weights in, probability and reasons out.

Weights are plain JSON shipped in the package (no training framework at run time): a bias,
one weight per feature the training kept, the thresholds chosen on the validation split,
and where they came from (corpus digest, scores), so `wirewatch topics test` can say why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Verdict:
    """The model's view of one item: probability, the bar it had to clear, and why."""

    score: float
    threshold: float
    reasons: tuple[tuple[str, float], ...]  # (feature, contribution), strongest first
    veto: str | None = None  # a cue that rules the item out whatever the score

    @property
    def relevant(self) -> bool:
        return self.veto is None and self.score >= self.threshold


@dataclass(frozen=True)
class LinearModel:
    name: str
    weights: dict[str, float]
    threshold: float  # a topic match needs this much
    relaxed: float  # an update to a story already alerted needs this much
    meta: dict
    vetoes: tuple[str, ...] = ()  # features that rule an item out (a refusal before "send")
    # A headline alone has fewer words to go on, and its probabilities run higher: its bars.
    threshold_title_only: float | None = None
    relaxed_title_only: float | None = None

    @classmethod
    def load(cls, name: str, path: Path | None = None) -> LinearModel:
        path = path or HERE / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                name,
                {k: float(v) for k, v in data["weights"].items()},
                float(data["threshold"]),
                float(data["relaxed"]),
                dict(data.get("meta", {})),
                tuple(data.get("vetoes", ())),
                _optional(data.get("threshold_title_only")),
                _optional(data.get("relaxed_title_only")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError([f"relevance model {name!r} ({path}): cannot load: {exc}"]) from None

    def logit(self, feats: set[str]) -> float:
        w = self.weights
        return sum(w.get(f, 0.0) for f in feats)

    def verdict(self, feats: set[str], *, relaxed: bool = False, top: int = 4) -> Verdict:
        w = self.weights
        parts = sorted(((f, w[f]) for f in feats if f in w and f != "bias"), key=_strength)
        score = _sigmoid(self.logit(feats))
        veto = next((v for v in self.vetoes if v in feats), None)
        bar = self.bar(feats, relaxed=relaxed)
        return Verdict(score, bar, tuple(parts[:top]), veto)


    def bar(self, feats: set[str], *, relaxed: bool = False) -> float:
        """The threshold for this item: its kind's (headline only or with text), strict or not."""
        if "title_only" in feats and self.threshold_title_only is not None:
            return (self.relaxed_title_only or 0.0) if relaxed else self.threshold_title_only
        return self.relaxed if relaxed else self.threshold


def _optional(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _strength(part: tuple[str, float]) -> float:
    return -abs(part[1])


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
