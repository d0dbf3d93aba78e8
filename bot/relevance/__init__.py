"""The learned precision stage: after a topic's query finds a candidate, does it belong?

One entry point, `Relevance`: built from a gazetteer, it loads a named model once and gives
a `Verdict` for a prepared item (probability, the bar it had to clear, the strongest
reasons). Topics opt in with `relevance: NAME` (config/topics.yaml); the matcher calls this.
A model may take the encoder's second opinion (`bot.encoder`), which `bot.opinions` asks for
before matching and puts in `Prepared.opinions`. Pure: no I/O after loading, no state
between items.
"""

from __future__ import annotations

from bot.gazetteer import Gazetteer
from bot.model import Prepared
from bot.relevance.features import featurize
from bot.relevance.model import LinearModel, Verdict
from bot.relevance.reasons import describe

__all__ = ["Relevance", "Verdict", "describe"]


class Relevance:
    """Named models over one gazetteer; features are computed once per item."""

    def __init__(self, gazetteer: Gazetteer):
        self.gazetteer = gazetteer
        self._models: dict[str, LinearModel] = {}
        # The encoder's weights are not installed here, as `bot.opinions` found when it last
        # asked: an item the encoder is not asked about is then held to the word model's bar.
        self.encoder_missing = False
        self._last: tuple[Prepared, set[str]] | None = None

    def model(self, name: str) -> LinearModel:
        """Load (once) and return a model; ConfigError when it does not exist."""
        if name not in self._models:
            self._models[name] = LinearModel.load(name)
        return self._models[name]

    def verdict(self, name: str, prepared: Prepared, *, relaxed: bool = False) -> Verdict:
        """With the encoder's opinion on the item (`prepared.opinions`) when it gave one."""
        opinion = dict(prepared.opinions).get(name)
        return self.model(name).verdict(
            self.features(prepared),
            relaxed=relaxed,
            opinion=opinion,
            encoder_missing=self.encoder_missing,
        )

    def wants_opinion(self, name: str, verdict: Verdict) -> bool:
        """Whether this model takes the encoder's second opinion on the item it judged so
        (without one): not when a cue vetoed it, nor when no opinion could lift it to a bar."""
        return self.model(name).encoder is not None and verdict.veto is None and not verdict.unasked

    def features(self, prepared: Prepared) -> set[str]:
        last = self._last
        if last is None or last[0] is not prepared:
            last = self._last = (prepared, featurize(prepared, self.gazetteer.kind))
        return last[1]
