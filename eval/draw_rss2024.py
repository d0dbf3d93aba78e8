"""Draw the RSS 2024 items: `heldout/rss2024.jsonl` and `staged/rss2024.jsonl`.

Source: github.com/rumca-js/RSS-Link-Database-2024, daily snapshots of news feeds, one
Markdown file per feed and day (`2024/<MM>/<day>/<feed>_entries.md`: a `# Source:<outlet>,
URL:...` line, then per entry `## <title>`, its link, `date published: <ISO time>` and the
feed's description). The repository is too large to fetch whole here, so the day files of
twelve world-news feeds were copied one by one, verbatim, into `<raw>/<day>/` with a
`MANIFEST.tsv` naming each file's path and commit (`eval/README.md` lists the feeds).

Per day: every entry with a military word in its title or description, and 40 others drawn
at random (seeded by the day). An outlet's title repeated is kept once, an entry without a
publication time left out. Written in publication order, one file per day, for labelling by
reading (`eval/LABELLING.md`).

Held out (`heldout/rss2024.jsonl`, split `heldout`): sixteen days with deployment news in
them (HELDOUT). For training (`staged/rss2024.jsonl`): eight other days (TRAINING), each at
least 4 days from every held-out deployment; `split` gives their threads train or validation
75/25 as `extra.jsonl`'s rule does, and refuses an item within 4 days of a held-out
deployment.

    python eval/draw_rss2024.py draw <raw folder>      # day_<day>.jsonl here
    python eval/draw_rss2024.py split <labelled.jsonl> > eval/staged/rss2024.jsonl
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "heldout"))

from draw_reuters import MILITARY, write  # noqa: E402
from draw_reuters_days import FIELDS, training_split, when  # noqa: E402

REPO = "rumca-js/RSS-Link-Database-2024"
HELDOUT = [
    "2024-02-19", "2024-02-27", "2024-03-11", "2024-04-14", "2024-05-03", "2024-06-12",
    "2024-08-03", "2024-08-07", "2024-08-11", "2024-09-24", "2024-10-01", "2024-10-14",
    "2024-10-18", "2024-10-23", "2024-10-29", "2024-12-09",
]  # fmt: skip
TRAINING = [
    "2024-01-12", "2024-01-29", "2024-04-02", "2024-05-10", "2024-06-26", "2024-11-27",
    "2024-12-04", "2024-12-16",
]  # fmt: skip
HELD = Path(__file__).resolve().parent / "heldout" / "rss2024.jsonl"
OTHERS = 40
MAX_DESCRIPTION = 420
_HEADER = re.compile(r"^# Source:(?P<outlet>.*?), URL:")
_PUBLISHED = re.compile(r"^ - date published: (?P<when>\S+)\s*$")
_LINK = re.compile(r"^ - \[(?P<link>[^\]]*)\]")
_TAG = re.compile(r"<[^>]+>")
OUTLETS = {  # the feeds' own names, as the earlier RSS sources of the corpus spell them
    "Aljazeera": "Al Jazeera",
    "BBC": "BBC News",
    "CBC | Top Stories News": "CBC",
    "Channel Asia Latest News": "CNA",
    "DAILYSABAH - Turkey News": "Daily Sabah",
    "Epoch Times - World": "The Epoch Times",
    "NBC world": "NBC News",
    "NY times": "The New York Times",
    "The Washington Post - World": "The Washington Post",
}


def entries(path: Path, ref: str) -> list[dict]:
    """One feed-day file's entries, as corpus rows without labels."""
    lines = path.read_text(encoding="utf-8").splitlines()
    m = _HEADER.match(lines[0]) if lines else None
    if m is None:
        raise ValueError(f"{path}: no '# Source:' line")
    outlet = m["outlet"].strip()
    outlet = OUTLETS.get(outlet, outlet)
    rows: list[dict] = []
    entry: dict | None = None
    for line in lines[1:] + ["## "]:
        if line.startswith("## "):
            if entry is not None:
                rows.append(entry)
            entry = {"title": line[3:], "link": "", "when": None, "text": []}
        elif entry is not None:
            if (p := _PUBLISHED.match(line)) is not None:
                entry["when"] = p["when"]
            elif (k := _LINK.match(line)) is not None:
                entry["link"] = k["link"]
            elif not line.startswith(" - "):
                entry["text"].append(line)
    out = []
    for e in rows:
        text = " ".join(e["text"])
        row = entry_row(2024, outlet, e["title"], text, e["when"], f"{ref} {e['link']}")
        if row is not None:
            out.append(row)
    return out


