"""Memory a long-running bot freed goes back to the system (bot.heap), where glibc is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import heap

# Allocates 60 MB of 2 KB blocks (past Python's small-object allocator: glibc's heap), frees
# all but one in fifty, so the heap's top stays in use and glibc cannot shrink it by itself.
PROBE = """
import os, sys
from bot import heap
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
blocks = [bytes(2000) + bytes([i % 256]) for i in range(30000)]
kept = blocks[::50]
del blocks
held = rss()
returned = heap.give_back() if sys.argv[1] == "give-back" else False
print(held, rss(), returned)
"""

glibc = pytest.mark.skipif(not heap.available(), reason="not glibc: bot.heap does nothing")


def _probe(mode: str) -> tuple[int, int, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1]), out[2]


@glibc
def test_freed_memory_goes_back_to_the_system():
    held, after, returned = _probe("give-back")
    assert returned == "True" and held - after >= 30  # MB: most of the 59 freed
    kept_held, kept_after, _ = _probe("keep")
    assert kept_held - kept_after < 5  # without it the process keeps them


def test_the_heap_knobs_never_fail_where_they_do_not_exist(monkeypatch):
    monkeypatch.setattr(heap.ctypes.util, "find_library", lambda name: None)
    heap._libc.cache_clear()
    try:
        assert not heap.available()
        assert heap.limit_arenas() is False and heap.give_back() is False
    finally:
        heap._libc.cache_clear()
