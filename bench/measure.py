"""Measuring a section of a benchmark: wall time, CPU and peak RSS of a process tree.

CPU and RSS include child processes (wirewatch parses in a worker pool, and a fair
comparison must count those cores too). Peak RSS is sampled every 250 ms by a thread, so a
spike shorter than that can be missed; `maxrss_mb` (the kernel's own peak for this process
alone) is exact and is reported beside it.

Also here: running one contender in a fresh interpreter (`run_child`), so that each one's
memory and imports are its own, and the JSON line it prints is its result.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil

MB = 2**20


def tree_cpu(proc: psutil.Process) -> dict[int, float]:
    """CPU seconds (user + system) of a process and its live descendants, by pid."""
    out: dict[int, float] = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


@dataclass
class Meter:
    """`with Meter() as m:` then m.wall, m.cpu, m.peak_rss_mb; samples in a thread."""

    interval: float = 0.25  # listing a process tree reads all of /proc: keep it rare
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0
    _cpu_seen: dict[int, float] = field(default_factory=dict)
    _cpu_start: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Meter:
        self._proc = psutil.Process()
        self._cpu_start = tree_cpu(self._proc)
        self._cpu_seen = dict(self._cpu_start)
        self.peak_rss = tree_rss(self._proc)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, tree_rss(self._proc))
            self._cpu_seen.update(tree_cpu(self._proc))

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._cpu_seen.update(tree_cpu(self._proc))
        self.peak_rss = max(self.peak_rss, tree_rss(self._proc))
        # A worker that exited during the section keeps its last sampled CPU time.
        self.cpu = sum(v - self._cpu_start.get(pid, 0.0) for pid, v in self._cpu_seen.items())

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss / MB

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_s": round(self.wall, 3),
            "cpu_s": round(self.cpu, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "maxrss_mb": round(maxrss_mb(), 1),
        }


def maxrss_mb() -> float:
    """The kernel's peak RSS of this process over its whole life (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, *args: str, timeout: float = 3600) -> dict:
    """Run `python -m module args` and return the JSON object on its last stdout line."""
    cmd = [sys.executable, "-m", module, *args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no result:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def emit(result: dict) -> None:
    """A child's result: one JSON line on stdout (logs go to stderr)."""
    print(json.dumps(result), flush=True)
