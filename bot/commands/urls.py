"""URLs typed in chat: which text is one, and the guard every fetch from chat passes first.

A URL from chat is fetched by wirewatch on a user's word, so it must be http(s) on a public
address (`bot.feeds.guard`) unless ops allowed private addresses; a refusal says how.

Deliberately not here: fetching (bot.feeds), and what is done with the page.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.commands.echo import shown
from bot.errors import CommandError, UnsafeURLError
from bot.feeds.guard import check_url

if TYPE_CHECKING:
    from bot.app import Runtime

URL_TEXT = re.compile(r"^https?://\S+$", re.IGNORECASE)


def guarded_url(rt: Runtime, url: str) -> str:
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
        raise CommandError(
            f"`{shown(url)}` needs http:// or https:// in front, like `https://{shown(url)}`"
        )
    try:
        return check_url(url, allow_private=rt.settings.network.allow_private_addresses)
    except UnsafeURLError as exc:
        raise CommandError(unsafe(url, exc)) from None


def unsafe(url: str, exc: UnsafeURLError) -> str:
    return (
        f"cannot use {url}: {exc}. URLs from chat must be http(s) on public addresses "
        "(ops may set `network: {allow_private_addresses: true}` in the config)"
    )
