"""Benchmark results as Markdown: one `Section` per benchmark, a table and its notes.

Every benchmark module has `run(quick: bool) -> Section`; `bench/__main__.py` runs them in
one invocation and writes the sections into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, **row: object) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.columns) + " |")
            lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
            for row in self.rows:
                lines.append("| " + " | ".join(_cell(row.get(c)) for c in self.columns) + " |")
            lines.append("")
        lines.extend(f"- {n}" for n in self.notes)
        lines.append(f"\n_({self.seconds:.0f} s to run)_\n")
        return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float, b: float) -> str:
    """`a / b` as "3.2x" (how many times a is b)."""
    return f"{a / b:.2f}x" if b else "n/a"


def run_alone(run: Callable[[bool], Section], doc: str | None) -> None:
    """The `python -m bench.NAME [--quick]` entry point that every benchmark shares."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    print(run(ap.parse_args().quick).markdown())
