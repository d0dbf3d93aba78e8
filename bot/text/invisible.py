"""Characters a reader never sees, which split a word for a matcher (a soft hyphen in "Israel").

Feeds carry them raw and as entities (Al Jazeera's "Is&shy;rael", "&#8203;"); headlines pasted
from a web page into `topics test` carry them too. Text is swept of them before it is matched.
"""

from __future__ import annotations

import re

# C0/C1 controls except tab/newline/CR, lone surrogates, soft hyphens, zero-width, invisible
# operator and BOM characters; and the bidi embeddings, overrides and isolates: one left open
# in a headline reverses what a chat client shows after it (the outlet, the date, the ref).
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\ud800-\udfff\u200b-\u200d\u2060-\u2064"
    "\u202a-\u202e\u2066-\u2069\ufeff]"
)


def strip_invisible(text: str) -> str:
    """`text` without the characters of `INVISIBLE`."""
    return INVISIBLE.sub("", text)


def quoted(text: str) -> str:
    """Stored text (a feed's headline, an outlet) quoted in our own answer: one line, none of
    `INVISIBLE` (a bidi control would reorder the rest of the line), its backticks made
    quotes: a backtick would pair with the `code` spans of our own text around it, and
    what a platform shows as code it does not escape."""
    return " ".join(strip_invisible(text).split()).replace("`", "'")
