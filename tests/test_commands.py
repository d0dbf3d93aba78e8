"""The shared chat commands over a real runtime: SQLite in a temp folder, feeds on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.clock import parse_iso
from bot.commands import SUBCOMMANDS, Commands, Invocation, Reply
from bot.feed_store import list_feeds
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import list_topics, subscriptions
from tests.feedserver import ConnectionCounter, FeedServer

MOD, MEMBER, CHANNEL = "UMOD", "UMEMBER", "slack:C0NEWS"
NK_TITLE = "North Korea has sent more troops to Russia, South Korea says"


def make_settings(tmp_path: Path, *, allow_private: bool = True) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "network": {"allow_private_addresses": allow_private},
            "articles": {"fetch": False},
            "topics": {"from-config": {"query": "budget"}},
            "slack": {"moderators": [MOD]},
            "discord": {"moderators": ["555"]},
        }
    )


def rss(items: list[tuple[str, str]], title: str = "Test Wire") -> str:
    """An RSS feed of (title, description) items, the newest first, all from the last hour."""
    now = datetime.now(UTC)
    body = "".join(
        f"<item><title>{t}</title><link>https://news.example/{i}</link><guid>g{i}</guid>"
        f"<description>{d}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=5 + i), usegmt=True)}</pubDate></item>"
        for i, (t, d) in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example/</link>{body}</channel></rss>"
    )


NK_FEED = rss(
    [
        (NK_TITLE, "Seoul says Pyongyang sent more soldiers to the Kursk front."),
        ("Central bank cuts its key rate", "The bank cut rates by a quarter point."),
    ]
)


@pytest_asyncio.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(tmp_path), {}) as runtime:
        yield runtime


@pytest_asyncio.fixture
async def cmds(rt: Runtime) -> Commands:
    return Commands(rt)


async def run(
    cmds: Commands, text: str, user: str = MOD, channel: str = CHANNEL, **extra: Any
) -> Reply:
    platform = channel.split(":", 1)[0]
    reply = await cmds.handle(Invocation(platform, channel, user, text, **extra))
    assert isinstance(reply, Reply)
    return reply


def snapshot(rt: Runtime) -> dict[str, list[tuple]]:
    return {
        table: rt.db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        for table in ("feeds", "topics", "subscriptions", "deliveries", "items")
    }


SAMPLES = {
    "subscribe": {"topic": "troop-deployments"},
    "unsubscribe": {"topic": "troop-deployments"},
    "feeds add": {"url": "https://news.example/rss"},
    "feeds remove": {"feed": "Test Wire"},
    "topic add": {"name": "mine", "query": "troops"},
    "topic remove": {"name": "mine"},
    "mute": {"duration": "1h"},
}


# -- help, rights ------------------------------------------------------------------------


async def test_help_lists_every_subcommand_with_its_usage(cmds: Commands) -> None:
    reply = await run(cmds, "help", user=MEMBER)
    assert reply.ok
    for sub in SUBCOMMANDS:
        assert sub.help.strip(), sub.name
        assert f"`{sub.usage}`" in reply.text
    assert "You are not a moderator" in reply.text
    assert (await run(cmds, "")).text == (await run(cmds, "help")).text
    # What users type for a listing works, and help says so where it lists the feeds.
    assert "- `/wirewatch feeds` (or `/wirewatch feeds list`):" in reply.text
    assert (await run(cmds, "feeds list")).text == (await run(cmds, "feeds")).text


async def test_members_are_refused_every_moderator_command_and_nothing_changes(
    rt: Runtime, cmds: Commands
) -> None:
    before = snapshot(rt)
    guarded = [s for s in SUBCOMMANDS if s.moderator_only]
    assert {s.name for s in guarded} >= {"subscribe", "feeds add", "topic add", "mute"}
    for sub in guarded:
        reply = await run(cmds, Commands.text_for(sub.name, SAMPLES.get(sub.name, {})), user=MEMBER)
        assert not reply.ok, sub.name
        assert "only moderators" in reply.text and "may use it" in reply.text
        assert "moderators listed in the config" in reply.text
    assert snapshot(rt) == before


@pytest.mark.parametrize(
    "text",
    [
        "help",
        "topics",
        "list",
        "search troops",
        "status",
        "test troop-deployments troops deployed to the border",
    ],
)
async def test_members_may_read(cmds: Commands, text: str) -> None:
    reply = await run(cmds, text, user=MEMBER)
    assert reply.ok, reply.text


async def test_who_is_a_moderator(cmds: Commands) -> None:
    text = "subscribe troop-deployments"
    assert (await run(cmds, text, user=MOD)).ok  # listed under slack.moderators
    assert (await run(cmds, text, user="UBOSS", platform_admin=True)).ok
    assert (await run(cmds, text, user="7", channel="discord:42", roles=("555",))).ok
    # A Slack moderator's id means nothing on Discord, and a role needs to be the listed one.
    assert not (await run(cmds, text, user=MOD, channel="discord:42")).ok
    assert not (await run(cmds, text, user="7", channel="discord:42", roles=("556",))).ok


async def test_one_channels_rights_do_not_reach_bot_wide_commands(
    rt: Runtime, cmds: Commands
) -> None:
    """Feeds and topics are every channel's: `platform_admin` (this channel's rights) is not
    enough for them; `bot_admin` or a listed id is."""
    wide = [s.name for s in SUBCOMMANDS if s.bot_wide]
    assert wide == ["feeds add", "feeds remove", "topic add", "topic remove"]
    where = {"channel": "discord:42", "user": "7"}
    refused = await run(cmds, "topic add mine troops", platform_admin=True, **where)
    assert not refused.ok and "changes wirewatch for every channel" in refused.text
    assert "mine" not in {t.name for t in list_topics(rt.db)}
    assert (await run(cmds, "subscribe troop-deployments", platform_admin=True, **where)).ok
    assert (await run(cmds, "topic add mine troops", bot_admin=True, **where)).ok
    assert (await run(cmds, "topic remove mine", roles=("555",), **where)).ok  # a listed role
    helped = await run(cmds, "help", platform_admin=True, **where)
    assert "moderator of this channel (not of the whole bot)" in helped.text


# -- subscriptions -----------------------------------------------------------------------


async def test_subscribe_list_unsubscribe(rt: Runtime, cmds: Commands) -> None:
    reply = await run(cmds, "subscribe troop-deployments digest")
    assert reply.ok and "troop-deployments" in reply.text and "digest" in reply.text
    assert [(s.topic, s.mode) for s in subscriptions(rt.db, CHANNEL)] == [
        ("troop-deployments", "digest")
    ]
    assert "`troop-deployments` (digest" in (await run(cmds, "list", user=MEMBER)).text
    assert (await run(cmds, "subscribe troop-deployments INSTANT")).ok
    assert subscriptions(rt.db, CHANNEL)[0].mode == "instant"
    assert (await run(cmds, "unsubscribe troop-deployments")).ok
    assert "no subscriptions" in (await run(cmds, "list")).text
    again = await run(cmds, "unsubscribe troop-deployments")
    assert not again.ok and "not subscribed" in again.text


@pytest.mark.parametrize(
    "text, says",
    [
        ("subscribe no-such-topic", "no topic `no-such-topic`"),
        ("subscribe troop-deployments weekly", "instant or digest"),
        ("subscribe", "needs a topic"),
        ("subscribe a b c", "needs a topic"),
    ],
)
async def test_bad_subscribe_changes_nothing_and_shows_usage(
    rt: Runtime, cmds: Commands, text: str, says: str
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, text)
    assert not reply.ok
    assert says in reply.text
    assert "usage: `/wirewatch subscribe TOPIC [instant|digest] [--only QUERY]" in reply.text
    assert snapshot(rt) == before


async def test_unknown_topic_lists_the_known_ones(cmds: Commands) -> None:
    reply = await run(cmds, "subscribe troops")
    assert "`troop-deployments`" in reply.text and "`from-config`" in reply.text


async def test_mute_and_unmute(rt: Runtime, cmds: Commands) -> None:
    assert "no subscriptions" in (await run(cmds, "mute 1h")).text
    await run(cmds, "subscribe troop-deployments")
    bad = await run(cmds, "mute soon")
    assert (
        not bad.ok
        and "30s, 5m, 24h" in bad.text
        and "usage: `/wirewatch mute DURATION`" in bad.text
    )
    assert not (await run(cmds, "mute 0s")).ok
    bare = await run(cmds, "mute 30")  # 30 minutes? seconds? days? asked, not guessed
    assert not bare.ok and "30 has no unit" in bare.text
    assert not (await run(cmds, "mute 100d")).ok
    assert subscriptions(rt.db, CHANNEL)[0].muted_until is None
    reply = await run(cmds, "mute 2h")
    assert reply.ok and "2h" in reply.text
    until = parse_iso(subscriptions(rt.db, CHANNEL)[0].muted_until or "")
    assert abs((until - datetime.now(UTC)) - timedelta(hours=2)) < timedelta(seconds=30)
    assert "muted until" in (await run(cmds, "list")).text
    assert (await run(cmds, "unmute")).ok
    assert subscriptions(rt.db, CHANNEL)[0].muted_until is None


async def test_unmute_where_nothing_was_muted_says_so(cmds: Commands) -> None:
    """A moderator unmuting a channel that was not muted must not be told alerts "come
    again", as if some had been held back."""
    await run(cmds, "subscribe troop-deployments")
    idle = await run(cmds, "unmute")
    assert idle.ok and idle.text.startswith("this channel was not muted")
    assert "come again" not in idle.text
    await run(cmds, "mute 1h")
    assert (await run(cmds, "unmute")).text == "unmuted: new alerts come again"


