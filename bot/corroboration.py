"""Corroboration: how many independent outlets carry a story.

An outlet is a feed, by its name. Wire copy is not independent: a report whose dateline or
byline names a news agency ("SEOUL, Dec. 2 (Yonhap) --", "WASHINGTON (Reuters) -", "AFP -",
an author "AFP") is that agency's, and reports with near-identical text are one report
republished, so Reuters copy on three sites counts once, as "via Reuters (...)". A story is
corroborated when enough independent outlets first reported it within a window of each other.

Pure functions over a story's reports; reading them and marking a story is
`bot.corroboration_store`'s job, showing them the adapters'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.text.versions import words

# Agency -> how datelines and bylines write it. Short names match only as written (AP, not ap).
WIRES: dict[str, tuple[str, ...]] = {
    "Reuters": ("Reuters", "REUTERS", "Thomson Reuters"),
    "AFP": ("AFP", "Agence France-Presse", "Agence France Presse"),
    "AP": ("AP", "Associated Press", "The Associated Press"),
    "Yonhap": ("Yonhap",),
    "Xinhua": ("Xinhua",),
    "Kyodo": ("Kyodo", "Kyodo News"),
    "TASS": ("TASS",),
    "Interfax": ("Interfax",),
    "RIA Novosti": ("RIA Novosti", "RIA"),
    "KCNA": ("KCNA",),
    "dpa": ("dpa", "DPA"),
    "EFE": ("EFE",),
    "ANSA": ("ANSA",),
    "ANI": ("ANI",),
    "PTI": ("PTI", "Press Trust of India"),
    "UPI": ("UPI",),
    "Anadolu": ("Anadolu", "Anadolu Agency"),
    "Bernama": ("Bernama",),
    "IRNA": ("IRNA",),
    "Ukrinform": ("Ukrinform",),
}
_BY_ALIAS = {alias: wire for wire, aliases in WIRES.items() for alias in aliases}
_ALIAS = "|".join(re.escape(a) for a in sorted(_BY_ALIAS, key=len, reverse=True))
_NAMED = re.compile(rf"(?<![\w-])({_ALIAS})(?![\w-])")
# "(Reuters) -", "(Yonhap) --", "(AFP/Getty) —": an agency in brackets, then a dash...
_DATELINE = re.compile(rf"\(({_ALIAS})(?:\s*/[^()\n]{{0,30}})?\)\s*(?:--|[-–—:])")
# ...or the agency first: "AFP - ", "Reuters — ".
_LEADING = re.compile(rf"^\s*({_ALIAS})\s*(?:--|[-–—:])\s")
DATELINE_CHARS = 250  # a dateline is at the start of a text
SAME_TEXT = 0.8  # shared word pairs, of the shorter text's, for "near-identical"
MIN_PAIRS = 8  # texts shorter than this are not compared (headlines alone look alike)
COMPARED = 60  # reports compared for copies; later ones count by outlet and agency only


@dataclass(frozen=True)
class Report:
    """One item of a story, as corroboration sees it."""

    outlet: str
    title: str
    summary: str
    wire: str | None
    published: datetime


@dataclass(frozen=True)
class Outlet:
    """One independent source of a story: its label, and when it first reported."""

    label: str
    first: datetime


def wire_of(author: str | None, *texts: str | None) -> str | None:
    """The agency whose copy this is, by its byline (the author field) or a dateline at the
    start of one of `texts`; None for an outlet's own report."""
    if author and (found := _NAMED.search(author)):
        return _BY_ALIAS[found.group(1)]
    for text in texts:
        head = (text or "")[:DATELINE_CHARS]
        if found := _DATELINE.search(head) or _LEADING.match(head):
            return _BY_ALIAS[found.group(1)]
    return None


def is_the_wire(outlet: str, wire: str) -> bool:
    """Whether the feed is the agency's own ("Yonhap News Agency" is Yonhap)."""
    names = (wire, *WIRES.get(wire, ()))
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", outlet, re.I) for n in names)


def independent_outlets(reports: Sequence[Report]) -> list[Outlet]:
    """The story's independent sources, earliest first: reports of one outlet or one agency,
    and reports with near-identical text, are one source."""
    ordered = sorted(reports, key=lambda r: r.published)
    groups = _Groups(len(ordered))
    by_key: dict[str, int] = {}
    for i, report in enumerate(ordered):
        for key in filter(None, (f"outlet:{report.outlet}", report.wire and f"wire:{report.wire}")):
            groups.join(by_key.setdefault(key, i), i)
    pairs = [_pairs(r) for r in ordered[:COMPARED]]
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            if groups.find(i) != groups.find(j) and _same_text(pairs[i], pairs[j]):
                groups.join(i, j)
    members: dict[int, list[Report]] = {}
    for i, report in enumerate(ordered):
        members.setdefault(groups.find(i), []).append(report)
    return [Outlet(_label(group), group[0].published) for group in members.values()]


def reached(outlets: Sequence[Outlet], needed: int, window: timedelta) -> bool:
    """Whether `needed` of the outlets first reported within `window` of each other."""
    times = sorted(o.first for o in outlets)
    return any(times[i + needed - 1] - times[i] <= window for i in range(len(times) - needed + 1))


def _label(group: list[Report]) -> str:
    """ "Al Jazeera"; "Yonhap News Agency" (the agency's own feed); "via AFP (The Moscow
    Times)"; "Reuters (also Yahoo News)"; copies without a byline: "Outlet (also Other)"."""
    carriers = list(dict.fromkeys(r.outlet for r in group))
    wire = next((r.wire for r in group if r.wire), None)
    own = next((c for c in carriers if wire and is_the_wire(c, wire)), None)
    if wire and own is None:
        return f"via {wire} ({', '.join(carriers)})"
    name = own or carriers[0]
    others = [c for c in carriers if c != name]
    return f"{name} (also {', '.join(others)})" if others else name


def _pairs(report: Report) -> frozenset[tuple[str, str]]:
    """Adjacent word pairs of title and summary, datelines left out."""
    w = words(report.title) + words(report.summary)
    return frozenset(zip(w, w[1:], strict=False))


def _same_text(a: frozenset, b: frozenset) -> bool:
    shorter = min(len(a), len(b))
    return shorter >= MIN_PAIRS and len(a & b) >= SAME_TEXT * shorter


class _Groups:
    """Union-find over report indexes."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the earliest report stays the group's root
