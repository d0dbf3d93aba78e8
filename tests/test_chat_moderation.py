"""A moderator's mistakes and surprises in chat, through the shared commands over a real
runtime (SQLite in a temp folder): each answer says what happened and how to fix it."""

from __future__ import annotations

from pathlib import Path

from bot.commands import Commands, Reply
from bot.poll_cycle import poll_once
from bot.settings import Settings
from bot.startup import open_runtime
from tests.feedserver import FeedServer
from tests.runtime import console_runtime
from tests.test_commands import CHANNEL, MOD, make_settings, rss, run


def _with_config_subscription(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "articles": {"fetch": False},
            "topics": {"from-config": {"query": "budget"}},
            "slack": {"moderators": [MOD]},
            "subscriptions": [{"channel": CHANNEL, "topic": "from-config"}],
        }
    )


async def _session(settings: Settings, *texts: str) -> list[Reply]:
    """One start of the bot's runtime, the commands typed in turn, then its stop."""
    async with open_runtime(settings, {}) as rt:
        cmds = Commands(rt)
        return [await run(cmds, text) for text in texts]


async def test_a_config_subscription_changed_from_chat_says_the_next_start_sets_it_back(
    tmp_path: Path,
) -> None:
    settings = _with_config_subscription(tmp_path)
    changed, listed, status = await _session(
        settings, "subscribe from-config digest", "list", "status"
    )
    assert changed.ok
    assert "(digest, was instant)" in changed.text
    assert "The config file subscribes this channel to `from-config` (instant" in changed.text
    assert "next start sets that back, so change it there" in changed.text
    # `list` and `status` no longer call it the config's as it is: "(digest, from the config)"
    # read as if the config said digest.
    for reply in (listed, status):
        assert "`from-config` (digest, from the config, changed from chat: the next start " in (
            reply.text
        )
        assert "sets back the config's instant" in reply.text
    # And that is what a start does: the config's mode is back, said plainly again.
    (after,) = await _session(settings, "list")
    assert "- `from-config` (instant, from the config): `topic:from-config`" in after.text
    assert "changed from chat" not in after.text


async def test_a_config_subscription_unsubscribed_from_chat_says_the_next_start_brings_it_back(
    tmp_path: Path,
) -> None:
    settings = _with_config_subscription(tmp_path)
    gone, listed = await _session(settings, "unsubscribe from-config", "list")
    assert gone.ok
    assert "this channel no longer gets `from-config` alerts" in gone.text
    assert "wirewatch's next start subscribes it again, so remove it there" in gone.text
    assert "no subscriptions" in listed.text
    (after,) = await _session(settings, "list")
    assert "`from-config` (instant, from the config)" in after.text


async def test_a_chat_subscription_is_not_said_to_come_from_the_config(tmp_path: Path) -> None:
    settings = _with_config_subscription(tmp_path)
    added, gone = await _session(
        settings, "subscribe troop-deployments digest", "unsubscribe troop-deployments"
    )
    assert added.ok and gone.ok
    assert "config file" not in added.text + gone.text


async def test_a_topic_name_typed_in_capitals_is_answered_with_the_name_meant(
    tmp_path: Path,
) -> None:
    """Topic names are lowercase; `TROOP-DEPLOYMENTS` (caps lock) or `Nk-russia` (a phone's
    capital) got the list of topics without a "did you mean", unlike `troop-deployment`."""
    answers = await _session(
        make_settings(tmp_path),
        "subscribe TROOP-DEPLOYMENTS",
        "topics Nk-Russia",
        "subscribe troop-deployments",
        "unsubscribe TROOP-DEPLOYMENTS",
        "unsubscribe troop-deployment",
        "unsubscribe nope",
    )
    subscribed, shown, added, caps, typo, unknown = answers
    assert added.ok
    assert not subscribed.ok and "did you mean `troop-deployments`?" in subscribed.text
    assert not shown.ok and "did you mean `nk-russia`?" in shown.text
    # `unsubscribe` offers the subscription meant, as docs/commands.md says it does.
    for reply in (caps, typo):
        assert not reply.ok
        assert "did you mean `troop-deployments`? (its subscriptions: `troop-deployments`)" in (
            reply.text
        )
    assert "did you mean" not in unknown.text


