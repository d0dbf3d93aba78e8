"""Editors' labels as labelled items: `wirewatch eval --feedback FILE.jsonl`.

One JSON line per labelled item of one topic, in the format `bot.labelled` reads (title,
description, published, outlet, label, story, thread), so the file can be replayed by
`wirewatch eval` and joined to the corpus the relevance model is trained on:
- "Not relevant" becomes `label: other`: the item is not what the topic is about;
- "Wrong story" gives the item a story and thread of its own (`feedback-item-N`) and names
  the story it was wrongly put in (`wrong_story: story-N`, with `wrong_story_title`): the
  editor said where the item does not belong, not where it does. Its `label` stays null
  (relevance was not judged) unless someone also marked it not relevant.
Several clicks on one item (several editors or channels) make one line; `feedback` lists
who clicked what, where and when. No `split`: whoever adds the lines to the corpus decides.

Deliberately not here: recording clicks (bot.feedback), measuring (bot.evaluate).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.clock import iso_short, parse_stored, utcnow
from bot.filewrite import replace_text


@dataclass(frozen=True)
class Exported:
    items: int
    not_relevant: int  # items marked not relevant
    wrong_story: int  # items marked as put in the wrong story


def labelled_items(db: sqlite_utils.Database, topic: str) -> list[dict[str, Any]]:
    """The topic's labelled items, oldest first, one per item however often it was clicked."""
    rows = db.query(
        "SELECT * FROM feedback WHERE topic = ? ORDER BY published, item_id, id", [topic]
    )
    items: dict[int, dict[str, Any]] = {}
    for row in rows:
        line = items.setdefault(row["item_id"], _line(row))
        line["feedback"].append(
            {
                "kind": row["kind"],
                "by": f"{row['platform']}:{row['user']}",
                "channel": row["channel"],
                "at": row["at"],
            }
        )
        if row["kind"] == "not-relevant":
            line["label"] = "other"
        else:
            own = f"feedback-item-{row['item_id']}"
            line.update(story=own, thread=own, wrong_story=f"story-{row['story_id']}")
            line["wrong_story_title"] = row["story_title"]
    return list(items.values())


def _line(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"feedback-{row['item_id']}",
        "source": "feedback",
        "topic": row["topic"],
        "title": row["title"],
        "description": row["description"],
        "published": iso_short(parse_stored(row["published"], utcnow())),
        "outlet": row["outlet"],
        "url": row["url"],
        "label": None,
        "ambiguous": False,
        "story": None,
        "thread": None,
        "feedback": [],
    }


def export_feedback(db: sqlite_utils.Database, topic: str, target: str) -> Exported:
    """Write the topic's labelled items to `target` ("-": stdout), replacing it whole."""
    items = labelled_items(db, topic)
    text = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
    if target == "-":
        sys.stdout.write(text)
    else:
        replace_text(Path(target), text)
    return Exported(
        len(items),
        sum(i["label"] == "other" for i in items),
        sum("wrong_story" in i for i in items),
    )
