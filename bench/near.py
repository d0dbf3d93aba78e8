"""NEAR chains: the cost of a chain of NEAR/100 on a text that repeats its words.

The claim under test (bot/topics/evaluate.py, `_near_pairs` and MAX_SPANS): a query typed in chat
cannot make matching slow, even when a feed is hostile. A chain of NEARs over a text where every
word of the chain occurs every few words joins every span with every other at each link; the
matcher looks only at the spans within reach of each one (bisection) and keeps at most
MAX_SPANS joined spans per link, so the cost grows with the links, not with their product.

Baselines in the same run: the same chain on an ordinary item of the same length (generated
news, bench/corpus.py), and the previous way, every pair of spans compared and all of them
kept (`all_pairs`, only for short chains: it takes seconds from 5 links on).

`python -m bench.near [--quick]`
"""

from __future__ import annotations

import time

from bench.matching import _items
from bench.report import Section, run_alone
from bot.topics.evaluate import _between

_CHAIN_WORDS = ("the", "of", "and", "to", "in", "a")
_CHARS = 3_400  # a 2,000-character summary and a 1,500-character article lead


def _chain(links: int) -> str:
    return " NEAR/100 ".join(_CHAIN_WORDS[i % len(_CHAIN_WORDS)] for i in range(links + 1))


def _texts() -> tuple[str, str]:
    hostile = (" ".join(_CHAIN_WORDS) + " ") * (_CHARS // 15)
    ordinary = " ".join(text for _, text in _items(40))
    return hostile[:_CHARS], ordinary[:_CHARS]


def _seconds(matcher, text: str, repeat: int) -> tuple[float, bool]:
    """CPU seconds of one match (the best of `repeat`), and whether the chain matched."""
    best, matched = float("inf"), False
    for _ in range(repeat):
        start = time.process_time()
        matched = bool(matcher.match("Title", text))
        best = min(best, time.process_time() - start)
    return best, matched


def _all_pairs(left, right, distance):
    """The matcher's NEAR before the cap: every pair compared, every joined span kept."""
    return [(a, b) for a in left for b in right if 0 <= _between(a, b) <= distance]


def run(quick: bool = False) -> Section:
    from bot.gazetteer import Gazetteer
    from bot.model import Topic
    from bot.topics import evaluate
    from bot.topics.match import Matcher

    began = time.perf_counter()
    gazetteer = Gazetteer.load()
    hostile, ordinary = _texts()
    section = Section(
        f"NEAR chains: one item of {_CHARS:,} characters against a chain of NEAR/100",
        ["links", "matched", "hostile_ms", "ordinary_ms", "hostile_vs_ordinary",
         "all_pairs_hostile_ms", "speedup_vs_all_pairs"],
    )  # fmt: skip
    capped = evaluate._near_pairs
    for links in (1, 3, 5, 20, 59) if not quick else (1, 3, 20):
        matcher = Matcher([Topic("chain", _chain(links))], gazetteer)
        hard, held = _seconds(matcher, hostile, 3)
        easy, held_ordinary = _seconds(matcher, ordinary, 3)
        before = None
        if links <= (3 if quick else 5):
            evaluate._near_pairs = _all_pairs
            try:
                before, held_before = _seconds(matcher, hostile, 1)
            finally:
                evaluate._near_pairs = capped
            assert held_before == held, "the cap changed the answer"
        section.add(
            links=links,
            matched=f"{'yes' if held else 'no'} / {'yes' if held_ordinary else 'no'}",
            hostile_ms=hard * 1e3,
            ordinary_ms=easy * 1e3,
            hostile_vs_ordinary=f"{hard / easy:.1f}x" if easy else "n/a",
            all_pairs_hostile_ms=before * 1e3 if before is not None else None,
            speedup_vs_all_pairs=f"{before / hard:.0f}x" if before and hard else None,
        )
    section.notes.append(
        "`Matcher.match` CPU time, best of 3, for the title 'Title' and the text (matched: on "
        "the hostile text / on the ordinary one); the hostile "
        f"text repeats {' '.join(_CHAIN_WORDS)!r}, the ordinary one is generated news. "
        "all_pairs: the same matcher with NEAR comparing every pair (the code before the cap)."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
