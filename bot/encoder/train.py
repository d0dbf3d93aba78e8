"""Learn the encoder's adapters, head and bars for a topic: `python -m bot.encoder.train`.

Needs torch (training only; the bot runs `forward.py` in numpy): `pip install torch==2.13.0`.
The base weights stay frozen; what is learned is a rank-8 adapter beside each linear layer
and a logistic head on the mean-pooled output, about 0.3 M numbers (0.7 MB as float16).
Deterministic: one thread, a fixed seed, items in a fixed order shuffled by that seed.
Items are those of the chosen splits that pass the topic's query, each as written and
headline only (ambiguous items left out), as the relevance trainer takes them.

Steps: (1) each source held out in turn, the encoder fit on the others scores it, and the
bars are chosen on the pooled held-out scores (`bot.encoder.bars`; two folds at a time: six
took 67 minutes on two cores, seven 98 beside a final fit); (2) the encoder fit on every
source is written (23 minutes).
`--keep-bars` does (2) alone. Retrain the word model first (`python -m bot.relevance.train`):
the bars are those of the two together. The folds' held-out scores are kept
(`eval/folds/<head>.json`), so that after retraining the word model alone, `--bars-only`
re-chooses the bars from them in seconds; it refuses when the corpus, the topic's query or the
splits differ from the folds', which would then have learned from other items. Each fold is
kept as it finishes (`eval/folds/<head>.parts/`): run the command again after a stop and it
trains only the folds still missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bot.encoder import HERE, encoder_text
from bot.encoder.bars import choose, group_of, items_of, pool
from bot.encoder.forward import HEADS, HIDDEN, LAYERS, LINEARS
from bot.encoder.model import MAX_TOKENS
from bot.encoder.weights import load_safetensors, model_dir, verify
from bot.encoder.wordpiece import WordPiece
from bot.filewrite import replace_text
from bot.gazetteer import Gazetteer
from bot.labelled import LabelledItem
from bot.relevance.train import CORPUS
from bot.relevance.train import corpus_digest as words_digest
from bot.topics.load import load_topics
from bot.topics.match import Matcher, prepare

RANK = 8
EPOCHS = 3
BATCH = 32
RATE = 1e-3
DROPOUT = 0.1
SEED = 20261203
ROOT_RELEVANCE = HERE.parent / "relevance"


def rows(items: list[LabelledItem], topic: str, positive: str) -> list[tuple[str, float]]:
    """(text, label) of every item the topic's query lets through, as written and headline only."""
    gazetteer = Gazetteer.load()
    gate = Matcher([t for t in load_topics() if t.name == topic], gazetteer, relevance=False)
    out = []
    for item in items:
        for text in dict.fromkeys((item.description, "")):
            if gate.match_prepared(prepare(item.title, text, gazetteer)):
                out.append((encoder_text(item.title, text), float(item.label == positive)))
    return out


