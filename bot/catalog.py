"""The topics in force before chat changes anything: built-in ones, then the config's.

Also the one rule for telling a topic's name from a query where either is accepted
(`topics test`, `/wirewatch test`), so a mistyped name is an error, never a query.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from bot.model import Topic
from bot.settings import Settings
from bot.topics.load import load_topics

# A lone lowercase word joined by '-' or '_' is a topic's name: as a query, the hyphen
# would only split it into words, which nobody types on purpose.
_NAME_LIKE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)+")
# The same in any case: `Nk-russia` (a phone's first capital) is a name mistyped when a
# topic has it, or one near it, in lowercase; else a word (`F-16`) and tested as such.
_NAME_IN_ANY_CASE = re.compile(_NAME_LIKE.pattern, re.IGNORECASE)
# How near a name, in capitals, must be to one to be refused as that name mistyped (a
# letter or two: `Troop-deployment`, `Nk-rusia`): words in capitals joined by a hyphen are
# a query too, and at difflib's 0.6 `NATO-deployments`, `US-deployments` or
# `Drone-deployments` were refused as `troop-deployments` misspelt.
_NEAR_IN_CAPITALS = 0.85


def configured_topics(settings: Settings) -> list[Topic]:
    """A config topic replaces the built-in topic of the same name."""
    topics = {t.name: t for t in load_topics()}
    for name, t in settings.topics.items():
        topics[name] = Topic(name, t.query, t.description, "config", t.relevance)
    return list(topics.values())


def unknown_topic(query_or_name: str, names: Iterable[str], *, shell: bool = False) -> str | None:
    """Why `query_or_name` cannot be tested when it reads as the name of no topic; else None.

    `shell`: typed at a shell prompt, which strips the double quotes unless they are quoted
    in turn, so the way out is written as it must be typed there (`'"x-ray"'`).
    """
    text, known = query_or_name.strip(), sorted(names)
    if text in known or not _NAME_IN_ANY_CASE.fullmatch(text):
        return None
    close = difflib.get_close_matches(text.lower(), known, n=2, cutoff=0.6)
    quoted = f"'\"{text}\"'" if shell else f'"{text}"'
    way_out = f"to test the words instead, put them in double quotes: {quoted}"
    if not _NAME_LIKE.fullmatch(text):  # in capitals: tested, it is the words "nk russia"
        lower = text.lower()
        near = difflib.get_close_matches(lower, known, n=2, cutoff=_NEAR_IN_CAPITALS)
        meant = [lower] if lower in known else near
        if not meant:
            return None
        tick = "" if shell else "`"  # chat shows names as code; a shell prints them plain
        why = " (topic names are lowercase)" if lower in known else ""
        names_meant = " or ".join(f"{tick}{n}{tick}" for n in meant)
        return f"no topic {tick}{text}{tick}: did you mean {names_meant}?{why}; {way_out}"
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"no topic named {text} ({hint}topics: {', '.join(known) or 'none'}); {way_out}"
