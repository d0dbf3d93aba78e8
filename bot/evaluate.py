"""Measure a topic and story grouping on labelled items, replayed as the bot would see them.

Input: JSON lines (`bot.labelled`). Items are replayed in publication order on a scratch
database (`bot.replay`): the topic's query and relevance model decide detection; the story
index, its window and the outbox rules decide grouping and what a channel is sent. Printed:
- detection: precision, recall, F1 of the topic against `label` (ambiguous items left out),
  and of what the channel was sent (new alerts and updates: an update passes a relaxed bar);
- grouping: pairwise precision (a merged pair is right when both items share a `thread`)
  and recall (pairs of one `story` that were merged);
- alerts: top-level alerts per story, and the stories that got more than one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from math import comb
from pathlib import Path

from bot.errors import UsageError, WirewatchError
from bot.gazetteer import Gazetteer
from bot.labelled import LABELS, LabelledItem, load_labelled
from bot.model import Topic
from bot.replay import Replayed, ReplayInput, replay
from bot.text.clean import html_to_text
from bot.wording import counted

SYNTHETIC_START = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scores:
    precision: float | None  # None: nothing predicted
    recall: float | None  # None: nothing to find

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def detection(items: list[LabelledItem], out: list[Replayed], positive: str) -> Scores:
    """The topic's own match (what may start an alert) against `label`."""
    return _scored(items, [o.matched for o in out], positive)


def posted(items: list[LabelledItem], out: list[Replayed], positive: str) -> Scores:
    """Detection as the channel sees it: an item counts as predicted when it was sent there,
    as a new alert or as an update in its story's thread (which passes the relaxed bar)."""
    return _scored(items, [o.alert is not None for o in out], positive)


def _scored(items: list[LabelledItem], predicted: list[bool], positive: str) -> Scores:
    """Precision and recall of `predicted` (one per item), ambiguous items left out."""
    scored = [
        (hit, i.label == positive)
        for i, hit in zip(items, predicted, strict=True)
        if i.label is not None and not i.ambiguous
    ]
    tp = sum(h and y for h, y in scored)
    return Scores(_ratio(tp, sum(h for h, _ in scored)), _ratio(tp, sum(y for _, y in scored)))


def grouping(items: list[LabelledItem], out: list[Replayed]) -> Scores | None:
    """Pairwise: precision over merged pairs (same thread is right), recall over story pairs."""
    labelled = [(i, o) for i, o in zip(items, out, strict=True) if i.story]
    if not labelled:
        return None
    merged = right = together = found = 0
    for (a, x), (b, y) in combinations(labelled, 2):
        same_story = a.story == b.story
        if x.story == y.story:
            merged += 1
            right += (a.thread or a.story) == (b.thread or b.story)
        if same_story:
            together += 1
            found += x.story == y.story
    return Scores(_ratio(right, merged), _ratio(found, together))


def alerts_per_story(items: list[LabelledItem], out: list[Replayed]) -> Counter[str]:
    """Top-level alerts per labelled story (stories that got none are absent)."""
    return Counter(i.story for i, o in zip(items, out, strict=True) if o.alert == "new" and i.story)


def evaluate_file(
    path: Path,
    topic: Topic,
    *,
    positive: str = "deploy",
    split: str | None = None,
    titles_only: bool = False,
    window: timedelta = timedelta(hours=72),
    gazetteer: Gazetteer | None = None,
    stories: bool = False,
) -> str:
    """The report of one replay; `stories`: then every grouping error, listed."""
    items, out, notes = replay_file(
        path, topic, split=split, titles_only=titles_only, window=window, gazetteer=gazetteer
    )
    positive = positive.strip().lower()  # labels are read in any case; so is this one
    if positive not in LABELS:  # a typo would count every deployment as a false alert
        raise UsageError(f"--positive {positive!r} is not a label: one of {', '.join(LABELS)}")
    text = report(path, topic.name, items, out, positive, notes)
    return "\n".join([text, *grouping_errors(items, out)]) if stories else text


def replay_file(
    path: Path,
    topic: Topic,
    *,
    split: str | None = None,
    titles_only: bool = False,
    window: timedelta = timedelta(hours=72),
    gazetteer: Gazetteer | None = None,
) -> tuple[list[LabelledItem], list[Replayed], list[str]]:
    """The file's items (of one split, maybe without descriptions), what the bot did with
    each, and notes for the reader."""
    items = load_labelled(path)
    if split:
        items = [i for i in items if i.split == split]
        if not items:
            raise WirewatchError(f"{path}: no items of split {split!r}")
    notes = []
    if any(i.published is None for i in items):
        notes.append(
            "some items have no `published`: those are replayed in file order, 10 minutes apart"
        )
    items = _timed_all(items)
    if titles_only:
        items = [replace(i, description="") for i in items]
    inputs = [
        ReplayInput(
            f"{n}",
            html_to_text(i.title),
            html_to_text(i.description),
            i.published or SYNTHETIC_START,
            i.outlet,
        )
        for n, i in enumerate(items)
    ]
    out = replay(inputs, topic, gazetteer or Gazetteer.load(), window=window)
    return items, out, notes


def _timed_all(items: list[LabelledItem]) -> list[LabelledItem]:
    """Undated items replayed in file order, 10 minutes apart: after the dated item before
    them, or those before the first dated item leading up to it (not in the year 2000, far
    from their neighbours' stories); in 2000 only when no item has a time."""
    dated = next(((n, i.published) for n, i in enumerate(items) if i.published), None)
    start = SYNTHETIC_START if dated is None else dated[1] - timedelta(minutes=10 * dated[0])
    out: list[LabelledItem] = []
    last: datetime | None = None
    for n, item in enumerate(items):
        if item.published is None:
            when = last + timedelta(minutes=10) if last else start + timedelta(minutes=10 * n)
            item = replace(item, published=when)
        last = item.published
        out.append(item)
    return out


