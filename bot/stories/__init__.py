"""Which story an item belongs to: the same event told by several outlets, within a time window.

An in-memory inverted index over distinctive terms (light-stemmed words of title and text,
plus canonical entity names) scored by TF-IDF cosine, with document frequencies kept by the
index itself as documents come and go. A new document is compared only with documents found
in the postings of its rarest terms (newest first, capped), so the cost of `assign` stays flat
however many documents the window holds. A story's score is half its best member's cosine
plus half the mean of its best few, so one look-alike is not enough to join a story; and a
story of three or more members takes an item only if the item resembles the story as a whole
(`CHAIN_GUARD`), so a busy day's stories do not grow by steps that each look right, and
shares more with it than countries' names (`CONTENT_GUARD`), which every report of a war
carries.

Memory follows the window and stays compact: postings are arrays of 32-bit item ids, only
the newest few hundred per term (older ones are never scanned), a document is one bytes
object (story, time, term ids in two bytes where they fit, weights in tenths), and per-term
state lives in arrays indexed by term id, whose ids are reused once no live document uses
the term; each story's live members are one array of item ids.

Deliberately does not persist anything: the caller stores story ids and, at start, re-adds
recent items. It does not decide what is alert-worthy either.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import struct
from array import array
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import add, mul, ne

from bot.grouping import (
    JoinWeights,
    cosines,
    could_reach,
    join_model,
    join_probability,
    vector_bytes_ok,
)
from bot.text.wire import headline

log = logging.getLogger(__name__)

TITLE_TENTHS = 20  # a term weighing this much (in tenths) comes from the title (TITLE_BOOST)

TITLE_BOOST = 2  # a title word counts as this many body words
# An entity's name is usually a word of the text already; counting it once more (1, not 0.5)
# read 0.797 against 0.793 in the replay `named` cites, before the text was named.
ENTITY_BOOST = 1.0
MAX_BODY_TERMS = 60  # the lead of a long article carries the event; the rest is background
RAREST_TERMS = 8  # postings of this many of the doc's rarest terms give the candidates
POSTINGS_SCANNED = 200  # newest postings scanned per term
# Postings kept per term: the newest, twice those scanned, so that up to POSTINGS_SCANNED of
# them can leave (deleted, pruned late) before a scan reads fewer than it would in the whole
# list. A term's older postings are never read; in 100,000 items, keeping them all was 11 MB.
POSTINGS_KEPT = 2 * POSTINGS_SCANNED
MAX_CANDIDATES = 16  # scored in full; 24 changed 0.03 % of decisions for 1.3x the cost
MEAN_OF = 4  # a story's score averages this many of its best members
IDF_PRIOR = 20  # pretend this many unrelated docs exist, so a young index is not overconfident
# An alert-worthy item joins a story already alerted for its topics at this share of the join
# bar (0.245 for 0.35). Replays of train: stories alerted twice 4 -> 3 with text, 5 -> 2
# headlines only; grouping pairwise P/R 0.672/0.833 -> 0.678/0.835 and 0.657/0.772 ->
# 0.661/0.775; validation unchanged (0 twice). 0.5 and 0.85 gave the same twice counts.
NEARLY = 0.7
# A story of CHAIN_MIN members or more takes an item only if the item's cosine with the story
# as a whole (its newest CHAIN_MEMBERS members summed) reaches CHAIN_GUARD. Each item joins the
# story of its closest member, so on a busy wire a story can grow by steps that each look
# right (Crimea troops -> oil prices -> bond markets -> an unrelated press release). Chosen
# on sources the join model did not learn from (eval/experiments/grouping/guard.py, train +
# validation): mean pairwise F1 0.770 -> 0.791 (text P 0.698 -> 0.767, R 0.874 -> 0.873;
# headlines P 0.728 -> 0.764, R 0.803 -> 0.769); 0.15 and above lose headline recall.
CHAIN_GUARD = 0.11
CHAIN_MIN = 3
# ...and only if that cosine with countries' names left out (`_country_words`) reaches
# CONTENT_GUARD: on a war's busy days every report names the same two countries, and a
# report that shares only them with a story ("Jordan beat Iraq to reach Asian Cup quarter-
# finals" and the drone strike on US troops in Jordan; a prisoner swap and Russia's call-up)
# is not that story. Chosen on sources the join model did not learn from (the held-out
# replays of train + validation, as CHAIN_GUARD: eval/experiments/grouping/content.py):
# mean pairwise F1 0.8315 -> 0.8505 (text P 0.842 -> 0.867, R 0.896; headlines P 0.783 ->
# 0.839, R 0.807 -> 0.801); 0.07-0.15 all read 0.842 or more, 0.16 and above lose recall.
# Leaving out every name the gazetteer knows, or all but organisations', read 0.787 and
# 0.849; guarding stories of 1 or 2 members too, 0.848 and 0.850. An item that would be an
# alert is not kept from a story already alerted for its topics this way (`assign`).
CONTENT_GUARD = 0.10
CONTENT_MIN = 3
# The story as it is now: its newest 16 members, not 64 (a story drifts, and 64 reports of a
# war match almost any report of it). Same held-out folds (eval/experiments/grouping/knob.py):
# mean pairwise F1 0.800 -> 0.814 (text P 0.786 -> 0.822, headlines 0.751 -> 0.766, recall
# unchanged); 12-20 all read above 64.
CHAIN_MEMBERS = 16
# Different actors doing the same thing are different stories ("France deploys warship to the
# Red Sea" / "Italy sends navy frigate to the Red Sea": the sea, the verb and the ship shared,
# p 0.86): a story whose newest CHAIN_MEMBERS members name countries, none of them among the
# item's (which names some too), never takes it. On the held-out replays of train +
# validation such a story was the item's own in 4 of 3,783 candidates, and the guard left
# pairwise F1 nearly as it was (0.8308 -> 0.8315, eval/experiments/grouping/actors.py).
APART = True
BUCKET_SECONDS = 3600  # pruning finds old docs by the hour they were published in


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


class StoryIndex:
    """Groups documents into stories; see the module docstring for how."""

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

    def assign(
        self,
        doc: StoryDoc,
        alerted: Callable[[list[int]], Collection[int]] | None = None,
        vectors: Vectors | None = None,
    ) -> int | None:
        """The story id of the best matching story, or None when the doc starts a new story.

        `alerted`: for an item that would be an alert, which of the stories it nearly joins
        were alerted for its topics already. Such a story takes it at a lower bar (`NEARLY`
        times the join bar): a second top-level alert for one story is what a newsroom
        minds most, and an alert-worthy report close to an alerted story is most often
        that story told in other words. `vectors`: members' sentence vectors (see `Vectors`).
        """
        weights, threshold = join_model()
        # The lowest bar a story is chosen at here: stories that cannot reach it whatever
        # their vectors say are not worth reading the vectors of.
        reach = (weights, threshold * NEARLY if alerted is not None else threshold)
        found = {
            sid: join_probability(f, weights)
            for sid, f in self.candidates(doc, vectors, reach).items()
        }
        # An alert-worthy item is not kept from a story already alerted for its topics by
        # sharing little but countries' names with it (CONTENT_GUARD): that is most often the
        # story told in other words, and a second top-level alert is the worse mistake.
        joinable = [sid for sid, p in found.items() if p >= threshold]
        loose = set(alerted(joinable)) if alerted is not None and joinable else set()
        story = self.choose(doc, found, threshold, loose=loose)
        if story is None and alerted is not None:
            near = {sid: p for sid, p in found.items() if p >= threshold * NEARLY}
            for sid, p in self._named_title(doc, reach, vectors).items():
                if p >= threshold * NEARLY and p > near.get(sid, 0.0):
                    near[sid] = p
            held = set(alerted(list(near))) if near else set()
            held_p = {sid: p for sid, p in near.items() if sid in held}
            story = self.choose(doc, held_p, 0.0, loose=held)
        p = found.get(story, threshold) if story is not None else threshold
        log.debug("story.assign item=%s story=%s p=%.3f", doc.item_id, story, p)
        return story

    def _named_title(
        self, doc: StoryDoc, reach: tuple[JoinWeights, float], vectors: Vectors | None
    ) -> dict[int, float]:
        """Join probabilities of `doc` with its title's names read as the gazetteer's too
        ("Pyongyang's soldiers redeployed to Kursk" as "North Korea's soldiers ..."), for an
        alert-worthy item only: read so for every item, a war's headlines joined (`named`)."""
        written = headline(doc.title, genre=False)
        title = named(written)
        if title == written:
            return {}
        # Only the title changes: the text's terms and the names stay those the doc was
        # filed with (`doc.entities` may hold an article page's, which its terms do not).
        terms = self._doc_terms(doc)
        again = replace(doc, title=title, terms=retitled(terms, written, title))
        found = self.candidates(again, vectors, reach)
        return {sid: join_probability(f, reach[0]) for sid, f in found.items()}

    def choose(
        self,
        doc: StoryDoc,
        found: dict[int, float],
        bar: float,
        *,
        loose: Collection[int] = (),
    ) -> int | None:
        """The most probable story at or above `bar` that `doc` does not merely chain onto
        (see CHAIN_GUARD and CONTENT_GUARD; the latter not for the stories in `loose`); of
        equal probabilities the last offered. None: a new story."""
        ranked = sorted(enumerate(found.items()), key=lambda x: (x[1][1], x[0]), reverse=True)
        mine: set[str] | None = None
        for _, (sid, p) in ranked:
            if p < bar:
                break
            size = self.size(sid)
            if size >= min(CHAIN_MIN, CONTENT_MIN):
                whole, about = self.story_cosines(doc, sid)
                if size >= CHAIN_MIN and whole < CHAIN_GUARD:
                    continue
                if size >= CONTENT_MIN and about < CONTENT_GUARD and sid not in loose:
                    continue
            if APART:
                mine = self._countries_of(doc) if mine is None else mine
                theirs = self._story_countries(sid)
                if mine and theirs and not mine & theirs:
                    continue
            return sid
        return None

    def _countries_of(self, doc: StoryDoc) -> set[str]:
        return {t for t in self._doc_terms(doc) if t in _countries()}

    def _story_countries(self, story_id: int) -> set[str]:
        """The countries the story's newest CHAIN_MEMBERS members name."""
        found: set[str] = set()
        countries, term_of = _countries(), self._term_of
        for key in self._members.get(story_id, _EMPTY)[-CHAIN_MEMBERS:]:
            for t in _unpack_terms(self._entries[key])[0]:
                if term_of[t] in countries:
                    found.add(term_of[t] or "")
        return found

    def story_cosines(self, doc: StoryDoc, story_id: int) -> tuple[float, float]:
        """Cosines of `doc` with the story as a whole (the sum of its newest members): over all
        their terms, and over those that name no country (see CONTENT_GUARD)."""
        query = self._weigh(self._query_vector(doc))
        entries = self._entries
        total: dict[int, int] = {}
        for key in self._members.get(story_id, _EMPTY)[-CHAIN_MEMBERS:]:
            terms, weights = _unpack_terms(entries[key])
            for t, w in zip(terms, weights, strict=True):
                total[t] = total.get(t, 0) + w
        log_n, log_df = self._log_n(), self._log_df
        vector: dict[int | str, float] = {t: w * (log_n - log_df[t]) for t, w in total.items()}
        whole = _cosine_of(query, _norm(query), vector)
        names, term_of = _country_words(), self._term_of

        def says_what(t: int | str) -> bool:  # a term of the index that names no country
            return isinstance(t, int) and not _is_entity(term_of[t]) and term_of[t] not in names

        content = {t: w for t, w in query.items() if says_what(t)}
        theirs = {t: w for t, w in vector.items() if says_what(t)}
        return whole, _cosine_of(content, _norm(content), theirs)

    def candidates(
        self,
        doc: StoryDoc,
        vectors: Vectors | None = None,
        reach: tuple[JoinWeights, float] | None = None,
    ) -> dict[int, list[float]]:
        """Candidate stories with the join features of `doc` against each (see bot.grouping):
        the lexical ones, then the sentence-vector cosine where `doc` and some of the story's
        newest members have vectors (`vectors` gives the members'). With `reach` (weights,
        bar), only stories that could reach the bar get the cosine (`could_reach`); the
        others keep their word features, whose probability is below the bar too."""
        raw = self._query_vector(doc)
        query = self._weigh(raw)
        qnorm = _norm(query)
        if not qnorm:
            return {}
        found: dict[int, list[bytes]] = {}
        for entry in self._candidates(query, doc.published.timestamp()):
            found.setdefault(_HEAD.unpack_from(entry)[0], []).append(entry)
        title = {t for t, w in raw.items() if isinstance(t, int) and w >= TITLE_BOOST}
        out = {
            sid: self._join_features(doc, query, qnorm, title, sid, es) for sid, es in found.items()
        }
        if vectors is not None and doc.vector is not None and vector_bytes_ok(doc.vector):
            wanted = [s for s, f in out.items() if reach is None or could_reach(f, *reach)]
            self._add_vector_cosines(doc.vector, out, wanted, vectors)
        return out

    def _add_vector_cosines(
        self, mine: bytes, found: dict[int, list[float]], wanted: list[int], vectors: Vectors
    ) -> None:
        """Append to each wanted candidate's features its best cosine with the story's newest
        `CHAIN_MEMBERS` members that have vectors (a story drifts; its newest say what it is)."""
        newest = {sid: self._members.get(sid, _EMPTY)[-CHAIN_MEMBERS:].tolist() for sid in wanted}
        have = vectors([key for keys in newest.values() for key in keys])
        for sid, keys in newest.items():
            theirs = [v for key in keys if vector_bytes_ok(v := have.get(key))]
            if theirs:
                found[sid].append(max(cosines(mine, theirs)))

    def _join_features(
        self,
        doc: StoryDoc,
        query: dict[int | str, float],
        qnorm: float,
        title: set[int],
        story_id: int,
        entries: list[bytes],
    ) -> list[float]:
        """How `doc` resembles one story, as measured on the story's candidate members."""
        sims = [self._cosine(query, qnorm, e) for e in entries]
        best = max(sims)
        log_n, log_df, term_of = self._log_n(), self._log_df, self._term_of
        mine_words = {t for t in title if not _is_entity(term_of[t])}
        together: dict[int, float] = {}
        title_overlap, gap, rarest = 0.0, math.inf, 0.0
        published = doc.published.timestamp()
        for e in entries:
            terms, weights = _unpack_terms(e)
            theirs = {t for t, w in zip(terms, weights, strict=True) if w >= TITLE_TENTHS}
            theirs -= {t for t in theirs if _is_entity(term_of[t])}
            shared = mine_words & theirs
            if mine_words and theirs:
                overlap = len(shared) / math.sqrt(len(mine_words) * len(theirs))
                title_overlap = max(title_overlap, overlap)
            for t in shared:
                rarest = max(rarest, (log_n - log_df[t]) / log_n)
            for t, w in zip(terms, weights, strict=True):
                together[t] = together.get(t, 0.0) + w * (log_n - log_df[t])
            gap = min(gap, abs(_HEAD.unpack_from(e)[1] - published) / 3600)
        tnorm = math.sqrt(sum(x * x for x in together.values()))
        dot = sum(w * together.get(t, 0.0) for t, w in query.items() if isinstance(t, int))
        centroid = dot / (qnorm * tnorm) if tnorm else 0.0
        mine_entities = {t for t in query if isinstance(t, int) and _is_entity(term_of[t])}
        entities = sum(1 for t in mine_entities if t in together)
        theirs_entities = any(_is_entity(term_of[t]) for t in together)
        disjoint = float(bool(mine_entities) and theirs_entities and not entities)
        distinct = sum(1 for t in mine_words if t in together and term_of[t] not in _GENERIC)
        numbers = sum(1 for t in mine_words if t in together and (term_of[t] or "").isdigit())
        title_only = 0.0 if doc.text.strip() else 1.0
        return [
            best,
            _story_score(sims, self.size(story_id)),
            title_overlap,
            centroid,
            min(entities, 4) / 4,
            math.log1p(gap) / 5,
            math.log1p(self.size(story_id)) / 3,
            min(numbers, 2) / 2,
            title_only,
            best * best,
            centroid * centroid,
            title_overlap * title_only,
            rarest,
            disjoint,
            min(distinct, 3) / 3,
        ]

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

    # --- internals -----------------------------------------------------------------------

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

    def _query_vector(self, doc: StoryDoc) -> dict[int | str, float]:
        """Raw weights by term id; terms the index has never seen keep their text as key."""
        return {self._vocab.get(t, t): w for t, w in self._doc_terms(doc).items()}

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

    def _log_n(self) -> float:
        return math.log(len(self._entries) + IDF_PRIOR + 1)

    def _weigh(self, raw: dict[int | str, float]) -> dict[int | str, float]:
        """Raw weights times the current IDF (an unseen term has document frequency 0)."""
        log_n, log_df = self._log_n(), self._log_df
        return {t: w * (log_n - (0.0 if isinstance(t, str) else log_df[t])) for t, w in raw.items()}

    def _cosine(self, query: dict[int | str, float], qnorm: float, entry: bytes) -> float:
        """Cosine of the weighted query and an entry, weighed on the fly (this is the hot loop).

        The sums run in C (`map`); the IDF is a subtraction, as log(df + 1) is kept per term.
        """
        (terms, weights), log_n, log_df = _unpack_terms(entry), self._log_n(), self._log_df
        x = [w * (log_n - log_df[t]) for t, w in zip(terms, weights, strict=True)]
        norm = sum(map(mul, x, x))
        dot = sum(map(mul, x, map(query.get, terms, repeat(0.0))))
        return dot / (qnorm * math.sqrt(norm)) if norm else 0.0

    def _candidates(self, query: dict[int | str, float], published: float) -> list[bytes]:
        """Entries sharing the query's rarest terms, within the window, best partial score first.

        Postings are scored by key alone; only the best few keys are looked up, because at a
        million docs each lookup is a cache miss and they, not the arithmetic, set the cost.
        """
        df, postings = self._df, self._postings
        known = [t for t in query if isinstance(t, int) and df[t] > 0]
        partial: dict[int, float] = {}
        for t in sorted(known, key=df.__getitem__)[:RAREST_TERMS]:
            _accumulate(partial, postings[t][-POSTINGS_SCANNED:], query[t])  # the newest
        window = self.window.total_seconds()
        found = []
        for key in sorted(partial, key=partial.__getitem__, reverse=True)[: 3 * MAX_CANDIDATES]:
            entry = self._entries.get(key)  # None: removed, its postings not yet compacted
            if entry is not None and abs(_HEAD.unpack_from(entry)[1] - published) <= window:
                found.append(entry)
                if len(found) == MAX_CANDIDATES:
                    break
        return found


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