async def test_unmute_of_a_paused_channel_that_was_not_muted_does_not_say_unmuted(
    rt: Runtime, cmds: Commands
) -> None:
    """A channel a platform refused (paused) but nobody muted: "unmuted, but..." read as if
    a mute had been holding its alerts back too."""
    from bot.store import pause_channel

    await run(cmds, "subscribe troop-deployments")
    pause_channel(rt.db, CHANNEL, "channel_not_found")
    reply = await run(cmds, "unmute")
    assert reply.ok and reply.text.startswith("this channel was not muted"), reply.text
    assert "paused: channel_not_found" in reply.text
    await run(cmds, "mute 1h")
    assert (await run(cmds, "unmute")).text.startswith("unmuted, but alerts here are still paused")


# -- topics ------------------------------------------------------------------------------


async def test_topic_add_with_a_broken_query_says_where_and_saves_nothing(
    rt: Runtime, cmds: Commands
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, "topic add nk troops AND (")
    assert not reply.ok
    assert "query does not work" in reply.text and "position" in reply.text
    assert "usage: `/wirewatch topic add NAME QUERY`" in reply.text
    unknown = await run(cmds, "topic add nk entity:Narnia")
    assert not unknown.ok and "Narnia" in unknown.text
    assert snapshot(rt) == before


async def test_topic_add_is_used_by_the_matcher_at_once(rt: Runtime, cmds: Commands) -> None:
    def fired(title: str) -> set[str]:
        return {m.topic for m in rt.pipeline.matcher.match(title, "")}

    assert "nk-troops" not in fired("Pyongyang keeps troops home")
    reply = await run(cmds, 'topic add nk-troops `entity:"North Korea" AND troops`')
    assert reply.ok, reply.text
    assert "nk-troops" in fired("Pyongyang keeps troops home")
    assert "MATCH" in (await run(cmds, "test nk-troops Pyongyang keeps troops home")).text
    assert (await run(cmds, "topic add nk-troops entity:Russia AND troops")).text.startswith(
        "changed"
    )
    assert "nk-troops" not in fired("Pyongyang keeps troops home")


