"""A document of the story index: what the index needs of an item (`StoryDoc`), and the one
bytes object it keeps of it (story, time, term ids, weights in tenths).

`tenths` and `PackedDoc` are that form's weights and the start-up rebuild's input: the terms
stored with each item (bot.storyterms) are kept the same way.

Deliberately not here: what the terms are (bot.stories.words), or what the index does with
documents (bot.stories.postings holds them, bot.stories.index decides).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StoryDoc:
    """What the index needs of an item; `text` may be as short as one sentence.

    `terms`, when given, is `doc_terms(doc)` computed elsewhere (say, in a worker process);
    the index then uses it instead of tokenising again. It is derived data: not compared.
    """

    item_id: int
    title: str
    text: str
    entities: tuple[str, ...]
    published: datetime
    terms: dict[str, float] | None = field(default=None, compare=False)
    # Its sentence vector (`bot.grouping.VECTOR_DIM` float16s, unit length), when the encoder
    # gave one: the index keeps none itself; `Vectors` gives those of members on demand.
    vector: bytes | None = field(default=None, compare=False)


# Stored members' sentence vectors by item id (those it has): read from the database for the
# few members a new item is compared with, so the index holds no vectors in memory.
Vectors = Callable[[list[int]], dict[int, bytes]]


# A document in the index is one bytes object: this head, then its term ids, then their
# weights in tenths (a byte each). An instance holding a float and two arrays took ~170 bytes
# more per document. Ids below 2**16 (a window's common words, which came first) take two
# bytes, the others four: the wide ones first, then the narrow, the weights in that order.
_HEAD = struct.Struct("=qdII")  # story id, published (epoch seconds), wide ids, narrow ids
_NARROW = 1 << 16


def _pack(story_id: int, published: float, terms: dict[int, float]) -> bytes:
    return _packed(story_id, published, list(terms), tenths(terms.values()))


def _packed(story_id: int, published: float, ids: list[int], weights: bytes) -> bytes:
    """A packed document of term `ids` and their `weights` (as `tenths` gives them)."""
    try:
        return _HEAD.pack(story_id, published, 0, len(ids)) + array("H", ids).tobytes() + weights
    except OverflowError:  # some ids are wide: those go first
        order = sorted(range(len(ids)), key=lambda i: ids[i] < _NARROW)
        wide = sum(1 for t in ids if t >= _NARROW)
        head = _HEAD.pack(story_id, published, wide, len(ids) - wide)
        ordered = [ids[i] for i in order]
        packed = array("I", ordered[:wide]).tobytes() + array("H", ordered[wide:]).tobytes()
        return head + packed + bytes(map(weights.__getitem__, order))


def tenths(weights: Iterable[float]) -> bytes:
    """Term weights as a packed document keeps them: in tenths, a byte each."""
    return bytes(min(255, round(w * 10)) for w in weights)


# A document as `StoryIndex.add_many` takes it: item id, story id, published (epoch
# seconds), its terms, and their weights as `tenths` gives them.
PackedDoc = tuple[int, int, float, Sequence[str], bytes]


def _unpack_terms(entry: bytes) -> tuple[list[int], bytes]:
    """Term ids and weights of a packed document."""
    _, _, wide, narrow = _HEAD.unpack_from(entry)
    view, middle = memoryview(entry), _HEAD.size + 4 * wide
    end = middle + 2 * narrow
    ids = view[middle:end].cast("H").tolist()
    if wide:
        ids = view[_HEAD.size : middle].cast("I").tolist() + ids
    return ids, entry[end:]
