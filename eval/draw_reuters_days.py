"""Draw the Reuters 2007-2016 items of the corpus (`corpus/reuters2007-16.jsonl` and
`corpus/reuters2007-16-dense.jsonl`; staged in `staged/` until the models were retrained on
them, stop 30) from the Reuters headline archive, and split them once labelled.

The archive and how it is read: `heldout/draw_reuters.py` (the same commit, and the same
unpickler that refuses every class). Sixteen single days: the day with the most armed-force
words near verbs of sending in its month, for sixteen months spread over 2007-2015, none
within a week of a window of the held-out file. Every headline with a military word, and 25
others drawn at random per day (seed 20162); titles repeated within a day are kept once, and
items without a time left out (they cannot be replayed in order). Labelled by reading every
item (`LABELLING.md`), six labellers, a few days each.

    python eval/draw_reuters_days.py draw <extracted data folder>   # day_<YYYYMMDD>.jsonl here
    python eval/draw_reuters_days.py split <labelled.jsonl> > eval/corpus/reuters2007-16.jsonl

`dense` draws the second batch (`corpus/reuters2007-16-dense.jsonl`, stop 29), for deployment
reports enough to learn from rather than whole days: over every day of the archive, the
headlines with an armed-force word near a verb of sending or moving (a coarse pattern, then a
finer one), leaving out three days whose times are garbled, the held-out windows with a week
either side, the sixteen days above with a day either side and anything within 4 days of a
test-split deployment; 1,440 of them drawn at random (seed 20163), written in publication
order as six chunks of 240 for six labellers. About two in five turn out to be deployments;
the rest are the hard cases (refusals, withdrawals, casualties, the Army's contractors).

    python eval/draw_reuters_days.py dense <extracted data folder>  # chunk_<N>.jsonl here

`entering` draws a third batch (`staged/reuters2007-16-entering.jsonl`, stop 37), for the
reports our corpus has fewest of and the models miss most on news they never saw: forces
entering a territory or opening a front, often told without an armed-force word (an
"invasion", an "incursion", a "ground offensive"). Over the same days, less the same windows and
anything already in the two files above: every headline with a strong word of invading
(invasion, incursion, ground offensive, crossing the border) or an armed force near a verb
of entering (enters, crosses into, seizes, storms, moves into); 600 of them drawn at random
(seed 20164), as four chunks of 150 in publication order. Most are not deployments: pests,
games and takeovers that "invade", raids and sieges inside wars, coups, warnings, denials.

    python eval/draw_reuters_days.py entering <extracted data folder>  # enter_<N>.jsonl here

`dense-more` draws a fourth (`staged/reuters2007-16-dense-more.jsonl`, stop 37): the dense
draw's two patterns again, over what is left of the same days once the three files above are
taken out (1,877 headlines), 960 drawn at random (seed 20165), six chunks of 160.

    python eval/draw_reuters_days.py dense-more <extracted data folder>  # more_<N>.jsonl here

`split` follows `extra.jsonl`'s rule (`README.md`, step 4): an item near a test-split
deployment (4 days apart at most) would be left out, and the rest go to train and
validation, 75/25 by thread (`sha256("wirewatch-split-v1:" + thread)`), so the frozen test
split stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "heldout"))

from draw_reuters import WINDOWS, day_items, drawn, write  # noqa: E402

DAYS = [
    "20071127", "20080429", "20080923", "20090217", "20090420", "20100301", "20101108",
    "20110322", "20111011", "20120522", "20130226", "20131119", "20140624", "20141114",
    "20150422", "20151028",
]  # fmt: skip
OTHERS = 25
FIELDS = (
    "id", "source", "published", "outlet", "title", "description", "label", "ambiguous",
    "story", "thread", "split", "source_ref",
)  # fmt: skip
TEST = Path(__file__).resolve().parent / "corpus" / "test.jsonl"
_VERBS = (
    r"(deploy\w*|send\w*|sent|dispatch\w*|mass\w*|build-?up|station\w*|move[sd]?|moving|"
    r"reinforce\w*|pour\w*|rush\w*|enter\w*|cross\w*|arriv\w*|head\w*|mobili[sz]\w*|surge|"
    r"boost\w*|bolster\w*|beef\w*|extra|more|additional|withdraw\w*|pull\w*|leav\w*|"
    r"dispatch\w*|order\w*)"
)
_FORCES = (
    r"(troops?|soldiers?|forces|military|army|navy|marines?|warships?|frigates?|destroyers?|"
    r"submarines?|carriers?|fleet|commandos?|paratroop\w*|peacekeep\w*|battalions?|brigades?|"
    r"squadrons?|jets?|warplanes?|bombers?|reservists?|personnel|tanks?|missiles?|"
    r"national guard)"
)
FINE_VERBS = (
    r"(deploy\w*|send(s|ing)?|sent|dispatch\w*|mass(es|ed|ing)|build-?up|buildup|"
    r"station(s|ed|ing)?|reinforce\w*|pour(s|ed|ing)?|rush(es|ed|ing)?|enter(s|ed|ing)?|"
    r"cross(es|ed|ing)?|arriv\w*|mobili[sz]\w*|surge|boost\w*|bolster\w*|withdraw\w*|"
    r"pull(s|ed|ing)? out|redeploy\w*|extra|more|additional|move(s|d)? (in|into|to|toward\w*)|"
    r"head(s|ed|ing)? (to|for))"
)
FINE_FORCES = (
    r"(troops?|soldiers?|forces|army|navy|marines|warships?|frigates?|destroyers?|submarines?|"
    r"aircraft carriers?|fleet|commandos|paratroop\w*|peacekeep\w*|battalions?|brigades?|"
    r"squadrons?|fighter jets|warplanes|bombers|reservists|national guard|naval ships?|"
    r"naval vessels?|gunboats?)"
)


def _near(forces: str, verbs: str, gap: str) -> re.Pattern[str]:
    """A force word up to four words before a verb, or after it."""
    return re.compile(
        rf"\b{forces}\b(?:\W+\w+){{0,4}}?\W+{verbs}\b|\b{verbs}\b(?:\W+{gap}){{0,4}}?\W+{forces}\b",
        re.I,
    )


COARSE = _near(_FORCES, _VERBS, r"\w+")
# Entering a territory or opening a front (stop 37): the strong words alone, the weak verbs
# beside an armed force.
INVADING = re.compile(
    r"\b(invad\w*|invasion|incursions?|ground (offensive|operation|assault|attack)s?|"
    r"cross(es|ed|ing)? (the )?border|cross-border (raid|attack|offensive|operation)s?)\b",
    re.I,
)
ENTER_VERBS = (
    r"(enter(s|ed|ing)?|cross(es|ed|ing)? into|push(es|ed|ing)? into|mov(e|es|ed|ing) into|"
    r"roll(s|ed|ing)? into|march(es|ed|ing)? into|storm(s|ed|ing)?|seiz(e|es|ed|ing)|"
    r"occup(y|ies|ied|ying)|take(s)? control|took control)"
)
ENTERING = _near(FINE_FORCES, ENTER_VERBS, r"[\w']+")
FINE = _near(FINE_FORCES, FINE_VERBS, r"[\w']+")
DENSE = 1440


def draw(folder: Path) -> None:
    rng = random.Random(20162)
    for day in DAYS:
        write(f"day_{day}.jsonl", drawn(day_items(folder, day), rng, OTHERS))


def dense(folder: Path) -> None:
    kept = _away_from_held_out_and_test()
    found = [
        i
        for day in sorted(p.stem for p in folder.glob("*.pkl"))
        for i in _readable(folder, day)
        if COARSE.search(i["title"]) and FINE.search(i["title"])
    ]
    rows = random.Random(20163).sample([i for i in found if kept(i)], DENSE)
    rows.sort(key=lambda r: (r["published"], r["id"]))
    for n in range(6):
        write(f"chunk_{n + 1}.jsonl", rows[n * 240 : (n + 1) * 240])


def dense_more(folder: Path) -> None:
    """The dense draw's pattern again, over the headlines the first draw left."""
    known = _already_drawn("reuters2007-16-entering.jsonl")
    _draw_new(
        folder, lambda t: bool(COARSE.search(t) and FINE.search(t)), known, 20165, "more", 6, 160
    )


