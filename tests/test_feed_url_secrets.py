"""A feed's URL with a credential in its query (an API key the config writes into it): chat's
`/wirewatch feeds` showed it whole to everyone in the channel.

The test here failed before its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path

from bot.commands.urls import shown_feed_url
from tests.runtime import console_runtime, make_settings
from tests.test_lookback import ask

KEYED = "https://wire.example/rss?section=world&api_key=s3cr3tKEY123&Token=abc987zz"


async def test_chat_feeds_hides_a_key_in_a_feed_url(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "w.db", [("Wire", KEYED), ("Plain", "https://b.example/rss?page=2")]
    )
    async with console_runtime(settings) as (rt, _):
        said = await ask(rt, "feeds")
    assert "s3cr3tKEY123" not in said and "abc987zz" not in said, said
    assert "section=world" in said and "api_key=HIDDEN" in said, said  # still told apart
    assert "https://b.example/rss?page=2" in said  # nothing hidden where nothing is secret


def test_a_url_without_a_credential_is_shown_as_stored() -> None:
    for url in (
        "https://a.example/feed",
        "https://a.example/rss?cat=1&lang=en",
        "https://a.example/?q=keynote",
    ):
        assert shown_feed_url(url) == url
