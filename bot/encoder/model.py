"""The encoder itself: base weights, one topic's adapters and head, texts to probabilities.

Pure after loading: the same texts give the same probabilities whatever the batch.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from bot.encoder import forward
from bot.encoder.weights import check as check_weights
from bot.encoder.weights import load_safetensors, model_dir
from bot.encoder.wordpiece import WordPiece
from bot.errors import ConfigError

MAX_TOKENS = 64  # a headline and its lead fit; longer text adds cost, not signal
BATCH = 32


class Encoder:
    """Base weights + one topic's adapters and head; `scores` gives probabilities."""

    def __init__(self, base: Path | None = None, head: Path | None = None, *, check: bool = True):
        path = base or model_dir()
        if check:
            check_weights(path)
        self.weights = load_safetensors(path / "model.safetensors")
        self.tokenizer = WordPiece.load(path / "vocab.txt")
        self.adapters: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.head: tuple[np.ndarray, float] | None = None
        if head is not None:
            self._load_head(head)

    def with_head(self, head: Path) -> Encoder:
        """This encoder's base weights (shared, not copied) with a topic's adapters and head."""
        other = copy.copy(self)
        other.adapters, other.head = {}, None
        other._load_head(head)
        return other

    def _load_head(self, path: Path) -> None:
        try:
            with np.load(path) as data:
                for key in data.files:
                    if key.endswith(".A"):
                        name = key[:-2]
                        a = data[key].astype(np.float32)
                        b = data[name + ".B"].astype(np.float32)
                        self.adapters[name] = (a, b)
                bias = float(data["head.bias"].reshape(-1)[0])
                self.head = (data["head.weight"].astype(np.float32), bias)
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError([f"encoder head {path}: cannot load: {exc}"]) from None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled vectors, (len(texts), 384); texts of like length are batched together."""
        encoded = [self.tokenizer.ids(t, MAX_TOKENS) for t in texts]
        out = np.zeros((len(texts), forward.HIDDEN), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            out[chunk] = forward.encode(self.weights, ids, mask, self.adapters)
        return out

    def scores(self, texts: list[str]) -> list[float]:
        """The head's probability for each text; ConfigError when no head was loaded."""
        if self.head is None:
            raise ConfigError(["encoder: no head loaded"])
        w, b = self.head
        z = self.embed(texts) @ w + b
        return [float(p) for p in 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))]
