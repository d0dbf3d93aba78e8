"""URLs typed in chat: which text is one, and the guard every fetch from chat passes first.

A URL from chat is fetched by wirewatch on a user's word, so it must be http(s) on a public
address (`bot.feeds.guard`) unless ops allowed private addresses; a refusal says how.

Deliberately not here: fetching (bot.feeds), and what is done with the page.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.commands.echo import shown
from bot.errors import CommandError, UnsafeURLError
from bot.feeds.guard import check_url

if TYPE_CHECKING:
    from bot.runtime import Runtime

URL_TEXT = re.compile(r"^https?://\S+$", re.IGNORECASE)
# Characters of a typed URL a refusal repeats: a real one fits, a pasted page does not come
# back whole (echoed twice, 6,000 characters were three Discord messages).
URL_SHOWN = 200
# Query parameters whose value is a credential (a feed's API key written into its URL in the
# config): chat shows the feed's URL to everyone in the channel, so the value is hidden.
_SECRET_PARAM = re.compile(
    r"(?:api[-_]?key|key|apikey|token|access[-_]?token|auth|secret|client[-_]?secret"
    r"|sig|signature|password|passwd|pass|pwd|session|sid)",
    re.IGNORECASE,
)


def shown_feed_url(url: str) -> str:
    """A feed's URL as chat shows it: a credential in its query (`?api_key=...`) hidden,
    the rest as stored, so moderators still tell their feeds apart."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_SECRET_PARAM.fullmatch(k) for k, _ in pairs):
        return url
    hidden = [(k, "HIDDEN" if _SECRET_PARAM.fullmatch(k) else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(hidden, safe="/:,")))


def guarded_url(rt: Runtime, url: str) -> str:
    # A scheme, unless what follows the colon is a port (`example.com:8080/rss`: no scheme).
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:(?!\d)", url):
        # A scheme-relative `//host/feed` (as pages link) has the slashes already.
        example = "https://" + url.lstrip("/")
        raise CommandError(
            f"`{shown(url)}` needs http:// or https:// in front, like `{shown(example)}`"
        )
    scheme, _, after = url.partition(":")
    if scheme.lower() not in ("http", "https"):
        # A typo in the scheme is not a matter of private addresses: say what to type.
        guess = difflib.get_close_matches(scheme.lower(), ["https", "http"], n=1, cutoff=0.6)
        meant = f": did you mean `{shown(guess[0] + ':' + after)}`?" if guess else ""
        raise CommandError(
            f"cannot use {shown(url)}: a URL here starts with http:// or https://, "
            f"not `{shown(scheme)}:`{meant}"
        )
    try:
        return check_url(url, allow_private=rt.settings.network.allow_private_addresses)
    except UnsafeURLError as exc:
        raise CommandError(unsafe(url, exc)) from None


def unsafe(url: str, exc: UnsafeURLError) -> str:
    return (
        f"cannot use {shown(url, URL_SHOWN)}: {exc}. URLs from chat must be http(s) on "
        "public addresses (ops may set `network: {allow_private_addresses: true}` in the config)"
    )
