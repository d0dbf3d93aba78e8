"""All topics against one item (title + text), with the reason each one fired.

How it stays fast with many topics: every word and phrase of every topic goes into ONE
Aho-Corasick automaton. An item is tokenised once and scanned once; the gazetteer scans it once
more for entities. Only topics with a trigger term (or entity) among the hits are evaluated,
each over the set of hits, so the cost per item grows with the hits, not with the topic count.
For an AND only its most selective side is indexed (see `_triggers`). A topic that could
match with none of its terms present (`NOT x`) is always evaluated.

Title and text are one token sequence with a gap of GAP positions between them, so phrases
and NEAR never join the end of a title to the start of the text. A phrase does not run on
from one sentence into the next either: the scan has two spaces before a sentence's first
word (`query.sentence_starts`), where a phrase's pattern needs one. The automaton reads the
scan and the patterns with their Latin letters folded (`bot.text.fold.fold_latin`: "bogotá" is
"bogota"); `Prepared.scan` itself keeps the accents, which explanations show and the
relevance models read.

`topic:NAME` refers to another topic's verdict, never to a copy of its query: topics are
compiled after the topics they name (`refs.in_order`), and evaluated lazily, at most once per
item (`_Verdicts`), through `Matcher._decide`, the one place a topic's verdict is made.

This module does not fetch, store or alert; it only answers "which topics, and why".
"""

from __future__ import annotations

import difflib
import functools
import logging
import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path

import ahocorasick
import yaml

from bot.defaults_path import default_file
from bot.errors import ConfigError, QueryError
from bot.gazetteer import Gazetteer
from bot.model import GAP, Prepared, Topic, TopicMatch
from bot.relevance import Relevance, Verdict, describe
from bot.text.clip import clip
from bot.text.fold import fold_latin
from bot.text.invisible import strip_invisible
from bot.text.wire import headline, strip_byline
from bot.topics.query import (
    And,
    Entity,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Term,
    Title,
    TopicRef,
    parse_query,
    sentence_starts,
    walk,
    word_matches,
)
from bot.topics.refs import in_order, needed_by, unknown_reference

log = logging.getLogger(__name__)

MAX_REASONS = 6
# Spans kept per NEAR: a chain of NEARs over a text repeating its words would otherwise join
# every span with every other at each link (seconds per item). Real items have far fewer.
MAX_SPANS = 256

Span = tuple[int, int]  # first and last word position, inclusive


@dataclass(frozen=True)
class CompiledTopic:
    """A topic whose query parsed and whose entities exist, ready for the matcher."""

    topic: Topic
    tree: Node
    terms: frozenset[Term]
    positive_terms: frozenset[Term]  # every term or entity not under a NOT
    positive_entities: frozenset[str]
    triggers: Triggers | None  # one of these must be present; None: always evaluate (`NOT x`)


@dataclass(frozen=True)
class AnyTerm(Leaf):
    """Compiled form of the plain words and phrases of one OR, evaluated from whichever is
    smaller: the item's hits or the list (a topic may OR a hundred words)."""

    terms: tuple[Term, ...]
    members: frozenset[Term]


@dataclass(frozen=True)
class Ref(Leaf):
    """Compiled `topic:NAME`: the named topic, or None when its verdict comes from outside
    this matcher (`Matcher(outside=...)`, `match_prepared(holding=...)`)."""

    name: str
    target: CompiledTopic | None


def compile_topic(
    topic: Topic, gazetteer: Gazetteer, refs: Mapping[str, CompiledTopic | None] | None = None
) -> CompiledTopic:
    """Parse and resolve a topic; QueryError for a syntax error, an unknown entity, or a
    `topic:` reference to a name not in `refs` (the topics compiled before this one)."""
    try:
        tree = _resolve(parse_query(topic.query), gazetteer, topic.query, refs or {})
    except QueryError as exc:
        exc.topic = exc.topic or topic.name
        raise
    positive_terms: set[Term] = set()
    positive_entities: set[str] = set()
    _collect(tree, True, positive_terms, positive_entities)
    terms = frozenset(_all_terms(tree))
    return CompiledTopic(
        topic,
        tree,
        terms,
        frozenset(positive_terms),
        frozenset(positive_entities),
        _triggers(tree),
    )


def _resolve(node: Node, gazetteer: Gazetteer, query: str, refs: Mapping) -> Node:
    """The same tree with every entity under its canonical name, every reference resolved."""
    if isinstance(node, Entity):
        name = gazetteer.canonical(node.name)
        if name is None:
            raise QueryError(_unknown_entity(node.name, gazetteer), query, node.position)
        return Entity(name, node.position)
    if isinstance(node, TopicRef):
        if node.name not in refs:
            raise unknown_reference(node, query, refs)
        return Ref(node.name, refs[node.name])
    if isinstance(node, Title | Not):
        return type(node)(_resolve(node.child, gazetteer, query, refs))
    if isinstance(node, Near):
        left, right = (_resolve(n, gazetteer, query, refs) for n in (node.left, node.right))
        return Near(left, right, node.distance)
    if isinstance(node, And):
        return And(tuple(_resolve(c, gazetteer, query, refs) for c in node.children))
    if isinstance(node, Or):
        terms = tuple(dict.fromkeys(c for c in node.children if isinstance(c, Term)))
        if len(terms) < 2:
            return Or(tuple(_resolve(c, gazetteer, query, refs) for c in node.children))
        rest = tuple(_resolve(c, gazetteer, query, refs) for c in node.children if c not in terms)
        return Or((AnyTerm(terms, frozenset(terms)), *rest))
    return node


