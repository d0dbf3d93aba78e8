"""eval/README.md's table of the labelled corpus says what the files hold, and the files hold
what the feeds said.

The table is how a reader learns how much the models were trained and measured on; it drifted
once (a later draw grew `extra.jsonl` and the table kept the old counts), so it is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.labelled import load_labelled

EVAL = Path(__file__).resolve().parents[1] / "eval"
ROW = re.compile(
    r"^\| `(?P<file>[a-z0-9-]+\.jsonl)` \| [^|]+ \| (?P<items>[\d,]+) \| (?P<deploy>[\d,]+) \|"
)


def test_the_corpus_table_counts_what_each_file_holds():
    rows = [m for line in (EVAL / "README.md").read_text().splitlines() if (m := ROW.match(line))]
    files = sorted((EVAL / "corpus").glob("*.jsonl"))
    assert sorted(m["file"] for m in rows) == [f.name for f in files]
    for m in rows:
        items = load_labelled(EVAL / "corpus" / m["file"])
        deploy = sum(i.label == "deploy" and not i.ambiguous for i in items)
        assert (int(m["items"].replace(",", "")), int(m["deploy"].replace(",", ""))) == (
            len(items),
            deploy,
        ), m["file"]


def test_the_corpus_total_is_the_sum_of_its_files():
    text = (EVAL / "README.md").read_text()
    total = int(re.search(r"holds ([\d,]+) real news items", text)[1].replace(",", ""))
    assert total == sum(len(load_labelled(f)) for f in (EVAL / "corpus").glob("*.jsonl"))


def test_no_labelled_item_has_a_placeholder_for_a_missing_description():
    """An archive that wrote Python's None for a feed's missing description once gave 130 RSS
    2024 items the text "None": a word every such item shared, read by the models and the
    story index as if the outlet had written it."""
    files = [f for d in ("corpus", "heldout", "staged") for f in (EVAL / d).glob("*.jsonl")]
    assert len(files) >= 10
    placeholders = {"None", "null", "nan", "NaN", "undefined"}
    items = [(f.name, i) for f in files for i in load_labelled(f)]
    found = [f"{name}: {i.id}" for name, i in items if i.description in placeholders]
    assert not found
