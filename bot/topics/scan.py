"""Where every term of every topic occurs in one item, found in one pass: every word and
phrase of every topic goes into ONE Aho-Corasick automaton, which reads the item's scan
(`Prepared.scan`) once.

A phrase does not run on from one sentence into the next: the scan has two spaces before a
sentence's first word (`match.prepare`), where a phrase's pattern needs one. The automaton
reads the scan and the patterns with their Latin letters folded (`bot.text.fold.fold_latin`:
"bogotá" is "bogota").

This module does not make the scan (`bot.topics.match.prepare`) nor evaluate any query.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

import ahocorasick

from bot.model import GAP
from bot.text.fold import fold_latin
from bot.topics.query import Term

Span = tuple[int, int]  # first and last word position, inclusive


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
