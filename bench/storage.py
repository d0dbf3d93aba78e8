"""Storage: database bytes per stored item, where they go, and what `db prune` reclaims.

Runs on the bench.bigdb database (full: 1,000 feeds x 1,000 items over 30 days; quick:
100 x 200), splits its pages by table and index (SQLite's dbstat), then runs the real
`wirewatch db prune --older-than 4d` on it and reports items removed, bytes reclaimed and
the time it took. The pipeline's own bytes per item (from a real ingest) are in the ingest
table's db_mb_per_1k_items column.

`python -m bench.storage [--quick]`
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.bigdb import build
from bench.report import Section, run_alone


def _breakdown(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:  # SQLite built without dbstat
        rows = []
    conn.close()
    groups: dict[str, int] = {}
    for name, size in rows:
        groups[_group(name)] = groups.get(_group(name), 0) + size
    return groups


def _group(name: str) -> str:
    if name.startswith("items_fts"):
        return "items_fts (full-text index)"
    if name.startswith(("items", "sqlite_autoindex_items")):
        return "items (rows + indexes)"
    return name


def _count(db: Path) -> int:
    conn = sqlite3.connect(db)
    n = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    conn.close()
    return n


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    feeds, per_feed = (100, 200) if quick else (1000, 1000)
    section = Section(
        f"Storage: {feeds * per_feed:,} stored items ({feeds} feeds, 43 min apart per feed)",
        ["what", "bytes", "bytes_per_item", "share"],
    )
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        db = build(Path(tmp) / "store.db", feeds, per_feed)
        items, size = _count(db), _size(db)
        parts = _breakdown(db)
        section.add(what="**database file**", bytes=size, bytes_per_item=size / items, share="")
        for name, b in sorted(parts.items(), key=lambda kv: -kv[1])[:8]:
            section.add(what=name, bytes=b, bytes_per_item=b / items, share=f"{b / size:.0%}")
        config = Path(tmp) / "wirewatch.yaml"
        config.write_text(yaml.safe_dump({"database": str(db)}))
        exe = Path(sys.executable).with_name("wirewatch")
        start = time.perf_counter()
        done = subprocess.run(
            [str(exe), "db", "prune", "--older-than", "4d", "--config", str(config)],
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - start
        left, after = _count(db), _size(db)
        section.add(
            what=f"after `db prune --older-than 4d` ({items - left:,} items removed, {took:.0f} s)",
            bytes=after,
            bytes_per_item=after / left if left else None,
            share=f"{1 - after / size:.0%} reclaimed",
        )
        section.notes.append(f"prune said: {(done.stdout or done.stderr).strip()[-300:]}")
    section.notes.append(
        "Rows come from bench.bigdb (real schema and FTS triggers, texts parsed by the real "
        "parser, 2 % of items with a match and a sent delivery), not from the pipeline."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
