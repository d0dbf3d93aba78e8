"""Why a text matches a query (or a known topic), or why not, as `test` answers it: the
reasons of a match, and for a miss what failed, one line per reason, then the query's
words and entities the text does have.

This module decides no match of its own: it asks a Matcher built for the topic (and the
topics it refers to), and the evaluator again for the parts of the query that failed. The
encoder's opinion, when asked, comes from `bot.opinions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.gazetteer import Gazetteer
from bot.model import Prepared, Topic
from bot.relevance import describe
from bot.text.clip import clip
from bot.text.fold import fold_latin
from bot.text.invisible import strip_invisible
from bot.topics.compile import AnyTerm, Ref
from bot.topics.evaluate import MAX_REASONS, _between, _Doc, _eval, _topic_match, within
from bot.topics.match import Matcher, _Verdicts, prepare
from bot.topics.query import And, Entity, Near, Node, Not, Or, Term, Title, TopicRef, walk
from bot.topics.refs import needed_by


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
        apart = [p for p in same if _between(*p) >= 0]
        if not apart:  # `entity:"North Korea" NEAR/3 korea*` on "North Korea": one place
            a, b = same[0]
            return [
                f'"{self.doc.surface(a)}" and "{self.doc.surface(b)}" are the same words of the '
                f"text: `NEAR/{node.distance}` needs two places"
            ]
        a, b = min(apart, key=lambda p: _between(*p))
        return [
            f'"{self.doc.surface(a)}" and "{self.doc.surface(b)}" are not '
            f"{within(node.distance)} each other"
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