def _unknown_entity(name: str, gazetteer: Gazetteer) -> str:
    close = difflib.get_close_matches(name, list(gazetteer.entities), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown entity {name!r}{hint}"


def _collect(node: Node, positive: bool, terms: set[Term], entities: set[str]) -> None:
    """Gather the terms and entities that count for a match (not those under a NOT)."""
    if isinstance(node, Term) and positive:
        terms.add(node)
    elif isinstance(node, AnyTerm) and positive:
        terms.update(node.terms)
    elif isinstance(node, Entity) and positive:
        entities.add(node.name)
    elif isinstance(node, Ref) and positive and node.target is not None:
        terms.update(node.target.positive_terms)
        entities.update(node.target.positive_entities)
    elif isinstance(node, Title | Not):
        _collect(node.child, positive != isinstance(node, Not), terms, entities)
    elif isinstance(node, Near):
        _collect(node.left, positive, terms, entities)
        _collect(node.right, positive, terms, entities)
    elif isinstance(node, And | Or):
        for child in node.children:
            _collect(child, positive, terms, entities)


def _all_terms(node: Node) -> Iterable[Term]:
    for n in walk(node):
        if isinstance(n, Term):
            yield n
        elif isinstance(n, AnyTerm):
            yield from n.terms


@dataclass(frozen=True)
class Triggers:
    """Terms and entities of which at least one must be in an item for the topic to match."""

    terms: frozenset[Term]
    entities: frozenset[str]

    @property
    def cost(self) -> float:
        """Guessed hit rate: entities and prefixes hit often, phrases rarely."""
        terms = sum(2 if t.prefix else 1 if len(t.words) == 1 else 0.5 for t in self.terms)
        return terms + 4 * len(self.entities)


def _triggers(node: Node) -> Triggers | None:
    """What an item must contain for the node to hold (None: nothing in particular).

    For AND (and NEAR) one side suffices to index on, so the cheapest side is kept: a topic
    `entity:"United States" AND "carrier group"` is only evaluated when the phrase is there.
    """
    if isinstance(node, Term):
        return Triggers(frozenset((node,)), frozenset())
    if isinstance(node, AnyTerm):
        return Triggers(node.members, frozenset())
    if isinstance(node, Entity):
        return Triggers(frozenset(), frozenset((node.name,)))
    if isinstance(node, Ref):  # the named topic's own triggers: it cannot hold without them
        return node.target.triggers if node.target is not None else None
    if isinstance(node, Title):
        return _triggers(node.child)
    children = _children(node)
    found = [_triggers(c) for c in children]
    if isinstance(node, Or):
        if any(t is None for t in found):
            return None
        return Triggers(
            frozenset().union(*(t.terms for t in found if t)),
            frozenset().union(*(t.entities for t in found if t)),
        )
    usable = [t for t in found if t is not None]  # AND, NEAR: any one conjunct will do
    return min(usable, key=lambda t: t.cost) if usable else None


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, And | Or):
        return node.children
    return ()  # NOT: what it excludes says nothing about what must be there


@dataclass(frozen=True)
class _Doc:
    """One item as the evaluator sees it: its words, and where each term and entity is."""

    scan: str  # Prepared.scan: the words, space-separated, accents kept (what is shown)
    title_len: int
    hits: dict[Term, list[Span]]
    entities: dict[str, list[tuple[Span, str]]]
    verdict: Callable[[str], _Result | None] = lambda name: None  # topic:NAME, per match

    @functools.cached_property
    def words(self) -> list[str]:
        return self.scan.split()  # only once an evaluated term needs its surface text

    def surface(self, span: Span) -> str:
        return " ".join(self.words[self.index(span[0]) : self.index(span[1]) + 1])

    def index(self, position: int) -> int:
        return position if position < self.title_len else position - GAP

    def in_title(self, span: Span) -> bool:
        return span[0] < self.title_len


@dataclass(frozen=True, slots=True)
class _Result:
    """A node that holds: where (for NEAR) and why (facts, formatted only if the topic fires)."""

    spans: tuple[Span, ...]
    facts: tuple[tuple, ...]


_HOLDS = _Result((), ())


