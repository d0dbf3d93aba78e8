"""Ways of asking the shipped encoder, read on files no shipped model learned from (stop 43).

The folds file holds each fold's scores, not its models, so a new way of *asking* the encoder
(not of training it) cannot be judged there. These files were never learned from:
`heldout/rss2024.jsonl`, `heldout/reuters2007-16.jsonl` and the three `staged/` draws. Each
candidate (the topic's query holds, no veto) is scored by the shipped word model and encoder
as the bot scores it (a candidate the bot does not ask the encoder about, as no opinion could
lift it to a bar, `LinearModel.opinion_matters`, is asked here all the same, so that every way
is judged on every candidate), then the encoder is also asked:
- `clauses`: each clause of the headline (split at , ; : | and spaced dashes, 3+ words), the
  item's opinion the highest of the headline and its clauses ("Truck bomb kills 12, U.S.
  rushes troops to Iraq");
- `lead`: the headline and the summary's first sentence, for items with a summary;
- `lead-if-no-force`: that, only when the title names no armed force.
Printed: P / R / F1 of the geometric mean at the shipped bars (0.49 with text, 0.52 headline
only), pooled over the files, with text and headline only.

Run from the repository root: `python eval/experiments/encoder/unseen.py`.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot import opinions  # noqa: E402
from bot.encoder import opinions as encoder  # noqa: E402
from bot.labelled import load_labelled  # noqa: E402
from bot.relevance.features import featurize  # noqa: E402
from bot.text.clean import html_to_text  # noqa: E402
from bot.topics import load_topics  # noqa: E402
from bot.gazetteer import Gazetteer  # noqa: E402
from bot.topics.match import Matcher, prepare  # noqa: E402

EVAL = Path(__file__).resolve().parents[2]
FILES = [
    "heldout/rss2024.jsonl",
    "heldout/reuters2007-16.jsonl",
    "staged/rss2024.jsonl",
    "staged/reuters2007-16-entering.jsonl",
    "staged/reuters2007-16-dense-more.jsonl",
]
BARS = {False: 0.49, True: 0.52}
CLAUSE = re.compile(r"\s*(?:[,;:|]|\s[-\u2013\u2014]\s)\s*")
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def rows(gaz: Gazetteer, matcher: Matcher) -> list[dict]:
    out = []
    for name in FILES:
        items = [i for i in load_labelled(EVAL / name) if not i.ambiguous and i.label]
        for title_only in (False, True):
            if title_only is False and not any(i.description for i in items):
                continue  # headlines only: the same rows twice
            said = [
                prepare(
                    html_to_text(i.title), "" if title_only else html_to_text(i.description), gaz
                )
                for i in items
            ]
            reads = [opinions.reads(html_to_text(i.title), "", None) for i in items]
            asked = opinions.ask_now(matcher, list(zip(said, reads, strict=True)))
            for i, p, r, s in zip(items, asked, reads, said, strict=True):
                judged = matcher.judge(p)
                v = judged[0][2] if judged else None
                row = {"pos": i.label == "deploy", "title_only": title_only, "score": 0.0}
                if v is not None and v.veto is None and (v.encoder is not None or v.unasked):
                    lead = SENTENCE.split(html_to_text(i.description).strip())[0][:300]
                    force = any(f.startswith("t#UNIT") for f in featurize(s, gaz.kind))
                    parts = [c for c in CLAUSE.split(r) if len(c.split()) >= 3]
                    row |= {"w": v.words, "e": v.encoder, "read": r, "force": force}
                    row |= {"clauses": parts if len(parts) > 1 else []}
                    row |= {"lead": f"{r}. {lead}" if lead and not title_only else None}
                out.append(row)
    return out


def unasked(out: list[dict]) -> int:
    """The opinions the bot does not ask for (`e` None), asked here in one batch; how many."""
    todo = [k for k, r in enumerate(out) if "w" in r and r["e"] is None]
    for k, s in zip(todo, encoder("deployments", [out[k]["read"] for k in todo]), strict=True):
        out[k]["e"] = s
    return len(todo)


def ask(out: list[dict]) -> None:
    """Each row's extra opinions, in batches."""
    clauses = [(k, c) for k, r in enumerate(out) for c in r.get("clauses", [])]
    for (k, _), s in zip(clauses, encoder("deployments", [c for _, c in clauses]), strict=True):
        out[k]["e_clause"] = max(out[k].get("e_clause", 0.0), s)
    leads = [(k, r["lead"]) for k, r in enumerate(out) if r.get("lead")]
    for (k, _), s in zip(leads, encoder("deployments", [t for _, t in leads]), strict=True):
        out[k]["e_lead"] = s


WAYS = {
    "headline (shipped)": lambda r: r["e"],
    "clauses": lambda r: max(r["e"], r.get("e_clause", 0.0)),
    "lead": lambda r: r.get("e_lead", r["e"]),
    "lead-if-no-force": lambda r: r["e"] if r["force"] else r.get("e_lead", r["e"]),
}


def main() -> int:
    gaz = Gazetteer.load()
    matcher = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gaz)
    out = rows(gaz, matcher)
    skipped = unasked(out)
    ask(out)
    print(f"candidates {sum('w' in r for r in out)}, of which the bot does not ask about {skipped}")
    for name, opinion in WAYS.items():
        line = f"{name:20}"
        for title_only in (False, True):
            tp = predicted = actual = 0
            for r in out:
                if r["title_only"] is not title_only:
                    continue
                hit = "e" in r and math.sqrt(r["w"] * opinion(r)) >= BARS[title_only]
                tp, predicted, actual = tp + (hit and r["pos"]), predicted + hit, actual + r["pos"]
            p, rc = tp / max(predicted, 1), tp / max(actual, 1)
            kind = "headline only" if title_only else "with text"
            line += f"  {kind} {p:.3f} / {rc:.3f} / {2 * p * rc / max(p + rc, 1e-9):.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
