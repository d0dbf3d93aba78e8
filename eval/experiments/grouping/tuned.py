"""Sentence vectors tuned to same-story headlines, each source held out (stop 58, pre-declared).

Rank-8 adapters on all-MiniLM-L6-v2's linear layers (as `bot.encoder.train`, no head) learn,
by a contrastive loss, to pull headlines of one labelled story together: up to 15 pairs per
story of two or more items, each anchor with one hard negative (the nearest base vector of
another story of its source, published within 3 days), in-batch softmax at scale 20 with the
anchor's own story's other items masked out. Every corpus file's train and validation items
teach, except the held-out source's. The adapters then embed every source's headlines and
`content.py`'s harness scores them (the join model refit per fold, bar 0.35, guards on).

Run: `PYTHONPATH=. python eval/experiments/grouping/tuned.py [base|tuned|time]` (the
adapters of each fold are cached in /tmp/s58-tuned/). `base`: the shipped vectors through the
same code; `time`: `Encoder.embed` on 1,000 headlines, base against adapted, in one run.
"""

import random
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np
from common import counts, fit, folds, replay_vectors, report, vector_folds

from bot.encoder import base as base_encoder
from bot.encoder import grouping_text
from bot.encoder.forward import LAYERS, LINEARS
from bot.encoder.train import RANK, pooled
from bot.labelled import load_labelled

SEED, EPOCHS, BATCH, RATE, SCALE, PAIRS, DAYS = 20261207, 2, 32, 5e-4, 20.0, 15, 3
CACHE = Path("/tmp/s58-tuned")
CORPUS = Path("eval/corpus")
TH = 0.35


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def teaching_items():
    """Train and validation items of every corpus file with a story and a time."""
    out = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        out += [
            i
            for i in load_labelled(path)
            if i.split in ("train", "validation") and i.story and i.published
        ]
    return out


def triples(items, vectors, held_out):
    """(anchor, positive, hard negative, story key) headlines, the held-out source left out."""
    rng = random.Random(SEED)
    keep = [n for n, i in enumerate(items) if i.source != held_out]
    by_story = defaultdict(list)
    by_source = defaultdict(list)
    for n in keep:
        by_story[(items[n].source, items[n].story)].append(n)
        by_source[items[n].source].append(n)
    out = []
    for key in sorted(by_story, key=str):
        members = by_story[key]
        if len(members) < 2:
            continue
        pairs = [(a, b) for x, a in enumerate(members) for b in members[x + 1 :]]
        rng.shuffle(pairs)
        for a, b in pairs[:PAIRS]:
            if rng.random() < 0.5:
                a, b = b, a
            when = items[a].published
            near = [
                n
                for n in by_source[items[a].source]
                if items[n].story != items[a].story
                and abs(items[n].published - when) <= timedelta(days=DAYS)
            ]
            if not near:
                continue
            neg = max(near, key=lambda n: float(vectors[n] @ vectors[a]))
            out.append((a, b, neg, key))
    return out


def learn(texts, rows, out):
    """The contrastive adapters, through `bot.encoder.train`'s forward pass (no head)."""
    import torch

    from bot.encoder.weights import load_safetensors, model_dir
    from bot.encoder.wordpiece import WordPiece

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    base = model_dir()
    w = {
        k: torch.from_numpy(np.array(v))
        for k, v in load_safetensors(base / "model.safetensors").items()
    }
    tokenizer = WordPiece.load(base / "vocab.txt")
    low = {}
    for key in (f"layer.{n}.{name}" for n in range(LAYERS) for name in LINEARS):
        weight = w["encoder." + key + ".weight"]
        low[key] = (
            torch.nn.Parameter(torch.randn(RANK, weight.shape[1]) * 0.01),
            torch.nn.Parameter(torch.zeros(weight.shape[0], RANK)),
        )
    drop = torch.nn.Dropout(0.1)

    def embed(batch):
        return torch.nn.functional.normalize(pooled(w, low, tokenizer, batch, drop), dim=-1)

    params = [p for pair in low.values() for p in pair]
    opt = torch.optim.AdamW(params, lr=RATE, weight_decay=0.0)
    order = list(range(len(rows)))
    shuffle = random.Random(SEED)
    for epoch in range(EPOCHS):
        shuffle.shuffle(order)
        total = 0.0
        for start in range(0, len(order), BATCH):
            batch = [rows[i] for i in order[start : start + BATCH]]
            anchors = embed([texts[a] for a, _, _, _ in batch])
            others = embed([texts[b] for _, b, _, _ in batch] + [texts[n] for _, _, n, _ in batch])
            sims = SCALE * anchors @ others.T
            keys = [k for *_, k in batch]
            same = torch.tensor(
                [
                    [keys[i] == keys[j] and i != j for j in range(len(batch))]
                    for i in range(len(batch))
                ]
            )
            sims[:, : len(batch)] = sims[:, : len(batch)].masked_fill(same, -1e9)
            loss = torch.nn.functional.cross_entropy(sims, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"  epoch {epoch}: loss {total / len(rows):.4f}", file=sys.stderr, flush=True)
    arrays = {}
    for key, (a, b) in low.items():
        arrays[key + ".A"] = a.detach().numpy().astype(np.float16)
        arrays[key + ".B"] = b.detach().numpy().astype(np.float16)
    np.savez_compressed(out, **arrays)


