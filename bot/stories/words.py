"""A text's story terms: the words of a title and text that tell one story from another,
lowercased, stopwords dropped, lightly stemmed, spellings and names of one thing made one term.

`doc_terms` gives a document's terms with their raw weights (a title word and an entity name
count extra); the index weighs them by rarity (bot.stories.index). The terms are stored with
each item (bot.storyterms), so any change here that changes an item's terms needs that
module's VERSION bumped (tests/test_storyterms.py pins them).

Deliberately not here: weights by rarity, or any state: these are pure functions of the text
and the shipped gazetteer.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from bot.gazetteer import shipped
from bot.text.wire import headline

if TYPE_CHECKING:
    from bot.stories.docs import StoryDoc

TITLE_BOOST = 2  # a title word counts as this many body words
# An entity's name is usually a word of the text already; counting it once more (1, not 0.5)
# read 0.797 against 0.793 in the replay `named` cites, before the text was named.
ENTITY_BOOST = 1.0
MAX_BODY_TERMS = 60  # the lead of a long article carries the event; the rest is background


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

# --- what a term names ---------------------------------------------------------------------


@functools.cache
def _countries() -> frozenset[str]:
    """The entity terms of the shipped gazetteer's countries (those the index files names by:
    `bot.prepare.feed_names`)."""
    g = shipped()
    return frozenset("e:" + name.lower() for name in g.entities if g.kind(name) == "country")


def _is_entity(term: str | None) -> bool:
    return term is not None and term.startswith("e:")


@functools.cache
def _country_words() -> frozenset[str]:
    """The terms the shipped gazetteer's country names are read as ("iraq", "northkorea",
    "usa"): what says where a report is, not what it reports (CONTENT_GUARD)."""
    g = shipped()
    return frozenset(t for n in g.entities if g.kind(n) == "country" for t in terms(n))
