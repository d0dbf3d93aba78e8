"""The config's list of feeds against the stored feeds: what applying it would leave
(`plan_config_feeds`, which `wirewatch feeds` shows), and applying it (`sync_config_feeds`,
which only the bot does, at start).

Feeds added in chat are never touched here; a config feed the config no longer lists is
disabled, not deleted (its items stay).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.feed_store import FeedRow, list_feeds


@dataclass(frozen=True)
class ConfigFeed:
    """A feed as stored, or as a config would add it (`row` None), with what applying that
    config does to it (`change`: "new" adds it; "leaving" disables a config feed the config
    no longer lists; "returning" enables one it lists again; None: nothing the list shows).
    A config feed the config lists takes the config's name and interval."""

    name: str
    url: str
    interval: float | None
    row: FeedRow | None
    change: str | None = None
    config_url: str | None = None  # the config's URL for it (a moved feed's old one)

    @property
    def polled(self) -> bool:
        """Whether the bot polls it once the config is applied."""
        if self.change is not None:
            return self.change != "leaving"
        return self.row is not None and not self.row.disabled


def plan_config_feeds(
    rows: list[FeedRow], feeds: list[tuple[str, str, float | None]]
) -> list[ConfigFeed]:
    """Every stored feed and every config feed, as applying the config would leave them:
    the one rule `sync_config_feeds` applies and `wirewatch feeds` shows."""
    wanted = {url: (name, interval) for name, url, interval in feeds}
    # Each config URL answers to the feed stored at it, else to the config feed that a
    # permanent redirect moved away from it.
    answers = {row.id: row.url for row in rows if row.url in wanted}
    for row in rows:
        old = row.config_url
        moved = row.id not in answers and row.origin == "config" and old in wanted
        if moved and old is not None and old not in answers.values():
            answers[row.id] = old
    planned = []
    for row in rows:
        url = answers.get(row.id)
        mine, change = wanted.get(url) if url else None, None
        if row.origin == "config" and mine is None and not row.disabled:
            change = "leaving"
        elif row.origin == "config" and mine and row.disabled_reason == "removed from config":
            change = "returning"
        name, interval = mine if row.origin == "config" and mine else (row.name, row.interval)
        planned.append(ConfigFeed(name, row.url, interval, row, change, url))
    claimed = set(answers.values())
    new = [(url, n, i) for url, (n, i) in wanted.items() if url not in claimed]
    planned += [ConfigFeed(n, url, i, None, "new", url) for url, n, i in new]
    return sorted(planned, key=lambda f: (f.name, f.url))


def sync_config_feeds(
    db: sqlite_utils.Database, feeds: list[tuple[str, str, float | None]]
) -> None:
    """Feeds in the config exist and are enabled; config feeds no longer listed are disabled."""
    now = iso(utcnow())
    with write(db):
        for f in plan_config_feeds(list_feeds(db), feeds):
            if f.row is None:
                db.table("feeds").insert(
                    {
                        "url": f.url,
                        "name": f.name,
                        "interval": f.interval,
                        "origin": "config",
                        "config_url": f.url,
                        "next_poll": now,
                        "created": now,
                    }
                )
            elif f.change == "leaving":
                db.table("feeds").update(
                    f.row.id, {"disabled": 1, "disabled_reason": "removed from config"}
                )
            elif f.row.origin == "config" and (
                f.change == "returning"
                or (f.name, f.interval, f.config_url)
                != (f.row.name, f.row.interval, f.row.config_url)
            ):
                enabled: dict[str, object] = {"disabled": 0, "disabled_reason": None}
                if f.change == "returning":  # watched afresh, as `add_feed` does (bot.health)
                    enabled["created"] = now
                named = {"name": f.name, "interval": f.interval, "config_url": f.config_url}
                db.table("feeds").update(f.row.id, {**named, **enabled})