class Matcher:
    """Every topic against one item per call; build it once per set of topics.

    A topic with a relevance model (`Topic.relevance`) matches only when its query holds and
    the model agrees; `relevance=False` ignores the models (the query alone decides), which is
    how the model's training data is gated.
    """

    def __init__(
        self,
        topics: Iterable[Topic],
        gazetteer: Gazetteer,
        outside: Collection[str] = (),
        *,
        relevance: bool = True,
    ):
        """`outside`: topic names that queries may refer to without being compiled here;
        their verdicts are passed to `match_prepared(holding=...)`."""
        self.gazetteer = gazetteer
        self.compiled = _compile_all(list(topics), gazetteer, outside)
        self._index = {c.topic.name: i for i, c in enumerate(self.compiled)}
        # Whether any query may refer to a topic (then verdicts are kept per item).
        self._refers = any("topic:" in c.topic.query.lower() for c in self.compiled)
        self.relevance = Relevance(gazetteer) if relevance else None
        for c in self.compiled:
            if c.topic.relevance and self.relevance:
                self.relevance.model(c.topic.relevance)  # a missing model fails at start
        self._by_term: dict[Term, list[int]] = {}
        self._by_entity: dict[str, list[int]] = {}
        self._always = [i for i, c in enumerate(self.compiled) if c.triggers is None]
        for i, c in enumerate(self.compiled):
            for term in c.triggers.terms if c.triggers else ():
                self._by_term.setdefault(term, []).append(i)
            for name in c.triggers.entities if c.triggers else ():
                self._by_entity.setdefault(name, []).append(i)
        self._positive = frozenset(t for c in self.compiled for t in c.positive_terms)
        self._positive_entities = frozenset(n for c in self.compiled for n in c.positive_entities)
        self._automaton = _automaton(t for c in self.compiled for t in c.terms)
        self._last: tuple[Prepared, _Doc] | None = None
        log.debug("matcher.built topics=%d terms=%d", len(self.compiled), len(self._by_term))

    def match(self, title: str, text: str) -> list[TopicMatch]:
        """The topics this item matches, each with the terms and entities behind it."""
        return self.match_prepared(self._prepared(title, text))

    def match_prepared(
        self, prepared: Prepared, *, relaxed: bool = False, holding: Collection[str] = ()
    ) -> list[TopicMatch]:
        """`match` for a text already prepared (by `prepare`, maybe in another process);
        `holding`: the outside topics that hold for this item.

        With `relaxed`, topics whose model only clears its relaxed bar come too, with
        `strict=False`: enough for an update to a story already alerted, not for an alert.
        """
        out = []
        for topic, found, verdict in self.judge(prepared, holding):
            if verdict is None or verdict.relevant:
                out.append(found)
            elif relaxed and verdict.veto is None:
                bar = self._relaxed_bar(topic, prepared, verdict)
                if verdict.score >= bar:
                    # Said as the update bar it cleared, not the alert bar it missed.
                    told = describe(replace(verdict, threshold=bar), bar="update bar")
                    why = found.explanation.replace(describe(verdict), told)
                    out.append(replace(found, strict=False, explanation=why))
        return out

    def _relaxed_bar(self, topic: Topic, prepared: Prepared, verdict: Verdict) -> float:
        assert self.relevance is not None and topic.relevance
        model = self.relevance.model(topic.relevance)
        feats = self.relevance.features(prepared)
        return model.bar(feats, relaxed=True, opinion=verdict.encoder is not None)

    def opinions_wanted(self, prepared: Prepared) -> tuple[str, ...]:
        """The relevance models that want the encoder's opinion on this item: those of the
        topics whose query holds (most items have none, and cost nothing more), unless a cue
        vetoed it (no opinion could change that)."""
        if self.relevance is None:
            return ()
        rel = self.relevance
        wanted = (
            t.relevance
            for t, _, v in self.judge(prepared)
            if v is not None and v.veto is None and t.relevance
        )
        return tuple(dict.fromkeys(name for name in wanted if rel.wants_opinion(name)))

    def judge(
        self, prepared: Prepared, holding: Collection[str] = ()
    ) -> list[tuple[Topic, TopicMatch, Verdict | None]]:
        """Every topic whose query holds, with its model's verdict (None: no model)."""
        doc = self._doc(prepared)
        candidates = self._candidates(doc)
        if not candidates:
            return []
        names = tuple(dict.fromkeys(n for n in doc.entities))
        verdicts = _Verdicts(self, doc, prepared, frozenset(holding)) if self._refers else None
        doc = verdicts.doc if verdicts else doc
        out = []
        for i in sorted(candidates):
            if verdicts:
                judged = verdicts.judged(i)
            else:  # no topic refers to another: each is decided once anyway
                judged = self._decide(self.compiled[i], doc, prepared)
            if judged is None:
                continue
            result, verdict = judged
            topic = self.compiled[i].topic
            found = _topic_match(topic.name, result, names, doc)
            if verdict is not None:
                found = replace(
                    found,
                    score=round(verdict.score, 3),
                    explanation="; ".join(filter(None, (found.explanation, describe(verdict)))),
                )
            out.append((topic, found, verdict))
        return out

    def could_match(self, title: str, text: str) -> bool:
        """Cheap pre-scan: does any topic's positive term (or entity) appear at all?

        Used to decide whether fetching the full article is worth it: a topic that needs
        more than is here may still find it in the article, so no query is evaluated.
        """
        return self.could_match_prepared(self._prepared(title, text))

    def could_match_prepared(self, prepared: Prepared) -> bool:
        if self._always:
            return True
        if any(n in self._positive_entities for n in prepared.names):
            return True
        return any(t in self._positive for t in self._doc(prepared).hits)

    def _decide(
        self, compiled: CompiledTopic, doc: _Doc, prepared: Prepared
    ) -> tuple[_Result, Verdict | None] | None:
        """The matcher's verdict on one topic for one item: None when its query does not hold,
        else why it holds and its model's verdict. Every verdict, including the one behind
        `topic:NAME`, is made here."""
        result = _eval(compiled.tree, doc, False)
        if result is None:
            return None
        model = compiled.topic.relevance
        verdict = self.relevance.verdict(model, prepared) if model and self.relevance else None
        return result, verdict

    def _candidates(self, doc: _Doc) -> set[int]:
        found = set(self._always)
        for term in doc.hits:
            found.update(self._by_term.get(term, ()))
        for name in doc.entities:
            found.update(self._by_entity.get(name, ()))
        return found

    def _prepared(self, title: str, text: str) -> Prepared:
        return prepare(title, text, self.gazetteer)

    def _doc(self, prepared: Prepared) -> _Doc:
        """The prepared item against these topics; the last one is kept, because the
        pipeline asks `could_match` and then `match` about the same text."""
        last = self._last
        if last is not None and last[0] is prepared:
            return last[1]
        entities: dict[str, list[tuple[Span, str]]] = {}
        for name, alias, first, end in prepared.mentions:
            entities.setdefault(name, []).append(((first, end), alias))
        hits = _scan(self._automaton, fold_latin(prepared.scan), prepared.title_len)
        doc = _Doc(prepared.scan, prepared.title_len, hits, entities)
        self._last = (prepared, doc)
        return doc