def entry_row(
    year: int, outlet: str, title: str, description: str, published: str | None, ref: str
) -> dict | None:
    """One feed entry as a corpus row without labels; None without a title or a time."""
    title = _clean(title)
    if not title or not published:
        return None
    at = datetime.fromisoformat(published).astimezone(UTC)
    description = _clean(description)
    if description == "None":  # the archive writes Python's None for a feed's missing one
        description = ""
    if len(description) > MAX_DESCRIPTION:
        description = description[:MAX_DESCRIPTION].rsplit(" ", 1)[0] + " …"
    day = at.strftime("%Y-%m-%d")  # "Friday Briefing" comes back every week
    key = hashlib.sha256(f"{outlet}\n{title}\n{day}".encode()).hexdigest()[:12]
    return {
        "id": f"rumca{year}-{key}",
        "source": f"rss{year}",
        "published": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outlet": outlet,
        "title": title,
        "description": description if description != title else "",
        "source_ref": ref.strip(),
    }


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def day_items(folder: Path) -> list[dict]:
    """A day's entries over its copied feeds, an outlet's repeated title kept once."""
    commits = {}
    for line in (folder / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            path, commit, *_ = line.split("\t")
            commits[path.rsplit("/", 1)[-1]] = (path, commit)
    out, seen = [], set()
    for name in sorted(commits):
        path, commit = commits[name]
        for row in entries(folder / name, f"{REPO}@{commit}:{path}"):
            if _key(row) not in seen:
                seen.add(_key(row))
                out.append(row)
    return out


def _key(row: dict) -> tuple[str, str]:
    """An outlet's title: kept once per draw (the id also names the day, as some titles,
    "Friday Briefing", come back every week)."""
    return row["outlet"], row["title"]


def drawn(items: list[dict], rng: random.Random) -> list[dict]:
    """Every entry with a military word and OTHERS drawn at random, in publication order."""
    hit = [i for i in items if MILITARY.search(f"{i['title']} {i['description']}")]
    rest = [i for i in items if i not in hit]
    rows = hit + rng.sample(rest, min(OTHERS, len(rest)))
    return sorted(rows, key=lambda r: (r["published"], r["id"]))


def draw(raw: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for folder in sorted(p for p in raw.iterdir() if (p / "MANIFEST.tsv").exists()):
        if folder.name not in HELDOUT + TRAINING:
            raise SystemExit(f"{folder.name}: not a day of HELDOUT or TRAINING")
        items = [i for i in day_items(folder) if _key(i) not in seen]
        seen.update(_key(i) for i in items)
        write(f"day_{folder.name}.jsonl", drawn(items, random.Random(f"rss2024-{folder.name}")))


def split(labelled: Path) -> None:
    held = [json.loads(line) for line in HELD.open(encoding="utf-8")]
    near = [when(h) for h in held if h["label"] == "deploy"]
    for line in labelled.open(encoding="utf-8"):
        row = json.loads(line)
        if any(abs(when(row) - t) <= timedelta(days=4) for t in near):
            raise SystemExit(f"{row['id']}: within 4 days of a held-out deployment")
        row["split"] = training_split(row["thread"])
        print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))


if __name__ == "__main__":
    {"draw": draw, "split": split}[sys.argv[1]](Path(sys.argv[2]))
