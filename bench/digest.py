"""Filling one digest message: the running size against measuring the whole text again.

The claim under test (bot/digest.py, `fill_message`): choosing the stories of a message costs
in proportion to the stories it holds, not to their square. The previous rule rendered and
measured the whole message again for every story added, and looked up each story's reports by
scanning every row read. Both are run here on the same waiting stories, as `_waiting` hands
them over once read from the store (rows in id order, the story ids oldest first); the
messages are checked to be the same before anything is timed.

Rows: 200 waiting stories (what one message reads, `STORIES_READ`) and 2,000 (what ten times
that would cost); headlines of one word (with its link a line is ~70 characters: a message
holds about 55 stories, the old rule's bad case) or ordinary (about 140 characters with some
markup and an emoji: about 20).

`python -m bench.digest [--quick]`
"""

from __future__ import annotations

import random
import time

from bench.report import Section, ratio, run_alone
from bot.digest import DIGEST_CHARS, digest_text, escaped_size, fill_message

_WORDS = ("troops", "deploy", "border", "Seoul", "navy", "brigade", "drill", "moves")


def _rows(stories: int, headline_words: int) -> tuple[list[int], list[dict]]:
    """Story ids oldest first and their reports (one to three each) in id order."""
    rng = random.Random(stories * 100 + headline_words)
    rows = []
    for sid in range(stories):
        for _ in range(rng.choice((1, 1, 2, 3))):
            words = [rng.choice(_WORDS) for _ in range(headline_words)]
            if headline_words > 4:
                words += ["🪖", "|_*", "«AP»"]
            rows.append(
                {
                    "id": len(rows) + 1,
                    "story_id": sid,
                    "topic": "troop-deployments",
                    "title": " ".join(words),
                    "url": f"https://x.example/{len(rows)}",
                    "outlet": rng.choice(("Yonhap", "AP", "Reuters")),
                    "summary": "",
                    "wire": None,
                    "published": None,
                    "first_seen": "2026-12-07T09:00:00+00:00",
                    "item_id": len(rows) + 1,
                    "earlier": rng.random() < 0.2,
                }
            )
    rows.sort(key=lambda r: r["id"])
    return list(range(stories)), rows


def _old(story_ids: list[int], rows: list[dict]) -> list[dict]:
    """`_waiting`'s filling before the running size (the code this replaced)."""
    order = {sid: n for n, sid in enumerate(story_ids)}
    rows = sorted(rows, key=lambda r: (order[r["story_id"]], r["id"]))
    kept: list[dict] = []
    for sid in story_ids:
        more = [r for r in rows if r["story_id"] == sid]
        if kept and escaped_size(digest_text(kept + more, "slack")) > DIGEST_CHARS:
            break
        kept += more
    kept.sort(key=lambda r: r["id"])
    return kept


def _new(story_ids: list[int], rows: list[dict]) -> list[dict]:
    """`_waiting`'s filling now."""
    by_story: dict[int, list[dict]] = {sid: [] for sid in story_ids}
    for r in rows:
        by_story[r["story_id"]].append(r)
    kept = fill_message([by_story[sid] for sid in story_ids], "slack")
    kept.sort(key=lambda r: r["id"])
    return kept


def _best_ms(fill, story_ids: list[int], rows: list[dict], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fill(story_ids, rows)
        best = min(best, time.process_time() - start)
    return best * 1e3


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    section = Section(
        "Digest: filling one message (CPU ms, best of "
        f"{3 if quick else 7}; old rule and running size in the same run)",
        ["stories_read", "headlines", "in_message", "old_ms", "new_ms", "speedup"],
    )
    for stories in (200, 2_000):
        for name, words in (("short", 1), ("ordinary", 16)):
            story_ids, rows = _rows(stories, words)
            kept = _new(story_ids, rows)
            assert kept == _old(story_ids, rows), "the messages differ"
            old = _best_ms(_old, story_ids, rows, 3 if quick else 7)
            new = _best_ms(_new, story_ids, rows, 3 if quick else 7)
            section.add(
                stories_read=stories,
                headlines=name,
                in_message=len({r["story_id"] for r in kept}),
                old_ms=old,
                new_ms=new,
                speedup=ratio(old, new),
            )
    section.notes.append(
        "One message chosen from the stories read (`_waiting` after its queries; the queries "
        "are not timed). in_message: the stories that fit in DIGEST_CHARS once escaped. The "
        "bot reads 200 stories per message (`STORIES_READ`); 2,000 shows how each rule grows."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
