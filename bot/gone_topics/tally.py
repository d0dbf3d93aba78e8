"""A start's hold or give-back under way: its mark, and what came of its alerts so far."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.redecide.slices import finished, unfinish, unfinished

# A start's hold or give-back of a subscription's alerts under way (`unfinished_writes`),
# its counts so far kept with it (in `counts`, as JSON): a start cut short between two
# slices left it, and the next finishes it.
HOLDING, GIVING_BACK = "topic-gone", "topic-back"


def tally_marks(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return unfinished(db, HOLDING) + unfinished(db, GIVING_BACK)


@dataclass
class Tally:
    """A subscription's hold or give-back: what came of its alerts so far. With a mark (at
    start), written to it with each story, in that story's transaction: a stop between two
    slices loses none, and the channel's notice, at the end, counts the whole of it."""

    db: sqlite_utils.Database
    mark: int | None
    counts: dict[str, int]

    @classmethod
    def of(
        cls,
        db: sqlite_utils.Database,
        mark: dict[str, Any] | None,
        kind: str = HOLDING,
        sub_id: int | None = None,
    ) -> Tally:
        """The tally a cut-short start left in `mark`, else a new one (marked only when
        `sub_id` is given: a hold's is marked once it has stories to move)."""
        if mark is not None:
            return cls(db, mark["id"], json.loads(mark["counts"] or "{}"))
        tally = cls(db, None, {})
        if sub_id is not None:
            tally.marked(kind, sub_id)
        return tally

    def marked(self, kind: str, sub_id: int) -> None:
        if self.mark is None:
            self.mark = unfinish(self.db, kind, kind, subscription_id=sub_id)
            self._save()

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self[what] + n
            self._save()

    def __getitem__(self, what: str) -> int:
        return self.counts.get(what, 0)

    def _save(self) -> None:
        if self.mark is not None:
            self.db.execute(
                "UPDATE unfinished_writes SET counts = ? WHERE id = ?",
                [json.dumps(self.counts), self.mark],
            )

    def done(self) -> None:
        if self.mark is not None:
            finished(self.db, self.mark)