async def test_a_mute_of_zero_points_to_unmute_not_to_a_unit_then_refused(
    tmp_path: Path,
) -> None:
    """`mute 0` was told "write 0s, 0m, 0h or 0d", and `mute 0s` then refused: 'at least 1s'."""
    answers = await _session(
        make_settings(tmp_path), "subscribe troop-deployments", "mute 0", "mute 0s", "digest 0"
    )
    _, bare, with_unit, recap = answers
    for reply in (bare, with_unit):
        assert not reply.ok
        assert "`/wirewatch unmute` ends a mute" in reply.text
        assert "0s, 0m" not in reply.text
    assert not recap.ok
    assert recap.text.startswith("a recap reaches back at least 1m and at most 7d")


async def test_search_refuses_what_it_would_read_as_other_words(tmp_path: Path) -> None:
    """`troops NOT drill` looked for the word "not" too and answered "nothing stored
    matches"; `-drill` looked for "drill", the opposite; `--channel` (the command line's
    option) and `""` were searched as words. Each is refused with why."""
    answers = await _session(
        make_settings(tmp_path),
        "search troops AND NOT drill",
        "search troops -drill",
        "search troops --channel slack:C1",
        'search ""',
        "search x-ray troops",
    )
    not_, minus, option, empty, hyphen = answers
    assert not not_.ok and "search cannot leave words out (`NOT drill`)" in not_.text
    assert not minus.ok and "search cannot leave words out (`-drill`)" in minus.text
    assert not option.ok and "`--channel` is an option of `wirewatch search`" in option.text
    assert not empty.ok and empty.text.startswith("search needs words to look for")
    for reply in answers[:4]:
        assert reply.text.endswith("usage: `/wirewatch search WORDS`")
    assert hyphen.ok and "nothing stored matches `x-ray troops`" in hyphen.text


async def test_search_refusing_not_repeats_the_not_typed_not_a_word_beginning_with_it(
    tmp_path: Path,
) -> None:
    # It quoted `NOT AM` for `NOTAM NOT drill`: the text cut at the first "NOT" in it.
    (reply,) = await _session(make_settings(tmp_path), 'search NOTAM "NOT" NOT drill')
    assert not reply.ok and "search cannot leave words out (`NOT drill`)" in reply.text


async def test_test_with_a_topic_name_in_capitals_is_not_answered_no_match(
    tmp_path: Path,
) -> None:
    """`test Nk-russia TEXT` tested the words "nk russia" and answered "no match": read as
    the topic failing a text it matches. Refused with the name meant, and the way to test
    the words; in double quotes they are still tested."""
    text = "Pyongyang sends troops to Russia"
    capital, caps, words, right = await _session(
        make_settings(tmp_path),
        f"test Nk-russia {text}",
        f"test NK-RUSSIA {text}",
        f'test "Nk-russia" {text}',
        f"test nk-russia {text}",
    )
    for reply in (capital, caps):
        assert not reply.ok and "no match" not in reply.text
        assert "did you mean `nk-russia`? (topic names are lowercase)" in reply.text
    assert "put them in double quotes" in capital.text
    assert words.ok and words.text.startswith("no match")
    assert right.ok and right.text.startswith("MATCH")