def adapted(path):
    enc = base_encoder()
    other = type(enc).__new__(type(enc))
    other.__dict__.update(enc.__dict__)
    z = np.load(path)
    other.adapters = {
        k[:-2]: (z[k].astype(np.float32), z[k[:-2] + ".B"].astype(np.float32))
        for k in z.files
        if k.endswith(".A")
    }
    return other


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "tuned"
    CACHE.mkdir(exist_ok=True)
    sources, by, _, _ = folds()
    if mode == "time":
        texts = [grouping_text(i.title) for s in sources for i in by[s]][:1000]
        enc, tuned = base_encoder(), adapted(CACHE / f"{sources[-1]}.npz")
        for _ in range(2):
            for name, e in (("base", enc), ("adapted", tuned)):
                t = time.perf_counter()
                e.embed(texts)
                print(f"{name}: {(time.perf_counter() - t):.2f} s per 1,000", flush=True)
        return
    if mode == "base":
        _, by, docs, rows = vector_folds()
        tot = {(TH, t): np.zeros(4) for t in (False, True)}
        for s in sources:
            tot = score(s, sources, by, docs, rows, tot)
        report("shipped vectors", tot, [TH])
        return
    items = teaching_items()
    texts = [grouping_text(i.title) for i in items]
    base_vectors = CACHE / "base-teaching.npy"
    if not base_vectors.exists():
        np.save(base_vectors, unit(base_encoder().embed(texts)))
    vectors = np.load(base_vectors)
    tot = {(TH, t): np.zeros(4) for t in (False, True)}
    for s in sources:
        adapters = CACHE / f"{s}.npz"
        if not adapters.exists():
            rows = triples(items, vectors, s)
            print(f"{s}: {len(rows)} triples", file=sys.stderr, flush=True)
            learn(texts, rows, adapters)
        vec_cache = CACHE / f"vectors-{s}.npz"
        if not vec_cache.exists():
            enc = adapted(adapters)
            out = {}
            for o in sources:
                v = unit(enc.embed([grouping_text(i.title) for i in by[o]]))
                out[f"{o}|False"] = out[f"{o}|True"] = v
            np.savez(vec_cache, **out)
        _, by_s, docs, rows = vector_folds(str(vec_cache))
        tot = score(s, sources, by_s, docs, rows, tot)
        print(f"done {s}", file=sys.stderr, flush=True)
    report("tuned vectors", tot, [TH])


def score(s, sources, by, docs, rows, tot):
    """Source `s` replayed with the join model refit on the other sources' rows."""
    both = [r for o in sources if o != s for r in rows[o] if len(r[0]) == 16]
    w = fit(np.array([f for f, _ in both]), np.array([float(y) for _, y in both]))
    lex = [r for o in sources if o != s for r in rows[o]]
    wl = fit(np.array([f[:15] for f, _ in lex]), np.array([float(y) for _, y in lex]))

    def probability(f):
        v = w if len(f) == 16 else wl
        return float(1 / (1 + np.exp(-np.clip(v[0] + np.array(f) @ v[1:], -30, 30))))

    for t in (False, True):
        tot[(TH, t)] += counts(by[s], replay_vectors(docs[(s, t)], probability, TH))
    return tot


if __name__ == "__main__":
    main()