class _Verdicts:
    """Each topic's verdict on one item, made at most once however often it is referred to
    (references are acyclic: `refs.in_order` refused cycles when the matcher was built)."""

    def __init__(self, matcher: Matcher, doc: _Doc, prepared: Prepared, holding: frozenset[str]):
        self.matcher = matcher
        self.prepared = prepared
        self.holding = holding
        self.doc = replace(doc, verdict=self.of)  # the doc answers `topic:NAME` from here
        self.made: dict[int, tuple[_Result, Verdict | None] | None] = {}

    def judged(self, i: int) -> tuple[_Result, Verdict | None] | None:
        if i not in self.made:
            compiled = self.matcher.compiled[i]
            self.made[i] = self.matcher._decide(compiled, self.doc, self.prepared)
        return self.made[i]

    def of(self, name: str) -> _Result | None:
        """`topic:NAME`: the topic matches, its model (if any) agreeing."""
        i = self.matcher._index.get(name)
        if i is None:
            return _HOLDS if name in self.holding else None
        judged = self.judged(i)
        if judged is None or (judged[1] is not None and not judged[1].relevant):
            return None
        return judged[0]


def _compile_all(
    topics: list[Topic], gazetteer: Gazetteer, outside: Collection[str]
) -> list[CompiledTopic]:
    """Every topic compiled after the topics it refers to; returned in the order given."""
    done: dict[str, CompiledTopic | None] = dict.fromkeys(outside)
    for topic in in_order(topics, outside):
        done[topic.name] = compile_topic(topic, gazetteer, done)
    return [c for t in topics if (c := done[t.name]) is not None]


def prepare(title: str, text: str, gazetteer: Gazetteer) -> Prepared:
    """What matching needs of an item whatever the topics: its words and entity mentions.

    Pure and picklable, so it can run where the feed was parsed (a worker process). Wire
    furniture ("UPDATE 2-", "(LEAD)", "(Reuters)", "AP - ") is not read (`bot.text.wire`).
    """
    title, text = headline(title), strip_byline(text)
    title_words, title_found = word_matches(title)
    text_words, text_found = word_matches(text)
    mentions: list[tuple[str, str, int, int]] = []
    _mentions(gazetteer, title, title_found, 0, mentions)
    _mentions(gazetteer, text, text_found, len(title_words) + GAP, mentions)
    heads, text_heads = sentence_starts(title, title_found), sentence_starts(text, text_found)
    return Prepared(
        scan=f"{_spaced(title_words, heads)} \n{_spaced(text_words, text_heads)} \n",
        title_len=len(title_words),
        mentions=tuple(mentions),
        names=tuple(dict.fromkeys(m[0] for m in mentions)),
    )


def _automaton(terms: Iterable[Term]) -> ahocorasick.Automaton | None:
    """One automaton for all terms: ' w1 w2 ' for whole words, ' w1 pre' for a prefix, their
    Latin letters folded as the scan's are (`fold_latin`), so `bogota` and `bogotá` are two
    terms of one pattern."""
    patterns: dict[str, list[Term]] = {}
    for term in set(terms):
        pattern = " " + fold_latin(" ".join(term.words)) + ("" if term.prefix else " ")
        patterns.setdefault(pattern, []).append(term)
    if not patterns:
        return None
    automaton = ahocorasick.Automaton()
    for pattern, same in patterns.items():
        automaton.add_word(pattern, (tuple(same), len(same[0].words), len(pattern)))
    automaton.make_automaton()
    return automaton


