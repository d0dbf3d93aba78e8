"""Learn the encoder's adapters and head for a topic: `python -m bot.encoder.train`.

Needs torch (training only; the bot runs `forward.py` in numpy): `pip install torch==2.13.0`.
The base weights stay frozen; what is learned is a rank-8 adapter beside each linear layer
and a logistic head on the mean-pooled output, about 0.3 M numbers (0.7 MB as float16).
Deterministic: one thread, a fixed seed, items in a fixed order shuffled by that seed.
Items are those of the chosen splits that pass the topic's query, each as written and
headline only (ambiguous items left out), as the relevance trainer takes them.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from bot.encoder import HERE, encoder_text
from bot.encoder.forward import HEADS, HIDDEN, LAYERS, LINEARS
from bot.encoder.model import MAX_TOKENS
from bot.encoder.weights import load_safetensors, model_dir, verify
from bot.encoder.wordpiece import WordPiece
from bot.labelled import load_labelled
from bot.relevance.train import CORPUS
from bot.topics.entities import Gazetteer
from bot.topics.match import Matcher, load_topics, prepare

RANK = 8
EPOCHS = 3
BATCH = 32
RATE = 1e-3
DROPOUT = 0.1
SEED = 20261203


def rows(corpus: Path, splits: set[str], topic: str, positive: str) -> list[tuple[str, float]]:
    gazetteer = Gazetteer.load()
    gate = Matcher([t for t in load_topics() if t.name == topic], gazetteer, relevance=False)
    out = []
    for f in sorted(corpus.glob("*.jsonl")):
        for item in load_labelled(f):
            if item.ambiguous or item.label is None or (item.split or "train") not in splits:
                continue
            for text in dict.fromkeys((item.description, "")):
                if gate.match_prepared(prepare(item.title, text, gazetteer)):
                    out.append((encoder_text(item.title, text), float(item.label == positive)))
    return out


def train(data: list[tuple[str, float]], out: Path) -> None:
    """Fit the adapters and head on (text, label) pairs; write them as float16 .npz."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    base = model_dir()
    verify(base / "model.safetensors")
    frozen = load_safetensors(base / "model.safetensors")
    w = {k: torch.from_numpy(np.array(v)) for k, v in frozen.items()}
    tokenizer = WordPiece.load(base / "vocab.txt")
    names = [f"layer.{n}.{name}" for n in range(LAYERS) for name in LINEARS]
    low: dict[str, tuple[torch.nn.Parameter, torch.nn.Parameter]] = {}
    for key in names:
        weight = w["encoder." + key + ".weight"]
        a = torch.nn.Parameter(torch.randn(RANK, weight.shape[1]) * 0.01)
        b = torch.nn.Parameter(torch.zeros(weight.shape[0], RANK))
        low[key] = (a, b)
    head = torch.nn.Linear(HIDDEN, 1)
    drop = torch.nn.Dropout(DROPOUT)

    def linear(key: str, x: torch.Tensor) -> torch.Tensor:
        a, b = low[key]
        return x @ w[f"encoder.{key}.weight"].T + w[f"encoder.{key}.bias"] + (x @ a.T) @ b.T

    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        g, beta = w[name + ".weight"], w[name + ".bias"]
        return torch.nn.functional.layer_norm(x, (HIDDEN,), g, beta, 1e-12)

    def logits(texts: list[str]) -> torch.Tensor:
        """forward.encode in torch, with dropout, then the head."""
        encoded = [tokenizer.ids(t, MAX_TOKENS) for t in texts]
        b, t = len(encoded), max(map(len, encoded))
        ids = torch.zeros(b, t, dtype=torch.long)
        mask = torch.zeros(b, t)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = drop(norm(x, "embeddings.LayerNorm"))
        bias = (1 - mask)[:, None, None, :] * -1e9
        for n in range(LAYERS):
            p = f"layer.{n}."
            q, k, v = (
                linear(p + f"attention.self.{m}", x).view(b, t, HEADS, -1).transpose(1, 2)
                for m in ("query", "key", "value")
            )
            s = torch.softmax(q @ k.transpose(-1, -2) / (HIDDEN // HEADS) ** 0.5 + bias, -1)
            a = (drop(s) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
            x = norm(x + drop(linear(p + "attention.output.dense", a)),
                     f"encoder.{p}attention.output.LayerNorm")  # fmt: skip
            h = torch.nn.functional.gelu(linear(p + "intermediate.dense", x), approximate="tanh")
            x = norm(x + drop(linear(p + "output.dense", h)), f"encoder.{p}output.LayerNorm")
        m = mask[:, :, None]
        return head((x * m).sum(1) / m.sum(1)).squeeze(-1)

    params = [p for pair in low.values() for p in pair] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=RATE, weight_decay=0.0)
    positives = sum(y for _, y in data)
    up = ((len(data) - positives) / positives) ** 0.5
    order = list(range(len(data)))
    shuffle = random.Random(SEED)
    for epoch in range(EPOCHS):
        shuffle.shuffle(order)
        total = 0.0
        for start in range(0, len(order), BATCH):
            batch = [data[i] for i in order[start : start + BATCH]]
            y = torch.tensor([label for _, label in batch])
            weight = 1.0 + (up - 1.0) * y
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits([text for text, _ in batch]), y, weight=weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch}: loss {total / len(data):.4f}", file=sys.stderr, flush=True)
    arrays: dict[str, np.ndarray] = {}
    for key, (a, b) in low.items():
        arrays[key + ".A"] = a.detach().numpy().astype(np.float16)
        arrays[key + ".B"] = b.detach().numpy().astype(np.float16)
    arrays["head.weight"] = head.weight.detach().numpy()[0].astype(np.float32)
    arrays["head.bias"] = head.bias.detach().numpy().astype(np.float32)
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # numpy 2.4's stub: allow_pickle


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.encoder.train", description=__doc__)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--splits", default="train,validation")
    ap.add_argument("--topic", default="troop-deployments")
    ap.add_argument("--positive", default="deploy")
    ap.add_argument("--out", type=Path, default=HERE / "deployments.npz")
    args = ap.parse_args(argv)
    data = rows(args.corpus, set(args.splits.split(",")), args.topic, args.positive)
    print(f"{len(data)} examples, {int(sum(y for _, y in data))} positive", file=sys.stderr)
    train(data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
