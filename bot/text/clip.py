"""Text cut to a length for people: at the end of a word, with an ellipsis.

One rule for the places that shorten text a reader sees (an alert's summary, a headline or
query quoted in a reply): "…to quell…", never "…to quell immigrat…", which reads as a word
of its own. Not the feed parser's cap on what is stored (bot.feeds.parse): the next poll
compares with the stored text, and a new cut would read as an edit of every long entry.
"""

from __future__ import annotations

import re

_LAST_WORD = re.compile(r"\s+\S*$")


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its longest run of whole words that fits
    with "…" after it; a word longer than half the limit (a URL, an unspaced script) is cut
    where it falls."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and (m := _LAST_WORD.search(head)) and m.start() >= limit // 2:
        head = head[: m.start()]
    return head.rstrip(" ,;:-–\n") + "…"
