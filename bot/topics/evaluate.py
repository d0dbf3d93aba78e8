"""Whether a compiled query holds for one item, and why: each node of the tree evaluated
over the item's hits (where each term and entity is, in word positions), NEAR by the
distance between the spans of its two sides.

Title and text are one token sequence with a gap of GAP positions between them, so
phrases and NEAR never join the end of a title to the start of the text. A node that holds
says why in facts (`_Result.facts`), put into words only when the topic fires
(`_topic_match`). `topic:NAME` is answered by the document (`_Doc.verdict`), which the
matcher gives it.

This module does not scan text, compile queries nor ask a relevance model: it is given the
hits (`bot.topics.scan`), the compiled tree (`bot.topics.compile`) and, through the
document, the verdicts of the topics a query names (`bot.topics.match`).
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from bot.model import GAP, TopicMatch
from bot.topics.compile import AnyTerm, Ref
from bot.topics.query import And, Entity, Near, Node, Not, Or, Term, Title
from bot.topics.scan import Span

MAX_REASONS = 6
# Spans kept per NEAR: a chain of NEARs over a text repeating its words would otherwise join
# every span with every other at each link (seconds per item). Real items have far fewer.
MAX_SPANS = 256


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
    if isinstance(node, Not) and isinstance(node.child, Not):  # NOT NOT x: x, and what fired
        return _eval(node.child.child, doc, title_only)
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
    pair is the one explained), one pair for each span they join (the first).

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
            span = (min(a[0], b[0]), max(a[1], b[1]))
            if span not in joined:  # a pair joining spans already joined adds nothing
                joined.add(span)
                pairs.append((a, b))
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


def within(distance: int) -> str:
    """NEAR's distance as an explanation says it: "within 5 words of", "within 1 word of",
    and for NEAR/0 (no word between) "next to"."""
    if distance == 0:
        return "next to"
    return f"within {distance} word{'' if distance == 1 else 's'} of"


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
            reasons[f'"{fact[1]}" {within(fact[3])} "{fact[2]}"{where}'] = None
        else:
            alias = "" if fact[2] == fact[1] else f' (as "{fact[2]}")'
            reasons[f"entity {fact[1]}{alias}"] = None
    parts = list(reasons)
    text = "; ".join(parts[:MAX_REASONS]) + ("; ..." if len(parts) > MAX_REASONS else "")
    return TopicMatch(name, tuple(matched), entities, text)