def _already_drawn(*staged: str) -> set[str]:
    """Ids of the Reuters 2007-2016 headlines already labelled: the corpus's two files and
    the `staged` ones named (those drawn before the draw that calls this)."""
    files = [TEST.parent / "reuters2007-16.jsonl", TEST.parent / "reuters2007-16-dense.jsonl"]
    files += [TEST.parents[1] / "staged" / name for name in staged]
    return {json.loads(line)["id"] for f in files for line in f.open(encoding="utf-8")}


def entering(folder: Path) -> None:
    """Headlines of forces entering a territory or opening a front, and their look-alikes."""
    matches = lambda t: bool(INVADING.search(t) or ENTERING.search(t))  # noqa: E731
    _draw_new(folder, matches, _already_drawn(), 20164, "enter", 4, 150)


def _draw_new(
    folder: Path, matches: Callable[[str], bool], known: set[str], seed: int, name: str,
    chunks: int, size: int,
) -> None:  # fmt: skip
    """`chunks` files of `size` headlines drawn at random among those whose title matches,
    not `known`, and away from the held-out windows and the test split, in publication
    order."""
    kept = _away_from_held_out_and_test()
    found = [
        i
        for day in sorted(p.stem for p in folder.glob("*.pkl"))
        for i in _readable(folder, day)
        if matches(i["title"]) and i["id"] not in known and kept(i)
    ]
    print(f"{len(found)} headlines match", file=sys.stderr)
    rows = random.Random(seed).sample(found, chunks * size)
    rows.sort(key=lambda r: (r["published"], r["id"]))
    for n in range(chunks):
        write(f"{name}_{n + 1}.jsonl", rows[n * size : (n + 1) * size])


