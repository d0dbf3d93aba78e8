"""Between polls, a worker that scored lets go of the encoder's weights (70-90 MB of pages
in each worker, which kept the idle bot's process tree over its 150 MB), and scores the next
batch exactly as before."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from bot import workers
from bot.encoder.model import Encoder
from bot.encoder.weights import release

TEXTS = [
    "Pentagon deploys 3,000 troops to Poland",
    "North Korea has sent more troops to Russia",
    "Central bank holds rates steady as inflation cools",
]
MB = 2**20


def weights_resident(pid: int) -> float:
    """Bytes of the weights file resident in the process `pid` (its mappings of it)."""
    total, counting = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
            counting = line.endswith("model.safetensors")
        elif counting and head[0] == "Rss:":
            total += int(head[1]) * 1024
    return total


def test_released_weights_leave_memory_and_score_the_same():
    encoder = Encoder()
    before = encoder.embed(TEXTS)
    assert weights_resident(os.getpid()) > 20 * MB
    release()
    assert weights_resident(os.getpid()) < 2 * MB
    after = encoder.embed(TEXTS)
    assert after.tobytes() == before.tobytes()  # the same bytes read again: the same vectors


def _workers() -> list[int]:
    """This process's pool workers (spawned: `spawn_main`), not its other children."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces, so read after its ")"
            state, ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (proc / "cmdline").read_bytes()
            # a worker killed just now, not yet reaped, is a zombie: not one
            if int(ppid) == os.getpid() and state != "Z" and b"spawn_main" in cmdline:
                found.append(int(proc.name))
    return found


@pytest.mark.slow
async def test_a_worker_lets_go_of_the_weights_once_idle_and_scores_the_same_after(monkeypatch):
    # 2 s: the pages are read back well within it, even on a loaded CI machine, and the
    # rest is waited for (up to 20 s), not slept through: a late timer thread is no failure.
    monkeypatch.setattr(workers, "ENCODER_RESTS_AFTER", 2.0)
    workers.shutdown_workers()  # fresh workers: none has read the weights yet
    try:
        first = await workers.sentence_vectors_async(TEXTS)
        opinion = await workers.opinions_async("deployments", TEXTS[:1])
        held = max(weights_resident(pid) for pid in _workers())
        assert held > 20 * MB  # the worker that scored holds them while it may score again
        deadline = time.monotonic() + 20
        while any(weights_resident(pid) >= 2 * MB for pid in _workers()):
            assert time.monotonic() < deadline, "the idle workers still hold the weights"
            await asyncio.sleep(0.1)
        assert await workers.sentence_vectors_async(TEXTS) == first
        assert await workers.opinions_async("deployments", TEXTS[:1]) == opinion
    finally:
        workers.shutdown_workers()


def _address_space(pid: int) -> int:
    """What the worker's memory limit (RLIMIT_AS, `WORKER_MEMORY`) counts: its mappings."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if "VmSize" in x)
    return int(line.split()[1]) * 1024


@pytest.mark.slow
async def test_a_worker_that_rests_keeps_the_room_its_memory_limit_gives_its_work(monkeypatch):
    """The rest's timer is a thread, and glibc gave it a heap of its own (64 MB of address
    space reserved, 128 MB as it was made): a worker that had scored was that much nearer
    its 512 MB limit, and a large feed or page parsed there next failed as too big sooner."""
    monkeypatch.setattr(workers, "_MAX_WORKERS", 1)  # one worker: every call is its
    monkeypatch.setattr(workers, "ENCODER_RESTS_AFTER", None)
    workers.shutdown_workers()
    try:
        await workers.sentence_vectors_async(TEXTS)
        await workers.opinions_async("deployments", TEXTS[:1])
        pid = max(_workers(), key=weights_resident)  # the worker (a killed one may linger)
        kept = _address_space(pid)  # the weights and the model's arrays, no rest asked
        monkeypatch.setattr(workers, "ENCODER_RESTS_AFTER", 0.2)
        await workers.opinions_async("deployments", TEXTS[:1])
        deadline = time.monotonic() + 20
        while weights_resident(pid) >= 2 * MB:
            assert time.monotonic() < deadline, "the idle worker still holds the weights"
            await asyncio.sleep(0.1)
        grown = _address_space(pid) - kept
        assert grown < 24 * MB, f"{grown / MB:.0f} MB more address space after resting"
    finally:
        workers.shutdown_workers()