async def test_feeds_remove_of_a_near_miss_offers_the_feed_meant_and_removes_nothing(
    tmp_path: Path,
) -> None:
    """A URL with a slash more, or a name cut short, was told only "`feeds` lists them"."""
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "articles": {"fetch": False},
            "slack": {"moderators": [MOD]},
            "feeds": [{"name": "Config Wire", "url": "https://config.example/rss"}],
        }
    )
    slash, short, far, listed = await _session(
        settings,
        "feeds remove https://config.example/rss/",
        "feeds remove Config",
        "feeds remove nothing-like-it",
        "feeds",
    )
    assert not slash.ok
    assert "did you mean `https://config.example/rss`? (`feeds` lists them)" in slash.text
    assert not short.ok and "did you mean `Config Wire`?" in short.text
    assert not far.ok and "did you mean" not in far.text and "`feeds` lists them" in far.text
    assert "- `Config Wire` https://config.example/rss (config)" in listed.text


async def test_a_refused_url_pasted_very_long_is_not_echoed_whole(tmp_path: Path) -> None:
    """A page of text pasted as a URL came back whole, twice over the reply's length."""
    url = "http://10.0.0.1/" + "a" * 5000
    added, tested = await _session(
        make_settings(tmp_path, allow_private=False),
        f"feeds add {url}",
        f"test troops {url}",
    )
    for reply in (added, tested):
        assert not reply.ok and "cannot use http://10.0.0.1/aaa" in reply.text
        assert "is not a public address" in reply.text and "allow_private_addresses" in reply.text
        assert len(reply.text) < 700


async def test_a_topic_that_no_longer_works_is_not_shown_as_working(tmp_path: Path) -> None:
    """A chat topic built on a config topic the config then dropped is skipped (its
    channels told once). `list`, `status` and `topics` showed it as any other, and
    `list` showed the dropped topic's subscription twice: as working, then as gone."""

    def settings(topics: dict[str, dict[str, str]]) -> Settings:
        return Settings.model_validate(
            {
                "database": str(tmp_path / "w.db"),
                "articles": {"fetch": False},
                "topics": topics,
                "slack": {"moderators": [MOD]},
            }
        )

    await _session(
        settings({"budget": {"query": "budget"}}),
        "topic add desk topic:budget AND troops",
        "subscribe desk",
        "subscribe budget",
        "subscribe troop-deployments",
    )
    listed, status, topics, desk, again = await _session(
        settings({}), "list", "status", "topics", "topics desk", "subscribe desk digest"
    )
    why = "refers to topic 'budget', which was removed from the config"
    assert f"- `desk` (instant, NOT WORKING: {why}; no alerts until it is mended" in listed.text
    assert "- `troop-deployments` (instant): `topic:troop-deployments`" in listed.text
    # The dropped topic's subscription: one line, the one that says it is gone.
    assert "`budget` (instant)" not in listed.text
    assert "- `budget` was removed from the config" in listed.text
    assert f"- this channel: `desk` (instant, NOT WORKING: {why};" in status.text
    assert "`budget` (instant)" not in status.text
    assert f"- `desk` [chat] NOT WORKING ({why}): `topic:budget AND troops`" in topics.text
    assert "`troop-deployments` [builtin] NOT WORKING" not in topics.text
    assert f"NOT WORKING: {why}; it is skipped" in desk.text
    assert "`/wirewatch topic add desk QUERY` with a query that works" in desk.text
    assert again.ok and f"But `desk` is NOT WORKING ({why})" in again.text


async def test_a_config_subscription_that_alerted_and_was_unsubscribed_comes_back_at_start(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Its row outlives the unsubscribe (its sent alert refers to it), unlike one that never
    # alerted: the start that was said to bring it back left it ended, and told no one.
    feed_server.serve("/w", rss([("Poland deploys 2,000 troops to the Belarus border", "x")]))
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "articles": {"fetch": False},
            "feeds": [{"name": "Wire", "url": feed_server.url("/w")}],
            "subscriptions": [{"channel": "console", "topic": "troop-deployments"}],
        }
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        assert len(console.alerts()) == 1
        gone = await run(Commands(rt), "unsubscribe troop-deployments", "op", "console")
    assert "next start subscribes it again" in gone.text
    async with console_runtime(settings) as (rt, _):
        listed = await run(Commands(rt), "list", "op", "console")
    assert "`troop-deployments` (instant, from the config)" in listed.text
