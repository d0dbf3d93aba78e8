"""A linear model over `features.featurize`: weights in, probability and reasons out.

Weights are plain JSON shipped in the package (no training framework at run time): a bias,
one weight per feature the training kept, the thresholds chosen on the validation split,
and where they came from (corpus digest, scores), so `wirewatch topics test` can say why.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

HERE = Path(__file__).parent
ENCODER = HERE.parent / "encoder"  # bot.encoder's heads and their bars


@dataclass(frozen=True)
class Verdict:
    """The model's view of one item: probability, the bar it had to clear, and why."""

    score: float
    threshold: float
    reasons: tuple[tuple[str, float], ...]  # (feature, contribution), strongest first
    veto: str | None = None  # a cue that rules the item out whatever the score
    # With the encoder's opinion, `score` is `combined` of the two; these are its parts.
    words: float | None = None  # the linear model over words and cues
    encoder: float | None = None
    # The encoder was not asked: even its full confidence could not lift the word model's
    # score to a bar (`LinearModel.opinion_matters`); `score` is the word model's.
    unasked: bool = False
    # ... nor could it have answered (its weights are not installed): `threshold` is then the
    # word model's own bar, the one every item is held to without the encoder.
    encoder_missing: bool = False

    @property
    def relevant(self) -> bool:
        return self.veto is None and self.score >= self.threshold