def _spaced(words: list[str], heads: list[int]) -> str:
    """Each word with a space before it (" w1 w2"), and one more before the first word of a
    sentence (" w1  w2"): a phrase's pattern " w1 w2 " cannot match across it."""
    if heads:
        words = words.copy()
        for i in heads:
            words[i] = " " + words[i]
    return " " + " ".join(words) if words else ""


def _scan(automaton, scan: str, title_len: int) -> dict[Term, list[Span]]:
    """Where each term occurs in a scan (`Prepared.scan`, folded as the automaton's patterns
    are), in word positions (text positions start after the GAP)."""
    if automaton is None:
        return {}
    hits: dict[Term, list[Span]] = {}
    ends: list[int] | None = None
    empty: list[int] | None = None
    for end, (terms, count, length) in automaton.iter(scan):
        if ends is None:
            # scan.split(" ") is ["", title words..., "\n", text words..., "\n"]; ends[k] is
            # where piece k ends (its space included), so a bisect finds a piece by offset.
            # A sentence break adds an empty piece: empty[k] counts them up to piece k.
            pieces = scan.split(" ")
            ends = list(accumulate(map((1).__add__, map(len, pieces))))
            if "  " in scan:
                empty = list(accumulate(map(operator.not_, pieces)))
        piece = bisect_right(ends, end - length + 2)  # the term's first word
        if empty is not None:
            piece += 1 - empty[piece]  # as if there were no break
        first = piece - 1 if piece <= title_len else piece - 2 + GAP
        for term in terms:
            hits.setdefault(term, []).append((first, first + count - 1))
    return hits


def _mentions(
    gazetteer: Gazetteer,
    text: str,
    found: list[re.Match[str]],
    base: int,
    out: list[tuple[str, str, int, int]],
) -> None:
    """Add the text's entity mentions, as word positions, to `out`."""
    mentions = gazetteer.find(text)
    if not mentions:
        return
    for m in mentions:
        first = bisect_right(found, m.start, key=_end)
        last = bisect_left(found, m.end, key=_start) - 1
        if first <= last:
            out.append((m.name, " ".join(m.alias.split()), base + first, base + last))


def _start(m: re.Match[str]) -> int:
    return m.start()


def _end(m: re.Match[str]) -> int:
    return m.end()


def _eval(node: Node, doc: _Doc, title_only: bool) -> _Result | None:
    """Whether a node holds for a document (None: it does not) and why."""
    if isinstance(node, Term):
        return _term(node, doc, title_only)
    if isinstance(node, AnyTerm):
        return _any_term(node, doc, title_only)
    if isinstance(node, Entity):
        return _entity(node, doc, title_only)
    if isinstance(node, Title):
        return _eval(node.child, doc, True)
    if isinstance(node, Not):
        return _HOLDS if _eval(node.child, doc, title_only) is None else None
    if isinstance(node, Near):
        return _near(node, doc, title_only)
    if isinstance(node, Ref):  # never under title: (the parser refuses it)
        found = doc.verdict(node.name)
        return None if found is None else _Result(found.spans, (("topic", node.name), *found.facts))
    if isinstance(node, And | Or):
        return _combine(node, doc, title_only)
    raise TypeError(f"not a compiled query node: {node!r}")  # a TopicRef left unresolved


def _term(node: Term, doc: _Doc, title_only: bool) -> _Result | None:
    spans = [s for s in doc.hits.get(node, ()) if not title_only or doc.in_title(s)]
    if not spans:
        return None
    return _Result(tuple(spans), (("term", doc.surface(spans[0]), doc.in_title(spans[0])),))


def _any_term(node: AnyTerm, doc: _Doc, title_only: bool) -> _Result | None:
    if len(doc.hits) < len(node.terms):
        present = [t for t in doc.hits if t in node.members]
    else:
        present = [t for t in node.terms if t in doc.hits]
    found = [_term(t, doc, title_only) for t in present]
    results = [r for r in found if r is not None]
    if not results:
        return None
    return _Result(
        tuple(s for r in results for s in r.spans), tuple(f for r in results for f in r.facts)
    )


def _entity(node: Entity, doc: _Doc, title_only: bool) -> _Result | None:
    found = [
        (s, a) for s, a in doc.entities.get(node.name, ()) if not title_only or doc.in_title(s)
    ]
    if not found:
        return None
    return _Result(tuple(s for s, _ in found), (("entity", node.name, found[0][1]),))


def _combine(node: And | Or, doc: _Doc, title_only: bool) -> _Result | None:
    results = []
    for child in node.children:
        result = _eval(child, doc, title_only)
        if result is None and isinstance(node, And):
            return None
        if result is not None:
            results.append(result)
    if not results:
        return None
    return _Result(
        tuple(s for r in results for s in r.spans), tuple(f for r in results for f in r.facts)
    )