def _accumulate(scores: dict[int, float], keys: array, weight: float) -> None:
    """`scores[key] += weight` for each key, looped in C (a postings array lists a key once)."""
    added = map(add, map(scores.get, keys, repeat(0.0)), repeat(weight))
    scores.update(zip(keys, added, strict=True))


@functools.cache
def _countries() -> frozenset[str]:
    """The entity terms of the shipped gazetteer's countries (those the index files names by:
    `bot.prepare.feed_names`)."""
    from bot.topics.entities import shipped

    g = shipped()
    return frozenset("e:" + name.lower() for name in g.entities if g.kind(name) == "country")


def _is_entity(term: str | None) -> bool:
    return term is not None and term.startswith("e:")


def _story_score(sims: list[float], size: int) -> float:
    """Half the best member's similarity, half the mean of the best few (missing ones count 0).

    One look-alike is then not enough to join a story several outlets already told alike, and
    a big story stays joinable: only its MEAN_OF best members count.
    """
    k = min(size, MEAN_OF)
    top = sorted(sims, reverse=True)[:k]  # heapq.nlargest is slower on a few values
    return (top[0] + sum(top) / k) / 2


def _norm(vector: dict[int | str, float]) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


def _cosine_of(
    query: dict[int | str, float], qnorm: float, vector: dict[int | str, float]
) -> float:
    """Cosine of two weighted term vectors; `qnorm` may count query terms `vector` cannot
    hold (terms the index has never seen, keyed by their text)."""
    norm = _norm(vector)
    dot = sum(w * vector.get(t, 0.0) for t, w in query.items() if isinstance(t, int))
    return dot / (qnorm * norm) if qnorm and norm else 0.0


