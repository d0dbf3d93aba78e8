"""Which story an item belongs to: the same event told by several outlets, within a time window.

An in-memory inverted index over distinctive terms (light-stemmed words of title and text,
plus canonical entity names) scored by TF-IDF cosine, with document frequencies kept by the
index itself as documents come and go. A new document is compared only with documents found
in the postings of its rarest terms (newest first, capped), so the cost of `assign` stays flat
however many documents the window holds. A story's score is half its best member's cosine
plus half the mean of its best few, so one look-alike is not enough to join a story.

Deliberately does not persist anything: the caller stores story ids and, at start, re-adds
recent items. It does not decide what is alert-worthy either.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.36  # tuned on the dev set and tests/data/stories_extra.jsonl

TITLE_BOOST = 2  # a title word counts as this many body words
ENTITY_BOOST = 0.5  # an entity's alias is usually a word of the text already
MAX_BODY_TERMS = 60  # the lead of a long article carries the event; the rest is background
RAREST_TERMS = 8  # postings of this many of the doc's rarest terms give the candidates
POSTINGS_SCANNED = 200  # newest postings scanned per term
MAX_CANDIDATES = 24  # candidates scored in full
MEAN_OF = 4  # a story's score averages this many of its best members
IDF_PRIOR = 20  # pretend this many unrelated docs exist, so a young index is not overconfident


@dataclass(frozen=True)
class StoryDoc:
    """What the index needs of an item; `text` may be as short as one sentence."""

    item_id: int
    title: str
    text: str
    entities: tuple[str, ...]
    published: datetime


class _Entry:
    """One indexed document, kept small: term ids and weights (tenths) in compact arrays."""

    __slots__ = ("item_id", "story_id", "published", "terms", "weights")

    def __init__(self, item_id: int, story_id: int, published: float, terms: dict[int, float]):
        self.item_id = item_id
        self.story_id = story_id
        self.published = published
        self.terms = array("I", terms)
        self.weights = bytes(min(255, round(w * 10)) for w in terms.values())


class StoryIndex:
    """Groups documents into stories; see the module docstring for how."""

    def __init__(
        self, *, window: timedelta = timedelta(hours=72), threshold: float = DEFAULT_THRESHOLD
    ):
        self.window = window
        self.threshold = threshold
        self._vocab: dict[str, int] = {}
        self._term_of: dict[int, str] = {}
        self._next_term = 0
        self._df: dict[int, int] = {}
        self._postings: dict[int, list[int]] = {}
        self._entries: dict[int, _Entry] = {}  # by internal key, in insertion order
        self._key_of_item: dict[int, int] = {}
        self._by_time: list[tuple[float, int]] = []  # heap of (published, key) for pruning
        self._sizes: dict[int, int] = {}  # live members per story
        self._next_key = 0
        self._last: tuple[StoryDoc, dict[str, float]] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def assign(self, doc: StoryDoc) -> int | None:
        """The story id of the best matching story, or None when the doc starts a new story."""
        query = self._weigh(self._query_vector(doc))
        qnorm = _norm(query)
        if not qnorm:
            return None
        sims: dict[int, list[float]] = {}
        for entry in self._candidates(query, doc.published.timestamp()):
            sims.setdefault(entry.story_id, []).append(self._cosine(query, qnorm, entry))
        story, score = None, 0.0
        for sid, found in sims.items():
            mixed = _story_score(found, self._sizes[sid])
            if mixed > score:
                story, score = sid, mixed
        log.debug("story.assign item=%s story=%s score=%.3f", doc.item_id, story, score)
        return story if score >= self.threshold else None

    def add(self, doc: StoryDoc, story_id: int) -> None:
        """Record `doc` as a member of `story_id` (replacing an earlier add of the same item)."""
        if doc.item_id in self._key_of_item:
            self._compact(self._remove(self._key_of_item[doc.item_id]))
        terms = {self._term_id(t): w for t, w in self._doc_terms(doc).items()}
        key = self._next_key
        self._next_key += 1
        published = doc.published.timestamp()
        self._entries[key] = _Entry(doc.item_id, story_id, published, terms)
        self._key_of_item[doc.item_id] = key
        heapq.heappush(self._by_time, (published, key))
        self._sizes[story_id] = self._sizes.get(story_id, 0) + 1
        for t in terms:
            self._df[t] += 1
            self._postings[t].append(key)

    def prune(self, now: datetime) -> None:
        """Forget documents published longer than the window before `now`."""
        cutoff = (now - self.window).timestamp()
        dirty: set[int] = set()
        while self._by_time and self._by_time[0][0] < cutoff:
            _, key = heapq.heappop(self._by_time)
            dirty.update(self._remove(key))
        self._compact(dirty)

    # --- internals -----------------------------------------------------------------------

    def _term_id(self, term: str) -> int:
        tid = self._vocab.get(term)
        if tid is None:
            tid = self._vocab[term] = self._next_term
            self._next_term += 1
            self._term_of[tid] = term
            self._df[tid] = 0
            self._postings[tid] = []
        return tid

    def _query_vector(self, doc: StoryDoc) -> dict[int | str, float]:
        """Raw weights by term id; terms the index has never seen keep their text as key."""
        return {self._vocab.get(t, t): w for t, w in self._doc_terms(doc).items()}

    def _doc_terms(self, doc: StoryDoc) -> dict[str, float]:
        """doc_terms, remembered for the last doc: the caller adds the doc it just assigned."""
        if self._last is None or self._last[0] is not doc:
            self._last = (doc, doc_terms(doc))
        return self._last[1]

    def _remove(self, key: int) -> Iterable[int]:
        """Drop one entry; returns its term ids, whose postings now hold a dead key."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return ()
        if self._key_of_item.get(entry.item_id) == key:
            del self._key_of_item[entry.item_id]
        self._sizes[entry.story_id] -= 1
        if not self._sizes[entry.story_id]:
            del self._sizes[entry.story_id]
        for t in entry.terms:
            self._df[t] -= 1
        self._forget_unused(entry.terms)
        return entry.terms

    def _compact(self, term_ids: Iterable[int]) -> None:
        """Rewrite postings that hold keys of removed entries (removal itself is lazy)."""
        for t in set(term_ids):
            if t in self._postings:
                self._postings[t] = [k for k in self._postings[t] if k in self._entries]

    def _forget_unused(self, term_ids: Iterable[int]) -> None:
        """Terms no live doc uses leave the vocabulary, so memory follows the window."""
        for t in term_ids:
            if self._df[t] <= 0:
                del self._vocab[self._term_of.pop(t)], self._df[t], self._postings[t]

    def _log_n(self) -> float:
        return math.log(len(self._entries) + IDF_PRIOR + 1)

    def _weigh(self, raw: dict[int | str, float]) -> dict[int | str, float]:
        """Raw weights times the current IDF (an unseen term has document frequency 0)."""
        return {t: w * (self._log_n() - math.log(self._known_df(t) + 1)) for t, w in raw.items()}

    def _known_df(self, term: int | str) -> int:
        """Document frequency; a string is a term the index has not seen."""
        return 0 if isinstance(term, str) else self._df.get(term, 0)

    def _cosine(self, query: dict[int | str, float], qnorm: float, entry: _Entry) -> float:
        """Cosine of the weighted query and an entry, weighed on the fly (this is the hot loop)."""
        df, log_n = self._df, self._log_n()
        dot = norm = 0.0
        for t, w in zip(entry.terms, entry.weights, strict=True):
            x = w * (log_n - math.log(df[t] + 1))
            norm += x * x
            dot += x * query.get(t, 0.0)
        return dot / (qnorm * math.sqrt(norm)) if norm else 0.0

    def _candidates(self, query: dict[int | str, float], published: float) -> list[_Entry]:
        """Entries sharing the query's rarest terms, within the window, best partial score first.

        Postings are scored by key alone; only the best few keys are looked up, because at a
        million docs each lookup is a cache miss and they, not the arithmetic, set the cost.
        """
        known = [t for t in query if isinstance(t, int) and self._df.get(t, 0) > 0]
        partial: dict[int, float] = {}
        for t in sorted(known, key=self._known_df)[:RAREST_TERMS]:
            weight = query[t]
            for key in self._postings[t][-POSTINGS_SCANNED:]:  # the newest
                partial[key] = partial.get(key, 0.0) + weight
        window = self.window.total_seconds()
        found = []
        for key in heapq.nlargest(3 * MAX_CANDIDATES, partial, key=partial.__getitem__):
            entry = self._entries.get(key)  # None: removed, its postings not yet compacted
            if entry is not None and abs(entry.published - published) <= window:
                found.append(entry)
                if len(found) == MAX_CANDIDATES:
                    break
        return found


