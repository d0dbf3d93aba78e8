"""What makes a message of ours known again: the nonce a send carries, so that a retry
within Discord's nonce window returns the message already posted, and a notice's marker
line, which `find_notice` looks for. An alert's or a digest's mark is the ref in its embed
footer (discord_render.ref_marker).

Deliberately not here: sending (discord_bot), reading history for the marks
(discord_lookups).
"""

from __future__ import annotations

from adapters.discord_render import CONTENT, feed_text, split_text
from adapters.discord_spelling import discord_spans


def nonce_for(delivery_id: int) -> str:
    """At most 25 characters, as Discord requires; the same for every retry of a delivery."""
    return f"wirewatch-{delivery_id}"


def notice_nonce(key: int) -> str:
    """A keyed notice's nonce: apart from the deliveries' (`nonce_for`), the same per retry."""
    return f"wirewatch-n{key}"


def notice_marker(key: int) -> str:
    """The last line of notice `key`: Discord's small print, and what `find_notice` reads."""
    return f"-# notice {key}"


def notice_content(text: str, key: int | None) -> str:
    """A notice's message: its text (the commands it suggests spelled as Discord takes them,
    escaped, within one message), then its marker line."""
    shown = feed_text(discord_spans(text))
    if key is None:
        return split_text(shown)[0]
    marker = "\n" + notice_marker(key)
    return split_text(shown, CONTENT - len(marker))[0] + marker
