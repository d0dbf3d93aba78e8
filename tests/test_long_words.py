"""A feed's text is untrusted: reading it must not keep what it sends.

Every entry's words are read for its `digest` (bot.text.versions), in the parse workers,
which live as long as the bot; the words are remembered to make counting a story's outlets
cheaper. A feed of entries made of long tokens that never repeat (2,000 characters without
a space, the most a summary keeps) made each worker keep every one of them: 70-135 MB
once 16,384 were read, a few polls of such a feed.
"""

from __future__ import annotations

import gc
import tracemalloc

from bot.feeds.parse import parse_feed
from bot.text.versions import words

ENTRIES = 300
EMOJI = "\U0001f600"  # four bytes a character in a str


def _feed(n: int) -> bytes:
    items = "".join(
        f"<item><guid>urn:x:{i}</guid><title>Troops {i}{'T' * 250}</title>"
        f"<description>Troops {EMOJI * 1985}{i}</description></item>"
        for i in range(n)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>' \
        f"<title>Flood</title>{items}</channel></rss>".encode()  # fmt: skip


def test_a_feed_of_long_unique_tokens_is_not_kept_once_read() -> None:
    body = _feed(ENTRIES)
    words("warm up: the tables of punctuation are built once")
    parse_feed(_feed(2), feed_url="http://feed.test/rss")  # and the readers' own
    gc.collect()
    tracemalloc.start()
    try:
        parsed = parse_feed(body, feed_url="http://feed.test/rss")
        assert len(parsed.entries) == ENTRIES
        del parsed
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Remembering every token kept 2.7 MB here (300 summaries of 8 kB; 8.9 MB for 1,000).
    assert kept < 1_000_000, f"{kept / 1e6:.1f} MB kept after the feed was read"


def test_news_words_read_the_same_remembered_or_not() -> None:
    """Long words are not remembered but still compared alike."""
    long = "Counter-offensive-operations-continued,"
    assert len(long) > 32
    assert words(f"Russia, {long}") == words(f"russia {long.upper()}")
    assert words(f"Russia, {long}") == ["russia", "counteroffensiveoperationscontinued"]
