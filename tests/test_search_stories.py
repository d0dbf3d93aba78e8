"""`search` answers one line per story: an editor asking "what did we get on Kursk?" read
five near-identical headlines, one per outlet, for one story. Through the shared commands,
on a real runtime (SQLite in a temp folder, five outlets' feeds polled on 127.0.0.1, the
stories grouped by the real pipeline, alerts delivered to the console)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest_asyncio

from bot.poll_cycle import poll_once
from bot.redecide import subscribe
from bot.runtime import Runtime
from tests.feedserver import FeedServer
from tests.runtime import Console, console_runtime, make_settings
from tests.test_lookback import CONVOYS, ask, listed

DIGEST = "slack:C0DIGEST"
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d"
# The reports' span: its end's date is left out within a day; a run near midnight spans two.
SPAN = rf"(?:{TIME} to \d\d:\d\d UTC|{TIME} UTC to {TIME} UTC)"

# One story, five outlets, ten minutes apart from 50 minutes ago; Yonhap first.
KURSK = [
    ("Yonhap", "North Korea sends thousands more troops to Russia's Kursk front", 50),
    ("AFP", "North Korea sends more troops to Kursk, Seoul says", 40),
    ("Reuters", "North Korean troops head to Russia's Kursk region, Seoul says", 30),
    ("BBC News", "Thousands more North Korean soldiers sent to Kursk", 20),
    ("NHK", "Seoul: North Korea sends more troops to Kursk front", 10),
]
TEXT = "The soldiers left by train for the Kursk front, officials in Seoul said."
# Each outlet's own words: the same text on five sites would be one report republished, one
# outlet as the story's alert counts them (bot.corroboration), and so in its search line.
TEXTS = {
    "Yonhap": TEXT,
    "AFP": "Pyongyang has dispatched several thousand more soldiers to the Kursk region.",
    "Reuters": "South Korea's spy agency said fresh North Korean units had reached Russia.",
    "BBC News": "Seoul believes the new troops will reinforce Russian forces near Kursk.",
    "NHK": "Officials say a new contingent of North Korean soldiers travelled to Kursk.",
    "Kyodo": "A further brigade is said to be heading for the front line in Kursk.",
}


def rss(site: str, items: list[tuple[str, str, float]]) -> str:
    """`items` (title, text, minutes ago) on https://SITE/N."""
    now = datetime.now(UTC)
    body = "".join(
        f"<item><title>{t}</title><link>https://{site}/{i}</link><guid>g{i}</guid>"
        f"<description>{d}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=m), usegmt=True)}</pubDate></item>"
        for i, (t, d, m) in enumerate(items)
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{site}</title>'
    return f"{head}{body}</channel></rss>"


def site(outlet: str) -> str:
    return outlet.lower().replace(" ", "") + ".example"


@pytest_asyncio.fixture
async def wires(
    tmp_path: Path, feed_server: FeedServer
) -> AsyncIterator[tuple[Runtime, Console, FeedServer]]:
    """Five outlets tell the Kursk story; Yonhap also carries twelve convoy stories, one
    every ten minutes from five minutes ago. The console is alerted, DIGEST takes digests."""
    feeds = []
    for outlet, title, ago in KURSK:
        convoys = [(t, d, 5 + 10 * n) for n, (t, d) in enumerate(CONVOYS)]
        items = [(title, TEXTS[outlet], ago)] + (convoys if outlet == "Yonhap" else [])
        feed_server.serve(f"/{site(outlet)}", rss(site(outlet), items))
        feeds.append((outlet, feed_server.url(f"/{site(outlet)}")))
    settings = make_settings(
        tmp_path / "w.db",
        feeds,
        network={"allow_private_addresses": True},
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, console):
        subscribe(rt.db, DIGEST, "troop-deployments", "digest")
        await poll_once(rt)
        yield rt, console, feed_server


async def test_a_story_five_outlets_told_is_one_line(
    wires: tuple[Runtime, Console, FeedServer],
) -> None:
    """Its first headline (the one its alert showed), its outlets, how many reports and
    when, the alert's ref, and its first report's link: once, not five times."""
    rt, console, _ = wires
    alert = console.alerts()[0]
    assert (alert["title"], alert["kind"]) == (KURSK[0][1], "new")
    found = await ask(rt, "search Kursk")
    assert found.splitlines()[0] == "1 story (Kursk under any of its names):"
    assert re.fullmatch(
        rf"- {re.escape(KURSK[0][1])} \(Yonhap, AFP and 3 more; 5 reports, {SPAN}\) "
        rf"· alerted here, ref {alert['delivery_id']} https://yonhap.example/0",
        found.splitlines()[1],
    ), found
    assert len(found.splitlines()) == 2
    # A channel that takes digests reads where its copy is.
    assert "· waiting for this channel's next digest https://" in await ask(
        rt, "search Kursk", DIGEST
    )


async def test_pages_and_the_count_are_of_stories(
    wires: tuple[Runtime, Console, FeedServer],
) -> None:
    """13 stories (17 reports) are 13 lines on 2 pages, and the count says stories; a story
    stands where its newest report with the words puts it (ten minutes ago: second)."""
    rt, _, _ = wires
    first = await ask(rt, "search convoy OR Kursk")
    assert first.splitlines()[0] == "13 stories (Kursk under any of its names); 1-10, newest first:"
    titles = [t for t, _ in CONVOYS]
    assert listed(first) == [titles[0], KURSK[0][1], *titles[1:9]]
    second = await ask(rt, "search convoy OR Kursk page:2")
    assert (
        second.splitlines()[0] == "13 stories (Kursk under any of its names); 11-13, newest first:"
    )
    assert listed(second) == titles[9:]
    past = await ask(rt, "search convoy OR Kursk page:3")
    assert past == (
        "page 3 of `convoy OR Kursk` is past the last: 13 stories (Kursk under any of its "
        "names), 2 pages"
    )
    # One outlet's reports place the story by that outlet's newest: Yonhap's, 50 minutes ago.
    yonhap = listed(await ask(rt, "search outlet:yonhap"))
    assert yonhap.index(KURSK[0][1]) == 5


async def test_a_story_found_by_a_later_report_says_which(
    wires: tuple[Runtime, Console, FeedServer],
) -> None:
    """The line keeps the story's first headline, which may lack the words: the report
    that has them is named, so the line does not look like a wrong answer."""
    rt, _, _ = wires
    found = (await ask(rt, "search Kursk outlet:NHK")).splitlines()[1]
    assert found.startswith(f"- {KURSK[0][1]} (Yonhap, AFP and 3 more; 5 reports, ")
    assert f' · matched in "{KURSK[-1][1]}" (NHK) · alerted here, ref ' in found
    assert "matched in" not in await ask(rt, "search Kursk")


async def test_a_story_says_what_a_mute_kept_back(
    wires: tuple[Runtime, Console, FeedServer],
) -> None:
    """Alerted, then muted while a sixth outlet reported it: the line says both."""
    rt, console, feed_server = wires
    ref = console.alerts()[0]["delivery_id"]
    assert (await ask(rt, "mute 2h")).startswith("muted until")
    late = ("Kyodo", "North Korea sends a further brigade of troops to Kursk front", 2)
    feed_server.serve("/kyodo", rss("kyodo.example", [(late[1], TEXTS["Kyodo"], late[2])]))
    assert "`Kyodo`" in await ask(rt, f"feeds add {feed_server.url('/kyodo')} Kyodo")
    await poll_once(rt)
    found = (await ask(rt, "search Kursk")).splitlines()[1]
    assert "(Yonhap, AFP and 4 more; 6 reports, " in found, found
    assert f"· alerted here, ref {ref}; 1 report skipped while muted https://" in found
