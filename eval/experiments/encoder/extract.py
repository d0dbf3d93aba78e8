"""Full fine-tuning, then each linear layer's change cut to rank r: adapters that ship (stop 36).

Why: at stop 20 full fine-tuning held out better than the rank-8 adapters beside the word
model (text +0.05 to +0.11 F1), but 22 M numbers cannot ship. The change full fine-tuning
makes to a linear layer, cut to its r largest singular directions (SVD), is an adapter of
rank r (r * (in + out) numbers): `forward.py` runs it as it runs the shipped ones. Here the
linear layers, biases and layer norms are fine-tuned (embeddings frozen; rate `RATE`, weight
decay 0.01, the head at the shipped rate; `EPOCHS`, shipped 3), as the shipped training
otherwise does (rows, batch, seed, dropout). Each held-out item's headline is scored as the
bot reads it, with the full weights and with each rank of RANKS (A and B rounded to float16,
as shipped; biases and layer norms kept whole).

Writes OUT/full.json and OUT/r<rank>.json: the shipped folds (`eval/folds/deployments.json`)
with the named sources' scores replaced, for `sources.py`. Train + validation only. From the
root: `python eval/experiments/encoder/extract.py OUT rss2020-21 wikinews` (two sources take
40 minutes on two cores), then `python eval/experiments/encoder/sources.py OUT/r32.json
rss2020-21 wikinews` against the same with `eval/folds/deployments.json`.
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
RANKS = [8, 16, 32, 64]
RATE = float(os.environ.get("RATE", "4e-5"))  # stop 20's full fine-tuning (ft.py)
EPOCHS = int(os.environ.get("EPOCHS", T.EPOCHS))


def fit_and_score(group: str) -> tuple[str, dict[str, dict[str, float]]]:
    import torch

    torch.manual_seed(T.SEED)
    torch.set_num_threads(1)
    items = items_of(CORPUS, SPLITS)
    data = T.rows([i for i in items if group_of(i) != group], TOPIC, POSITIVE)
    held = [i for i in items if group_of(i) == group]
    base = model_dir()
    w0 = {
        k: torch.from_numpy(np.array(v)).float()
        for k, v in load_safetensors(base / "model.safetensors").items()
    }
    tokenizer = WordPiece.load(base / "vocab.txt")
    linears = [f"encoder.layer.{n}.{name}" for n in range(LAYERS) for name in LINEARS]
    free = {
        k: torch.nn.Parameter(v.clone())
        for k, v in w0.items()
        if not k.startswith("embeddings.") or "LayerNorm" in k
    }
    head = torch.nn.Linear(HIDDEN, 1)
    drop = torch.nn.Dropout(T.DROPOUT)

    def logits(texts: list[str], p: dict) -> torch.Tensor:
        encoded = [tokenizer.ids(t, MAX_TOKENS) for t in texts]
        b, t = len(encoded), max(map(len, encoded))
        ids = torch.zeros(b, t, dtype=torch.long)
        mask = torch.zeros(b, t)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1

        def norm(x: torch.Tensor, name: str) -> torch.Tensor:
            g, beta = p[name + ".weight"], p[name + ".bias"]
            return torch.nn.functional.layer_norm(x, (HIDDEN,), g, beta, 1e-12)

        def linear(key: str, x: torch.Tensor) -> torch.Tensor:
            return x @ p[key + ".weight"].T + p[key + ".bias"]

        x = (
            p["embeddings.word_embeddings.weight"][ids]
            + p["embeddings.position_embeddings.weight"][:t]
            + p["embeddings.token_type_embeddings.weight"][0]
        )
        x = drop(norm(x, "embeddings.LayerNorm"))
        bias = (1 - mask)[:, None, None, :] * -1e9
        for n in range(LAYERS):
            pre = f"encoder.layer.{n}."
            q, k, v = (
                linear(pre + f"attention.self.{m}", x).view(b, t, HEADS, -1).transpose(1, 2)
                for m in ("query", "key", "value")
            )
            s = torch.softmax(q @ k.transpose(-1, -2) / (HIDDEN // HEADS) ** 0.5 + bias, -1)
            a = (drop(s) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
            x = norm(x + drop(linear(pre + "attention.output.dense", a)),
                     pre + "attention.output.LayerNorm")  # fmt: skip
            h = torch.nn.functional.gelu(linear(pre + "intermediate.dense", x), approximate="tanh")
            x = norm(x + drop(linear(pre + "output.dense", h)), pre + "output.LayerNorm")
        m = mask[:, :, None]
        return head((x * m).sum(1) / m.sum(1)).squeeze(-1)

    p = {**w0, **free}
    opt = torch.optim.AdamW(
        [
            {"params": list(free.values()), "lr": RATE, "weight_decay": 0.01},
            {"params": list(head.parameters()), "lr": T.RATE, "weight_decay": 0.0},
        ]
    )
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
                logits([text for text, _ in batch], p), y, weight=1.0 + (up - 1.0) * y
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"{group} epoch {epoch}: loss {total / len(data):.4f}", file=sys.stderr, flush=True)
    drop.p = 0.0
    texts = [reads(i.title, i.description, None) for i in held]
    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        full = {k: v.detach() for k, v in p.items()}
        variants = {"full": full}
        for rank in RANKS:
            cut = dict(full)
            for key in linears:
                change = full[key + ".weight"] - w0[key + ".weight"]
                u, s, vh = torch.linalg.svd(change, full_matrices=False)
                b_, a_ = (u[:, :rank] * s[:rank]).half().float(), vh[:rank].half().float()
                cut[key + ".weight"] = w0[key + ".weight"] + b_ @ a_
            variants[f"r{rank}"] = cut
        for name, weights in variants.items():
            scores = {}
            for start in range(0, len(held), 64):
                probs = torch.sigmoid(logits(texts[start : start + 64], weights)).tolist()
                for i, prob in zip(held[start : start + 64], probs, strict=True):
                    scores[i.id] = round(float(prob), 6)
            out[name] = scores
    return group, out


def main() -> int:
    out, groups = Path(sys.argv[1]), sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    shipped = (CORPUS.parent / "folds" / "deployments.json").read_text(encoding="utf-8")
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as workers:
        for group, variants in workers.map(fit_and_score, groups):
            for name, scores in variants.items():
                path = out / f"{name}.json"
                folds = json.loads(path.read_text(encoding="utf-8") if path.exists() else shipped)
                folds["scores"][group] = scores
                text = json.dumps(folds, sort_keys=True, separators=(",", ":")) + "\n"
                path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