def _story_score(sims: list[float], size: int) -> float:
    """Half the best member's similarity, half the mean of the best few (missing ones count 0).

    One look-alike is then not enough to join a story several outlets already told alike, and
    a big story stays joinable: only its MEAN_OF best members count.
    """
    k = min(size, MEAN_OF)
    top = heapq.nlargest(k, sims)
    return (top[0] + sum(top) / k) / 2


def _norm(vector: dict[int | str, float]) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


# --- terms ---------------------------------------------------------------------------------


def doc_terms(doc: StoryDoc) -> dict[str, float]:
    """Raw weights of a doc's terms: counts, a title word and an entity counting extra."""
    counts: dict[str, float] = {}
    for term in terms(doc.title):
        counts[term] = counts.get(term, 0) + TITLE_BOOST
    for term in terms(doc.text, MAX_BODY_TERMS):
        counts[term] = counts.get(term, 0) + 1
    for name in doc.entities:
        key = "e:" + name.lower()
        counts[key] = counts.get(key, 0) + ENTITY_BOOST
    return counts


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

    With `limit`, the first `limit` terms only: the rest of a long text is never tokenised.
    """
    for pattern, replace in _ALIASES:
        text = pattern.sub(replace, text)
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit()):
            out.append(_canonical(word))
            if len(out) == limit:
                break
    return out


@functools.lru_cache(maxsize=1 << 17)  # pure, and called for every word of every item
def _canonical(word: str) -> str:
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
    "troop": "troops soldiers forces personnel servicemen troopers contingent reinforcements",
    "deploy": "deploy deployment send sends sent dispatch dispatched airlift airlifted",
    "arrive": "arrive arrival",
    "withdraw": "withdraw withdrawal pullout pull",
    "protest": "protest protester rally rallies demonstrator demonstration",
    "kill": "kill killed dead death die died",
    "attack": "attack assault raid",
    "injure": "injured wounded hurt",
    "ship": "ship vessel warship destroyer frigate",
    "aircraft": "aircraft jet plane warplane",
    "drill": "drill exercise wargame maneuver manoeuvre",
    "quake": "earthquake quake tremor",
    "ceasefire": "ceasefire truce",
    "vote": "vote voter voting ballot poll polling",
    "win": "win won victory victor winner",
    "reserve": "reserve reservist",
    "missile": "missile rocket",
    "talk": "talks negotiation negotiations negotiate",
    "agreement": "agreement deal accord pact",
}
_CONCEPTS = {stem(w): c for c, words in _CONCEPT_WORDS.items() for w in words.split()}