@pytest.mark.parametrize(
    "text, says",
    [
        ("topic add troop-deployments troops", "builtin topic"),
        ("topic add from-config troops", "config topic"),
        ("topic add Bad_Name troops", "not a topic name"),
        ("topic add lonely", "needs a query"),
        ("topic add", "needs a NAME and a QUERY"),
        ("topic add everything NOT zzzzzz", "matches an item with no words"),
        ("topic remove", "a topic NAME is needed"),
        ("topic remove troop-deployments", "only topics added from chat"),
        ("topic remove nothing-here", "no topic `nothing-here`"),
        ("topic", "needs add or remove"),
        # A typo after a command: answered with the feed list, `feeds rm X` would let a
        # moderator think X was removed.
        ("feeds rm Test Wire", "unknown `feeds rm`"),
        ("feeds delete Wire", "unknown `feeds delete`"),
        ("feeds ad https://news.example/rss", "unknown `feeds ad`"),
        ("status now", "`status` takes nothing after it"),
        ("unmute everything", "`unmute` takes nothing after it"),
        ("list all", "`list` takes nothing after it"),
    ],
)
async def test_mistakes_are_refused_and_change_nothing(
    rt: Runtime, cmds: Commands, text: str, says: str
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, text)
    assert not reply.ok and says in reply.text
    assert snapshot(rt) == before


async def test_topic_remove_refuses_while_a_channel_uses_it(rt: Runtime, cmds: Commands) -> None:
    await run(cmds, "topic add mine troops")
    await run(cmds, "subscribe mine", channel="slack:C0OTHER")
    refused = await run(cmds, "topic remove mine")
    assert not refused.ok and "slack:C0OTHER" in refused.text
    await run(cmds, "unsubscribe mine", channel="slack:C0OTHER")
    assert (await run(cmds, "topic remove mine")).ok
    assert "mine" not in {t.name for t in list_topics(rt.db)}
    assert "mine" not in {m.topic for m in rt.pipeline.matcher.match("troops", "")}


# -- test --------------------------------------------------------------------------------


async def test_test_explains_matches_and_misses(cmds: Commands) -> None:
    hit = await run(cmds, f"test troop-deployments {NK_TITLE}", user=MEMBER)
    assert hit.ok and hit.text.startswith("MATCH: ")
    miss = await run(cmds, "test troop-deployments Central bank cuts its key rate", user=MEMBER)
    assert miss.ok and miss.text.startswith("no match: ")
    query = await run(cmds, "test `deploy* NEAR/3 warships` US deploys two more warships")
    assert query.text.startswith("MATCH: ")
    word = await run(cmds, "test warships US deploys two more warships")
    assert word.text.startswith("MATCH: ")
    broken = await run(cmds, "test `troops AND (` troops")
    assert not broken.ok and "query does not work" in broken.text
    assert not (await run(cmds, "test troop-deployments")).ok
    assert not (await run(cmds, "test `unclosed troops")).ok


async def test_test_refuses_a_topic_name_that_is_not_one(cmds: Commands) -> None:
    typo = await run(cmds, f"test troop-deployment {NK_TITLE}", user=MEMBER)
    assert not typo.ok and "did you mean troop-deployments?" in typo.text
    quoted = await run(cmds, f'test `"troop-deployment"` {NK_TITLE}', user=MEMBER)
    assert quoted.ok and quoted.text.startswith("no match: ")


async def test_test_fetches_a_page(cmds: Commands, feed_server: FeedServer) -> None:
    page = (
        f"<html><head><title>{NK_TITLE}</title></head><body><article><p>Seoul's spy "
        "agency said on Tuesday that Pyongyang has redeployed its soldiers.</p></article>"
        "</body></html>"
    )
    feed_server.serve("/story.html", page, content_type="text/html; charset=utf-8")
    reply = await run(cmds, f"test troop-deployments {feed_server.url('/story.html')}")
    assert reply.ok and reply.text.startswith("MATCH: ")
    missing = await run(cmds, f"test troop-deployments {feed_server.url('/gone')}")
    assert not missing.ok and "404" in missing.text


# -- feeds -------------------------------------------------------------------------------