@functools.cache
def _country_words() -> frozenset[str]:
    """The terms the shipped gazetteer's country names are read as ("iraq", "northkorea",
    "usa"): what says where a report is, not what it reports (CONTENT_GUARD)."""
    from bot.topics.entities import shipped

    g = shipped()
    return frozenset(t for n in g.entities if g.kind(n) == "country" for t in terms(n))


# --- terms ---------------------------------------------------------------------------------


def doc_terms(doc: StoryDoc) -> dict[str, float]:
    """Raw weights of a doc's terms: counts, a title word and an entity counting extra. Wire
    slugs and genre labels are left out ("UPDATE 2-", Yonhap's "(LEAD)" and "(News Focus)"
    would join unrelated stories). In the text, every name the gazetteer knows is read as
    its entity's name ("the Kremlin said" as "Russia said"; see `named`)."""
    counts: dict[str, float] = {}
    for term in terms(headline(doc.title, genre=False)):
        counts[term] = counts.get(term, 0) + TITLE_BOOST
    for term in terms(named(_head(doc.text)), MAX_BODY_TERMS):
        counts[term] = counts.get(term, 0) + 1
    for name in doc.entities:
        key = "e:" + name.lower()
        counts[key] = counts.get(key, 0) + ENTITY_BOOST
    return counts


