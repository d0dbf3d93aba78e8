"""Does wire furniture change what the bot does? Validation replayed as written and with each
kind of furniture added to its titles (and bylines to its texts), by a fixed rule.

Kinds, each given to items by a hash of their id (so every run adds the same marks):
- `agency`: every title ends "(Reuters)", "(AP)", "(AFP)" or "(Canadian Press)", and a text
  opens with that agency's byline, as AG News-style wire copy does;
- `reuters`: half the titles open with a Reuters slug ("UPDATE 2-", "REFILE-", "EXCLUSIVE-");
- `yonhap`: half the titles open with a Yonhap mark ("(LEAD)", "(2nd LD)", "(URGENT)");
- `entities`: apostrophes and quotes in titles and texts written as AG News writes them,
  entities without their "&" ("Iraq #39;s", "quot;"), which `html_to_text` reads back.
Detection P / R / F1 and pairwise grouping P / R are printed with text and headlines only.
Train + validation only: the frozen test split is not read. Run from the repository root:
`python eval/experiments/wire/furniture.py`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.evaluate import detection, grouping, replay_file  # noqa: E402
from bot.topics.load import load_topics  # noqa: E402

VALIDATION = Path(__file__).resolve().parents[2] / "corpus" / "validation.jsonl"
AGENCIES = ("Reuters", "AP", "AFP", "Canadian Press")
REUTERS = ("UPDATE 1-", "UPDATE 2-", "REFILE-", "EXCLUSIVE-", "WRAPUP 1-", "UPDATE 3-")
YONHAP = ("(LEAD) ", "(2nd LD) ", "(URGENT) ", "(News Focus) ")


def furnished(item: dict, kind: str) -> dict:
    h = int(hashlib.sha256(item["id"].encode()).hexdigest()[:8], 16)
    item = dict(item)
    if kind == "agency":
        agency = AGENCIES[h % len(AGENCIES)]
        item["title"] = f"{item['title']} ({agency})"
        if item.get("description"):
            item["description"] = f"{agency} - {item['description']}"
    elif kind == "entities":
        for key in ("title", "description"):
            text = (item.get(key) or "").replace("\u2019", "'")
            item[key] = text.replace("'s ", " #39;s ").replace('"', " quot;")
    elif kind in ("reuters", "yonhap") and h % 2:
        marks = REUTERS if kind == "reuters" else YONHAP
        item["title"] = marks[h // 2 % len(marks)] + item["title"]
    return item


def main() -> int:
    topic = next(t for t in load_topics() if t.name == "troop-deployments")
    rows = [json.loads(line) for line in VALIDATION.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("as written", "agency", "reuters", "yonhap", "entities"):
            path = Path(tmp) / f"{kind}.jsonl"
            path.write_text("".join(json.dumps(furnished(r, kind)) + "\n" for r in rows))
            for titles_only in (False, True):
                items, out, _ = replay_file(path, topic, titles_only=titles_only)
                d, g = detection(items, out, "deploy"), grouping(items, out)
                assert g is not None and None not in (d.precision, d.recall, g.precision)
                print(
                    f"{kind:>10} {'headlines' if titles_only else 'with text':>9}: "
                    f"P {d.precision:.3f} R {d.recall:.3f} F1 {d.f1:.3f}; "
                    f"grouping P {g.precision:.3f} R {g.recall:.3f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