async def test_feeds_add_polls_right_away(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    await run(cmds, "subscribe troop-deployments")
    reply = await run(cmds, f"feeds add {feed_server.url('/feed')}")
    assert reply.ok, reply.text
    assert "`Test Wire`" in reply.text  # named after the feed's own title
    assert "2 items stored, 1 alert queued" in reply.text
    assert [(f.name, f.origin) for f in list_feeds(rt.db)] == [("Test Wire", "chat")]
    status = rt.db.execute("SELECT status FROM deliveries").fetchall()
    assert status == [("pending",)]
    listed = await run(cmds, "feeds")
    assert "`Test Wire`" in listed.text and "2 items" in listed.text and ", ok" in listed.text
    again = await run(cmds, f"feeds add {feed_server.url('/feed')} Other")
    assert "already polled" in again.text
    # The NAME typed was not applied: said, not left to look like a rename.
    assert "keeps that name, not `Other`" in again.text
    assert [f.name for f in list_feeds(rt.db)] == ["Test Wire"]
    same = await run(cmds, f"feeds add {feed_server.url('/feed')} Test Wire")
    assert same.text.endswith("is already polled")
    found = await run(cmds, "search troops Russia", user=MEMBER)
    assert NK_TITLE in found.text and "(Test Wire," in found.text
    assert "nothing stored" in (await run(cmds, "search zeppelin")).text
    status_reply = await run(cmds, "status", user=MEMBER)
    assert "1 polled, 0 failing" in status_reply.text
    assert "alerts waiting to be sent: 1 (this channel: 1" in status_reply.text
    assert "grouping by words alone" not in status_reply.text  # every item has its vector


async def test_replies_give_times_as_alerts_do(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    """`search`, `status` and `mute` said "2025-02-27T08:00:00Z" under alerts that say
    "2025-02-27 08:00 UTC" (the console, Slack's fallback): one way of writing a time."""
    feed_server.serve("/feed", NK_FEED)
    assert (await run(cmds, f"feeds add {feed_server.url('/feed')}")).ok
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    found = (await run(cmds, "search troops Russia", user=MEMBER)).text
    assert re.search(rf"\(Test Wire, {stamp}\) http", found), found
    status = (await run(cmds, "status", user=MEMBER)).text
    assert re.search(rf"last poll {stamp}\n", status), status
    await run(cmds, "subscribe troop-deployments")
    muted = (await run(cmds, "mute 2h")).text + (await run(cmds, "list")).text
    assert len(re.findall(rf"muted until {stamp}", muted)) == 2, muted
    assert not re.search(r"\d\dT\d\d:", found + status + muted)


async def test_a_feeds_own_title_as_its_name_meets_the_name_rules(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    """Without a NAME the feed's <title> names it, in every list and as every alert's
    outlet: no backticks (they break the `code spans` it is shown in), no control
    characters, and never a URL (the host stands in)."""
    feed_server.serve("/ticks", rss([("Troops sent", "x")], title="Wire`s\u0007 &#8203;news`"))
    hostile = "Wire` *FAKE* _official_ ~x~ `https://login.example/verify"
    feed_server.serve("/url", rss([("Troops moved", "y")], title=hostile))
    assert (await run(cmds, f"feeds add {feed_server.url('/ticks')}")).ok
    added = await run(cmds, f"feeds add {feed_server.url('/url')}")
    host = feed_server.url("/").split("//", 1)[1].rstrip("/")
    assert added.ok and f"added `{host}`" in added.text
    assert sorted(f.name for f in list_feeds(rt.db)) == sorted(["Wires news", host])


async def test_feeds_add_with_a_name_and_remove(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    assert (await run(cmds, f"feeds add {feed_server.url('/feed')} Seoul Desk")).ok
    assert list_feeds(rt.db)[0].name == "Seoul Desk"
    assert not (await run(cmds, "feeds remove Nowhere")).ok
    removed = await run(cmds, "feeds remove seoul desk")
    assert removed.ok and "stay searchable" in removed.text
    assert "no feeds yet" in (await run(cmds, "feeds")).text
    assert (await run(cmds, f"feeds add {feed_server.url('/feed')}")).ok  # back, same name
    assert [(f.name, f.disabled) for f in list_feeds(rt.db)] == [("Seoul Desk", 0)]


@pytest.mark.parametrize(
    "path, body, ctype, says",
    [
        ("/page", "<html><body>hello</body></html>", "text/html", "not a feed"),
        ("/missing", None, "", "HTTP 404"),
    ],
)
async def test_feeds_add_refuses_what_is_not_a_feed(
    rt: Runtime,
    cmds: Commands,
    feed_server: FeedServer,
    path: str,
    body: str | None,
    ctype: str,
    says: str,
) -> None:
    if body is not None:
        feed_server.serve(path, body, content_type=ctype)
    before = snapshot(rt)
    reply = await run(cmds, f"feeds add {feed_server.url(path)}")
    assert not reply.ok and says in reply.text
    assert "usage: `/wirewatch feeds add URL [NAME]`" in reply.text
    assert snapshot(rt) == before


@pytest.mark.parametrize(
    "url", ["ftp://news.example/feed", "javascript:alert(1)", "http://user:pw@news.example/feed"]
)
async def test_feeds_add_refuses_other_schemes_and_credentials(cmds: Commands, url: str) -> None:
    reply = await run(cmds, f"feeds add {url}")
    assert not reply.ok and "cannot use" in reply.text


async def test_private_addresses_are_refused_unless_the_config_allows(
    tmp_path: Path, connection_counter: ConnectionCounter
) -> None:
    async with open_runtime(make_settings(tmp_path, allow_private=False), {}) as runtime:
        cmds = Commands(runtime)
        for url in (
            connection_counter.url("/feed"),
            "http://localhost/feed",
            "http://2130706433/feed",
        ):
            reply = await run(cmds, f"feeds add {url}")
            assert not reply.ok
            assert "public addresses" in reply.text
            assert "allow_private_addresses: true" in reply.text
        page = await run(cmds, f"test troop-deployments {connection_counter.url('/x')}")
        assert not page.ok and "public addresses" in page.text
        assert list_feeds(runtime.db) == []
    assert connection_counter.accepted == 0


# -- parsing -----------------------------------------------------------------------------


async def test_unknown_commands_point_to_help(cmds: Commands) -> None:
    reply = await run(cmds, "frobnicate now")
    assert not reply.ok and "unknown command `frobnicate`" in reply.text
    assert "/wirewatch help" in reply.text
    assert "did you mean" not in reply.text  # nothing close: no guess


async def test_a_mistyped_command_is_answered_with_the_command_meant(
    rt: Runtime, cmds: Commands
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, "subcribe troop-deployments digest")
    assert not reply.ok and "unknown command `subcribe`" in reply.text
    assert "did you mean `/wirewatch subscribe troop-deployments digest`?" in reply.text
    assert "did you mean `/wirewatch status`?" in (await run(cmds, "stauts")).text
    assert snapshot(rt) == before  # a guess is offered, never run


def test_text_for_builds_what_handle_parses() -> None:
    assert (
        Commands.text_for("subscribe", {"topic": "nk", "mode": "digest"}) == "subscribe nk digest"
    )
    assert Commands.text_for("subscribe", {"topic": "nk"}) == "subscribe nk"
    assert (
        Commands.text_for("feeds add", {"url": "https://a.example/rss", "name": "A B"})
        == "feeds add https://a.example/rss A B"
    )
    assert (
        Commands.text_for("test", {"query": 'entity:"North Korea"', "text": "Pyongyang"})
        == 'test `entity:"North Korea"` Pyongyang'
    )


async def test_typed_test_options_round_trip(cmds: Commands) -> None:
    text = Commands.text_for(
        "test", {"query": 'entity:"North Korea" AND troops', "text": "Pyongyang sends troops"}
    )
    assert (await run(cmds, text)).text.startswith("MATCH: ")


async def test_topic_names_complete_a_prefix(cmds: Commands) -> None:
    assert "troop-deployments" in cmds.topic_names("tro")
    assert cmds.topic_names("zzz") == []
    assert len(cmds.topic_names()) <= 25


@pytest.mark.parametrize(
    "text",
    [
        "feeds add",
        "feeds remove",
        "test `",
        "mute -5m",
        'search "',
        "search ) OR (",
        "subscribe ' OR 1=1 --",
        "topic add X",
        "\x00\x01",
        "feeds add http://[::1",
        "x" * 5000,
        "test troop-deployments http://",
        "unsubscribe a b",
        "topic remove",
        "search",
        "topic add",
        "topic add   ",
        "search troops\x00",
        "search \x00",
    ],
)
async def test_odd_input_gets_an_answer_never_an_exception(
    rt: Runtime, cmds: Commands, text: str
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, text)
    assert reply.text and "went wrong on wirewatch's side" not in reply.text
    assert snapshot(rt) == before


async def test_a_mute_covers_topics_the_channel_subscribes_to_during_it(
    rt: Runtime, cmds: Commands
) -> None:
    assert (await run(cmds, "subscribe troop-deployments")).ok
    assert (await run(cmds, "mute 2h")).ok
    assert (await run(cmds, "subscribe from-config")).ok
    muted = {s.topic: s.muted_until for s in subscriptions(rt.db, CHANNEL)}
    assert muted["from-config"] and muted["from-config"] == muted["troop-deployments"]
    assert (await run(cmds, "unmute")).ok
    assert (await run(cmds, "subscribe from-config digest")).ok  # no mute now: none taken
    assert all(s.muted_until is None for s in subscriptions(rt.db, CHANNEL))


async def test_feed_names_that_would_break_a_listing_are_refused(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    url = feed_server.url("/feed")
    for name, says in [
        ("Line `one`", "without backticks"),
        ("N" * 200, "at most 80 characters"),
        ("https://other.example/rss", "not a URL"),
    ]:
        before = snapshot(rt)
        reply = await run(cmds, f"feeds add {url} {name}")
        assert not reply.ok and says in reply.text, reply.text
        assert snapshot(rt) == before and len(reply.text) < 500


async def test_a_url_fragment_does_not_add_a_feed_twice(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    assert (await run(cmds, f"feeds add {feed_server.url('/feed')}")).ok
    again = await run(cmds, f"feeds add {feed_server.url('/feed')}#latest")
    assert again.ok and "already polled" in again.text
    assert len(list_feeds(rt.db)) == 1


async def test_a_removed_feeds_name_can_be_taken_again(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/a", NK_FEED)
    feed_server.serve("/b", NK_FEED.replace("g0", "b0").replace("g1", "b1"))
    assert (await run(cmds, f"feeds add {feed_server.url('/a')} Desk")).ok
    assert (await run(cmds, "feeds remove Desk")).ok
    assert (await run(cmds, f"feeds add {feed_server.url('/b')} Desk")).ok
    listed = (await run(cmds, "feeds")).text
    assert feed_server.url("/b") in listed and feed_server.url("/a") not in listed
    assert (await run(cmds, "feeds remove Desk")).ok  # the listed one, not the removed one
    assert "no feeds yet" in (await run(cmds, "feeds")).text


async def test_feeds_added_at_once_under_one_name_make_one_feed(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    import asyncio

    for n in range(4):
        feed_server.serve(f"/f{n}", NK_FEED.replace("<guid>g", f"<guid>f{n}g"))
    replies = await asyncio.gather(
        *(run(cmds, f"feeds add {feed_server.url(f'/f{n}')} Same Name") for n in range(4))
    )
    assert sum(r.ok for r in replies) == 1, [r.text for r in replies]
    assert [f.name for f in list_feeds(rt.db)] == ["Same Name"]


async def test_a_url_without_a_scheme_is_told_what_to_add(rt: Runtime, cmds: Commands) -> None:
    before = snapshot(rt)
    reply = await run(cmds, "feeds add news.example/rss")
    assert not reply.ok and "needs http:// or https:// in front" in reply.text
    assert "`https://news.example/rss`" in reply.text
    # A port is no scheme: `news.example:` is not what was mistyped.
    port = await run(cmds, "feeds add news.example:8080/rss")
    assert not port.ok and "`https://news.example:8080/rss`" in port.text, port.text
    # A scheme-relative link, as a page's source has it, has its slashes already.
    relative = await run(cmds, "feeds add //news.example/rss")
    assert not relative.ok and "`https://news.example/rss`" in relative.text, relative.text
    assert snapshot(rt) == before


async def test_a_mistyped_scheme_is_told_the_url_meant(rt: Runtime, cmds: Commands) -> None:
    """`htps://` is a typo, not a private address: the answer names the scheme and the URL
    meant, without the private-address advice for ops."""
    before = snapshot(rt)
    reply = await run(cmds, "feeds add htps://news.example/rss")
    assert not reply.ok and "not `htps:`" in reply.text
    assert "did you mean `https://news.example/rss`?" in reply.text
    assert "allow_private_addresses" not in reply.text
    ftp = await run(cmds, "feeds add ftp://news.example/rss")
    assert not ftp.ok and "http:// or https://, not `ftp:`" in ftp.text
    assert snapshot(rt) == before


async def test_a_huge_argument_is_not_echoed_back_whole(cmds: Commands) -> None:
    for text in ("unsubscribe ", "edits ", "mute ", "feeds remove ", "feedback not-relevant "):
        reply = await run(cmds, text + "x" * 100_000)
        assert not reply.ok and len(reply.text) < 1_000, (text, len(reply.text))


async def test_a_mode_typed_after_a_narrowing_query_is_asked_about(
    rt: Runtime, cmds: Commands
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, "subscribe troop-deployments --only troops digest")
    assert not reply.ok and "the mode or part of the --only query" in reply.text
    assert snapshot(rt) == before
    ok = await run(cmds, "subscribe troop-deployments --only `troops digest`")
    assert ok.ok and "(instant)" in ok.text  # in backticks it is the query's


async def test_feedback_takes_the_ref_as_it_is_shown(cmds: Commands) -> None:
    for text in ("feedback not-relevant ref 424242", "feedback wrong-story #424242"):
        reply = await run(cmds, text)
        assert "does not know alert 424242" in reply.text, reply.text


async def test_a_query_of_exclusions_only_still_says_why_it_matched(cmds: Commands) -> None:
    reply = await run(cmds, "test `NOT troops` the weather is fine")
    assert reply.text.splitlines()[0] == (
        "MATCH: nothing the query excludes is in the text: `NOT troops`"
    )


async def test_test_says_why_not_one_line_per_reason(cmds: Commands) -> None:
    reply = await run(cmds, 'test `entity:"North Korea" AND entity:Russia` Pyongyang said')
    assert reply.text == (
        'no match: `entity:"Russia"` is not in the text, by any of its names\n'
        '- the text has entity North Korea (as "Pyongyang")\n\n'  # a list item ends
        '(tested the query `entity:"North Korea" AND entity:Russia` on "Pyongyang said")'
    )
    typo = await run(cmds, "test `topic:nk-rusia` Pyongyang said")
    assert not typo.ok and "unknown topic 'nk-rusia' (did you mean nk-russia?)" in typo.text
    habit = await run(cmds, "test `troops -drill` troops drill")
    assert not habit.ok and "-drill: use NOT drill to exclude a word" in habit.text


def test_text_for_refuses_options_it_cannot_pass_on_as_typed() -> None:
    """Discord's typed options: `nk troops` as a topic name must not become topic `nk`
    with `troops` in its query; a backtick must not cut a test query short."""
    from bot.errors import CommandError

    with pytest.raises(CommandError, match="one word"):
        Commands.text_for("topic add", {"name": "nk troops", "query": "entity:Russia"})
    with pytest.raises(CommandError, match="backtick"):
        Commands.text_for("test", {"query": "Kim`s troops", "text": "Kim sends troops"})
    with pytest.raises(CommandError, match="one word"):
        Commands.text_for("subscribe", {"topic": "troop deployments"})


# -- replies that say what happened (new-user audit, findings 6 and 10) -----------------


async def test_test_says_what_it_tested(cmds: Commands, feed_server: FeedServer) -> None:
    # Without backticks only the first word is the query: the answer shows it did not test
    # `deploy* troops`, rather than a bare MATCH the moderator takes for the whole query's.
    word = await run(cmds, "test deploy* troops Pyongyang deploys more troops")
    assert word.ok and word.text.splitlines() == [
        'MATCH: title has "deploys"',
        '(tested the query `deploy*` on "troops Pyongyang deploys more troops")',
    ]
    topic = await run(cmds, f"test troop-deployments {NK_TITLE}", user=MEMBER)
    assert topic.text.endswith(f'\n(tested topic `troop-deployments` on "{NK_TITLE}")')
    long = await run(cmds, "test `troops` " + "troops " * 100)
    assert len(long.text.splitlines()[-1]) < 140 and long.text.endswith('…")')
    # Cut at a word's end, not inside one ("…to quell p…").
    title = "Guard troops arrive in the capital on the defence minister's command to quell protests"
    cut = await run(cmds, f"test troop-deployments {title}")
    assert cut.text.endswith(
        """on "Guard troops arrive in the capital on the defence minister's command to quell…")"""
    )
    page_html = f"<html><head><title>{NK_TITLE}</title></head></html>"
    feed_server.serve("/p.html", page_html, content_type="text/html; charset=utf-8")
    page = await run(cmds, f"test troops {feed_server.url('/p.html')}")
    assert f'on the page {feed_server.url("/p.html")}: "{NK_TITLE}' in page.text


@pytest.mark.parametrize(
    "text, word",
    [
        ("test deploy* NEAR/5 troops Pyongyang deploys more troops", "NEAR/5"),
        ("test deploy* near/5 troops Pyongyang deploys more troops", "near/5"),
        ("test troop-deployments AND NOT drill* Germany sends troops", "AND"),
        ("test troops OR soldiers Germany sends troops", "OR"),
        ("test troops NOT drill Germany sends troops", "NOT"),
        ('test troops entity:"North Korea" Pyongyang sends troops', 'entity:"North'),
        ("test troops title:Russia Moscow gets troops", "title:Russia"),
        ("test troops topic:nk-russia Moscow gets troops", "topic:nk-russia"),
        # the habits the query language refuses would test `troops` alone and say MATCH
        ("test troops or soldiers Troops sent to the border", "or"),
        ("test troops -drill Troops sent", "-drill"),
        ("test troops +border Troops sent to the border", "+border"),
    ],
)
async def test_test_refuses_a_query_cut_at_its_first_word(
    cmds: Commands, text: str, word: str
) -> None:
    reply = await run(cmds, text, user=MEMBER)
    assert not reply.ok, reply.text
    query = text.split()[1]
    assert f"only `{query}` would be tested, on a text starting with `{word}`" in reply.text
    fixed = word.upper() if word in ("near/5", "or") else word  # as it will parse
    assert f"like test `{query} {fixed} …` TEXT" in reply.text


async def test_the_echo_of_a_test_cannot_reorder_its_line(cmds: Commands) -> None:
    reply = await run(cmds, "test troops Troops \u202esent north", user=MEMBER)
    assert "\u202e" not in reply.text and 'on "Troops sent north")' in reply.text


async def test_a_text_that_only_looks_like_a_query_is_tested(cmds: Commands) -> None:
    # Backticks say where the query ends; a headline may start with "Not" or "Near".
    for text in (
        "test `deploy*` NEAR/5 troops deploy",
        "test troop-deployments Not a drill: Germany sends 500 troops to Lithuania",
        "test troop-deployments Near the border, troops are massing",
        "test troops Title: troops arrive",
    ):
        reply = await run(cmds, text)
        assert reply.ok and "(tested " in reply.text, text


async def test_a_broken_query_typed_without_backticks_is_told_about_them(cmds: Commands) -> None:
    reply = await run(cmds, "test (troops troops sent")
    assert not reply.ok and "a query of several words goes in backticks" in reply.text
    ticked = await run(cmds, "test `(troops` troops sent")
    assert not ticked.ok and "backticks" not in ticked.text


async def test_feeds_add_with_the_name_first_says_the_url_comes_first(
    rt: Runtime, cmds: Commands
) -> None:
    before = snapshot(rt)
    reply = await run(cmds, "feeds add Wire B https://news.example/rss")
    assert not reply.ok and reply.text.startswith("URL first: `feeds add URL [NAME]`")
    assert "needs http://" not in reply.text
    assert snapshot(rt) == before


async def test_feeds_list_is_feeds_as_on_discord(
    rt: Runtime, cmds: Commands, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    assert (await run(cmds, f"feeds add {feed_server.url('/feed')}")).ok
    listed = await run(cmds, "feeds list")
    assert listed.ok and listed.text == (await run(cmds, "FEEDS List")).text
    assert listed.text.startswith("1 feed:\n- `Test Wire`")
    assert not (await run(cmds, "feeds list", user=MEMBER)).ok  # moderators only, as `feeds`
    extra = await run(cmds, "feeds list now")
    assert not extra.ok and "`feeds list` takes nothing after it, not `now`" in extra.text


async def test_mute_without_subscriptions_says_to_subscribe_first(
    rt: Runtime, cmds: Commands
) -> None:
    reply = await run(cmds, "mute 2h")
    assert not reply.ok and "no subscriptions to mute" in reply.text
    assert "subscribe first" in reply.text and "added while it lasts" in reply.text
    assert subscriptions(rt.db, CHANNEL) == []


async def test_unsubscribe_from_what_the_channel_does_not_follow_says_what_it_follows(
    cmds: Commands,
) -> None:
    none = await run(cmds, "unsubscribe troop-deployments")
    assert not none.ok and none.text.startswith(
        "this channel is not subscribed to `troop-deployments` (it has no subscriptions)"
    )
    await run(cmds, "subscribe from-config")
    other = await run(cmds, "unsubscribe troop-deployments")
    assert "(its subscriptions: `from-config`)" in other.text


async def test_subscribing_again_says_which_filters_it_removed(rt: Runtime, cmds: Commands) -> None:
    narrowed = "subscribe troop-deployments --only `entity:Russia` --except `drill*`"
    assert (await run(cmds, narrowed)).ok
    digest = await run(cmds, "subscribe troop-deployments digest")
    assert digest.ok and digest.text.startswith(
        "this channel now gets `troop-deployments` alerts (digest, was instant); "
        "its --only/--except filters are removed; next digest "
    )
    assert (await run(cmds, narrowed)).ok
    only = await run(cmds, "subscribe troop-deployments --only `entity:Russia`")
    assert only.text.endswith("; its --except filter is removed")
    same = await run(cmds, "subscribe troop-deployments instant --only `entity:Russia`")
    assert "removed" not in same.text
    sub = subscriptions(rt.db, CHANNEL)[0]
    assert (sub.only_query, sub.except_query) == ("entity:Russia", None)


async def test_a_headline_with_backticks_is_quoted_not_set_as_code_in_answers(
    cmds: Commands, feed_server: FeedServer
) -> None:
    """Answers quote stored headlines beside `code` spans of their own: a headline's backticks
    would pair with those (a platform does not escape what it shows as code, and on Discord
    a span that is one whole command is respelled), a bidi override would reverse the rest
    of the line. `search` here; `feedback` and `backtest` quote through the same function."""
    title = "Troops `sent` to the \u202eborder, `/wirewatch feeds remove X` says minister"
    feed_server.serve("/tick", rss([(title, "Soldiers were sent to the border.")]))
    assert (await run(cmds, f"feeds add {feed_server.url('/tick')}")).ok
    found = await run(cmds, "search minister", user=MEMBER)
    shown = "Troops 'sent' to the border, '/wirewatch feeds remove X' says minister"
    assert shown in found.text, found.text
    assert "`" not in found.text and "\u202e" not in found.text


# -- what a moderator is told after a change (the moderator audit) ------------------------


async def test_switching_a_subscription_mode_says_so_and_when_the_digest_comes(
    rt: Runtime, cmds: Commands
) -> None:
    """`(digest)` alone read as a new subscription, and a digest-bound channel was not told
    when it would hear anything; the time is the digest code's own (`next_digest_at`)."""
    from bot.clock import minute_utc, utcnow
    from bot.digest import next_digest_at

    assert (await run(cmds, "subscribe troop-deployments")).text.endswith("alerts (instant)")
    due = {minute_utc(next_digest_at(rt.db, rt.settings.digest_every, utcnow()))}
    digest = await run(cmds, "subscribe troop-deployments digest")
    due.add(minute_utc(next_digest_at(rt.db, rt.settings.digest_every, utcnow())))
    # An hour from now: the minute may turn between the command and the test's own reading.
    assert digest.text in {
        "this channel now gets `troop-deployments` alerts (digest, was instant); "
        f"next digest {d}, then every 1h"
        for d in due
    }, digest.text
    back = await run(cmds, "subscribe troop-deployments instant")
    assert back.text == "this channel now gets `troop-deployments` alerts (instant, was digest)"
    assert (await run(cmds, "subscribe troop-deployments")).text.endswith("alerts (instant)")


async def test_topic_add_with_the_same_query_says_nothing_changed(
    rt: Runtime, cmds: Commands
) -> None:
    assert (await run(cmds, "topic add mine troops NEAR/5 border")).ok
    before = snapshot(rt)
    same = await run(cmds, "topic add mine `troops NEAR/5 border`")
    assert same.ok and same.text.startswith("topic `mine` is unchanged")
    assert "changed topic" not in same.text
    assert snapshot(rt) == before
    assert (await run(cmds, "topic add mine troops")).text.startswith("changed topic `mine`")


async def test_a_mute_over_a_running_one_says_what_it_replaced(rt: Runtime, cmds: Commands) -> None:
    await run(cmds, "subscribe troop-deployments")
    first = await run(cmds, "mute 2h")
    assert ", was until" not in first.text
    was = re.search(r"muted until (.+? UTC)", first.text)
    assert was
    shorter = await run(cmds, "mute 1h")
    assert shorter.ok and f"(1h), was until {was[1]};" in shorter.text


@pytest.mark.parametrize(
    "typed, meant",
    [("2 hours", "2h"), ("2 hrs", "2h"), ("90 minutes", "90m"), ("1 day", "1d")],
)
async def test_a_spelled_out_mute_is_told_the_short_form(
    rt: Runtime, cmds: Commands, typed: str, meant: str
) -> None:
    await run(cmds, "subscribe troop-deployments")
    reply = await run(cmds, f"mute {typed}")
    assert not reply.ok and f"did you mean `{meant}`?" in reply.text
    assert subscriptions(rt.db, CHANNEL)[0].muted_until is None
    assert "did you mean" not in (await run(cmds, "mute 2x")).text
    # A short form out of a mute's range is not offered as what to type.
    too_long = await run(cmds, "mute 100 days")
    assert "did you mean" not in too_long.text and "at most 90d" in too_long.text


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("feedback not relevant 12", "`/wirewatch feedback not-relevant 12`"),
        ("feedback not 12", "`/wirewatch feedback not-relevant 12`"),
        ("feedback wrong 3", "`/wirewatch feedback wrong-story 3`"),
        ("feedback", ""),
    ],
)
async def test_feedback_without_a_kind_gets_the_usage_and_the_kind_meant(
    cmds: Commands, typed: str, meant: str
) -> None:
    reply = await run(cmds, typed, user=MEMBER)
    assert not reply.ok
    assert reply.text.endswith(
        "usage: `/wirewatch feedback not-relevant ALERT`, `/wirewatch feedback wrong-story ALERT`"
    )
    assert (f"did you mean {meant}?" in reply.text) if meant else "did you mean" not in reply.text


async def test_feedback_relevant_is_not_told_to_mark_the_alert_not_relevant(cmds: Commands) -> None:
    """`feedback relevant 12` says the alert is relevant: the kind that drops only its "not"
    is the opposite, and the command offered would record the opposite label."""
    reply = await run(cmds, "feedback relevant 12", user=MEMBER)
    assert not reply.ok and "not-relevant 12" not in reply.text, reply.text
    assert "not `relevant` (there is no such kind: only what is wrong with an alert" in reply.text


async def test_status_without_subscriptions_says_what_to_type(cmds: Commands) -> None:
    reply = await run(cmds, "status", user=MEMBER)
    assert (
        "- this channel: no subscriptions: `/wirewatch subscribe troop-deployments` "
        "(moderators), or `/wirewatch topics` to see the topics"
    ) in reply.text


async def test_topics_clips_long_queries_and_says_where_the_whole_is(
    rt: Runtime, cmds: Commands
) -> None:
    """troop-deployments' query alone is about 2,500 characters: a wall of text in chat."""
    long = "troops AND (" + " OR ".join(f"place{i}" for i in range(80)) + ")"
    assert (await run(cmds, f"topic add mine {long}")).ok
    reply = await run(cmds, "topics", user=MEMBER)
    line = next(x for x in reply.text.splitlines() if x.startswith("- `troop-deployments`"))
    assert len(line) < 800 and "…` (whole: `/wirewatch topics troop-deployments`)" in line
    assert f"`{long}`" in reply.text  # typed in chat, so it fits in chat: shown whole
    assert len(reply.text) < 2500


def test_a_spelled_out_duration_is_told_the_short_form_everywhere_and_still_refused() -> None:
    """The config and the command line read durations through the same function: the hint
    is added to the refusal, nothing more is accepted. Discord's one-word option says it too."""
    from bot.durations import parse_duration

    with pytest.raises(ValueError, match=r"did you mean 1h30m\?"):
        parse_duration("1 hour 30 mins")
    with pytest.raises(ValueError) as plain:
        parse_duration("soon")
    assert "did you mean" not in str(plain.value)
    with pytest.raises(Exception, match=r"did you mean `2h`\?"):
        Commands.text_for("mute", {"duration": "2 hours"})