def retitled(counts: dict[str, float], old: str, new: str) -> dict[str, float]:
    """`doc_terms` of a doc with headline `new` instead of `old`, from its terms (`counts`):
    the title's words are the only part that changes, so the text is not read again."""
    out = dict(counts)
    for term in terms(old):
        left = out.get(term, 0) - TITLE_BOOST
        if left > 0:
            out[term] = left
        else:
            out.pop(term, None)
    for term in terms(new):
        out[term] = out.get(term, 0) + TITLE_BOOST
    return out


def named(text: str) -> str:
    """`text` with each gazetteer mention written as the entity's canonical name.

    Outlets name one actor differently (Pyongyang, DPRK, North Korean; the Kremlin, Moscow).
    Replayed on sources the join model did not learn from (eval/experiments/grouping/named.py,
    train + validation, the join model refit each time), naming the text's mentions so took
    pooled pairwise F1 0.793 -> 0.800 (text P 0.767 -> 0.782, R 0.873 -> 0.895; headlines
    unchanged). Not the title's: there it read 0.809 on those sources but joined a war's
    unrelated headlines (ABC 2003, never learned from: precision 0.33 -> 0.22), where every
    title names the same few capitals and countries. An alert-worthy item near a story already
    alerted is compared with its title read so too (`StoryIndex._named_title`): the seed
    story's Kursk follow-ups ("Pyongyang's soldiers redeployed...") thread under it, and on
    the train split's replays stories alerted twice went from 3 to 2 with text (headline only
    and validation unchanged).
    The shipped gazetteer only (config/entities.yaml): the terms are stored with each item
    (bot.storyterms), so they must not depend on a deployment's settings.
    """
    from bot.topics.entities import shipped  # the package bot.topics imports this module

    return shipped().named(text)


