"""Digest subscriptions: alerts wait, then go out as one message per channel, once."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackAdapter
from bot.digest import DIGEST_CHARS, send_digests
from bot.errors import DeliveryError
from bot.ingest import store_new_items
from bot.model import MessageRef, Topic
from bot.notice_outbox import deliver_notices
from bot.outbox import deliver_pending
from bot.poll_cycle import poll_once
from bot.redecide import save_topic, subscribe
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import subscriptions
from tests.slackstub import SIGNING_SECRET, TOKEN, SlackStub
from tests.test_outbox import NK, NK2, NOW, RED, Platform, _item, _setup


async def test_digest_channel_gets_one_message_listing_each_story_once(tmp_path):
    db, feed, index = _setup(tmp_path, channels=("chat:I",))
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(
        db,
        feed,
        [
            _item("1", NK, NOW),
            _item("2", NK2, NOW + timedelta(minutes=1)),
            _item("3", RED, NOW + timedelta(minutes=2)),
        ],
        index,
        NOW,
    )
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert {p[0] for p in chat.posted} == {"I"}  # instant channel only; digest waits
    assert await send_digests(db, {"chat": chat}) == 1
    ((_, _, text),) = chat.digests
    lines = text.splitlines()
    assert lines[0].startswith("wirewatch digest") and "2 stories" in lines[0]
    assert len(lines) == 4 and NK in lines[1] and RED in lines[2]
    assert lines[3].startswith("feedback: /wirewatch feedback not-relevant REF")  # what ref is
    assert await send_digests(db, {"chat": chat}) == 0  # nothing twice


async def test_an_instant_subscription_is_not_turned_into_a_digest_line_by_another(tmp_path):
    # One channel follows `t` instantly and `a` in a digest; a story both match was only
    # listed in the next digest because `a` sorts first: which one won went by the name.
    db, feed, index = _setup(tmp_path, channels=("chat:C",))
    subscribe(db, "chat:C", "a", "digest")
    both = _item("1", NK, NOW)
    both = replace(both, matches=(*both.matches, replace(both.matches[0], topic="a")))
    only_a = replace(_item("2", RED, NOW + timedelta(minutes=1)), matches=both.matches[1:])
    store_new_items(db, feed, [both, only_a], index, NOW)
    chat = Platform()
    await deliver_pending(db, {"chat": chat})
    assert [a.title for a in chat.alerts] == [NK]  # at once, as `t` asks
    assert await send_digests(db, {"chat": chat}) == 1
    ((_, _, text),) = chat.digests
    assert RED in text and NK not in text  # the digest keeps what only `a` matched


async def test_a_story_an_earlier_digest_listed_comes_back_as_a_follow_up(tmp_path):
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    chat = Platform()
    assert await send_digests(db, {"chat": chat}) == 1
    later = NOW + timedelta(hours=1)
    store_new_items(db, feed, [_item("2", NK2, later), _item("3", RED, later)], index, later)
    assert await send_digests(db, {"chat": chat}) == 1
    (_, _, first), (_, _, second) = chat.digests
    ref = dict(db.execute("SELECT i.title, d.id FROM deliveries d JOIN items i ON i.id = item_id"))
    assert f"- ref {ref[NK]} · {NK} " in first
    lines = second.splitlines()[1:-1]  # the stories, not the closing line
    follow_up = f"- ref {ref[NK2]} · Follow-up: {NK2} "
    assert [line.startswith(follow_up) for line in lines] == [True, False]
    assert lines[1].startswith(f"- ref {ref[RED]} · {RED} ")  # news, not a follow-up


def _one_waiting(tmp_path):
    """A digest channel with one story waiting."""
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    return db, feed, index


def _statuses(db) -> dict[str, int]:
    return dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())


async def test_failed_digest_post_loses_nothing(tmp_path):
    db, feed, index = _one_waiting(tmp_path)
    chat = Platform()
    chat.fail_with = [DeliveryError("rate limited", retry_after=30.0)]
    assert await send_digests(db, {"chat": chat}) == 0
    assert _statuses(db) == {"digest": 1}  # not marked sent: it waits
    assert await send_digests(db, {"chat": chat}) == 1
    assert len(chat.digests) == 1 and NK in chat.digests[0][2]
    assert _statuses(db) == {"sent": 1}
    assert await send_digests(db, {"chat": chat}) == 0 and len(chat.digests) == 1


async def test_a_digest_whose_answer_was_lost_is_asked_for_not_posted_again(tmp_path):
    db, feed, index = _one_waiting(tmp_path)

    class Lossy(Platform):
        """Posts it, then the answer is lost on the way back."""

        async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
            ref = await super().post_digest(channel, text, key)
            self.remembered[key] = ref
            raise DeliveryError("HTTP 502", maybe_posted=True)

    chat = Lossy()
    assert await send_digests(db, {"chat": chat}) == 0
    store_new_items(db, feed, [_item("2", RED, NOW + timedelta(minutes=5))], index, NOW)
    plain = Platform()
    plain.remembered = chat.remembered  # the same platform, answering normally now
    assert await send_digests(db, {"chat": plain}) == 1
    assert len(chat.digests) == 1 and NK in chat.digests[0][2]  # once, found by its key
    assert len(plain.digests) == 1 and RED in plain.digests[0][2] and NK not in plain.digests[0][2]
    assert _statuses(db) == {"sent": 2}


async def test_a_digest_the_platform_does_not_have_is_posted_after_all(tmp_path):
    db, feed, index = _one_waiting(tmp_path)
    chat = Platform()
    chat.fail_with = [DeliveryError("timeout", maybe_posted=True)]  # but it never arrived
    assert await send_digests(db, {"chat": chat}) == 0
    assert await send_digests(db, {"chat": chat}) == 1
    assert len(chat.digests) == 1 and NK in chat.digests[0][2]
    assert _statuses(db) == {"sent": 1}


async def test_a_long_backlog_goes_out_in_messages_of_a_readable_size(tmp_path):
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")

    # Forty stories of nothing in common but the verb, each headline about 140 characters.
    def word(n: int, j: int) -> str:
        return "".join("bcdfghjklm"[int(c)] for c in f"{n:02d}{j:02d}") + "o"

    items = [
        _item(str(n), "Deploys troops " + " ".join(word(n, j) for j in range(20)), NOW)
        for n in range(40)
    ]
    store_new_items(db, feed, items, index, NOW)
    chat = Platform()
    sent = await send_digests(db, {"chat": chat})
    assert sent == len(chat.digests) >= 2
    assert all(len(text) <= DIGEST_CHARS for _, _, text in chat.digests)
    listed = [line for _, _, text in chat.digests for line in text.splitlines()[1:-1]]
    assert sorted(line.split()[6] for line in listed) == sorted(word(n, 0) for n in range(40))
    assert _statuses(db) == {"sent": 40}


async def test_a_digest_of_markup_heavy_headlines_shows_every_story_it_marks_sent(tmp_path):
    # Escaping doubles `|_*`: measured before escaping, Discord's 4,096-unit description was
    # cut, and stories marked sent were never shown.
    from adapters.discord_render import digest_embed, feed_text

    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")
    # Ten stories of nothing in common but the verb and the markup.
    places = ["".join("bcdfghjklm"[int(c)] for c in f"{n:02d}") + "r" for n in range(10)]
    titles = [
        f"Deploys troops {place} " + " ".join(place + w for w in "aeiouy") + " " + "|_*" * 95
        for place in places
    ]
    store_new_items(db, feed, [_item(str(n), t, NOW) for n, t in enumerate(titles)], index, NOW)
    chat = Platform()
    await send_digests(db, {"chat": chat})
    shown = ""
    for _, key, text in chat.digests:
        embed = digest_embed(text, key)
        assert embed.description == feed_text(text.partition("\n")[2])  # nothing cut
        shown += embed.description
    assert all(place in shown for place in places) and _statuses(db) == {"sent": len(places)}


async def test_a_channel_that_refuses_digests_is_paused_and_keeps_them(tmp_path):
    db, feed, index = _one_waiting(tmp_path)
    chat = Platform()
    chat.fail_with = [DeliveryError("channel_not_found", permanent=True)]
    assert await send_digests(db, {"chat": chat}) == 0
    assert _statuses(db) == {"digest": 1}  # kept for when a moderator resumes it
    (sub,) = subscriptions(db, "chat:D")
    assert sub.paused_reason == "channel_not_found"
    await deliver_notices(db, {"chat": chat})
    assert any("paused alerts to chat:D" in n for n in chat.notices)
    assert await send_digests(db, {"chat": chat}) == 0 and chat.digests == []  # not retried


async def test_the_console_prints_a_digest_once_as_text_or_json(tmp_path):
    """A console digest channel: `wirewatch run` prints the digest where alerts go."""
    import io

    from adapters.console import ConsoleAdapter

    for json_lines in (False, True):
        folder = tmp_path / str(json_lines)
        folder.mkdir()
        db, feed, index = _setup(folder, channels=())
        subscribe(db, "console", "t", "digest")
        store_new_items(db, feed, [_item("1", NK, NOW), _item("2", RED, NOW)], index, NOW)
        out = io.StringIO()
        console = ConsoleAdapter(out, json_lines=json_lines)
        assert await send_digests(db, {"console": console}) == 1
        assert await send_digests(db, {"console": console}) == 0
        printed = out.getvalue()
        if json_lines:
            (line,) = printed.splitlines()
            digest = json.loads(line)
            assert digest["kind"] == "digest" and digest["channel"] == "console"
            assert NK in digest["text"] and RED in digest["text"]
        else:
            assert printed.startswith("== DIGEST\nwirewatch digest · t · 2 stories\n")
            assert NK in printed and RED in printed


async def test_a_digest_overdue_when_the_bot_starts_goes_out_at_once(tmp_path):
    # Counted from each start, a bot restarted more often than `digest_every` (deploys,
    # a crash loop, a laptop that sleeps) would never send one.
    import asyncio

    from bot.clock import iso
    from bot.loop import run_forever
    from bot.startup import open_runtime
    from tests.runtime import make_settings

    db, feed, index = _setup(tmp_path, channels=())
    save_topic(db, Topic("t", "troops", origin="chat"))  # a start holds a gone topic's alerts
    subscribe(db, "chat:D", "t", "digest")
    store_new_items(db, feed, [_item("1", NK, NOW)], index, NOW)
    two_hours_ago = iso(NOW - timedelta(hours=2))
    db.execute("UPDATE deliveries SET created = ?", [two_hours_ago])
    db.close()
    chat = Platform()
    settings = make_settings(tmp_path / "w.db", [], subscriptions=[], digest_every="1h")
    async with open_runtime(settings, {"chat": chat}) as rt:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.5, stop.set)
        await run_forever(rt, stop)
        assert _statuses(rt.db) == {"sent": 1}
    assert len(chat.digests) == 1 and NK in chat.digests[0][2]


NK_REPORTS = [
    (
        "North Korea has sent more troops to Russia, South Korea says",
        "Seoul's spy agency said Pyongyang had dispatched about 3,000 additional troops to Russia.",
    ),
    (
        "North Korea sends more troops to Russia, South Korean officials say",
        "South Korean officials said on Monday North Korea deployed more soldiers to Kursk.",
    ),
    (
        "North Korea sends thousands more troops to Russia - Seoul",
        "Thousands more North Korean troops have arrived in Russia, Seoul's military said.",
    ),
    (
        "More North Korean troops sent to Russia, says South Korea",
        "The new North Korean troops will reinforce Russian units near Kursk, Seoul said.",
    ),
]
LITHUANIA = (
    "Germany sends 1,000 soldiers to Lithuania",
    "Germany will station a brigade of 1,000 soldiers in Lithuania, its defence ministry said.",
)


def _outlet_feed(outlet: str, reports: list[tuple[str, str, datetime]]) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>https://{outlet}.example/{i}</link>"
        f"<guid>{outlet}{i}</guid><description>{d}</description>"
        f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate></item>"
        for i, (t, d, at) in enumerate(reports)
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>'
    return f"{head}{items}</channel></rss>"


async def test_a_sent_digest_is_never_rewritten_as_one_storys_alert(tmp_path, feed_server):
    # A corroboration mark or a later update took the digest message for the story's first
    # message: the digest was rewritten as one story's alert, and the other stories it listed
    # vanished from the channel.
    channel = "C0NEWS"
    start = datetime.now(UTC) - timedelta(minutes=50)
    feed_server.serve("/a", _outlet_feed("a", [(*NK_REPORTS[0], start), (*LITHUANIA, start)]))
    for name in "bcd":
        feed_server.serve(f"/{name}", _outlet_feed(name, []))
    settings = Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "articles": {"fetch": False},
            "feeds": [
                {"name": f"Outlet {n.upper()}", "url": feed_server.url(f"/{n}")} for n in "abcd"
            ],
            "subscriptions": [
                {"topic": "troop-deployments", "channel": f"slack:{channel}", "mode": "digest"}
            ],
        }
    )
    async with SlackStub() as stub:
        stub.add_channel(channel, "news")
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
        adapter = SlackAdapter(client, signing_secret=SIGNING_SECRET, pace=0)
        async with open_runtime(settings, {"slack": adapter}) as rt:
            await poll_once(rt)
            assert await send_digests(rt.db, rt.adapters) == 1
            [digest] = stub.top_level(channel)
            assert "Lithuania" in digest["text"] and "North Korea" in digest["text"]
            # Two more outlets: the North Korea story is corroborated (three outlets).
            for n, name in enumerate("bc", start=1):
                reports = [(*NK_REPORTS[n], start + timedelta(minutes=10 * n))]
                feed_server.serve(f"/{name}", _outlet_feed(name, reports))
            await poll_once(rt)
            assert stub.calls_to("chat.update") == []
            assert stub.top_level(channel)[0]["text"] == digest["text"]
            # The channel turns to instant: the next report is the story's first alert there,
            # not a reply to the digest.
            subscribe(rt.db, f"slack:{channel}", "troop-deployments", "instant")
            feed_server.serve(
                "/d", _outlet_feed("d", [(*NK_REPORTS[3], start + timedelta(minutes=30))])
            )
            await poll_once(rt)
            assert stub.replies(channel, digest["ts"]) == []
            top = stub.top_level(channel)
            assert len(top) == 2 and top[0]["text"] == digest["text"]
            assert "More North Korean troops" in top[1]["text"]
