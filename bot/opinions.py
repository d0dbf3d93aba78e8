"""The encoder's second opinion on candidate items, asked for in batches before matching.

Only items for which some topic's query holds, and whose topic's relevance model takes an
opinion (`bot.relevance`), are sent: most items cost nothing. The running bot asks a worker
process, so the encoder's weights and numpy stay out of the bot's own memory; `wirewatch
eval`, `topics backtest` and `topics test` ask in-process. When the encoder cannot answer
(weights not installed, a worker failure), items go on without an opinion and their models
decide alone, at their own bars: said, never an item lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from bot.encoder import missing
from bot.errors import ConfigError, WorkerError, one_line
from bot.gazetteer import Gazetteer
from bot.model import Prepared, Topic
from bot.text.wire import headline, strip_byline
from bot.topics.explanation import explained, explaining
from bot.topics.match import Matcher
from bot.workers import opinions_async

log = logging.getLogger(__name__)

Pair = tuple[Prepared, str]  # an item's prepared text, and what the encoder reads of it
# A section of the event loop's turns (`bot.turns.Turns.section`): held while items are
# judged, it is given the function to await between two items.
Turns = Callable[[], AbstractAsyncContextManager[Callable[[], Awaitable[None]]]]
_LEAD = 1000  # of a summary or article, for an entry without a title (64 tokens read)
_said: set[str] = set()  # encoder problems already logged in this process


async def ask(
    matcher: Matcher, items: Sequence[Pair], turns: Turns | None = None
) -> list[Prepared]:
    """Each item's prepared text, with the opinions its topics' models want (worker).

    Which opinions an item wants is its topics' judgement, ms an item with many topics (50
    items and 150 topics held the loop 0.7 s): with `turns`, items are judged one at a time
    in the poll's turns with the event loop; the worker is asked outside them."""
    _weights(matcher)
    wanted = await _wanted_in_turns(matcher, items, turns) if turns else _wanted(matcher, items)
    answers: dict[str, list[float]] = {}
    for model, picked in wanted.items():
        texts = [items[i][1] for i in picked]
        log.debug("encoder.asked model=%s texts=%d", model, len(texts))  # its cost, by the text
        # Many at once (a flood, a rewrite): half to each worker, both cores at work.
        parts = (
            [texts[: len(texts) // 2], texts[len(texts) // 2 :]] if len(texts) >= 16 else [texts]
        )
        head = _head(matcher, model)
        try:
            done = await asyncio.gather(*(opinions_async(head, part) for part in parts))
        except (ConfigError, WorkerError) as exc:
            _unavailable(model, exc)
            continue
        answers[model] = [score for part in done for score in part]
    return _given(items, wanted, answers)


def ask_now(matcher: Matcher, items: Sequence[Pair]) -> list[Prepared]:
    """`ask` in this process (replays and `topics test`: nothing else waits on them)."""
    _weights(matcher)
    wanted = _wanted(matcher, items)
    answers: dict[str, list[float]] = {}
    for model, picked in wanted.items():
        log.debug("encoder.asked model=%s texts=%d", model, len(picked))
        try:
            answers[model] = _opinions()(_head(matcher, model), [items[i][1] for i in picked])
        except ConfigError as exc:
            _unavailable(model, exc)
    return _given(items, wanted, answers)


def explain_now(
    query_or_topic_name: str, text: str, gazetteer: Gazetteer, topics: Iterable[Topic] = ()
) -> tuple[bool, str]:
    """`bot.topics.explanation.explain` with the encoder's opinion, asked in this process."""
    e = explaining(query_or_topic_name, text, gazetteer, topics)
    return explained(e, ask_now(e.matcher, [(e.prepared, reads(e.title, e.body, None))])[0])


async def explain(
    query_or_topic_name: str, text: str, gazetteer: Gazetteer, topics: Iterable[Topic] = ()
) -> tuple[bool, str]:
    """`bot.topics.explanation.explain` with the encoder's opinion, asked of a worker."""
    e = explaining(query_or_topic_name, text, gazetteer, topics)
    given = await ask(e.matcher, [(e.prepared, reads(e.title, e.body, None))])
    return explained(e, given[0])


def reads(title: str, summary: str, article: str | None) -> str:
    """What the encoder reads of an entry: its headline alone.

    Why not the summary too: a headline runs about 12 word pieces, title and summary about 56,
    and the forward pass costs by the word piece (4 ms a candidate on 2 cores against 17-30 ms,
    `python -m bench.encoder`; the budget is 5 ms). On sources held out from training, reading
    the summary too added 0.02 F1 (eval/experiments/encoder/README.md). The word model still
    reads the text. An entry without a title is read by the lead of its summary or article.
    """
    if title.strip():
        return headline(title)
    return strip_byline(summary or article or "")[:_LEAD]


def _weights(matcher: Matcher) -> None:
    """Tell the matcher's models whether the encoder's weights are installed (0.15 ms): an
    item no opinion could lift is never asked about, and without the weights it is held, and
    explained, at the word model's own bar, as every item then is."""
    if matcher.relevance is not None:
        matcher.relevance.encoder_missing = missing() is not None


def _wanted(matcher: Matcher, items: Sequence[Pair]) -> dict[str, list[int]]:
    """model -> the items that want its opinion."""
    wanted: dict[str, list[int]] = {}
    for i, (prepared, _) in enumerate(items):
        for model in matcher.opinions_wanted(prepared):
            wanted.setdefault(model, []).append(i)
    return wanted


async def _wanted_in_turns(
    matcher: Matcher, items: Sequence[Pair], turns: Turns
) -> dict[str, list[int]]:
    """`_wanted`, an item at a time, taking turns with the event loop."""
    wanted: dict[str, list[int]] = {}
    async with turns() as pace:
        for i, (prepared, _) in enumerate(items):
            for model in matcher.opinions_wanted(prepared):
                wanted.setdefault(model, []).append(i)
            await pace()
    return wanted


def _given(
    items: Sequence[Pair], wanted: dict[str, list[int]], answers: dict[str, list[float]]
) -> list[Prepared]:
    got: dict[int, list[tuple[str, float]]] = {}
    for model, scores in answers.items():
        for i, score in zip(wanted[model], scores, strict=True):
            got.setdefault(i, []).append((model, round(score, 4)))
    return [replace(p, opinions=tuple(got[i])) if i in got else p for i, (p, _) in enumerate(items)]


def _head(matcher: Matcher, model: str) -> str:
    assert matcher.relevance is not None
    bars = matcher.relevance.model(model).encoder
    assert bars is not None  # opinions_wanted names only models that take one
    return bars.head


def _opinions() -> Callable[[str, list[str]], list[float]]:
    from bot.encoder import opinions  # numpy and the weights: only when asked in-process

    return opinions


def _unavailable(model: str, exc: Exception) -> None:
    """A missing install is said once; a worker's failure each time (it may pass)."""
    problem = one_line(exc)
    if isinstance(exc, ConfigError):
        if problem in _said:
            return
        _said.add(problem)
    log.warning("encoder.unavailable model=%s error=%s deciding=without_opinion", model, problem)