def report(
    path: Path,
    topic: str,
    items: list[LabelledItem],
    out: list[Replayed],
    positive: str,
    notes: list[str],
) -> str:
    lines = [f"{len(items)} items from {path}", *notes]
    d = detection(items, out, positive)
    lines.append(
        f"topic {topic}: precision {_num(d.precision)} recall {_num(d.recall)} F1 {_num(d.f1)}"
    )
    c = posted(items, out, positive)
    lines.append(
        f"channel (new alerts and updates sent): precision {_num(c.precision)} "
        f"recall {_num(c.recall)} F1 {_num(c.f1)}"
    )
    g = grouping(items, out)
    if g is None:
        lines.append("stories: the file has no `story` labels, grouping not measured")
    else:
        lines.append(
            f"stories: pairwise precision {_num(g.precision)} recall {_num(g.recall)} "
            f"({counted(len({o.story for o in out}), 'story', 'stories')} found, "
            f"{len({i.story for i in items if i.story})} true)"
        )
    alerts = alerts_per_story(items, out)
    twice = sorted(s for s, n in alerts.items() if n > 1)
    updates = [i for i, o in zip(items, out, strict=True) if o.alert == "update"]
    stray = sum(i.label is not None and i.label != positive for i in updates)
    lines.append(
        f"alerts: {counted(sum(alerts.values()), 'new alert')} for "
        f"{counted(len(alerts), 'story', 'stories')}, {counted(len(twice), 'story', 'stories')} "
        f"alerted more than once; {counted(len(updates), 'update')}, "
        f"{stray} of them not labelled {positive}"
    )
    for story in twice:
        lines.append(f"alerted more than once: {story} ({alerts[story]} alerts)")
        lines += [  # which reports started a story of their own, and when: what to look at
            f"  new alert: {_when(i)} {i.outlet}: {i.title}"
            for i, o in zip(items, out, strict=True)
            if i.story == story and o.alert == "new"
        ]
    lines += _misses(items, out, positive)
    return "\n".join(lines)


def grouping_errors(items: list[LabelledItem], out: list[Replayed]) -> list[str]:
    """What lowered the grouping figures, costliest first: each story the replay made of
    reports of several threads (the pairs it merged wrongly cost precision), then each
    labelled story it left in pieces (the pairs it kept apart cost recall); every report with
    its time, outlet and its label or part, in publication order."""
    labelled = sorted(
        ((i, o) for i, o in zip(items, out, strict=True) if i.story),
        key=lambda p: (p[0].published or SYNTHETIC_START, p[0].outlet),
    )
    made: dict[int, list[tuple[LabelledItem, Replayed]]] = defaultdict(list)
    told: dict[str, list[tuple[LabelledItem, Replayed]]] = defaultdict(list)
    for i, o in labelled:
        made[o.story].append((i, o))
        told[i.story or ""].append((i, o))
    wrong, split = [], []
    for members in made.values():
        threads = Counter(i.thread or i.story for i, _ in members)
        if len(threads) > 1:
            cost = _pairs_across(threads)
            lines = [f"joined wrongly: one story of {len(threads)} threads (wrong pairs: {cost})"]
            lines += [
                f"  {_when(i)} {i.outlet} [{i.thread or i.story}]: {i.title}" for i, _ in members
            ]
            wrong.append((cost, lines))
    for story, members in told.items():
        parts = Counter(o.story for _, o in members)
        if len(parts) > 1:
            cost = _pairs_across(parts)
            lines = [f"split: {story} in {len(parts)} stories (pairs kept apart: {cost})"]
            part = {s: n for n, s in enumerate(parts, 1)}  # numbered as they first appear
            lines += [
                f"  {_when(i)} {i.outlet} (part {part[o.story]}): {i.title}" for i, o in members
            ]
            split.append((cost, lines))
    # Costliest first; sorted() is stable, so equal costs stay in time order.
    found = sorted(wrong, key=lambda f: -f[0]) + sorted(split, key=lambda f: -f[0])
    return [line for _, lines in found for line in lines]


def _pairs_across(groups: Counter) -> int:
    """Pairs of reports that fall in different groups: what one grouping error costs."""
    return comb(sum(groups.values()), 2) - sum(comb(n, 2) for n in groups.values())


def _when(item: LabelledItem) -> str:
    return f"{item.published:%Y-%m-%d %H:%M}" if item.published else "(no date)"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _misses(items: list[LabelledItem], out: list[Replayed], positive: str) -> list[str]:
    found: dict[str, list[str]] = defaultdict(list)
    for i, o in zip(items, out, strict=True):
        if i.label is None or i.ambiguous or o.matched == (i.label == positive):
            continue
        if o.score is not None:  # the word model's alone when no opinion could lift it (and
            # when vetoed, as ever: no opinion is asked then either)
            score = f" [{o.score:.2f}{', words alone' if o.words_alone else ''}]"
        else:  # a topic without a model, or a report its query does not let through
            score = "" if o.matched else " [the query does not hold]"
        found["false positive" if o.matched else "missed"].append(f"{i.title}{score}")
    return [f"{kind}: {t}" for kind, titles in found.items() for t in titles]
