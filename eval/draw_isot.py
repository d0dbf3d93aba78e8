"""Draw Reuters items of 2016-2017 for labelling (`reuters2016-17`; issue 11: relevance must
generalise, and the corpus had no news of 2016-2019).

Source: the real (Reuters) half of the ISOT Fake News Dataset (University of Victoria), its
21,417 `True.csv` articles of January 2016 - December 2017 (the Reuters politics and world
desks). The full `True.csv` (about 53 MB, with the texts) is in no repository we can fetch
whole (fetched snapshots lack files of 4 MiB and more, and the copies under that size are
samples or LFS pointers), so the draw reads a copy that kept every row's title and date:
github.com/RohitP123/Fake-News-KO @ 7a4fe24 (REPO, COMMIT), `dataset/ISOT_real.csv`
(1,694,745 bytes, SHA-256 in SHA256; columns label, title, date; made by the repository's
`ISOT_FakeNews_preprocessing.py`). Only that file is read: never the repository's
`ISOT_fake.csv` or its other sources. Headlines only (the texts are not in the copy), and
day-precision dates: each item is published at 12:00 UTC of its day.

Titles repeated in the file are kept once (the earliest); titles already in `corpus/`,
`heldout/` or `staged/` (compared without case), and anything within 4 days of a test-split
deployment, are left out. Then:

- the DAYS days with the most armed-force words (ties: more military words, then the earlier
  day): every headline with a military or armed-force word, and a third as many others drawn
  at random from the day (seeded by the day), so that several reports of one event sit
  together and about a quarter is background news;
- from every other day, each headline with an armed-force word near a verb of sending,
  moving or entering (`draw_reuters_days.py`'s coarse pattern, its words of invading and of
  forces entering): the deployment reports, and their look-alikes, to learn from.

Written in publication order as chunk files of consecutive days, about CHUNK items each
(`chunk-01.jsonl`, ...), for labelling by reading (`LABELLING.md`), into the folder given:

    python eval/draw_isot.py draw <ISOT_real.csv> <out folder>
    python eval/draw_isot.py split <labelled.jsonl> > eval/staged/reuters2016-17.jsonl

`split` is `draw_reuters_days.py split` (`extra.jsonl`'s rule: train or validation by thread,
nothing within 4 days of a test-split deployment).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "heldout"))
sys.path.insert(0, str(HERE))

from draw_reuters import MILITARY  # noqa: E402
from draw_reuters_days import _FORCES, COARSE, ENTERING, FIELDS, INVADING, TEST, split, when  # noqa: E402

REPO = "RohitP123/Fake-News-KO"
COMMIT = "7a4fe240b0b78e3bf830c1e2d1537648424acf24"
PATH = "dataset/ISOT_real.csv"
SHA256 = "9926f670a58dd3b4c4d0e8d8efcbfa16099ffcbd7e6ab0b00781af2ac92ea805"
SOURCE = "reuters2016-17"
DAYS = 105
CHUNK = 250
FORCE = re.compile(rf"\b{_FORCES}\b", re.I)


def read(path: Path) -> list[dict]:
    """The file's rows as unlabelled corpus items, a repeated title kept once (earliest)."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise SystemExit(f"{path}: not the file the draw was made from (SHA-256 differs)")
    rows = csv.DictReader(data.decode("utf-8").splitlines())
    items: dict[str, dict] = {}
    for line, r in enumerate(rows, start=2):  # line 1 is the header; no field spans lines
        if r["label"] != "1":
            raise SystemExit(f"line {line}: label {r['label']!r}, not a real (Reuters) item")
        title, day = " ".join(r["title"].split()), r["date"]
        datetime.strptime(day, "%Y-%m-%d")  # refuses anything but a day
        key = title.casefold()
        if not title or (key in items and items[key]["published"][:10] <= day):
            continue
        digest = hashlib.sha256(f"{day}\n{title}".encode()).hexdigest()[:12]
        items[key] = {
            "id": f"isot-{digest}",
            "source": SOURCE,
            "published": f"{day}T12:00:00Z",  # the source has the day only
            "outlet": "Reuters",
            "title": title,
            "description": "",
            "label": "",
            "ambiguous": False,
            "story": "",
            "thread": "",
            "split": "",
            "source_ref": f"{REPO}@{COMMIT}:{PATH} line {line}",
        }
    return sorted(items.values(), key=lambda i: (i["published"], i["id"]))