@dataclass(frozen=True)
class EncoderBars:
    """The encoder that gives this model a second opinion, and the bars of the two together.

    With an opinion, the item's score is `combined` of the two probabilities; without one
    (the weights are not installed, the worker failed) the linear model decides alone, at
    its own bars.
    """

    head: str  # bot/encoder/<head>.npz
    threshold: float
    relaxed: float
    threshold_title_only: float
    relaxed_title_only: float

    def bar(self, title_only: bool, relaxed: bool) -> float:
        if title_only:
            return self.relaxed_title_only if relaxed else self.threshold_title_only
        return self.relaxed if relaxed else self.threshold


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
    encoder: EncoderBars | None = None

    @classmethod
    def load(cls, name: str, path: Path | None = None) -> LinearModel:
        """The model in `path` (default: the one shipped for `name`), read once per version
        of its files: every chat `test` and `topic add` builds a matcher, and parsing the
        megabyte of weights took some 45 ms of the event loop each time."""
        path = path or HERE / f"{name}.json"
        try:
            return _read(name, path, _stamp(path), _stamp(ENCODER / f"{name}.json"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError([f"relevance model {name!r} ({path}): cannot load: {exc}"]) from None

    def logit(self, feats: set[str]) -> float:
        w = self.weights
        return sum(w.get(f, 0.0) for f in feats)

    def verdict(
        self,
        feats: set[str],
        *,
        relaxed: bool = False,
        opinion: float | None = None,
        encoder_missing: bool = False,
        top: int = 4,
    ) -> Verdict:
        """`opinion`: the encoder's probability for this item, when it gave one;
        `encoder_missing`: it cannot give one here (its weights are not installed)."""
        w = self.weights
        parts = sorted(((f, w[f]) for f in feats if f in w and f != "bias"), key=_strength)
        words = _sigmoid(self.logit(feats))
        veto = next((v for v in self.vetoes if v in feats), None)
        if opinion is None and self.encoder is not None and not self.opinion_matters(feats, words):
            # Held to the bar an opinion would have met; without the encoder, to the word
            # model's own, as every item then is (the item clears neither: no verdict moves).
            bar = self.bar(feats, relaxed=relaxed, opinion=not encoder_missing)
            return Verdict(
                words,
                bar,
                tuple(parts[:top]),
                veto,
                words,
                unasked=True,
                encoder_missing=encoder_missing,
            )
        if opinion is None or self.encoder is None:
            return Verdict(words, self.bar(feats, relaxed=relaxed), tuple(parts[:top]), veto)
        bar = self.bar(feats, relaxed=relaxed, opinion=True)
        score = combined(words, opinion)
        return Verdict(score, bar, tuple(parts[:top]), veto, words, opinion)

    def opinion_matters(self, feats: set[str], words: float) -> bool:
        """Whether the encoder's opinion could make this item clear a bar, so is worth asking.

        The two together score `combined`, their geometric mean: at most the square root of
        the word model's probability (an opinion of 1.0). An item whose word probability is
        under the square of its lowest bar clears none, whatever the encoder says; nor does
        it clear the word model's own bars (what decides when the encoder cannot answer), when
        those are lower still. Most of the built-in topic's candidates are such (its query is
        meant to miss nothing: 84% of the frozen test split's, as written), and each would
        cost a forward pass of the encoder (`python -m bench.encoder`) for nothing.
        """
        if self.encoder is None:
            return False
        title_only = "title_only" in feats
        lowest = min(self.encoder.bar(title_only, relaxed) for relaxed in (False, True)) ** 2
        own = min(self.bar(feats, relaxed=relaxed) for relaxed in (False, True))
        return words >= min(lowest, own) * (1 - 1e-9)

    def bar(self, feats: set[str], *, relaxed: bool = False, opinion: bool = False) -> float:
        """The threshold for this item: its kind's (headline only or with text), strict or not;
        with `opinion`, the bar of this model and the encoder `combined`."""
        if opinion and self.encoder is not None:
            return self.encoder.bar("title_only" in feats, relaxed)
        if "title_only" in feats and self.threshold_title_only is not None:
            return (self.relaxed_title_only or 0.0) if relaxed else self.threshold_title_only
        return self.relaxed if relaxed else self.threshold


COMBINED = "geometric mean of the word model's probability and the encoder's"


def combined(words: float, encoder: float) -> float:
    """One score from the word model's probability and the encoder's: their geometric mean.

    Why not their plain mean (shipped until stop 25): the encoder's probabilities sit near 0
    or 1, so an item it half-doubted (0.1-0.6) needed the word model near certain. At its
    own bar the geometric mean lets the two carry an item both lean toward ("Satellite photos
    raise concerns of Russian military build-up near Ukraine": words 0.45, encoder 0.41) and
    still needs each above about 0.07. On sources held out from training it finds more and is
    wrong more: F1 0.710 -> 0.731 with text, 0.690 -> 0.694 headline only
    (eval/experiments/encoder/README.md, "combining the two").
    """
    return math.sqrt(words * encoder)


@functools.lru_cache(maxsize=8)
def _read(name: str, path: Path, stamp: object, encoder_stamp: object) -> LinearModel:
    """One model as its files are now (the stamps key the cache: a retrained file is read
    again). The model is frozen and nothing writes to its weights, so callers may share it."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return LinearModel(
        name,
        {k: float(v) for k, v in data["weights"].items()},
        float(data["threshold"]),
        float(data["relaxed"]),
        dict(data.get("meta", {})),
        tuple(data.get("vetoes", ())),
        _optional(data.get("threshold_title_only")),
        _optional(data.get("relaxed_title_only")),
        _encoder(name),
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    """What changes when a file is rewritten: its modification time and size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _optional(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _encoder(name: str, folder: Path = ENCODER) -> EncoderBars | None:
    """`bot/encoder/<name>.json`, written by `python -m bot.encoder.train`: its own file, so
    that either trainer runs without the other (after retraining this model, run that one
    again: its bars are those of the two together). Bars chosen for another way of combining
    the two (the plain mean, before stop 26) would be wrong for this one: refused."""
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("meta", {}).get("score") != COMBINED:
        raise ValueError(
            f"{path}: its bars are for {data.get('meta', {}).get('score')!r}, not the "
            f"{COMBINED}; choose them again: python -m bot.encoder.train --bars-only"
        )
    return EncoderBars(
        str(data["head"]),
        float(data["threshold"]),
        float(data["relaxed"]),
        float(data["threshold_title_only"]),
        float(data["relaxed_title_only"]),
    )


def _strength(part: tuple[str, float]) -> float:
    return -abs(part[1])


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
