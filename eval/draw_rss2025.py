"""Draw the RSS 2025 items of `heldout/rss2025.jsonl` (stop 44).

Source: github.com/rumca-js/RSS-Link-Database-2025, daily snapshots of news feeds: one JSON
file per feed and day (`2025/<MM>/<day>/<feed>_entries.json`, an array of entries with
`title`, `description`, `date_published` and `link` among other keys; some days also
have a Markdown twin, not read). The
repository is too large to fetch whole here, so the day files of the twelve world-news feeds
`draw_rss2024.py` reads were copied one by one into `<raw>/<day>/`, each entry as one JSON
line of those four keys and its `id`, its strings copied as the file writes them, with
`MANIFEST-*.tsv` naming each file's path, commit, length and entry count.

Per day, as for 2024: every entry with a military word in its title or description, and 40
others drawn at random (seeded by the day). An outlet's title repeated is kept once, an entry
without a publication time left out. Written in publication order, one file per day, for
labelling by reading (`eval/LABELLING.md`). Every item is held out: no model learns from them.

    python eval/draw_rss2025.py draw <raw folder>     # day_<day>.jsonl here
    python eval/draw_rss2025.py join <folder> > eval/heldout/rss2025.jsonl

`join` reads each `day_<day>.jsonl` with the labels written beside it (`labels_<day>.jsonl`:
id, label, ambiguous, story, thread, one line per item in the same order) and writes the
held-out file in publication order.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from draw_reuters_days import FIELDS  # noqa: E402
from draw_rss2024 import _key, drawn, entry_row, write  # noqa: E402

REPO = "rumca-js/RSS-Link-Database-2025"
# in the order they were copied (an outlet's title seen on an earlier day is not drawn again)
DAYS = [
    "2025-06-09", "2025-06-10", "2025-06-16", "2025-08-19",  # first four
    "2025-06-08", "2025-06-17", "2025-08-11", "2025-10-06",  # four more
    "2025-03-27", "2025-09-12", "2025-10-24", "2025-01-23",  # and four more
]  # fmt: skip
OUTLETS = {  # a feed file's name -> the outlet, as the 2024 draw names them
    "aljazeera.com": "Al Jazeera",
    "bbci.co.uk": "BBC News",
    "nbcnews.com": "NBC News",
    "skynews.com": "Sky News",
    "washingtonpost.com": "The Washington Post",
    "nytimes.com": "The New York Times",
    "theepochtimes.com": "The Epoch Times",
    "japantoday.com": "Japan Today",
    "cbc.ca": "CBC",
    "channelnewsasia.com": "CNA",
    "dailysabah.com": "Daily Sabah",
    "lemonde.fr": "Le Monde",
}


def outlet_of(name: str) -> str:
    found = [o for host, o in OUTLETS.items() if host in name]
    if len(found) != 1:
        raise ValueError(f"{name}: not one of the twelve feeds")
    return found[0]


def entries(path: Path, outlet: str, ref: str) -> list[dict]:
    """One feed-day copy's entries, as corpus rows without labels."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        title, text, when = e["title"] or "", e["description"] or "", e["date_published"]
        row = entry_row(2025, outlet, title, text, when, f"{ref} {e['link']}")
        if row is not None:
            out.append(row)
    return out


def day_items(folder: Path) -> list[dict]:
    """A day's entries over its copied feeds, an outlet's repeated title kept once."""
    commits = {}
    for manifest in sorted(folder.glob("MANIFEST-*.tsv")):
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line.strip():
                path, commit, *_ = line.split("\t")
                commits[path.rsplit("/", 1)[-1].removesuffix(".json") + ".jsonl"] = (path, commit)
    out, seen = [], set()
    for name in sorted(commits):
        path, commit = commits[name]
        for row in entries(folder / name, outlet_of(name), f"{REPO}@{commit}:{path}"):
            if _key(row) not in seen:
                seen.add(_key(row))
                out.append(row)
    return out


def draw(raw: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for day in DAYS:
        items = [i for i in day_items(raw / day) if _key(i) not in seen]
        seen.update(_key(i) for i in items)
        write(f"day_{day}.jsonl", drawn(items, random.Random(f"rss2025-{day}")))


def join(folder: Path) -> None:
    rows = []
    for day in DAYS:
        items = [json.loads(x) for x in (folder / f"day_{day}.jsonl").open(encoding="utf-8")]
        labels = [json.loads(x) for x in (folder / f"labels_{day}.jsonl").open(encoding="utf-8")]
        if [i["id"] for i in items] != [x["id"] for x in labels]:
            raise SystemExit(f"{day}: labels do not follow the drawn items one to one")
        for item, label in zip(items, labels, strict=True):
            if label["label"] not in ("deploy", "withdraw", "other"):
                raise SystemExit(f"{item['id']}: label {label['label']!r}")
            rows.append({**item, **label, "split": "heldout"})
    for row in sorted(rows, key=lambda r: (r["published"], r["id"])):
        print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))


if __name__ == "__main__":
    {"draw": draw, "join": join}[sys.argv[1]](Path(sys.argv[2]))