def known_titles() -> set[str]:
    """Titles (without case) of every item already labelled, held out or staged."""
    files = [p for d in ("corpus", "heldout", "staged") for p in (HERE / d).glob("*.jsonl")]
    return {
        " ".join(json.loads(line)["title"].split()).casefold()
        for f in files
        for line in f.open(encoding="utf-8")
    }


def near_test_deployment() -> list[datetime]:
    tests = [json.loads(line) for line in TEST.open(encoding="utf-8")]
    return [when(t) for t in tests if t["label"] == "deploy" and t.get("published")]


def military(title: str) -> bool:
    return bool(MILITARY.search(title) or FORCE.search(title))


def moving(title: str) -> bool:
    """An armed force near a verb of sending, moving or entering, or a word of invading."""
    return bool(COARSE.search(title) or ENTERING.search(title) or INVADING.search(title))


def drawn(items: list[dict]) -> list[dict]:
    """The draw, in publication order (see the module's docstring)."""
    known, near = known_titles(), near_test_deployment()
    kept = [
        i
        for i in items
        if i["title"].casefold() not in known
        and not any(abs(when(i) - t) <= timedelta(days=4) for t in near)
    ]
    print(
        f"{len(items)} titles, {len(kept)} neither known nor near a test deployment",
        file=sys.stderr,
    )
    by_day: dict[str, list[dict]] = defaultdict(list)
    for i in kept:
        by_day[i["published"][:10]].append(i)

    def rank(day: str) -> tuple[int, int, str]:
        titles = [i["title"] for i in by_day[day]]
        forces = sum(1 for t in titles if FORCE.search(t))
        return -forces, -sum(1 for t in titles if military(t)), day

    days = set(sorted(by_day, key=rank)[:DAYS])
    rows = []
    for day in sorted(by_day):
        items = by_day[day]
        if day in days:
            hit = [i for i in items if military(i["title"])]
            rest = [i for i in items if not military(i["title"])]
            others = random.Random(f"isot-{day}").sample(rest, min(round(len(hit) / 3), len(rest)))
            rows += hit + others
        else:
            rows += [i for i in items if moving(i["title"])]
    return sorted(rows, key=lambda r: (r["published"], r["id"]))


def chunks(rows: list[dict]) -> list[list[dict]]:
    """Consecutive whole days, cut at the day boundaries nearest to equal shares of CHUNK."""
    n = max(1, round(len(rows) / CHUNK))
    cuts = [k for k in range(1, len(rows)) if rows[k]["published"] != rows[k - 1]["published"]]
    ends = sorted({min(cuts, key=lambda c: abs(c - len(rows) * j / n)) for j in range(1, n)})
    starts = [0, *ends]
    return [rows[a:b] for a, b in zip(starts, [*ends, len(rows)], strict=True)]


def draw(source: Path, out: Path) -> None:
    rows = drawn(read(source))
    out.mkdir(parents=True, exist_ok=True)
    for n, chunk in enumerate(chunks(rows), start=1):
        path = out / f"chunk-{n:02d}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            f.writelines(
                json.dumps({k: r[k] for k in FIELDS}, ensure_ascii=False) + "\n" for r in chunk
            )
        hits = sum(1 for r in chunk if military(r["title"]))
        print(
            f"{path}: {len(chunk)} items, {chunk[0]['published'][:10]} .. "
            f"{chunk[-1]['published'][:10]}, {hits} with a military word",
            file=sys.stderr,
        )


if __name__ == "__main__":
    if sys.argv[1] == "draw":
        draw(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "split":
        split(Path(sys.argv[2]))
    else:
        raise SystemExit(__doc__)
