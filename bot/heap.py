"""Keep the long-running bot's memory near what it holds, not what it once held.

The start builds the story index (100,000 items: tens of MB in small objects and growing
arrays, added in a thread) and the first cycle parses every feed; much of that is freed, but
glibc's allocator keeps freed heap pages, and gives each thread that allocates its own arena
(up to eight per core), so the process's RSS stays near its peak. Two knobs of glibc help,
set through `mallopt` and `malloc_trim` (ctypes, no dependency): at most `ARENAS` arenas,
and freed pages handed back after the start and after each wave of a poll.

Elsewhere (macOS, musl) neither exists and nothing is done: the bot runs the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

ARENAS = 2  # glibc's M_ARENA_MAX; its default is 8 per core
_M_ARENA_MAX = -8  # from glibc's malloc.h


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None  # not glibc
    return libc


def available() -> bool:
    """Whether this process's C library is glibc, whose knobs these are."""
    return _libc() is not None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas; call before threads start allocating. False where not glibc."""
    libc = _libc()
    return bool(libc and libc.mallopt(_M_ARENA_MAX, arenas))


def give_back() -> bool:
    """Hand freed heap pages back to the system (`malloc_trim(0)`): a few ms at 100,000
    items. True when some memory was returned."""
    libc = _libc()
    return bool(libc and libc.malloc_trim(0))
