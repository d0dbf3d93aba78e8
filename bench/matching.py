"""Topic matching: items per second against 10, 1,000 and 10,000 topics.

The claim under test (bot/topics/match.py, scan.py): one Aho-Corasick scan per item, then only the
topics whose trigger terms were hit are evaluated, so the cost stays nearly flat as topics
grow. Topics are generated (bench.corpus.Corpus.topics): phrases, entity AND word lists,
NEAR/5, prefixes with entities, title: and AND NOT, over the same vocabulary as the items.

Baseline in the same run: the naive way, one compiled regex per topic (its first phrase or
word, case-insensitive, whole words) searched in every item; it is measured on a sample of
items and extrapolated, since at 10,000 topics it is slow by design.

`python -m bench.matching [--quick]`
"""

from __future__ import annotations

import re
import time

from bench.contenders import topic_settings
from bench.corpus import Corpus, now_utc
from bench.report import Section, run_alone


def _items(count: int) -> list[tuple[str, str]]:
    from bot.feeds.parse import parse_feed

    corpus, now = Corpus(), now_utc()
    out: list[tuple[str, str]] = []
    feed = 0
    while len(out) < count:
        body = corpus.feed_xml(feed, now, corpus.feed_items(feed, now))
        out += [
            (e.title, e.summary) for e in parse_feed(body, feed_url="https://b.example/").entries
        ]
        feed += 1
    return out[:count]


def _naive_rate(queries: list[str], items: list[tuple[str, str]]) -> float:
    """Items per second for one regex per topic (the first quoted phrase or word of each)."""
    patterns = []
    for q in queries:
        m = re.search(r'"([^"]+)"|\b([a-z]{3,})\b', q)
        word = (m.group(1) or m.group(2)) if m else q
        patterns.append(re.compile(r"\b" + re.escape(word) + r"\b", re.IGNORECASE))
    sample = items[: max(20, min(len(items), 200_000 // max(1, len(patterns))))]
    start = time.process_time()
    for title, text in sample:
        for p in patterns:
            p.search(title) or p.search(text)
    return len(sample) / (time.process_time() - start)


def _candidates_per_item(matcher, items: list[tuple[str, str]]) -> float | None:
    """How many topics the matcher evaluated per item (its internals; None if they moved)."""
    try:
        docs = (matcher._doc(matcher._prepared(t, x)) for t, x in items)
        total = sum(len(matcher._candidates(doc)) for doc in docs)
    except (AttributeError, TypeError):
        return None
    return total / len(items)


def run(quick: bool = False) -> Section:
    from bot.catalog import configured_topics
    from bot.gazetteer import Gazetteer
    from bot.settings import Settings
    from bot.topics.match import Matcher

    began = time.perf_counter()
    items = _items(1000 if quick else 5000)
    gazetteer = Gazetteer.load()
    section = Section(
        f"Matching: items/s by topic count ({len(items)} items of ~1.9 KB, one core)",
        ["topics", "build_s", "match_items_per_s", "us_per_item", "vs_10_topics",
         "topics_evaluated_per_item", "matches_per_item", "naive_regex_items_per_s",
         "speedup_vs_naive"],
    )  # fmt: skip
    base = None
    for count in (10, 1000, 10_000):
        settings = Settings.model_validate({"topics": topic_settings(count)})
        topics = configured_topics(settings)
        start = time.process_time()
        matcher = Matcher(topics, gazetteer)
        build = time.process_time() - start
        matcher.match(*items[0])
        start = time.process_time()
        fired = sum(len(matcher.match(title, text)) for title, text in items)
        rate = len(items) / (time.process_time() - start)
        evaluated = _candidates_per_item(matcher, items[:300])
        base = base or rate
        naive = _naive_rate([t.query for t in topics], items)
        section.add(
            topics=len(topics),
            build_s=build,
            match_items_per_s=rate,
            us_per_item=1e6 / rate,
            vs_10_topics=f"{rate / base:.2f}",
            topics_evaluated_per_item=evaluated,
            matches_per_item=fired / len(items),
            naive_regex_items_per_s=naive,
            speedup_vs_naive=f"{rate / naive:.1f}x",
        )
    section.notes.append(
        "`Matcher.match(title, text)` per item, entities and reasons included; text is the "
        "feed summary (what every new item is matched on; candidates add the article's lead)."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
