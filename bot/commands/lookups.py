"""What several commands look up and show alike: a channel's live subscriptions, a topic by
the name a user typed.

Deliberately not here: the queries themselves (bot.store), and changing anything.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from bot.commands.echo import now_iso, shown, when
from bot.errors import CommandError
from bot.store import list_topics

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.model import Topic
    from bot.store import SubscriptionRow


def live(subs: list[SubscriptionRow]) -> list[SubscriptionRow]:
    return [s for s in subs if s.paused_reason != "unsubscribed"]


def describe_sub(s: SubscriptionRow) -> str:
    parts = [f"`{s.topic}` ({s.mode}"]
    if s.origin == "config":
        parts.append(", from the config")
    if s.muted_until and s.muted_until > now_iso():
        parts.append(f", muted until {when(s.muted_until)}")
    if s.paused_reason:
        parts.append(f", PAUSED: {s.paused_reason}")
    return "".join(parts) + ")"


def known_topic(db: Database, name: str) -> Topic:
    if not name:
        raise CommandError("a topic NAME is needed: `/wirewatch topics` lists them")
    topics = {t.name: t for t in list_topics(db)}
    if name not in topics:
        known = ", ".join(f"`{n}`" for n in sorted(topics)) or "none yet"
        # As `test` and the command line answer a mistyped name (bot.catalog.unknown_topic).
        close = difflib.get_close_matches(name, sorted(topics), n=2, cutoff=0.6)
        hint = " or ".join(f"`{n}`" for n in close)
        meant = f": did you mean {hint}?" if close else ""
        raise CommandError(f"no topic `{shown(name)}`{meant} (topics: {known})")
    return topics[name]