def exit_with_parent(parent: int, every: float = 5.0) -> None:
    """End this process once `parent` is gone. A fold worker runs for half an hour: when the
    command is stopped (Ctrl-C, kill), its workers would otherwise train on, orphaned, and
    halve the speed of the next run."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    if not any(t.name == "exit-with-parent" for t in threading.enumerate()):  # one per worker
        threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def fold(
    corpus: Path,
    splits: set[str],
    topic: str,
    positive: str,
    group: str,
    folder: Path,
    parent: int | None = None,
) -> tuple[str, dict[str, float]]:
    """Fit without `group`'s items; its items' headline probabilities, by item id."""
    if parent is not None:
        exit_with_parent(parent)
    from bot.encoder.model import Encoder
    from bot.opinions import reads

    items = items_of(corpus, splits)
    head = folder / f"fold-{group}.npz"
    train(rows([i for i in items if group_of(i) != group], topic, positive), head)
    held = [i for i in items if group_of(i) == group]
    scores = Encoder(head=head).scores([reads(i.title, i.description, None) for i in held])
    print(f"held out {group}: {len(held)} items scored", file=sys.stderr, flush=True)
    return group, {i.id: s for i, s in zip(held, scores, strict=True)}


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

    def logits(texts: list[str]) -> torch.Tensor:
        return head(pooled(w, low, tokenizer, texts, drop)).squeeze(-1)

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


def pooled(w: dict, low: dict, tokenizer: WordPiece, texts: list[str], drop: Any) -> Any:
    """`forward.encode` in torch, with the adapters `low` ("layer.N.linear" -> (A, B)) and
    dropout `drop`: the mean-pooled last hidden states, (len(texts), 384). What the topic's
    training and the grouping experiments (eval/experiments/grouping/tuned.py) learn through."""
    import torch

    def linear(key: str, x: torch.Tensor) -> torch.Tensor:
        a, b = low[key]
        return x @ w[f"encoder.{key}.weight"].T + w[f"encoder.{key}.bias"] + (x @ a.T) @ b.T

    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        g, beta = w[name + ".weight"], w[name + ".bias"]
        return torch.nn.functional.layer_norm(x, (HIDDEN,), g, beta, 1e-12)

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
    return (x * m).sum(1) / m.sum(1)


def run_folds(
    corpus: Path,
    splits: set[str],
    topic: str,
    positive: str,
    groups: list[str],
    jobs: int,
    saved: Path,
) -> dict[str, dict[str, float]]:
    """Every group held out in turn (`fold`, `jobs` side by side), the scores saved at `saved`.

    Eight folds take nearly two hours on two cores, so each is kept as it finishes
    (`parts_of(saved)`): a run stopped by Ctrl-C or a reboot resumes from the folds it
    finished, when the corpus, the query, the splits and the training settings are the same.
    """
    meta = fold_meta(corpus, topic, positive, splits)
    parts = parts_of(saved)
    held_out = finished_folds(parts, meta, groups)
    if held_out:
        print(f"kept from a stopped run: {', '.join(sorted(held_out))}", file=sys.stderr)
    todo = [g for g in groups if g not in held_out]
    if todo:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as workers,
        ):
            running = [
                workers.submit(fold, corpus, splits, topic, positive, g, Path(tmp), os.getpid())
                for g in todo
            ]
            for job in as_completed(running):
                group, scores = job.result()
                keep_fold(parts, meta, group, scores)
                held_out[group] = scores
    held_out = dict(sorted(held_out.items()))
    save_folds(saved, corpus, topic, splits, held_out)
    shutil.rmtree(parts, ignore_errors=True)
    return held_out


def fold_meta(corpus: Path, topic: str, positive: str, splits: set[str]) -> dict:
    """What a fold's scores depend on besides the code: a kept fold of other data or other
    settings is trained again."""
    training = {
        "rank": RANK,
        "epochs": EPOCHS,
        "batch": BATCH,
        "rate": RATE,
        "dropout": DROPOUT,
        "seed": SEED,
    }
    return {**_folds_meta(corpus, topic, splits), "positive": positive, "training": training}


def parts_of(saved: Path) -> Path:
    """The folder where a run keeps each fold as it finishes, beside the folds file."""
    return saved.with_name(f"{saved.stem}.parts")


def keep_fold(parts: Path, meta: dict, group: str, scores: dict[str, float]) -> None:
    """Write one finished fold (whole or not at all: a kill mid-write leaves no half file)."""
    parts.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"group": group, "meta": meta, "scores": scores}, sort_keys=True)
    replace_text(parts / f"{group}.json", text + "\n")


def finished_folds(parts: Path, meta: dict, groups: list[str]) -> dict[str, dict[str, float]]:
    """The folds a stopped run finished with this meta; any other is said and trained again."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted(parts.glob("*.json")) if parts.is_dir() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("group") not in groups:
            print(f"{path}: not a source of this run; not used", file=sys.stderr)
        elif data.get("meta") != meta:
            print(f"{path}: of another corpus, query or settings; trained again", file=sys.stderr)
        else:
            out[data["group"]] = data["scores"]
    return out


