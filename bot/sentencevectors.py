"""Sentence vectors of new items for the story index, asked for in one batch per poll.

Every new item gets one (not only candidates): a later report joins a story through any of
its members. The running bot asks a worker process, as for the encoder's opinions, so the
weights and numpy stay out of its own memory; replays ask in-process. When the encoder
cannot answer (weights not installed, a worker failure), the items get none and the story
index joins them by their words alone (`bot.grouping.join_probability`): said, never an
item lost. Stored with the item (`bot.storyvectors`), so a later item compares with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.errors import ConfigError, WorkerError, one_line
from bot.workers import sentence_vectors_async

log = logging.getLogger(__name__)

_said: set[str] = set()  # problems of an install already logged in this process
SPLIT_AT = 16  # this many or more at once: half to each worker, both cores at work


async def ask(titles: Sequence[str]) -> list[bytes | None]:
    """Each title's sentence vector, from the workers; Nones when they cannot give them."""
    texts = _texts(titles)
    wanted = [t for t in texts if t]
    if not wanted:
        return [None] * len(texts)
    half = len(wanted) // 2
    parts = [wanted[:half], wanted[half:]] if len(wanted) >= SPLIT_AT else [wanted]
    try:
        done = await asyncio.gather(*(sentence_vectors_async(part) for part in parts))
    except (ConfigError, WorkerError) as exc:
        _unavailable(exc)
        return [None] * len(texts)
    return _placed(texts, [v for part in done for v in part])


def ask_now(titles: Sequence[str]) -> list[bytes | None]:
    """`ask` in this process (replays: nothing else waits on them)."""
    texts = _texts(titles)
    wanted = [t for t in texts if t]
    if not wanted:
        return [None] * len(texts)
    from bot.encoder import sentence_vectors  # numpy and the weights: only when asked

    try:
        return _placed(texts, sentence_vectors(wanted))
    except ConfigError as exc:
        _unavailable(exc)
        return [None] * len(texts)


def _texts(titles: Sequence[str]) -> list[str]:
    """What each vector reads; "" for a title with no word in it (a feed without titles):
    such items get no vector, as the vectors of empty texts would all be alike."""
    from bot.encoder import grouping_text

    texts = [grouping_text(t) for t in titles]
    return [t if any(c.isalnum() for c in t) else "" for t in texts]


def _placed(texts: list[str], given: list[bytes]) -> list[bytes | None]:
    """The vectors of the texts asked for, in place; None for those not asked."""
    found = iter(given)
    return [next(found) if t else None for t in texts]


def _unavailable(exc: Exception) -> None:
    """A missing install is said once; a worker's failure each time (it may pass)."""
    problem = one_line(exc)
    if isinstance(exc, ConfigError):
        if problem in _said:
            return
        _said.add(problem)
    log.warning("vectors.unavailable error=%s grouping=by_words", problem)
