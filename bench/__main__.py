"""Run every benchmark in one invocation and write the tables to bench/RESULTS.md.

    python -m bench --quick            # a smoke run, a few minutes on 2 cores; prints only
    python -m bench                    # full sizes (N = 100/1,000/5,000 feeds; 1M items)
    python -m bench --only ingest,steady --out /tmp/results.md

Baselines run in the same invocation as wirewatch, so ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = (
    "agreement",
    "stages",
    "matching",
    "near",
    "digest",
    "relevance",
    "encoder",
    "grouping",
    "steady",
    "ingest",
    "flood",
    "latency",
    "stall",
    "storage",
    "search",
    "memory",
    "tree",
    "startup",
)


def _header(args: argparse.Namespace, command: str) -> str:
    import feedparser

    try:
        from importlib.metadata import version

        reader = version("reader")
    except Exception:  # reader is optional; the ingest table says when it is missing
        reader = "not installed"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            "# wirewatch benchmark results",
            "",
            f"Command: `{command}`",
            f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"feedparser {feedparser.__version__}, reader {reader}; load average at start {load}.",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--only", help=f"comma-separated subset of: {','.join(BENCHMARKS)}")
    ap.add_argument(
        "--out", type=Path, help="where to write (default: bench/RESULTS.md; --quick only prints)"
    )
    args = ap.parse_args()
    if args.out is None and not args.quick:
        args.out = Path(__file__).with_name("RESULTS.md")
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    command = "python -m bench " + shlex.join(sys.argv[1:])
    parts = [_header(args, command.strip())]
    for name in chosen:
        start = time.perf_counter()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        section = importlib.import_module(f"bench.{name}").run(args.quick)
        section.seconds = time.perf_counter() - start
        text = section.markdown()
        print(text, flush=True)
        parts.append(text)
        if args.out:
            args.out.write_text("\n".join(parts))  # partial results survive a later failure
    if args.out:
        print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