def _near(node: Near, doc: _Doc, title_only: bool) -> _Result | None:
    """Both sides hold, with at most `distance` words between some pair of their spans."""
    left = _eval(node.left, doc, title_only)
    right = _eval(node.right, doc, title_only) if left is not None and left.spans else None
    if right is None or left is None:
        return None
    pairs = _near_pairs(left.spans, right.spans, node.distance)
    if not pairs:
        return None
    a, b = min(pairs, key=lambda pair: not doc.in_title(pair[0]))  # the title's pair reads best
    fact = ("near", doc.surface(b), doc.surface(a), node.distance, doc.in_title(a))
    # Distinct spans only: a chain of NEARs would otherwise multiply them at every link.
    spans = dict.fromkeys((min(a[0], b[0]), max(a[1], b[1])) for a, b in pairs)
    return _Result(tuple(spans), (fact,))


def _near_pairs(
    left: tuple[Span, ...], right: tuple[Span, ...], distance: int
) -> list[tuple[Span, Span]]:
    """The pairs of a left and a right span that do not overlap and have at most `distance`
    words between them, in the order of the left spans, then of the right ones (the first
    pair is the one explained).

    Each left span looks only at the right spans that start or end within `distance` of it
    (found by bisection), and the search stops once MAX_SPANS distinct joined spans are
    found: comparing every pair made a chain of NEARs over a repetitive text take seconds.
    """
    by_start = sorted((b, i) for i, b in enumerate(right))
    starts = [b[0] for b, _ in by_start]
    by_end = sorted(by_start, key=_span_end)
    ends = [b[1] for b, _ in by_end]
    pairs: list[tuple[Span, Span]] = []
    joined: set[Span] = set()
    for a in left:
        after = by_start[bisect_left(starts, a[1] + 1) : bisect_right(starts, a[1] + 1 + distance)]
        before = by_end[bisect_left(ends, a[0] - 1 - distance) : bisect_right(ends, a[0] - 1)]
        near = sorted(before + after, key=_index)
        for b, _ in near:
            pairs.append((a, b))
            joined.add((min(a[0], b[0]), max(a[1], b[1])))
        if len(joined) >= MAX_SPANS:
            break
    return pairs


def _span_end(entry: tuple[Span, int]) -> int:
    return entry[0][1]


def _index(entry: tuple[Span, int]) -> int:
    return entry[1]


def _between(a: Span, b: Span) -> int:
    """Words strictly between two spans; negative when they overlap."""
    return b[0] - a[1] - 1 if a[1] < b[0] else a[0] - b[1] - 1


def _topic_match(name: str, result: _Result, entities: tuple[str, ...], doc: _Doc) -> TopicMatch:
    matched: dict[str, None] = {}
    reasons: dict[str, None] = {}
    for fact in result.facts:
        if fact[0] == "term":
            matched[fact[1]] = None
            reasons[f'{"title" if fact[2] else "text"} has "{fact[1]}"'] = None
        elif fact[0] == "topic":
            reasons[f"topic {fact[1]}"] = None
        elif fact[0] == "near":
            matched[fact[2]] = matched[fact[1]] = None
            where = " in the title" if fact[4] else ""
            reasons[f'"{fact[1]}" within {fact[3]} words of "{fact[2]}"{where}'] = None
        else:
            alias = "" if fact[2] == fact[1] else f' (as "{fact[2]}")'
            reasons[f"entity {fact[1]}{alias}"] = None
    parts = list(reasons)
    text = "; ".join(parts[:MAX_REASONS]) + ("; ..." if len(parts) > MAX_REASONS else "")
    return TopicMatch(name, tuple(matched), entities, text)


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*$")


def load_topics(path: Path | None = None) -> list[Topic]:
    """Topics from YAML (`name: {query, description}`); default: the shipped built-ins.

    Keys starting with "x-" are shared pieces for YAML anchors, not topics.
    """
    source = path or default_file("topics.yaml")
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping of topic name -> query, description"])
    origin = "builtin" if path is None else "config"
    problems: list[str] = []
    topics = [
        t
        for name, entry in data.items()
        if not str(name).startswith("x-")
        and (t := _topic(str(name), entry, origin, problems)) is not None
    ]
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return topics


def _topic(name: str, entry: object, origin: str, problems: list[str]) -> Topic | None:
    if not _NAME.match(name):
        problems.append(f"{name!r}: a topic name is letters, digits, '-' and '_'")
        return None
    fields = entry if isinstance(entry, dict) else {}
    raw = fields.get("query")
    if isinstance(raw, list) and all(isinstance(part, str) for part in raw):
        raw = " ".join(raw)  # a list lets a long query carry comments and YAML anchors
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{name}: needs a `query` (text, or a list of texts)")
        return None
    query = " ".join(raw.split())
    try:
        parse_query(query)
    except QueryError as exc:
        problems.append(f"{name}: query: {exc}")
        return None
    relevance = fields.get("relevance")
    if relevance is not None and not (isinstance(relevance, str) and _NAME.match(relevance)):
        problems.append(f"{name}: `relevance` names a model, such as deployments")
        return None
    description = str(fields.get("description") or "").strip()
    return Topic(name, query, description, origin, relevance)