def _head(text: str) -> str:
    """The part of a text `terms` can read with MAX_BODY_TERMS (naming the rest costs time)."""
    if len(text) <= 2 * HEAD_CHARS:
        return text
    cut = text.rfind(" ", 0, 2 * HEAD_CHARS)
    return text[: cut + 1 if cut > 0 else 2 * HEAD_CHARS]


# Spellings of one name, rewritten before tokenizing (the case still tells "US" from "us").
_ALIASES = (
    (re.compile(r"\b(?:[A-Z]\.){2,}"), lambda m: m.group(0).replace(".", "")),  # U.N. -> UN
    (re.compile(r"\b(?:US|USA|United States|America)\b"), lambda m: "USA"),
    (re.compile(r"\bUnited Nations\b"), lambda m: "UN"),
    (
        re.compile(r"\b(?:([NS])\.? ?|(North|South) )(?=Korea)"),
        lambda m: "North" if "N" in m[0] else "South",
    ),
    (re.compile(r"\bcease-fire", re.I), lambda m: "ceasefire"),
    (re.compile(r"(?<=\d),(?=\d{3})"), lambda m: ""),  # 11,000 -> 11000
)
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours may might must shall us s t re ve ll d m
    said says say saying told tell tells report reports reported reporting according
    reuters ap afp cp upi dpa xinhua press news agency agencies newspaper
    monday tuesday wednesday thursday friday saturday sunday today yesterday tonight
    week weekend year years month months day days time
    new one two three first last latest another many much several people
    mr mrs ms dr percent per cent""".split()  # noqa: SIM905
)
# Adjectives of place, so "Rwandan troops" meets "troops from Rwanda".
_DEMONYMS = dict(
    pair.split(":")
    for pair in """
    afghan:afghanistan american:usa british:britain chinese:china french:france german:germany
    iraqi:iraq iranian:iran israeli:israel japanese:japan korean:korea russian:russia
    northkorean:northkorea southkorean:southkorea
    ukrainian:ukraine rwandan:rwanda sudanese:sudan syrian:syria venezuelan:venezuela
    palestinian:palestine malaysian:malaysia georgian:georgia taiwanese:taiwan
    pakistani:pakistan indian:india turkish:turkey polish:poland egyptian:egypt
    lebanese:lebanon yemeni:yemen libyan:libya somali:somalia ethiopian:ethiopia
    nigerian:nigeria kenyan:kenya congolese:congo burundian:burundi serbian:serbia
    bosnian:bosnia belarusian:belarus finnish:finland swedish:sweden norwegian:norway
    danish:denmark dutch:netherlands spanish:spain italian:italy canadian:canada mexican:mexico
    cuban:cuba brazilian:brazil colombian:colombia haitian:haiti filipino:philippines
    philippine:philippines vietnamese:vietnam thai:thailand indonesian:indonesia
    australian:australia greek:greece armenian:armenia azerbaijani:azerbaijan chadian:chad
    malian:mali qatari:qatar emirati:uae jordanian:jordan kuwaiti:kuwait saudi:saudi
    estonian:estonia latvian:latvia lithuanian:lithuania romanian:romania hungarian:hungary
    czech:czech slovak:slovakia moldovan:moldova kazakh:kazakhstan uzbek:uzbekistan
    nepalese:nepal bangladeshi:bangladesh burmese:myanmar cambodian:cambodia lao:laos
    mongolian:mongolia argentine:argentina chilean:chile peruvian:peru bolivian:bolivia
    ecuadorian:ecuador tunisian:tunisia algerian:algeria moroccan:morocco ugandan:uganda
    tanzanian:tanzania ghanaian:ghana senegalese:senegal eritrean:eritrea nigerien:niger
    cypriot:cyprus zimbabwean:zimbabwe
