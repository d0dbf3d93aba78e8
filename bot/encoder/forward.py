"""A BERT encoder's forward pass in numpy: MiniLM-L6 (6 layers, 384 wide, 12 heads).

Inference only, so no training framework at run time. Batched: the weights are read once per
batch, which is what makes a batch of candidates cheap per item. Low-rank adapters (LoRA,
learned by `bot.encoder.train`) are applied beside the frozen weights: y = xW' + (xA')B'.
GELU is the tanh form, the same one the adapters were trained with.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

HIDDEN, HEADS, LAYERS = 384, 12, 6
_LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)

Adapters = Mapping[str, tuple[np.ndarray, np.ndarray]]  # "layer.N.linear" -> (A, B)


def encode(
    weights: Mapping[str, np.ndarray],
    ids: np.ndarray,
    mask: np.ndarray,
    adapters: Adapters | None = None,
) -> np.ndarray:
    """Mean-pooled last hidden states, (batch, 384), for token ids padded to one length."""
    adapters = adapters or {}
    batch, length = ids.shape
    w = weights
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    # Every linear layer works on all tokens of the batch as one (batch x length, 384) matrix:
    # one large product instead of a small one per text.
    x = _norm(x.reshape(batch * length, HIDDEN), w, "embeddings.LayerNorm")
    # Padding never receives attention: a large negative score before the softmax.
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
    for n in range(LAYERS):
        p = f"encoder.layer.{n}."

        def linear(name: str, h: np.ndarray, p: str = p, n: int = n) -> np.ndarray:
            y = h @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            low = adapters.get(f"layer.{n}.{name}")
            if low is not None:
                y = y + (h @ low[0].T) @ low[1].T
            return y

        q, k, v = (
            _heads(linear(f"attention.self.{m}", x), batch, length)
            for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1 / np.sqrt(HIDDEN // HEADS)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, HIDDEN)
        x = _norm(x + linear("attention.output.dense", attended), w,
                  p + "attention.output.LayerNorm")  # fmt: skip
        h = _gelu(linear("intermediate.dense", x))
        x = _norm(x + linear("output.dense", h), w, p + "output.LayerNorm")
    m = mask[:, :, None].astype(np.float32)
    return (x.reshape(batch, length, HIDDEN) * m).sum(1) / np.maximum(m.sum(1), 1.0)


def _heads(x: np.ndarray, batch: int, length: int) -> np.ndarray:
    return x.reshape(batch, length, HEADS, HIDDEN // HEADS).transpose(0, 2, 1, 3)


def _norm(x: np.ndarray, w: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(1e-12)) * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    inner = x * x
    inner *= np.float32(0.044715)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.7978845608)
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


LINEARS = _LINEARS