def explain(
    query_or_topic_name: str, text: str, gazetteer: Gazetteer, topics: Iterable[Topic] = ()
) -> tuple[bool, str]:
    """Does this text match a query (or a known topic's query), and why (not)?

    The first line of the text is the title; a single line is a headline without text.
    """
    return explained(explaining(query_or_topic_name, text, gazetteer, topics))


@dataclass(frozen=True)
class Explaining:
    """A text about to be explained against a topic: what `bot.opinions` needs to give the
    encoder's opinion before `explained` judges it."""

    topic: Topic
    matcher: Matcher
    title: str
    body: str
    prepared: Prepared


def explaining(
    query_or_topic_name: str, text: str, gazetteer: Gazetteer, topics: Iterable[Topic] = ()
) -> Explaining:
    known = {t.name: t for t in topics}
    topic = known.get(query_or_topic_name) or Topic("(query)", query_or_topic_name, origin="chat")
    matcher = Matcher(needed_by(topic, known), gazetteer)
    title, body = _split_title(strip_invisible(text))
    return Explaining(topic, matcher, title, body, prepare(title, body, gazetteer))


def explained(e: Explaining, prepared: Prepared | None = None) -> tuple[bool, str]:
    """`explain`'s answer; `prepared`: the text with the encoder's opinions, when asked.

    A miss says what failed, one line per reason: what is missing, which NOT excluded the
    item and the words that set it off, what is in the body but wanted in the title, which
    referred topic's model said no; then the query's words and entities the text does have.
    """
    topic, matcher = e.topic, e.matcher
    prepared = prepared or e.prepared
    compiled = matcher.compiled[matcher._index[topic.name]]
    verdicts = _Verdicts(matcher, matcher._doc(prepared), prepared, frozenset())
    judged = [j for j in matcher.judge(prepared) if j[0].name == topic.name]
    if judged:
        _, found, verdict = judged[0]
        why = found.explanation
        held = _eval(compiled.tree, verdicts.doc, False)
        if held is not None and not held.facts:  # only exclusions: it names nothing it found
            excluded = _nothing_excluded(compiled.tree) or f"`{_short(compiled.tree)}` holds"
            why = "; ".join(filter(None, (excluded, why)))
        if verdict is not None and not verdict.relevant:
            return False, f"the query matched ({why}), but the model says no"
        return True, why
    lines = list(dict.fromkeys(_WhyNot(verdicts).of(compiled.tree, False)))
    if len(lines) > MAX_REASONS:
        lines = [*lines[:MAX_REASONS], "..."]
    if have := _found(verdicts.doc, matcher, lines):
        lines.append(have)
    return False, "\n- ".join(lines)


def _nothing_excluded(tree: Node) -> str:
    """Why a query holds that names nothing the text has: what it excludes is not there."""
    shown = ", ".join(f"`{_short(n)}`" for n in _exclusions(tree))
    return f"nothing the query excludes is in the text: {shown}" if shown else ""


def _exclusions(node: Node) -> list[Node]:
    """The outermost NOTs of a tree (with the `title:` around one, which says where)."""
    if isinstance(node, Not) and isinstance(node.child, Not):  # NOT NOT x: x, no exclusion
        return _exclusions(node.child.child)
    if isinstance(node, Not) or (
        isinstance(node, Title) and any(isinstance(n, Not) for n in walk(node.child))
    ):
        return [node]
    return [n for child in _subnodes(node) for n in _exclusions(child)]


def _subnodes(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Title | Not):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, And | Or):
        return node.children
    return ()


SHORT = 60  # characters of a query shown in an explanation


def _short(node: Node) -> str:
    """A part of a compiled query as an explanation quotes it: as written, one line, cut (a
    built-in list runs to a hundred words)."""
    text = " ".join(str(_written(node)).split())
    return clip(text, SHORT)


def _written(node: Node) -> Node:
    """A compiled tree as the parser made it (`Ref` and `AnyTerm` are the compiler's)."""
    if isinstance(node, Ref):
        return TopicRef(node.name)
    if isinstance(node, AnyTerm):
        return Or(node.terms)
    if isinstance(node, Title | Not):
        return type(node)(_written(node.child))
    if isinstance(node, Near):
        return Near(_written(node.left), _written(node.right), node.distance)
    if isinstance(node, And):
        return And(tuple(_written(c) for c in node.children))
    if isinstance(node, Or):
        written = (_written(c) for c in node.children)
        return Or(tuple(n for w in written for n in (w.children if isinstance(w, Or) else (w,))))
    return node


