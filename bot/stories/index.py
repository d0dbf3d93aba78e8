"""Which story an item belongs to: the same event told by several outlets, within a time window.

An in-memory inverted index over distinctive terms (bot.stories.words) scored by TF-IDF
cosine, with document frequencies kept by the index itself as documents come and go
(bot.stories.postings). A new document is compared only with documents found in the
postings of its rarest terms (newest first, capped), so the cost of `assign` stays flat
however many documents the window holds. A story's score is half its best member's cosine
plus half the mean of its best few, so one look-alike is not enough to join a story; the
join model (bot.grouping) turns that and the other features into a probability. A story of
three or more members takes an item only if the item resembles the story as a whole
(`CHAIN_GUARD`), so a busy day's stories do not grow by steps that each look right, and
shares more with it than countries' names (`CONTENT_GUARD`), which every report of a war
carries.

Deliberately does not persist anything: the caller stores story ids and, at start, re-adds
recent items (or loads the index bot.indexfile saved). It does not decide what is
alert-worthy either.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from dataclasses import replace
from itertools import repeat
from operator import mul

from bot.grouping import (
    JoinWeights,
    cosines,
    could_reach,
    join_model,
    join_probability,
    vector_bytes_ok,
)
from bot.stories.docs import _HEAD, StoryDoc, Vectors, _unpack_terms
from bot.stories.postings import _EMPTY, POSTINGS_SCANNED, Postings
from bot.stories.scoring import _accumulate, _cosine_of, _norm, _story_score
from bot.stories.words import (
    _GENERIC,
    TITLE_BOOST,
    _countries,
    _country_words,
    _is_entity,
    named,
    retitled,
)
from bot.text.wire import headline

log = logging.getLogger(__name__)

TITLE_TENTHS = 20  # a term weighing this much (in tenths) comes from the title (TITLE_BOOST)
RAREST_TERMS = 8  # postings of this many of the doc's rarest terms give the candidates
MAX_CANDIDATES = 16  # scored in full; 24 changed 0.03 % of decisions for 1.3x the cost
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


class StoryIndex(Postings):
    """Groups documents into stories; see the module docstring for how (and bot.stories.postings
    for what it holds)."""

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

    # --- internals -----------------------------------------------------------------------

    def _query_vector(self, doc: StoryDoc) -> dict[int | str, float]:
        """Raw weights by term id; terms the index has never seen keep their text as key."""
        return {self._vocab.get(t, t): w for t, w in self._doc_terms(doc).items()}

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
