"""A wirewatch database holding many recent items, written straight into the real schema.

For tests that need a story window full of items (start-up, the saved story index) without
polling thousands of them through the pipeline. Titles and texts are made of random words,
so the story index has real tokenising work to do; three items share each story.
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import iso, utcnow
from bot.db import open_database


def fill(path: Path, count: int, *, seed: int = 1, now: datetime | None = None) -> Path:
    """Create `path` (the real schema) holding `count` items of the last hours; returns it."""
    open_database(path).close()
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(3000)]
    now = now or utcnow()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
        "VALUES (1, 'https://bulk.example/rss', 'Bulk', 'config', ?, ?)",
        [iso(now + timedelta(days=1)), iso(now)],
    )
    for n in range(count):
        when = iso(now - timedelta(seconds=(count - n) * 3))
        if n % 3 == 0:
            conn.execute(
                "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (?, 'story', ?, ?)",
                [n // 3 + 1, when, when],
            )
        conn.execute(
            "INSERT INTO items (id, feed_id, identity, url, title, summary, entities, published, "
            "first_seen, story_id) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                n + 1,
                f"guid:bulk-{n}",
                f"https://bulk.example/{n}",
                " ".join(rng.choices(words, k=10)).capitalize(),
                " ".join(rng.choices(words, k=50)) + ".",
                json.dumps(["Poland"] if n % 5 == 0 else []),
                when,
                when,
                n // 3 + 1,
            ],
        )
    conn.execute("COMMIT")
    conn.close()
    return path
