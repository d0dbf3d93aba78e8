"""Measure a topic (precision, recall, F1) and story grouping (pairwise P/R) on labelled items.

Input: JSONL with `title`, `description`, `label` and `story` per line, such as
shared/data/dev-deployments-agnews.jsonl. The items run through the same matcher, gazetteer,
summary and story index as the bot, in file order, an hour apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations
from pathlib import Path

from bot.clock import utcnow
from bot.errors import WirewatchError
from bot.stories import StoryDoc, StoryIndex
from bot.text.clean import html_to_text
from bot.topics.entities import Gazetteer
from bot.topics.match import Matcher, load_topics


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def pairwise(predicted: list[int], truth: list[str]) -> Scores:
    """Pairs put together vs pairs truly together."""
    pairs = list(combinations(range(len(truth)), 2))
    ours = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    real = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    return Scores(ratio(len(ours & real), len(ours)), ratio(len(ours & real), len(real)))


def load_items(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise WirewatchError(f"cannot read labelled items from {path}: {exc}") from None


def evaluate_file(path: Path, *, topic: str = "troop-deployments", positive: str = "deploy") -> str:
    items = load_items(path)
    gazetteer = Gazetteer.load()
    topics = [t for t in load_topics() if t.name == topic]
    if not topics:
        raise WirewatchError(f"no built-in topic {topic!r}")
    matcher = Matcher(topics, gazetteer)
    hits, index, stories = [], StoryIndex(), []
    start = utcnow()
    for n, item in enumerate(items):
        title, text = html_to_text(item["title"]), html_to_text(item.get("description", ""))
        hits.append(bool(matcher.match(title, text)))
        doc = StoryDoc(
            n, title, text, gazetteer.names(f"{title}\n{text}"), start + timedelta(minutes=10 * n)
        )
        sid = index.assign(doc)
        sid = n if sid is None else sid
        index.add(doc, sid)
        stories.append(sid)
    labels = [item.get("label") == positive for item in items]
    tp = sum(h and y for h, y in zip(hits, labels, strict=True))
    topic_scores = Scores(ratio(tp, sum(hits)), ratio(tp, sum(labels)))
    groups = pairwise(stories, [item.get("story", str(i)) for i, item in enumerate(items)])
    misses = _misses(items, hits, labels)
    return (
        f"{len(items)} items from {path}\n"
        f"topic {topic}: precision {topic_scores.precision:.3f} recall "
        f"{topic_scores.recall:.3f} F1 {topic_scores.f1:.3f}\n"
        f"stories: pairwise precision {groups.precision:.3f} recall {groups.recall:.3f} "
        f"({len(set(stories))} stories found, {len(set(i.get('story') for i in items))} true)"
        + misses
    )


def _misses(items: list[dict], hits: list[bool], labels: list[bool]) -> str:
    out: dict[str, list[str]] = defaultdict(list)
    for item, h, y in zip(items, hits, labels, strict=True):
        if h != y:
            out["false positive" if h else "missed"].append(item["title"])
    return "".join(f"\n{kind}: {t}" for kind, titles in out.items() for t in titles)
