"""Draw the unlabelled items of `reuters2007-16.jsonl` from the Reuters headline archive.

Source: github.com/mike0sv/Reuters-full-data-set (one pickle per day of Reuters headlines with
their minute, 2007-2016), at the commit below, its `data/` folder extracted into a folder
given as the first argument (`git archive <commit> data | tar -x`). The pickles are read with
an unpickler that refuses every class: a pickle can run code, and these are not ours.

Four windows around days with the most military headlines (by a count of armed-force words
near verbs of sending over all 3,514 days): every headline with a military word, and 60 others
drawn at random per window (seed 20071). Titles repeated within a day are kept once. The
labels were then added by reading every item (`eval/LABELLING.md`). Writes `win_<W>.jsonl`
into the current folder.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

COMMIT = "f364f74ff3ac1652f16ac9127405684d000230b7"
WINDOWS = {
    "A": ["20091201", "20091202"],  # the Afghanistan surge
    "B": ["20140301", "20140302", "20140303"],  # Crimea
    "C": ["20080810", "20080811"],  # Georgia
    "D": ["20150326", "20150327"],  # Yemen
}
MILITARY = re.compile(
    r"\b(troops?|soldiers?|forces?|military|army|armies|navy|naval|marines?|warships?|"
    r"frigates?|destroyers?|submarines?|carriers?|fleet|commandos?|paratroop\w*|peacekeep\w*|"
    r"battalions?|brigades?|regiments?|squadrons?|jets?|fighters?|bombers?|warplanes?|"
    r"deploy\w*|dispatch\w*|reinforce\w*|mass(ed|ing)|build-?up|mobilis\w*|mobiliz\w*|"
    r"reservists?|personnel|garrison|airborne|infantry|tanks?|national guard|surge|nato|"
    r"pentagon|defen[cs]e)\b",
    re.I,
)
STAMP = re.compile(r"(\d{8})\s*(\d{1,2}:\d{2})\s*([AP]M)\s*(UTC|GMT|EST|EDT)")
HOURS_BEHIND_UTC = {"UTC": 0, "GMT": 0, "EST": 5, "EDT": 4}  # the older days are New York time


class NoClasses(pickle.Unpickler):
    """Lists, dicts and strings only."""

    def find_class(self, module: str, name: str) -> type:
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def day_items(folder: Path, day: str) -> list[dict]:
    with open(folder / f"{day}.pkl", "rb") as f:
        data = NoClasses(f, encoding="utf-8").load()
    out, seen = [], set()
    for n, d in enumerate(data):
        title = " ".join(d["title"].split())
        if not title or title in seen or d["ts"] is None:  # no time: cannot be replayed
            continue
        seen.add(title)
        m = STAMP.match(d["ts"])
        if m is None:
            raise ValueError(f"{day} #{n}: unexpected time {d['ts']!r}")
        when = datetime.strptime(f"{m[1]} {m[2]}{m[3]}", "%Y%m%d %I:%M%p")
        when += timedelta(hours=HOURS_BEHIND_UTC[m[4]])
        out.append(
            {
                "id": f"reuters0716-{day}-{n:05d}",
                "source": "reuters2007-16",
                "published": when.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "outlet": "Reuters",
                "title": title,
                "description": "",
                "source_ref": f"mike0sv/Reuters-full-data-set@{COMMIT}:data/{day}.pkl#{n}",
            }
        )
    return out


def drawn(items: list[dict], rng: random.Random, others: int) -> list[dict]:
    """Every item with a military word and `others` drawn at random, in publication order."""
    rows = [i for i in items if MILITARY.search(i["title"])]
    rows += rng.sample([i for i in items if not MILITARY.search(i["title"])], others)
    return sorted(rows, key=lambda r: (r["published"], r["id"]))


def write(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(path, len(rows))


def main() -> None:
    folder = Path(sys.argv[1])
    rng = random.Random(20071)
    for window, days in WINDOWS.items():
        items = [i for day in days for i in day_items(folder, day)]
        write(f"win_{window}.jsonl", drawn(items, rng, 60))


if __name__ == "__main__":
    main()