def _away_from_held_out_and_test() -> Callable[[dict], bool]:
    """Not within a week of a held-out window, a day of one of the sixteen days, or 4 days
    of a test-split deployment."""
    tests = [json.loads(line) for line in TEST.open(encoding="utf-8")]
    near = [when(t) for t in tests if t["label"] == "deploy" and t.get("published")]
    away = [(_day(d), 7) for days in WINDOWS.values() for d in days]
    away += [(_day(d), 1) for d in DAYS]

    def kept(row: dict) -> bool:
        at = when(row)
        if any(abs((at.date() - d).days) <= k for d, k in away):
            return False
        return not any(abs(at - t) <= timedelta(days=4) for t in near)

    return kept


def _readable(folder: Path, day: str) -> list[dict]:
    """A day's items, or none when its pickle has a garbled time (three days of 2010)."""
    try:
        return day_items(folder, day)
    except ValueError as e:
        print(f"left out, {e}"[:120], file=sys.stderr)
        return []


def _day(day: str) -> date:
    return date(int(day[:4]), int(day[4:6]), int(day[6:]))


def training_split(thread: str) -> str:
    """Train or validation, 75/25 by the thread's hash (`extra.jsonl`'s rule)."""
    digest = hashlib.sha256(f"wirewatch-split-v1:{thread}".encode()).hexdigest()
    return "train" if int(digest[:8], 16) / 2**32 < 0.75 else "validation"


def when(row: dict) -> datetime:
    return datetime.fromisoformat(row["published"].replace("Z", "+00:00"))


def split(labelled: Path) -> None:
    tests = [json.loads(line) for line in TEST.open(encoding="utf-8")]
    near = [t for t in tests if t["label"] == "deploy" and t.get("published")]
    for line in labelled.open(encoding="utf-8"):
        row = json.loads(line)
        if any(abs(when(row) - when(t)) <= timedelta(days=4) for t in near):
            print(f"left out, near a test deployment: {row['id']}", file=sys.stderr)
            continue
        row["split"] = training_split(row["thread"])
        print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))


if __name__ == "__main__":
    steps = {
        "draw": draw,
        "dense": dense,
        "dense-more": dense_more,
        "entering": entering,
        "split": split,
    }
    steps[sys.argv[1]](Path(sys.argv[2]))