class _WhyNot:
    """Why a part of a query does not hold for one item. Query parts are shown in `code`
    (so chat renders `deploy*` as written), the item's words in "quotes", as written."""

    def __init__(self, verdicts: _Verdicts):
        self.verdicts = verdicts
        self.doc = verdicts.doc

    def of(self, node: Node, title_only: bool) -> list[str]:
        """The reasons, for a node that does not hold."""
        if isinstance(node, Term | AnyTerm):
            return [self.words(node, title_only)]
        if isinstance(node, Entity):
            return [self.entity(node, title_only)]
        if isinstance(node, Title):
            return self.of(node.child, True)
        if isinstance(node, Not) and isinstance(node.child, Not):
            return self.of(node.child.child, title_only)
        if isinstance(node, Not):
            return [self.excluded(node, title_only)]
        if isinstance(node, Near):
            return self.near(node, title_only)
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, And):
            failed = [c for c in node.children if _eval(c, self.doc, title_only) is None]
            return [line for c in failed for line in self.of(c, title_only)]
        if isinstance(node, Or):
            lines = [line for c in node.children for line in self.of(c, title_only)]
            return lines if len(lines) <= 2 else [f"nothing of `{_short(node)}` is in the text"]
        return [f"`{_short(node)}` does not hold"]

    def words(self, node: Term | AnyTerm, title_only: bool) -> str:
        terms = node.terms if isinstance(node, AnyTerm) else (node,)
        if title_only:  # in the body only?
            for term in terms:
                if spans := self.doc.hits.get(term):
                    return f'"{self.doc.surface(spans[0])}" is in the body, not the title'
        if isinstance(node, Term):
            if self.split_by_sentence(node):
                return f"`{node}` is in the text, but split by a sentence end"
            return f"`{node}` is not in the text"
        return f"none of `{_short(node)}` is in the text"

    def split_by_sentence(self, term: Term) -> bool:
        """A phrase whose words stand in a row across a sentence end (the scan has two
        spaces before a sentence's first word, `Prepared.scan`): not a match, but not
        absent either."""
        if len(term.words) < 2 or term.prefix:
            return False
        joined = re.sub(r" {2,}", " ", fold_latin(self.doc.scan))
        return f" {fold_latin(' '.join(term.words))} " in joined

    def entity(self, node: Entity, title_only: bool) -> str:
        mentions = self.doc.entities.get(node.name)
        if title_only and mentions:
            return f"{_entity_found(node.name, mentions[0][1])} is in the body, not the title"
        return f"`{node}` is not in the text, by any of its names"

    def excluded(self, node: Not, title_only: bool) -> str:
        held = _eval(node.child, self.doc, title_only)
        why = _topic_match("", held, (), self.doc).explanation if held else ""
        return f"excluded by `{_short(node)}`" + (f": {why}" if why else "")

    def near(self, node: Near, title_only: bool) -> list[str]:
        left = _eval(node.left, self.doc, title_only)
        right = _eval(node.right, self.doc, title_only)
        if left is None or right is None:
            missing = [n for n, r in ((node.left, left), (node.right, right)) if r is None]
            return [line for n in missing for line in self.of(n, title_only)]
        pairs = [(a, b) for a in left.spans for b in right.spans]
        same = [p for p in pairs if self.doc.in_title(p[0]) == self.doc.in_title(p[1])]
        if not same and pairs:
            a, b = pairs[0] if self.doc.in_title(pairs[0][0]) else pairs[0][::-1]
            return [
                f'"{self.doc.surface(a)}" is in the title and "{self.doc.surface(b)}" in the '
                f"body: `NEAR/{node.distance}` does not join them"
            ]
        if not same:
            return [f"`{_short(node)}` does not hold"]
        a, b = min(same, key=lambda p: abs(_between(*p)))
        return [
            f'"{self.doc.surface(a)}" and "{self.doc.surface(b)}" are not within '
            f"{node.distance} words of each other"
        ]

    def ref(self, node: Ref) -> list[str]:
        """The referred topic's own reasons, or its model's: never blamed on this query."""
        i = self.verdicts.matcher._index.get(node.name)
        if i is None or node.target is None:  # decided outside this matcher
            return [f"topic {node.name} does not match"]
        judged = self.verdicts.judged(i)
        if judged is None:
            return [f"topic {node.name}: {line}" for line in self.of(node.target.tree, False)]
        verdict = judged[1]
        if verdict is None or verdict.relevant:
            return [f"topic {node.name} matches"]  # not asked for a node that holds
        return [
            f"topic {node.name}: its query matches, but its model says no ({describe(verdict)})"
        ]


def _found(doc: _Doc, matcher: Matcher, said: list[str]) -> str:
    """The query's words (as written in the text) and entities that the text has, less
    those the reasons already name."""
    words = dict.fromkeys(f'"{doc.surface(spans[0])}"' for spans in doc.hits.values())
    named = {n.name for c in matcher.compiled for n in walk(c.tree) if isinstance(n, Entity)}
    entities = [_entity_found(n, m[0][1]) for n, m in doc.entities.items() if n in named]
    told = "\n".join(said)
    shown = [w for w in words if w not in told][:8]
    shown += [e for e in entities if e not in told]
    return f"the text has {', '.join(shown)}" if shown else ""


def _entity_found(name: str, alias: str) -> str:
    return f"entity {name}" + ("" if alias == name else f' (as "{alias}")')


def _split_title(text: str) -> tuple[str, str]:
    """The first line is the title; a single line is a headline alone."""
    lines = text.strip().split("\n", 1)
    if len(lines) == 2 and lines[1].strip():
        return lines[0].strip(), lines[1]
    return text.strip(), ""