def _folds_meta(corpus: Path, topic: str, splits: set[str]) -> dict:
    return {
        "corpus_sha256": words_digest(corpus),
        "query": _query_text(topic),
        "splits": sorted(splits),
    }


def save_folds(
    path: Path, corpus: Path, topic: str, splits: set[str], held_out: dict[str, dict[str, float]]
) -> None:
    """Keep the folds' held-out scores, so that a retrained word model gets its bars with the
    encoder in seconds (`--bars-only`) instead of an hour of folds."""
    meta = _folds_meta(corpus, topic, splits)
    text = json.dumps({"meta": meta, "scores": held_out}, sort_keys=True, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def load_folds(
    path: Path, corpus: Path, topic: str, splits: set[str]
) -> dict[str, dict[str, float]]:
    """The saved held-out scores; refused when the corpus, the topic's query or the splits
    differ from the folds', as they would then have learned from (or scored) other items."""
    if not path.exists():
        raise SystemExit(f"{path}: no saved folds; run the command without --bars-only first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["meta"]["corpus_sha256"] != words_digest(corpus):
        raise SystemExit(f"{path}: the corpus changed since the folds ran; run them again")
    if data["meta"]["query"] != _query_text(topic):
        raise SystemExit(f"{path}: the topic's query changed since the folds ran; run them again")
    if data["meta"]["splits"] != sorted(splits):
        raise SystemExit(f"{path}: the folds ran on splits {data['meta']['splits']}, not these")
    scores: dict[str, dict[str, float]] = data["scores"]
    return scores


def _query_text(topic: str) -> str:
    return next(t.query for t in load_topics() if t.name == topic)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.encoder.train", description=__doc__)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--splits", default="train,validation")
    ap.add_argument("--topic", default="troop-deployments")
    ap.add_argument("--positive", default="deploy")
    ap.add_argument("--out", type=Path, default=HERE / "deployments.npz")
    ap.add_argument("--keep-bars", action="store_true", help="train the head only")
    ap.add_argument("--sources", help="held out in turn (default: every source)")
    ap.add_argument("--jobs", type=int, default=2, help="folds trained side by side")
    ap.add_argument(
        "--bars-only",
        action="store_true",
        help="re-choose the bars from the folds' saved scores (after retraining the word model)",
    )
    ap.add_argument(
        "--folds",
        type=Path,
        help="where the folds' scores are kept (default: eval/folds/<the head's name>.json)",
    )
    args = ap.parse_args(argv)
    if args.keep_bars and args.bars_only:
        ap.error("--keep-bars and --bars-only exclude each other")
    splits = set(args.splits.split(","))
    items = items_of(args.corpus, splits)
    saved = args.folds or CORPUS.parent / "folds" / f"{args.out.stem}.json"
    if args.bars_only:
        held_out = load_folds(saved, args.corpus, args.topic, splits)
    elif not args.keep_bars:
        groups = sorted(args.sources.split(",") if args.sources else {group_of(i) for i in items})
        held_out = run_folds(
            args.corpus, splits, args.topic, args.positive, groups, args.jobs, saved
        )
    if not args.keep_bars:
        words = json.loads((ROOT_RELEVANCE / "deployments.json").read_text(encoding="utf-8"))
        bars = choose(
            pool(items, held_out, args.topic, args.positive),
            args.corpus,
            (words["threshold"], words["threshold_title_only"]),
        )
        bars_file = args.out.with_suffix(".json")
        bars_file.write_text(json.dumps(bars, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(json.dumps(bars["meta"]["held_out_scores"]), file=sys.stderr)
    if args.bars_only:
        return 0
    data = rows(items, args.topic, args.positive)
    print(f"{len(data)} examples, {int(sum(y for _, y in data))} positive", file=sys.stderr)
    train(data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
