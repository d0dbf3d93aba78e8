"""`/wirewatch status` counts what editors marked, not their clicks: three people marking
two alerts read "2 alerts marked not relevant (by 3 people)", never "3 marked", which a
moderator reads as three alerts. Real SQLite, the shared command path (`Commands.handle`)."""

from __future__ import annotations

from pathlib import Path

from bot.commands import Commands, Invocation
from bot.digest import send_digests
from bot.feed_store import add_feed
from bot.feedback_export import labelled_items
from bot.ingest import store_new_items
from bot.outbox import deliver_pending
from bot.redecide import subscribe
from bot.startup import open_runtime
from bot.stories import StoryIndex
from tests.test_commands import make_settings
from tests.test_digest_feedback import _delivery
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _item

TOPIC = "from-config"  # the topic make_settings configures
NEWS, DIGEST = "chat:NEWS", "chat:DIGEST"  # one channel gets alerts, the other a digest
BALTIC = "Germany stations a brigade in Lithuania for good"


async def _say(cmds: Commands, text: str, user: str, channel: str = NEWS) -> str:
    return (await cmds.handle(Invocation("chat", channel, user, text))).text


def _week_line(status: str) -> str:
    (line,) = [x for x in status.splitlines() if x.startswith(f"- last 7 days, `{TOPIC}`")]
    return line


async def test_status_counts_marked_alerts_once_and_names_the_people_when_they_differ(
    tmp_path: Path,
) -> None:
    async with open_runtime(make_settings(tmp_path), {}) as rt:
        db, cmds = rt.db, Commands(rt)
        feed = add_feed(db, "https://x.example/rss", "X", origin="config")
        subscribe(db, NEWS, TOPIC, "instant")
        subscribe(db, DIGEST, TOPIC, "digest")
        # NK2 joins NK's story (an update in its thread); RED and BALTIC are stories alone.
        titles = (NK, NK2, RED, BALTIC)
        items = [_item(str(n), t, NOW, topic=TOPIC) for n, t in enumerate(titles)]
        store_new_items(db, feed, items, StoryIndex(), NOW)
        chat = Platform()
        await deliver_pending(db, {"chat": chat})
        assert await send_digests(db, {"chat": chat}) == 1
        nk, nk2, red = (_delivery(db, NEWS, t) for t in (NK, NK2, RED))

        # Two people mark one alert, a third person another; one of them clicks twice.
        for user, alert in (("U1", nk), ("U2", nk), ("U2", nk), ("U3", red)):
            said = await _say(cmds, f"feedback not-relevant {alert}", user)
            assert "Recorded" in said or "already marked" in said
        assert "Recorded" in await _say(cmds, f"feedback wrong-story {nk2}", "U1")
        line = _week_line(await _say(cmds, "status", "U9"))
        assert "2 alerts marked not relevant (by 3 people)" in line, line
        assert "1 alert marked wrong story" in line and "wrong story (by" not in line

        # A story's line in the digest, marked in the digest's channel: a line, not an alert.
        baltic = _delivery(db, DIGEST, BALTIC)
        assert "Recorded" in await _say(cmds, f"feedback not-relevant {baltic}", "U4", DIGEST)
        line = _week_line(await _say(cmds, "status", "U9"))
        assert "2 alerts and 1 digest line marked not relevant (by 4 people)" in line, line

        # The export stays one line per item: three items, whoever and however often marked.
        lines = labelled_items(db, TOPIC)
        assert sorted(x["title"] for x in lines if x["label"] == "other") == [BALTIC, NK, RED]
