"""What the story index holds: its documents, each one packed bytes object, and per term its
id, document frequency and postings; adding, forgetting and pruning them as the window moves,
and the state `bot.indexfile` saves between runs.

Memory follows the window and stays compact: postings are arrays of 32-bit item ids, only
the newest few hundred per term (older ones are never scanned), a document is one bytes
object (story, time, term ids in two bytes where they fit, weights in tenths), and per-term
state lives in arrays indexed by term id, whose ids are reused once no live document uses
the term; each story's live members are one array of item ids.

Deliberately not here: scoring or choosing a story (bot.stories.index, whose `StoryIndex`
this is the base of).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import ne

from bot.stories.docs import _HEAD, PackedDoc, StoryDoc, _pack, _packed, _unpack_terms
from bot.stories.words import doc_terms

POSTINGS_SCANNED = 200  # newest postings scanned per term
# Postings kept per term: the newest, twice those scanned, so that up to POSTINGS_SCANNED of
# them can leave (deleted, pruned late) before a scan reads fewer than it would in the whole
# list. A term's older postings are never read; in 100,000 items, keeping them all was 11 MB.
POSTINGS_KEPT = 2 * POSTINGS_SCANNED
BUCKET_SECONDS = 3600  # pruning finds old docs by the hour they were published in


_EMPTY = array("I")  # shared and never appended to: `_appended` copies it first


def _appended(ids: array, key: int) -> array:
    """`ids` with `key` appended; a fresh array for `_EMPTY`, a wider one past 32 bits.

    Item ids are SQLite rowids, so 32 bits hold them for years; a bigger (or negative) one
    widens only the arrays it lands in.
    """
    if ids is _EMPTY:
        ids = array("I")
    try:
        ids.append(key)
    except OverflowError:
        ids = array("q", ids)
        ids.append(key)
    return ids


class Postings:
    """The documents of a story index and their postings; `StoryIndex` scores with them."""

    def __init__(self, *, window: timedelta = timedelta(hours=72)):
        self.window = window
        self._vocab: dict[str, int] = {}
        # By term id; a freed id is reused, so these stay as long as the live vocabulary.
        self._term_of: list[str | None] = []
        self._df = array("I")
        self._log_df = array("d")  # log(df + 1), so scoring never calls math.log per term
        self._postings: list[array] = []  # item ids, oldest added first
        self._free: list[int] = []
        self._entries: dict[int, bytes] = {}  # packed documents by item id
        self._buckets: dict[int, array] = {}  # item ids by hour of publication, for pruning
        self._members: dict[int, array] = {}  # item ids of each story's live members
        self._last: tuple[StoryDoc, dict[str, float]] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, doc: StoryDoc, story_id: int) -> None:
        """Record `doc` as a member of `story_id` (replacing an earlier add of the same item)."""
        key = doc.item_id
        if key in self._entries:
            self._compact(self._remove(key))
        terms = {self._term_id(t): w for t, w in self._doc_terms(doc).items()}
        published = doc.published.timestamp()
        self._entries[key] = _pack(story_id, published, terms)
        self._members[story_id] = _appended(self._members.get(story_id, _EMPTY), key)
        bucket = int(published // BUCKET_SECONDS)
        self._buckets[bucket] = _appended(self._buckets.get(bucket, _EMPTY), key)
        df, log_df, postings = self._df, self._log_df, self._postings
        for t in terms:
            df[t] += 1
            log_df[t] = math.log(df[t] + 1)
            kept = postings[t] = _appended(postings[t], key)
            if len(kept) > POSTINGS_KEPT:
                del kept[0]

    def add_many(self, docs: Iterable[PackedDoc]) -> None:
        """Record many new documents, in order, exactly as `add` one by one would (the same
        term ids, postings in the same order, the same frequencies), several times faster:
        the per-term work runs in C. For the start-up rebuild from stored terms.

        Each doc is (item id, story id, published as epoch seconds, its terms, their
        weights as `tenths` gives them); an item already held raises ValueError.
        """
        postings = self._postings
        before = array("q", map(len, postings))
        for key, story_id, published, names, weights in docs:
            if key in self._entries:
                raise ValueError(f"item {key} is in the story index already")
            try:
                ids = list(map(self._vocab.__getitem__, names))
            except KeyError:  # new terms: ids given out in order, as `add` does; own postings
                ids = self._new_terms(names)
            self._entries[key] = _packed(story_id, published, ids, weights)
            self._members[story_id] = _appended(self._members.get(story_id, _EMPTY), key)
            bucket = int(published // BUCKET_SECONDS)
            self._buckets[bucket] = _appended(self._buckets.get(bucket, _EMPTY), key)
            if 0 <= key < 2**32:  # appended in C
                deque(map(array.append, map(postings.__getitem__, ids), repeat(key)), 0)
                if _EMPTY:  # a held term had no postings of its own (never, but cheap to mend)
                    self._mend_empty(ids, key)
            else:  # wider arrays
                for t in ids:
                    postings[t] = _appended(postings[t], key)
        before.extend(repeat(0, len(postings) - len(before)))  # new ids had nothing before
        for t in compress(range(len(postings)), map(ne, map(len, postings), before)):
            self._df[t] += len(postings[t]) - before[t]
            self._log_df[t] = math.log(self._df[t] + 1)
            if len(postings[t]) > POSTINGS_KEPT:
                del postings[t][:-POSTINGS_KEPT]

    def _new_terms(self, names: Sequence[str]) -> list[int]:
        ids = [self._term_id(t) for t in names]
        for t in ids:
            if self._postings[t] is _EMPTY:
                self._postings[t] = array("I")
        return ids

    def _mend_empty(self, ids: list[int], key: int) -> None:
        """`key` went into the shared `_EMPTY` for terms that had no postings: theirs now."""
        del _EMPTY[:]
        for t in ids:
            if self._postings[t] is _EMPTY:
                self._postings[t] = array("I", [key])

    def size(self, story_id: int) -> int:
        """Live members of a story (0: none, or not a story)."""
        return len(self._members.get(story_id, _EMPTY))

    def story_of(self, item_id: int) -> int | None:
        """The story of a document held (None: not held)."""
        entry = self._entries.get(item_id)
        return None if entry is None else _HEAD.unpack_from(entry)[0]

    def members(self) -> dict[int, int]:
        """The story id of every document held, by item id (to check it against the store)."""
        return {key: _HEAD.unpack_from(entry)[0] for key, entry in self._entries.items()}

    def discard(self, item_ids: Iterable[int]) -> None:
        """Forget these documents (deleted, or never committed); ids not held are ignored."""
        dirty: set[int] = set()
        for key in item_ids:
            dirty.update(self._remove(key))
        self._compact(dirty)

    def __getstate__(self) -> dict[str, object]:
        """What `bot.indexfile` saves between runs: all but the one-document cache, and the
        terms by id only as their number: saved without a memo, each term's one string would
        come back as two (+2 MB in bench.startup's 30,000 terms, more with a wire's)."""
        return {**self.__dict__, "_last": None, "_term_of": len(self._term_of)}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        count = state["_term_of"]
        assert isinstance(count, int)
        term_of: list[str | None] = [None for _ in range(count)]
        for term, tid in self._vocab.items():
            term_of[tid] = term
        self._term_of = term_of
        # Empty postings come back as copies of `_EMPTY`; `_appended` must see `_EMPTY` itself.
        self._postings = [p if p else _EMPTY for p in self._postings]

    def prune(self, now: datetime) -> None:
        """Forget documents published longer than the window before `now`.

        Docs need not arrive in order of publication (a feed's first poll brings days of
        items): whole hours older than the cutoff go at once, the cutoff's hour doc by doc.
        """
        cutoff = (now - self.window).timestamp()
        last = int(cutoff // BUCKET_SECONDS)
        dirty: set[int] = set()
        for bucket in [b for b in self._buckets if b <= last]:
            dirty.update(self._prune_bucket(bucket, cutoff))
        self._compact(dirty)

    def _prune_bucket(self, bucket: int, cutoff: float) -> set[int]:
        """Remove the bucket's docs published before `cutoff`; returns their term ids."""
        dirty: set[int] = set()
        keep, ids = [], self._buckets.pop(bucket)
        for key in ids:
            entry = self._entries.get(key)
            if entry is None:
                continue  # removed since
            published = _HEAD.unpack_from(entry)[1]
            if int(published // BUCKET_SECONDS) != bucket:
                continue  # added again with another time: listed in that hour
            if published < cutoff:
                dirty.update(self._remove(key))
            else:
                keep.append(key)
        if keep:
            self._buckets[bucket] = array(ids.typecode, dict.fromkeys(keep))
        return dirty

    def _term_id(self, term: str) -> int:
        tid = self._vocab.get(term)
        if tid is None:
            tid = self._vocab[term] = self._new_term_id()
            self._term_of[tid] = term
        return tid

    def _new_term_id(self) -> int:
        if self._free:
            tid = self._free.pop()
            self._df[tid] = 0
            self._log_df[tid] = 0.0
            self._postings[tid] = _EMPTY
            return tid
        self._term_of.append(None)
        self._df.append(0)
        self._log_df.append(0.0)
        self._postings.append(_EMPTY)
        return len(self._term_of) - 1

    def _doc_terms(self, doc: StoryDoc) -> dict[str, float]:
        """The doc's own `terms`, else doc_terms remembered for the last doc (the caller adds
        the doc it just assigned)."""
        if doc.terms is not None:
            return doc.terms
        if self._last is None or self._last[0] is not doc:
            self._last = (doc, doc_terms(doc))
        return self._last[1]

    def _remove(self, key: int) -> Iterable[int]:
        """Drop one entry; returns its term ids, whose postings now hold a dead key."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return ()
        story_id = _HEAD.unpack_from(entry)[0]
        members = self._members[story_id]
        members.remove(key)
        if not members:
            del self._members[story_id]
        terms, _ = _unpack_terms(entry)
        df, log_df = self._df, self._log_df
        for t in terms:
            df[t] -= 1
            log_df[t] = math.log(df[t] + 1)
        self._forget_unused(terms)
        return terms

    def _compact(self, term_ids: Iterable[int]) -> None:
        """Rewrite postings that hold keys of removed entries (removal itself is lazy)."""
        live = self._entries.__contains__
        for t in set(term_ids):
            if self._term_of[t] is not None:
                p = self._postings[t]
                self._postings[t] = array(p.typecode, filter(live, p))

    def _forget_unused(self, term_ids: Iterable[int]) -> None:
        """Terms no live doc uses leave the vocabulary, so memory follows the window."""
        for t in term_ids:
            term = self._term_of[t]
            if self._df[t] == 0 and term is not None:
                del self._vocab[term]
                self._term_of[t] = None
                self._postings[t] = _EMPTY
                self._free.append(t)
