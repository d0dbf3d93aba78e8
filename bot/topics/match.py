"""All topics against one item (title + text), with the reason each one fired.

How it stays fast with many topics: every word and phrase of every topic goes into ONE
Aho-Corasick automaton (`bot.topics.scan`). An item is tokenised once (`prepare`) and
scanned once; the gazetteer scans it once more for entities. Only topics with a trigger term
(or entity) among the hits are evaluated (`bot.topics.evaluate`), each over the set of hits,
so the cost per item grows with the hits, not with the topic count. For an AND only its most
selective side is indexed (`bot.topics.compile`). A topic that could match with none of its
terms present (`NOT x`) is always evaluated.

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

This module does not fetch, store or alert; it only answers "which topics, and why". Nor does
it compile queries, read topics files (`bot.topics.load`) or explain a miss
(`bot.topics.explanation`).
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable
from dataclasses import replace

from bot.gazetteer import Gazetteer
from bot.model import GAP, Prepared, Topic, TopicMatch
from bot.relevance import Relevance, Verdict, describe
from bot.text.fold import fold_latin
from bot.text.wire import headline, strip_byline
from bot.topics.compile import CompiledTopic, _compile_all
from bot.topics.evaluate import _HOLDS, _Doc, _eval, _Result, _topic_match
from bot.topics.query import Term, sentence_starts, word_matches
from bot.topics.scan import Span, _automaton, _scan

log = logging.getLogger(__name__)


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
        combined = verdict.encoder is not None or (verdict.unasked and not verdict.encoder_missing)
        return model.bar(feats, relaxed=True, opinion=combined)

    def opinions_wanted(self, prepared: Prepared) -> tuple[str, ...]:
        """The relevance models that want the encoder's opinion on this item: those of the
        topics whose query holds (most items have none, and cost nothing more), unless a cue
        vetoed it or its words score too low for any opinion to matter (none could change
        the verdict: `LinearModel.opinion_matters`).

        Judged without `holding`: every matcher the encoder is asked through (the pipeline's,
        a redecision's, a replay's, `test`'s) compiles the topics its queries refer to, so a
        `topic:NAME` is decided here, with NAME's model. Only bot.narrow's filter matchers
        have `outside` topics, and they are never asked through: a filter has no model of its
        own, and the topics it names were decided, with their opinions, by the pipeline's."""
        if self.relevance is None:
            return ()
        rel = self.relevance
        wanted = (
            t.relevance
            for t, _, v in self.judge(prepared)
            if v is not None and t.relevance and rel.wants_opinion(t.relevance, v)
        )
        return tuple(dict.fromkeys(wanted))

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


def _spaced(words: list[str], heads: list[int]) -> str:
    """Each word with a space before it (" w1 w2"), and one more before the first word of a
    sentence (" w1  w2"): a phrase's pattern " w1 w2 " cannot match across it."""
    if heads:
        words = words.copy()
        for i in heads:
            words[i] = " " + words[i]
    return " " + " ".join(words) if words else ""


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
