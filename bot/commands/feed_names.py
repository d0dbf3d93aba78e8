"""What a feed added from chat is called: the NAME typed, else the feed's own title, else its
host; one listed feed a name.

A feed's name is shown in every list and as every alert's outlet, so a typed NAME and a
feed's own <title> meet the same rules: one line, no backticks, no URL, at most 80 characters.

Deliberately not here: adding or removing the feed (bot.commands.feed_admin, bot.feed_store).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.commands.echo import one_line
from bot.commands.urls import shown_feed_url
from bot.errors import CommandError
from bot.feed_store import feed_named
from bot.settings import LINE_BREAKING
from bot.text.invisible import strip_invisible

if TYPE_CHECKING:
    from sqlite_utils import Database

FEED_NAME_CHARS = 80


def feed_name(name: str) -> str:
    """A feed's name as typed, refused where it would break the lists it is shown in."""
    name = name.strip()
    if LINE_BREAKING.search(name) or "`" in name:
        raise CommandError("a feed's NAME is one line of text, without backticks")
    if len(name) > FEED_NAME_CHARS:
        raise CommandError(f"a feed's NAME is at most {FEED_NAME_CHARS} characters")
    if "://" in name:
        raise CommandError("a feed's NAME is not a URL: `feeds add URL [NAME]`")
    return name


def title_name(title: str) -> str | None:
    """A feed's own <title> as its name, held to the rules a typed NAME meets (`feed_name`):
    the feed chose it, and it is shown in every list and as every alert's outlet. One line,
    no backticks or control characters, at most 80 characters; None (the host stands in)
    for a title that holds a URL."""
    name = one_line(strip_invisible(title).replace("`", ""))[:FEED_NAME_CHARS].strip()
    return None if not name or "://" in name else name


def host(url: str) -> str:
    return re.sub(r"^https?://", "", url, flags=re.IGNORECASE).split("/", 1)[0]


def name_free(db: Database, name: str, url: str) -> None:
    """No other listed feed has this name (a removed feed's may be taken again)."""
    other = feed_named(db, name) if name else None
    if other and other.url != url and other.disabled_reason != "removed":
        raise CommandError(
            f"another feed is already called `{name}` ({shown_feed_url(other.url)}); "
            "choose another NAME"
        )
