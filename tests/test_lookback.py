"""An editor looking back: "what did we get on North Korea?", "is the bot alive, and what has
it sent here today?". `search` and `status` through the shared commands, on a real runtime
(SQLite in a temp folder, feeds polled on 127.0.0.1, alerts delivered to the console)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest_asyncio

from bot.clock import iso, utcnow
from bot.commands import Commands, Invocation
from bot.demo.server import serve_demo
from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.runtime import Runtime
from bot.wording import counted
from tests.feedserver import FeedServer
from tests.runtime import Console, console_runtime, make_settings

OTHER = "slack:C0OTHER"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"

PYONGYANG = "Pyongyang sends thousands more troops to Russia's Kursk front"
DRONES = "South Korea says the North flew five drones near Seoul"
ITEMS = [
    (PYONGYANG, "The soldiers left by train, officials in Seoul said on Tuesday."),
    (DRONES, "Jets were scrambled; no damage was reported."),
    ("Marines land in the Philippines for a new rotation", "The soldiers will stay a year."),
    ("Central bank cuts its key rate", "The bank cut rates by a quarter point."),
]
# Twelve stories with the word "convoy", newest first: a story is one line of a search, so
# these must not be one story told twelve times.
CONVOYS = [
    ("Harbour of Lagos reopens after the storm convoy", "Fishing boats returned on Monday."),
    ("Jakarta raises fuel tax; a convoy of lorries protests", "The tax rises by 2 percent."),
    ("Convoy of aid trucks reaches Gaza crossing", "Flour and medicine were unloaded at Rafah."),
    ("Chile wildfire convoy evacuates Valparaiso hillside", "Firefighters from Santiago joined."),
    ("Mongolia herders drive a convoy of cattle through Ulaanbaatar", "A harsh winter."),
    ("Convoy of vintage cars crosses the Alps into Italy", "The rally started in Geneva."),
    ("Canadian trucker convoy returns to Ottawa", "Police closed Wellington Street."),
    ("Peru mining convoy blocked by protesters near Cusco", "Copper shipments stopped."),
    ("Royal convoy passes through Bangkok for the anniversary", "Crowds lined the streets."),
    ("Kenya election convoy attacked near Nairobi", "Two officials were injured."),
    ("Ice road convoy reaches Yellowknife early", "Warm weather shortened the season."),
    ("Polish farmers drive a tractor convoy to Warsaw", "They protest against grain imports."),
]
ITEMS += CONVOYS
CONVOY_TITLES = [t for t, _ in CONVOYS]


def rss(items: list[tuple[str, str]], site: str = "news.example") -> str:
    """The newest first, one every ten minutes from five minutes ago; links on `site`."""
    now = datetime.now(UTC)
    body = "".join(
        f"<item><title>{t}</title><link>https://{site}/{i}</link><guid>g{i}</guid>"
        f"<description>{d}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=5 + 10 * i), usegmt=True)}</pubDate>"
        "</item>"
        for i, (t, d) in enumerate(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Test Wire</title>'
        f"<link>https://news.example/</link>{body}</channel></rss>"
    )


@pytest_asyncio.fixture
async def polled(tmp_path: Path, feed_server: FeedServer) -> AsyncIterator[tuple[Runtime, Console]]:
    """One poll of one feed; its troop-deployments alerts delivered to the console."""
    feed_server.serve("/feed", rss(ITEMS))
    settings = make_settings(
        tmp_path / "w.db",
        [("Test Wire", feed_server.url("/feed"))],
        network={"allow_private_addresses": True},
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        yield rt, console


async def ask(rt: Runtime, text: str, channel: str = "console") -> str:
    reply = await Commands(rt).handle(Invocation(channel.split(":")[0], channel, "U1", text))
    assert reply is not None
    return reply.text


def listed(reply: str) -> list[str]:
    """The titles a search lists, in its order."""
    return [re.sub(r" \([^()]*, \d{4}-.*", "", x[2:]) for x in reply.splitlines() if x[:2] == "- "]


# -- search ------------------------------------------------------------------------------


async def test_an_alias_finds_the_entity_under_any_of_its_names(
    polled: tuple[Runtime, Console],
) -> None:
    """Topics match "DPRK", "Pyongyang" and "North Korean" as North Korea; search found only
    the letters typed, so "DPRK" answered "nothing stored" over a week of North Korea alerts."""
    rt, _ = polled
    for typed in ("DPRK", "north korea", 'entity:"North Korea"', "“North Korea”"):
        found = await ask(rt, f"search {typed}")
        assert listed(found) == [PYONGYANG], (typed, found)
        assert "(North Korea under any of its names)" in found
    # A name is one term: "North" and "Korea" apart in a text are not North Korea.
    assert DRONES not in await ask(rt, "search North Korea")
    # A word that names nothing is still a word.
    assert listed(await ask(rt, "search Korea")) == [DRONES]


async def test_or_between_words_finds_either(polled: tuple[Runtime, Console]) -> None:
    """The help shows `troops OR soldiers` in queries; search looked for the word "or" too."""
    rt, _ = polled
    found = await ask(rt, "search Marines OR Pyongyang")
    assert listed(found) == [PYONGYANG, "Marines land in the Philippines for a new rotation"]
    assert await ask(rt, 'search ") OR ("') == 'nothing stored matches `") OR ("`'


async def test_a_long_answer_says_how_many_and_pages_on(polled: tuple[Runtime, Console]) -> None:
    """Ten results of fourteen looked like all there is, and nothing reached the older four."""
    rt, _ = polled
    first = await ask(rt, "search convoy")
    assert first.splitlines()[0] == "12 stories; 1-10, newest first:"
    assert listed(first) == CONVOY_TITLES[:10]
    assert first.splitlines()[-1] == "older: `/wirewatch search convoy page:2`"
    second = await ask(rt, "search convoy page:2")
    assert second.splitlines()[0] == "12 stories; 11-12, newest first:"
    assert listed(second) == CONVOY_TITLES[10:]
    assert "older:" not in second
    past = await ask(rt, "search convoy page:3")
    assert past == "page 3 of `convoy` is past the last: 12 stories, 2 pages"
    assert (await ask(rt, "search Marines")).splitlines()[0] == "1 story:"


async def test_outlet_narrows_a_search_to_one_outlets_feeds(
    polled: tuple[Runtime, Console], feed_server: FeedServer
) -> None:
    """ "What did Bloomberg send on this": the outlet's name is no word of its items, so
    `search Bloomberg` found nothing; outlet:NAME (any case, or a word of the feed's name)
    takes that feed's items alone, with words or without."""
    rt, _ = polled
    feed_server.serve(
        "/other", rss([("Convoy of Other Wire reaches the port", "Troops.")], "other.example")
    )
    assert "`Other Wire`" in await ask(rt, f"feeds add {feed_server.url('/other')} Other Wire")
    assert len(listed(await ask(rt, "search convoy page:2"))) == 3  # 13: both feeds
    mine = await ask(rt, "search convoy outlet:other")
    assert listed(mine) == ["Convoy of Other Wire reaches the port"]
    assert "(Other Wire, " in mine
    every = await ask(rt, 'search outlet:"test wire"')
    assert every.splitlines()[0] == f"{len(ITEMS)} stories; 1-10, newest first:"
    assert "(Other Wire" not in every
    unknown = await ask(rt, "search troops outlet:Reuters")
    assert unknown.startswith("no feed is called `Reuters`: `/wirewatch feeds` lists them")


async def test_since_keeps_the_recent_items(polled: tuple[Runtime, Console]) -> None:
    """ "What did we get on this last week": since:DURATION leaves out what is older (the
    items are one every ten minutes from five minutes ago)."""
    rt, _ = polled
    found = await ask(rt, "search convoy since:1h")
    assert re.fullmatch(rf"2 stories since {STAMP}, newest first:", found.splitlines()[0])
    assert listed(found) == CONVOY_TITLES[:2]
    assert "older:" not in found
    assert listed(await ask(rt, "search outlet:test since:20m")) == [PYONGYANG, DRONES]
    bad = await ask(rt, "search convoy since:7")
    assert bad.startswith("since:7: 7 has no unit: write 7s, 7m, 7h or 7d")


async def test_a_result_says_what_this_channel_got_of_it(polled: tuple[Runtime, Console]) -> None:
    """ "What did we get on X": the items alerted here, with the ref `feedback` takes, told
    from those that never reached the channel."""
    rt, console = polled
    alerted = {a["title"]: a["delivery_id"] for a in console.alerts()}
    assert PYONGYANG in alerted
    here = await ask(rt, "search DPRK")
    assert f"· alerted here, ref {alerted[PYONGYANG]} https://news.example/0" in here
    assert "alerted here" not in await ask(rt, "search DPRK", OTHER)
    assert "alerted here" not in await ask(rt, "search bank")


async def test_a_search_finds_what_a_mute_kept_from_the_channel(
    polled: tuple[Runtime, Console], feed_server: FeedServer
) -> None:
    """After `mute 2h`, "send me what I missed": the alerts skipped meanwhile are told from
    items the channel never had, so a search finds them."""
    rt, console = polled
    assert (await ask(rt, "mute 2h")).startswith("muted until")
    later = "Germany sends a brigade of troops to Lithuania"
    feed_server.serve(
        "/feed", rss([(later, "The soldiers will be stationed near Vilnius."), *ITEMS])
    )
    await poll_once(rt)
    assert later not in [a["title"] for a in console.alerts()]
    found = await ask(rt, "search Lithuania")
    assert listed(found) == [later]
    assert "· not sent here: the channel was muted" in found


# -- status ------------------------------------------------------------------------------


async def test_status_says_when_polling_has_stopped(polled: tuple[Runtime, Console]) -> None:
    """A bot that answers chat but no longer polls showed "last poll" last night's time,
    which reads as fine at a glance."""
    rt, _ = polled
    assert "POLLING HAS STOPPED" not in await ask(rt, "status")
    due = iso(utcnow() - timedelta(hours=9, minutes=40))
    rt.db.execute("UPDATE feeds SET next_poll = ?", [due])
    said = await ask(rt, "status")
    assert re.search(
        r"\n- POLLING HAS STOPPED: 1 feed not polled when due, the first due 9h4\dm ago", said
    ), said


async def test_status_says_what_this_channel_was_sent_today(
    polled: tuple[Runtime, Console],
) -> None:
    rt, console = polled
    sent = len(console.alerts())
    assert sent
    said = await ask(rt, "status")
    assert re.search(
        rf"\n- sent to this channel in the last 24 hours: {counted(sent, 'alert')}; last sent "
        rf"{STAMP}\n",
        said,
    ), said
    other = await ask(rt, "status", OTHER)
    assert "\n- sent to this channel in the last 24 hours: 0 alerts; nothing sent here yet\n" in (
        other
    )


async def test_status_counts_the_alerts_of_a_day_as_its_week_does(tmp_path: Path) -> None:
    """The demo's feeds: the North Korea story's first alert is marked corroborated when a
    second outlet reports it. Status read "sent ... in the last 24 hours: 5 alerts" above
    "last 7 days ... 4 alerts posted": the day counted the mark as one more alert."""
    async with serve_demo() as feeds:
        settings = make_settings(tmp_path / "w.db", [(f.name, f.url) for f in feeds])
        async with console_runtime(settings) as (rt, console):
            await poll_once(rt)
            kinds = [a["kind"] for a in console.alerts()]
            said = await ask(rt, "status")
    assert "corroborated" in kinds  # the mark went out, as the demo shows it
    own = sum(k in ("new", "update") for k in kinds)
    day = re.search(r"in the last 24 hours: (\d+) alerts?", said)
    week = re.search(r"last 7 days, `[^`]+` \(every channel\): (\d+) alerts? posted", said)
    assert day and week, said
    assert int(day.group(1)) == int(week.group(1)) == own, said


async def test_a_digest_channel_is_told_when_its_next_digest_goes_out(
    polled: tuple[Runtime, Console],
) -> None:
    rt, _ = polled
    channel = "slack:C0DIGEST"
    subscribe(rt.db, channel, "troop-deployments", "digest")
    said = await ask(rt, "status", channel)
    assert re.search(rf"\n- this channel's next digest: {STAMP}, nothing waiting", said), said
