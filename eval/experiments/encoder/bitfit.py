"""Adapters on the word embeddings too, and every bias and layer-norm weight trained (stop 35).

Why: at stop 20 full fine-tuning beat the rank-8 adapters on held-out sources (text +0.05 to
+0.11 F1 beside the word model), and the top two layers fine-tuned in full did not: what the
adapters miss may sit low, in the word pieces' embeddings. Full weights cannot ship (22 M
numbers); this adds a rank-8 adapter on the embedding table (0.25 M numbers) and trains the
biases and layer-norm weights ("BitFit", 0.03 M) beside the shipped adapters.

Runs the folds of the sources named, each held out in turn (two side by side, as the command
does), in torch, scoring each held-out item's headline as the bot's encoder reads it, and
writes a folds file: the shipped folds (`eval/folds/deployments.json`) with those sources'
scores replaced, so that `sources.py` reads it. Train + validation only. Run from the root:
`python eval/experiments/encoder/bitfit.py OUT.json rss2020-21 rss2022`, then
`python eval/experiments/encoder/sources.py OUT.json rss2020-21 rss2022` against the same
with `eval/folds/deployments.json`.
"""

from __future__ import annotations

import json
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np  # noqa: E402

from bot.encoder import train as T  # noqa: E402
from bot.encoder.bars import group_of, items_of  # noqa: E402
from bot.encoder.forward import HEADS, HIDDEN, LAYERS, LINEARS  # noqa: E402
from bot.encoder.model import MAX_TOKENS  # noqa: E402
from bot.encoder.weights import load_safetensors, model_dir  # noqa: E402
from bot.encoder.wordpiece import WordPiece  # noqa: E402
from bot.opinions import reads  # noqa: E402
from bot.relevance.train import CORPUS  # noqa: E402

TOPIC, POSITIVE, SPLITS = "troop-deployments", "deploy", {"train", "validation"}
EMBED_RANK = 8
# Variants by environment: BITFIT=0 trains the shipped adapters alone (the embedding adapter
# and BitFit off); EPOCHS=n instead of the shipped 3.
BITFIT = os.environ.get("BITFIT", "1") == "1"
EPOCHS = int(os.environ.get("EPOCHS", T.EPOCHS))


def fit_and_score(group: str) -> tuple[str, dict[str, float]]:
    import torch

    torch.manual_seed(T.SEED)
    torch.set_num_threads(1)
    items = items_of(CORPUS, SPLITS)
    data = T.rows([i for i in items if group_of(i) != group], TOPIC, POSITIVE)
    held = [i for i in items if group_of(i) == group]
    base = model_dir()
    w = {k: torch.from_numpy(np.array(v)) for k, v in load_safetensors(base / "model.safetensors").items()}
    tokenizer = WordPiece.load(base / "vocab.txt")
    low = {}
    for key in [f"layer.{n}.{name}" for n in range(LAYERS) for name in LINEARS]:
        weight = w["encoder." + key + ".weight"]
        low[key] = (
            torch.nn.Parameter(torch.randn(T.RANK, weight.shape[1]) * 0.01),
            torch.nn.Parameter(torch.zeros(weight.shape[0], T.RANK)),
        )
    vocab = w["embeddings.word_embeddings.weight"].shape[0]
    if BITFIT:  # created only then, so that BITFIT=0 draws the shipped run's random numbers
        emb_a = torch.nn.Parameter(torch.randn(vocab, EMBED_RANK) * 0.01)
        emb_b = torch.nn.Parameter(torch.zeros(EMBED_RANK, HIDDEN))
    # BitFit: biases and layer-norm weights trained (copies; the base stays as it was).
    free = {
        k: torch.nn.Parameter(v.clone().float())
        for k, v in w.items()
        if BITFIT and (k.endswith(".bias") or "LayerNorm" in k)
    }
    p = {**w, **free}
    head = torch.nn.Linear(HIDDEN, 1)
    drop = torch.nn.Dropout(T.DROPOUT)

    def linear(key, x):
        a, b = low[key]
        return x @ p[f"encoder.{key}.weight"].T + p[f"encoder.{key}.bias"] + (x @ a.T) @ b.T

    def norm(x, name):
        return torch.nn.functional.layer_norm(x, (HIDDEN,), p[name + ".weight"], p[name + ".bias"], 1e-12)

    def logits(texts):
        encoded = [tokenizer.ids(t, MAX_TOKENS) for t in texts]
        b, t = len(encoded), max(map(len, encoded))
        ids = torch.zeros(b, t, dtype=torch.long)
        mask = torch.zeros(b, t)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1
        x = (
            p["embeddings.word_embeddings.weight"][ids]
            + (emb_a[ids] @ emb_b if BITFIT else 0.0)
            + p["embeddings.position_embeddings.weight"][:t]
            + p["embeddings.token_type_embeddings.weight"][0]
        )
        x = drop(norm(x, "embeddings.LayerNorm"))
        bias = (1 - mask)[:, None, None, :] * -1e9
        for n in range(LAYERS):
            pre = f"layer.{n}."
            q, k, v = (
                linear(pre + f"attention.self.{m}", x).view(b, t, HEADS, -1).transpose(1, 2)
                for m in ("query", "key", "value")
            )
            s = torch.softmax(q @ k.transpose(-1, -2) / (HIDDEN // HEADS) ** 0.5 + bias, -1)
            a = (drop(s) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
            x = norm(x + drop(linear(pre + "attention.output.dense", a)), f"encoder.{pre}attention.output.LayerNorm")
            h = torch.nn.functional.gelu(linear(pre + "intermediate.dense", x), approximate="tanh")
            x = norm(x + drop(linear(pre + "output.dense", h)), f"encoder.{pre}output.LayerNorm")
        m = mask[:, :, None]
        return head((x * m).sum(1) / m.sum(1)).squeeze(-1)

    params = [q for pair in low.values() for q in pair] + [*free.values()]
    params += [emb_a, emb_b] if BITFIT else []
    params += list(head.parameters())
    opt = torch.optim.AdamW(params, lr=T.RATE, weight_decay=0.0)
    positives = sum(y for _, y in data)
    up = ((len(data) - positives) / positives) ** 0.5
    order = list(range(len(data)))
    shuffle = random.Random(T.SEED)
    for epoch in range(EPOCHS):
        shuffle.shuffle(order)
        total = 0.0
        for start in range(0, len(order), T.BATCH):
            batch = [data[i] for i in order[start : start + T.BATCH]]
            y = torch.tensor([label for _, label in batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits([text for text, _ in batch]), y, weight=1.0 + (up - 1.0) * y
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"{group} epoch {epoch}: loss {total / len(data):.4f}", file=sys.stderr, flush=True)
    drop.p = 0.0
    out = {}
    with torch.no_grad():
        texts = [reads(i.title, i.description, None) for i in held]
        for start in range(0, len(held), 64):
            probs = torch.sigmoid(logits(texts[start : start + 64])).tolist()
            for i, s in zip(held[start : start + 64], probs, strict=True):
                out[i.id] = round(float(s), 6)
    return group, out


def main() -> int:
    out, groups = Path(sys.argv[1]), sys.argv[2:]
    shipped = json.loads((CORPUS.parent / "folds" / "deployments.json").read_text(encoding="utf-8"))
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as workers:
        for group, scores in workers.map(fit_and_score, groups):
            shipped["scores"][group] = scores
    out.write_text(json.dumps(shipped, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