""".split()  # noqa: SIM905
)


def terms(text: str, limit: int | None = None) -> list[str]:
    """Distinctive terms of a text, in order: lowercased, stopwords dropped, lightly stemmed.

    With `limit`, the first `limit` terms only: the rest of a long text is never tokenised,
    nor even rewritten (the spelling rewrites cost more than the tokenising). A rewrite only
    reaches a word or two across the cut, so when the head holds `limit` + MARGIN terms,
    its first `limit` are exactly those of the whole text.
    """
    if limit is not None and len(text) > HEAD_CHARS:
        head = text[: text.rfind(" ", 0, HEAD_CHARS) + 1]
        found = _terms(head, limit + MARGIN)
        if len(found) == limit + MARGIN:
            return found[:limit]
    return _terms(text, limit)


HEAD_CHARS = 1200  # 60 terms take ~700 characters of news prose
MARGIN = 5


def _terms(text: str, limit: int | None) -> list[str]:
    for pattern, rewrite in _ALIASES:
        text = pattern.sub(rewrite, text)
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit()):
            out.append(_canonical(word))
            if len(out) == limit:
                break
    return out


@functools.lru_cache(maxsize=1 << 15)  # pure, called per word; 32k words hold ~6 MB, not 25
def _canonical(word: str) -> str:
    if word in _AS_WRITTEN:
        return _AS_WRITTEN[word]
    stemmed = stem(word)
    return _CONCEPTS.get(stemmed, stemmed)


def stem(word: str) -> str:
    """A light suffix stripper: troops/troop, deployed/deploys/deploying/deployment meet.

    Adjectives of place become the place: Rwandan/Rwandans/Rwanda meet.
    """
    if not word.isalpha() or len(word) <= 3:
        return word
    word = _singular(_british(word))
    return _PLACE_OF.get(word) or _strip_suffix(word)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _strip_suffix(word: str) -> str:
    for suffix, min_base in (("ment", 4), ("ing", 3), ("ied", 2), ("ed", 3), ("er", 5)):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= min_base and _VOWEL.search(base):
            word = base + "y" if suffix == "ied" else base
            break
    if len(word) > 3 and word[-1] == "e":
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # stopped -> stop, kill -> kil, patrolling -> patrol
    return word


_VOWEL = re.compile("[aeiouy]")


def _british(word: str) -> str:
    """British to American spelling where it is regular: defence, armour, mobilise."""
    if word.endswith("our") and len(word) > 5:
        return word[:-3] + "or"
    if word.endswith("ence") and word in ("defence", "offence", "licence"):
        return word[:-4] + "ense"
    m = re.match(r"(\w{4,})is(e|es|ed|ing|ation|ations)$", word)
    return f"{m[1]}iz{m[2]}" if m else word


# The place as its own name stems, so "Ukrainian" and "Ukraine" give the same term.
_PLACE_OF = {adj: _strip_suffix(_singular(place)) for adj, place in _DEMONYMS.items()}

# Words outlets use interchangeably for the same thing, mapped to one concept.
_CONCEPT_WORDS = {
    "troop": "troops soldiers personnel servicemen troopers contingent reinforcements",
    "deploy": "deploy deployment send sends sent dispatch dispatched airlift airlifted",
    "arrive": "arrive arrival",
    "withdraw": "withdraw withdrawal pullout pull",
    "protest": "protest protester rally rallies demonstrator demonstration",
    "kill": "kill killed dead death die died",
    "attack": "attack assault raid",
    "injure": "injured wounded hurt",
    "ship": "ship vessel warship frigate",
    "aircraft": "aircraft jet warplane",
    "drill": "drill exercise wargame maneuver manoeuvre",
    "quake": "earthquake quake tremor",
    "ceasefire": "ceasefire truce",
    "vote": "vote voter voting ballot poll polling",
    "victory": "won victory victor",
    "reserve": "reserve reservist",
    "missile": "missile rocket",
    "talk": "talks negotiation negotiations negotiate",
    "agreement": "agreement deal pact",
}
_CONCEPTS = {stem(w): c for c, words in _CONCEPT_WORDS.items() for w in words.split()}
# Words taken as written, not by their stem, because the stem is another word's: a concept
# word ("destroyer" stems to "destroy": a unit that destroyed a bridge sent no warship;
# "plane" to "plan", "forces" to "forc" as in "forced to", "win" to the "win" of "wine"), or
# a word kept apart as its own term ("fighter(s)" is not "fighting", "officer(s)" not
# "office", "shipping" not a ship).
_AS_WRITTEN = {
    word: term
    for term, words in {
        "ship": "destroyer destroyers",
        "aircraft": "plane planes",
        "troop": "force forces",
        "agreement": "accord accords",
        "victory": "win wins winning winner winners",
        "fighter": "fighter fighters",
        "officer": "officer officers",
        "shipping": "shipping",
        "shipment": "shipment shipments",
    }.items()
    for word in words.split()
}
# Terms any two stories of a kind share ("troop", "deploy"): an overlap in them alone is weak.
_GENERIC = frozenset(_CONCEPT_WORDS)
