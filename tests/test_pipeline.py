"""One cycle end to end over real HTTP on 127.0.0.1: fetch, parse, match, group, store, alert."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from bot.demo.server import serve_demo
from bot.feed_store import find_feed, list_feeds
from bot.poll_cycle import poll_once
from tests.feedserver import FeedServer
from tests.runtime import console_runtime, make_settings


def _rss(items: list[tuple[str, str, str, datetime]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{guid}</guid>"
        f"<description>{t}.</description><pubDate>{format_datetime(when)}</pubDate></item>"
        for guid, t, link, when in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'
    )


def _story(alerts: list[dict], word: str) -> list[dict]:
    return [a for a in alerts if any(word in s["title"] for s in a["sources"])]


async def test_seed_story_from_three_outlets_is_one_alert_with_two_updates(tmp_path):
    async with serve_demo() as feeds:
        settings = make_settings(tmp_path / "w.db", [(f.name, f.url) for f in feeds])
        async with console_runtime(settings) as (rt, console):
            results, stats = await poll_once(rt)
    assert all(r.ok for r in results), results
    alerts = console.alerts()
    nk = _story(alerts, "Korea")
    nk = [a for a in nk if "troops" in a["title"].lower()]
    # Yonhap, AFP's copy in The Moscow Times and Al Jazeera within the hour: corroborated.
    assert [a["kind"] for a in nk] == ["new", "update", "update", "corroborated"]
    assert nk[-1]["outlets"] == [
        "Yonhap News Agency",
        "via AFP (The Moscow Times)",
        "Al Jazeera",
    ]
    # The third outlet's update is the one that corroborates: it and the mark say so.
    assert [a["corroborated"] for a in nk] == [False, False, True, True]
    assert len({a["story_id"] for a in nk}) == 1
    assert {s["outlet"] for s in nk[-1]["sources"]} == {f.name for f in feeds}
    assert "North Korea" in nk[0]["entities"] and "Russia" in nk[0]["entities"]
    assert nk[0]["summary"] and "Sign up" not in nk[0]["summary"]
    assert nk[0]["published"].endswith("Z")
    news = [a for a in alerts if a["kind"] == "new"]
    assert len(news) == len({a["story_id"] for a in alerts}), "a story was alerted twice"
    titles = " ".join(a["title"] for a in alerts)
    for distractor in ("5G", "BLACKPINK", "ballistic missile", "trial", "OPEC", "channel"):
        assert distractor not in titles


async def test_polls_are_conditional_gets_and_a_304_is_not_parsed(tmp_path, feed_server):
    now = datetime.now(UTC)
    body = _rss([("a", "Britain deploys 500 troops to Estonia", "https://x.example/a", now)])
    modified = format_datetime(now - timedelta(hours=1), usegmt=True)
    feed_server.serve("/rss", body, etag='"v1"', last_modified=modified)
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        [again], stats = await poll_once(rt)
    assert len(console.alerts()) == 1 and stats.sent == 0
    assert again.ok and again.not_modified and again.new_items == 0
    async with console_runtime(settings) as (rt, console):  # the validators survive a restart
        [after_restart], _ = await poll_once(rt)
        # The feed is regenerated with the same items: a full body, parsed, nothing new.
        feed_server.serve("/rss", body, etag='"v2"', last_modified=modified)
        [regenerated], stats = await poll_once(rt)
        [last], _ = await poll_once(rt)
    assert after_restart.not_modified and not regenerated.not_modified and last.not_modified
    assert regenerated.ok and stats.sent == 0 and console.alerts() == []
    sent = [r.headers for r in feed_server.requests_to("/rss")]
    assert "If-None-Match" not in sent[0] and "If-Modified-Since" not in sent[0]
    assert [h.get("If-None-Match") for h in sent[1:]] == ['"v1"', '"v1"', '"v1"', '"v2"']
    assert all(h.get("If-Modified-Since") == modified for h in sent[1:])


async def test_new_feed_does_not_flood_with_old_items(tmp_path, feed_server):
    now = datetime.now(UTC)
    feed_server.serve(
        "/rss",
        _rss(
            [
                (
                    "a",
                    "Britain deploys 500 troops to Estonia",
                    "https://x.example/a",
                    now - timedelta(days=3),
                ),
                (
                    "b",
                    "Germany sends troops to Lithuania",
                    "https://x.example/b",
                    now - timedelta(hours=1),
                ),
            ]
        ),
    )
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        stored = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert stored == 2
    assert [a["title"] for a in console.alerts()] == ["Germany sends troops to Lithuania"]


def _undated(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>https://x.example/{g}</link><guid>{g}</guid>"
        f"<description>{t}.</description></item>"
        for g, t in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'
    )


async def test_a_new_feed_without_dates_does_not_flood_with_its_back_catalogue(
    tmp_path, feed_server
):
    # Undated, every item of a first poll looked "published now": all of them were alerted.
    old = [
        ("a", "Britain deploys 500 troops to Estonia"),
        ("b", "Germany sends troops to Lithuania"),
    ]
    feed_server.serve("/rss", _undated(old))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        assert rt.db.execute("SELECT count(*) FROM items").fetchone()[0] == 2
        assert console.alerts() == []
        feed_server.serve("/rss", _undated([("c", "France sends troops to Romania"), *old]))
        await poll_once(rt)  # the feed was read a moment ago: its new undated item is news
    assert [a["title"] for a in console.alerts()] == ["France sends troops to Romania"]


async def test_what_a_feed_published_while_the_bot_was_stopped_does_not_flood(
    tmp_path, feed_server
):
    now = datetime.now(UTC)
    first = ("a", "Britain deploys 500 troops to Estonia", "https://x.example/a", now)
    feed_server.serve("/rss", _rss([first]))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        assert [a["title"] for a in console.alerts()] == [first[1]]
    # A week off: the feed was last read then, and lists what it published since.
    week_ago = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("UPDATE feeds SET last_success = ?, next_poll = ?", [week_ago, week_ago])
    conn.close()
    piled = [
        (f"p{d}", title, f"https://x.example/p{d}", now - timedelta(days=d))
        for d, title in [
            (6, "Germany sends troops to Lithuania"),
            (2, "Italy sends troops to Latvia"),
        ]
    ]
    fresh = ("f", "France sends troops to Romania", "https://x.example/f", now - timedelta(hours=1))
    feed_server.serve("/rss", _rss([fresh, *piled, first]))
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        assert rt.db.execute("SELECT count(*) FROM items").fetchone()[0] == 4  # all kept
    assert [a["title"] for a in console.alerts()] == [fresh[1]]


async def test_one_bad_feed_never_stops_the_others_and_backs_off(tmp_path, feed_server):
    now = datetime.now(UTC)
    feed_server.serve(
        "/good", _rss([("g", "France deploys troops to Romania", "https://x.example/g", now)])
    )
    feed_server.serve(
        "/broken", "<html><body>Oops</body></html>", status=500, content_type="text/html"
    )
    feed_server.serve("/junk", "<html><body>not a feed</body></html>", content_type="text/html")
    settings = make_settings(
        tmp_path / "w.db",
        [
            ("Broken", feed_server.url("/broken")),
            ("Junk", feed_server.url("/junk")),
            ("Good", feed_server.url("/good")),
        ],
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, console):
        results, _ = await poll_once(rt)
        feeds = {f.name: f for f in list_feeds(rt.db)}
    assert [a["title"] for a in console.alerts()] == ["France deploys troops to Romania"]
    assert {r.feed for r in results if not r.ok} == {"Broken", "Junk"}
    for name in ("Broken", "Junk"):
        assert feeds[name].failures == 1 and feeds[name].last_error
        assert feeds[name].next_poll > feeds["Good"].last_polled
    assert "500" in feeds["Broken"].last_error
    assert feeds["Good"].failures == 0 and feeds["Good"].last_error is None


async def test_moved_feed_keeps_identities_and_does_not_realert(tmp_path, feed_server):
    now = datetime.now(UTC)
    body = _rss(
        [("/news/1", "Japan dispatches destroyers to the Gulf", "https://x.example/1", now)]
    )
    feed_server.serve("/old", body)
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/old"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        feed_server.serve("/old", b"", status=301, headers={"Location": "/new"})
        feed_server.serve("/new", body)
        feed = find_feed(rt.db, "X")
        rt.db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL WHERE id = ?", [feed.id])
        _, stats = await poll_once(rt)
        moved = find_feed(rt.db, "X")
    assert len(console.alerts()) == 1 and stats.sent == 0
    assert moved.url == feed_server.url("/new")


async def test_a_moved_feed_that_answers_304_at_its_new_address_moves_too(tmp_path, feed_server):
    # The same ETag at the new address: the 301 is followed to a 304, and the move still
    # counts (else every poll would take two requests, forever); a 304's new ETag is kept.
    body = _rss([("/n/1", "Japan dispatches destroyers", "https://x.example/1", datetime.now(UTC))])
    feed_server.serve("/old", body, etag='"v1"')
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/old"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        feed_server.redirect("/old", "/new", status=301)
        feed_server.serve("/new", body, etag='"v1"')
        [moved], _ = await poll_once(rt)
        [again], _ = await poll_once(rt)
        feed = find_feed(rt.db, "X")
    assert moved.not_modified and again.not_modified and len(console.alerts()) == 1
    assert feed.url == feed_server.url("/new") and feed.etag == '"v1"'
    assert len(feed_server.requests_to("/old")) == 2  # the first poll, and the one that moved


async def test_a_moved_config_feed_stays_one_feed_when_the_bot_restarts(tmp_path, feed_server):
    # The config still names the old URL: the next start finds the moved feed by it, rather
    # than adding the old URL again and disabling the moved one as "removed from config".
    body = _rss([("/n/1", "Japan dispatches destroyers", "https://x.example/1", datetime.now(UTC))])
    feed_server.serve("/old", body)
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/old"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        feed_server.redirect("/old", "/new", status=301)
        feed_server.serve("/new", body)
        await poll_once(rt)
    async with console_runtime(settings) as (rt, after):
        await poll_once(rt)
        feeds = list_feeds(rt.db)
        stored = rt.db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert [(f.name, f.url, f.disabled) for f in feeds] == [("X", feed_server.url("/new"), 0)]
    assert stored == 1 and len(console.alerts()) == 1 and after.alerts() == []


async def test_a_config_feed_moved_to_another_port_of_its_host_moves(tmp_path, feed_server):
    # Ops' trust is in the host they wrote: a move on that host (another port here; http to
    # https alike) is stored, so later polls ask once, not twice, every time.
    body = _rss([("/n/1", "Japan dispatches destroyers", "https://x.example/1", datetime.now(UTC))])
    async with FeedServer() as moved_to:
        moved_to.serve("/feed", body)
        feed_server.redirect("/old", moved_to.url("/feed"), status=301)
        settings = make_settings(
            tmp_path / "w.db", [("X", feed_server.url("/old"))], articles={"fetch": False}
        )
        async with console_runtime(settings) as (rt, console):
            await poll_once(rt)
            await poll_once(rt)
            feed = find_feed(rt.db, "X")
    assert feed.url == moved_to.url("/feed") and feed.trusted
    assert len(feed_server.requests_to("/old")) == 1 and len(console.alerts()) == 1


async def test_a_config_feed_stored_on_another_host_is_guarded_there(tmp_path, feed_server):
    # A database from before the fetcher kept trust to ops' host may hold a config feed that
    # a redirect moved elsewhere; that host is a third party's, fetched with the address guard.
    # (127.0.0.1 is private, so the guard refuses it: the feed fails and says why.)
    body = _rss([("/n/1", "Japan dispatches destroyers", "https://x.example/1", datetime.now(UTC))])
    feed_server.serve("/feed", body)
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/feed"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        elsewhere = feed_server.url("/feed").replace("127.0.0.1", "localhost")
        rt.db.execute("UPDATE feeds SET url = ? WHERE name = 'X'", [elsewhere])
        rt.db.conn.commit()
        [result], _ = await poll_once(rt)
        feed = find_feed(rt.db, "X")
    assert not feed.trusted and feed_server.requests_to("/feed") == []
    assert console.alerts() == [] and (feed.last_error or "").startswith("refused localhost")


async def test_workers_killed_while_idle_fail_no_feed(tmp_path, feed_server):
    # The OOM killer (or a stray `kill`) takes the parse workers between polls: the pool is
    # broken before the next call comes, and every call to it raised at once, so every
    # feed's every poll failed ("internal error: BrokenProcessPool") until all were disabled.
    import os
    import signal

    from bot import workers

    now = datetime.now(UTC)
    first = ("/n/1", "Japan dispatches destroyers to the Gulf", "https://x.example/1", now)
    feed_server.serve("/rss", _rss([first]))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        pool = workers._pool
        assert pool is not None
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until the pool's manager thread has seen them die
            if pool._broken:
                break
            await asyncio.sleep(0.05)
        second = ("/n/2", "Germany sends troops to Lithuania", "https://x.example/2", now)
        feed_server.serve("/rss", _rss([second, first]))
        rt.db.execute("UPDATE feeds SET next_poll = ?", [now.isoformat()])
        [result], _ = await poll_once(rt)
        feed = find_feed(rt.db, "X")
    assert result.ok and feed.failures == 0, result.error
    assert len(console.alerts()) == 2


async def test_later_outlet_after_restart_joins_the_open_story(tmp_path, feed_server):
    now = datetime.now(UTC)
    feed_server.serve(
        "/a",
        _rss(
            [
                (
                    "a1",
                    "North Korea has sent more troops to Russia, South Korea says",
                    "https://a.example/1",
                    now,
                )
            ]
        ),
    )
    settings = make_settings(
        tmp_path / "w.db", [("A", feed_server.url("/a"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
    feed_server.serve(
        "/b",
        _rss(
            [
                (
                    "b1",
                    "N. Korea sends additional troops to Russia: Seoul spy agency",
                    "https://b.example/1",
                    now,
                )
            ]
        ),
    )
    settings = make_settings(
        tmp_path / "w.db",
        [("A", feed_server.url("/a")), ("B", feed_server.url("/b"))],
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
    (update,) = console.alerts()
    assert update["kind"] == "update"
    assert [s["outlet"] for s in update["sources"]] == ["A", "B"]


def _ships(tmp_path, feed_server, **more):
    """One config feed at /rss and a topic of frigates in harbours, sent to the console."""
    return make_settings(
        tmp_path / "w.db",
        [("X", feed_server.url("/rss"))],
        topics={"ships": {"query": "frigate AND harbour"}},
        subscriptions=[{"topic": "ships", "channel": "console"}],
        **more,
    )


def _article(text: str) -> str:
    paragraphs = "".join(
        f"<p>{text} Paragraph {i} adds more detail for readers.</p>" for i in range(6)
    )
    return f"<html><body><article><h1>Report</h1>{paragraphs}</article></body></html>"


async def test_item_links_of_a_config_feed_pass_the_address_guard(tmp_path, feed_server, caplog):
    """The feed's URL is ops' (trusted); its items' links are whoever writes the feed's."""
    now = datetime.now(UTC)
    feed_server.serve("/rss", _rss([("f", "Frigate in the harbour", feed_server.url("/art"), now)]))
    secret = "The frigate carries the instance's metadata credentials."
    feed_server.serve("/art", _article(secret), content_type="text/html")
    settings = _ships(tmp_path, feed_server)  # a config feed on 127.0.0.1: fetched as written
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
    assert feed_server.requests_to("/art") == []
    assert [a["title"] for a in console.alerts()] == ["Frigate in the harbour"]
    assert "credentials" not in console.alerts()[0]["summary"]
    assert "article.skipped" in caplog.text and "loopback" in caplog.text


async def test_only_candidates_have_their_article_read_and_the_article_can_make_the_match(
    tmp_path, feed_server
):
    now = datetime.now(UTC)
    items = [
        ("f", "Frigate spotted offshore", feed_server.url("/art/f"), now),
        ("w", "Mild weather expected", feed_server.url("/art/w"), now),
        ("c", "Harbour festival opens", feed_server.url("/art/c"), now),
    ]
    feed_server.serve("/rss", _rss(items))
    feed_server.serve(
        "/art/f", _article("The frigate docked in the harbour at dawn."), content_type="text/html"
    )
    feed_server.serve(
        "/art/w", _article("Sunny with a frigate and a harbour."), content_type="text/html"
    )
    feed_server.serve(
        "/art/c", _article("Bands played at the festival all night."), content_type="text/html"
    )
    # The articles are on 127.0.0.1: private addresses allowed.
    settings = _ships(tmp_path, feed_server, network={"allow_private_addresses": True})
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
    # Feed text alone matches nothing; the article of the first item does.
    assert [a["title"] for a in console.alerts()] == ["Frigate spotted offshore"]
    # A page is only fetched for items that could match: "weather" has no topic term.
    assert len(feed_server.requests_to("/art/f")) == 1
    assert len(feed_server.requests_to("/art/c")) == 1
    assert feed_server.requests_to("/art/w") == []


async def test_articles_are_read_in_a_worker_and_trafilatura_never_loads_in_the_bot(
    tmp_path, feed_server
):
    """Extracting a page's text (trafilatura, about 7 MB; seconds on a hostile page) runs
    in a worker process: `wirewatch poll --once` alerts with the article's words
    and its own process never imports trafilatura."""
    now = datetime.now(UTC)
    feed_server.serve("/rss", _rss([("f", "Frigate spotted offshore", feed_server.url("/a"), now)]))
    feed_server.serve(
        "/a", _article("The frigate docked in the harbour at dawn."), content_type="text/html"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\nnetwork: {{allow_private_addresses: true}}\n"
        f"feeds:\n  - {{name: X, url: '{feed_server.url('/rss')}'}}\n"
        "topics:\n  ships: {query: frigate AND harbour}\n"
        "subscriptions:\n  - {topic: ships, channel: console}\n",
        encoding="utf-8",
    )
    code = (
        "import sys; from bot.cli import main; rc = main(['poll', '--once', '--config', "
        f"{str(config)!r}, '--json']); print('TRAFILATURA', 'trafilatura' in sys.modules); "
        "sys.exit(rc)"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [alert] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert alert["title"] == "Frigate spotted offshore"  # the article's words made the match
    assert "docked in the harbour" in alert["summary"]
    assert "TRAFILATURA False" in done.stdout


async def test_a_feed_that_mints_new_guids_every_poll_does_not_repeat_its_items(
    tmp_path, feed_server
):
    now = datetime.now(UTC)
    link = "https://x.example/a"
    feed_server.serve("/rss", _rss([("guid-1", "Germany sends troops to Lithuania", link, now)]))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        feed_server.serve(
            "/rss",
            _rss(
                [
                    ("guid-2", "Germany sends troops to Lithuania", link, now),
                    ("guid-3", "Poland sends troops to Lithuania", "https://x.example/b", now),
                ]
            ),
        )
        rt.db.execute("UPDATE feeds SET next_poll = '2000-01-01T00:00:00Z'")
        await poll_once(rt)
        titles = [r[0] for r in rt.db.execute("SELECT title FROM items ORDER BY id")]
    assert titles == ["Germany sends troops to Lithuania", "Poland sends troops to Lithuania"]


async def test_an_article_moved_to_a_new_link_and_guid_is_not_news_again(tmp_path, feed_server):
    # A CMS re-slug: same headline and summary, new link, new guid. It was posted again.
    now = datetime.now(UTC)
    title = "Germany sends troops to Lithuania"
    feed_server.serve("/rss", _rss([("g1", title, "https://x.example/germany-sends", now)]))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        moved = ("g2", title, "https://x.example/germany-sends-troops-1", now)
        briefing = ("g3", "Poland sends troops to Lithuania", "https://x.example/poland", now)
        feed_server.serve("/rss", _rss([moved, briefing]))
        await poll_once(rt)
    assert [a["title"] for a in console.alerts()] == [title, briefing[1]]


async def test_a_bare_headline_repeated_under_a_new_link_is_a_new_item(tmp_path, feed_server):
    # With no summary, the words are too few to say it is the same article.
    def feed(n: int) -> str:
        return (
            "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><item>"
            f"<title>Daily defence briefing</title><link>https://x.example/b{n}</link>"
            f"<guid>b{n}</guid><pubDate>{format_datetime(datetime.now(UTC))}</pubDate>"
            "</item></channel></rss>"
        )

    feed_server.serve("/rss", feed(1))
    settings = make_settings(
        tmp_path / "w.db", [("X", feed_server.url("/rss"))], articles={"fetch": False}
    )
    async with console_runtime(settings) as (rt, _):
        await poll_once(rt)
        feed_server.serve("/rss", feed(2))
        await poll_once(rt)
        assert rt.db.execute("SELECT count(*) FROM items").fetchone()[0] == 2


async def test_one_article_in_two_feeds_of_an_outlet_is_one_alert(tmp_path, feed_server):
    now = datetime.now(UTC)
    link = "https://news.example/world/estonia-troops"
    title = "Britain deploys 900 troops to Estonia as NATO reinforces its eastern flank"
    feed_server.serve("/world", _rss([("w1", title, link, now - timedelta(minutes=5))]))
    feed_server.serve("/europe", _rss([("e7", title, link + "?utm_source=rss", now)]))
    settings = make_settings(
        tmp_path / "w.db",
        [("World", feed_server.url("/world")), ("Europe", feed_server.url("/europe"))],
        articles={"fetch": False},
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        rows = list(rt.db.query("SELECT story_id FROM items"))
    assert [a["kind"] for a in console.alerts()] == ["new"]
    assert len(rows) == 2 and len({r["story_id"] for r in rows}) == 1  # both kept, one story


async def test_the_earliest_published_report_leads_whichever_feed_answers_first(
    tmp_path, feed_server
):
    from aiohttp import web

    now = datetime.now(UTC)
    late = "North Korea has sent more troops to Russia, South Korea says"
    early = "N. Korea sends additional troops to Russia: Seoul spy agency"
    feed_server.serve(
        "/fast", _rss([("f1", late, "https://a.example/f1", now - timedelta(minutes=5))])
    )
    slow_body = _rss([("s1", early, "https://b.example/s1", now - timedelta(minutes=50))])

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)  # this outlet's server answers last
        return web.Response(text=slow_body, content_type="application/rss+xml")

    feed_server.handle("/slow", slow)
    runs = []
    for n in range(2):
        settings = make_settings(
            tmp_path / f"w{n}.db",
            [("Fast", feed_server.url("/fast")), ("Slow", feed_server.url("/slow"))],
            articles={"fetch": False},
        )
        async with console_runtime(settings) as (rt, console):
            await poll_once(rt)
        runs.append([(a["kind"], a["title"]) for a in console.alerts()])
    assert runs[0] == [("new", early), ("update", late)]
    assert runs[1] == runs[0]  # the same input, the same alerts


async def test_reports_dated_ahead_of_the_clock_lead_by_feed_not_by_answer_order(
    tmp_path, feed_server
):
    # Dated ahead (a wrong time zone), both reports take the poll's time: the tie breaks on
    # the feed, as documented, not on which server answered first.
    from aiohttp import web

    ahead = datetime.now(UTC) + timedelta(hours=3)
    alpha = "North Korea has sent more troops to Russia, South Korea says"
    bravo = "North Korea sends more troops to Russia, South Korean officials say"
    bodies = {
        "/a": _rss([("a1", alpha, "https://a.example/1", ahead)]),
        "/b": _rss([("b1", bravo, "https://b.example/1", ahead)]),
    }
    runs = []
    for n, slow_path in enumerate(("/a", "/b")):

        def answer(path: str, delay: float):
            async def handler(request: web.Request) -> web.Response:
                await asyncio.sleep(delay)
                return web.Response(text=bodies[path], content_type="application/rss+xml")

            return handler

        for path in bodies:
            feed_server.handle(path, answer(path, 0.6 if path == slow_path else 0.0))
        settings = make_settings(
            tmp_path / f"w{n}.db",
            [("Alpha", feed_server.url("/a")), ("Bravo", feed_server.url("/b"))],
            articles={"fetch": False},
        )
        async with console_runtime(settings) as (rt, console):
            await poll_once(rt)
        runs.append([(a["kind"], a["title"]) for a in console.alerts()])
    assert runs[0] == [("new", alpha), ("update", bravo)]
    assert runs[1] == runs[0]


async def test_one_item_two_topics_one_channel_is_one_alert_naming_both(tmp_path, feed_server):
    now = datetime.now(UTC)
    title = "Germany sends 800 troops to Lithuania as NATO bolsters its eastern flank"
    feed_server.serve("/rss", _rss([("g1", title, "https://x.example/g1", now)]))
    settings = make_settings(
        tmp_path / "w.db",
        [("X", feed_server.url("/rss"))],
        articles={"fetch": False},
        topics={"baltic-troops": {"query": "troops AND (Lithuania OR Latvia OR Estonia)"}},
        subscriptions=[
            {"topic": "troop-deployments", "channel": "console"},
            {"topic": "baltic-troops", "channel": "console"},
        ],
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
    [alert] = console.alerts()  # one message for the channel
    assert alert["topic"] in ("troop-deployments", "baltic-troops")
    assert sorted(alert["topics"]) == ["baltic-troops", "troop-deployments"]
    assert alert["topics"][0] == alert["topic"]


async def test_a_wave_hands_its_alerts_over_at_once_while_a_slow_feed_is_still_answering(
    tmp_path, feed_server
):
    """The running bot sends what a wave queued right away (`Pipeline.on_queued`): one slow
    outlet of a poll of many never holds the alerts of the others back."""
    from aiohttp import web

    from bot.feed_store import active_feeds
    from bot.pipeline import poll_many

    now = datetime.now(UTC)
    title = "Poland deploys 2,000 troops to the Belarus border"
    feed_server.serve("/fast", _rss([("f1", title, "https://a.example/f1", now)]))
    answered = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        # Past the wave's grace (2 s), within the 5 s it was: a grace back at 5 s fails this
        # test, as alerts handed over at the poll's end do.
        await asyncio.sleep(4)
        answered.set()
        return web.Response(text=_rss([]), content_type="application/rss+xml")

    feed_server.handle("/slow", slow)
    settings = make_settings(
        tmp_path / "w.db",
        [("Fast", feed_server.url("/fast")), ("Slow", feed_server.url("/slow"))],
        articles={"fetch": False},
    )
    calls: list[tuple[int, bool]] = []
    async with console_runtime(settings) as (rt, console):
        pending = "SELECT count(*) FROM deliveries WHERE status = 'pending'"
        rt.pipeline.on_queued = lambda: calls.append(
            (rt.db.execute(pending).fetchone()[0], answered.is_set())
        )
        await poll_many(rt.pipeline, active_feeds(rt.db))
        fast = [f for f in active_feeds(rt.db) if f.name == "Fast"]
        await poll_many(rt.pipeline, fast)  # nothing new this time: no call
    assert calls == [(1, False)], "the alert was handed over once, before the slow feed answered"


async def test_grouping_reads_the_feeds_names_not_the_article_pages(tmp_path, feed_server):
    """An article page's names (its dateline's capital, a country named in passing) are shown
    in the alert, but the story index files the item by its feed text's names, as the join
    model learned them: one outlet's pages all open with the same dateline."""
    now = datetime.now(UTC)
    feed_server.serve(
        "/rss", _rss([("f", "Frigate docks in the harbour", feed_server.url("/art"), now)])
    )
    page = "SEOUL -- The frigate docked in the harbour as North Korea looked on."
    feed_server.serve("/art", _article(page), content_type="text/html")
    # The article is on 127.0.0.1: private addresses allowed.
    settings = _ships(tmp_path, feed_server, network={"allow_private_addresses": True})
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        (entities, names), *_ = rt.db.execute(
            "SELECT entities, names FROM items JOIN story_terms ON item_id = items.id"
        ).fetchall()
    assert len(feed_server.requests_to("/art")) == 1
    assert "North Korea" in console.alerts()[0]["entities"]
    assert "North Korea" in json.loads(entities)
    assert "dock" in names.split("\n")  # the feed's words are there...
    assert not [n for n in names.split("\n") if n.startswith("e:")]  # ...and no page's name


async def test_a_report_matching_only_another_followed_topic_at_its_update_bar_is_an_update(
    tmp_path, feed_server, monkeypatch
):
    """The story came to the channel through topic `a`; a later report matches only `b`, which
    the channel follows too, and only at b's relaxed (update) bar: it belongs in the story's
    thread (it was dropped: only the topic of the channel's first alert was looked at)."""
    # b's relevance model: every report scores 0.45, between its update bar and its alert bar.
    toy = {"weights": {"bias": -0.2}, "threshold": 0.5, "relaxed": 0.3}
    (tmp_path / "toy.json").write_text(json.dumps(toy), encoding="utf-8")
    monkeypatch.setattr("bot.relevance.model.HERE", tmp_path)
    now = datetime.now(UTC)
    first = ("a1", "North Korea sends more troops to Russia, Seoul says", "https://a.example/1")
    later = ("a2", "North Korea sent more troops to Russia, spy agency says", "https://a.example/2")
    feed_server.serve("/rss", _rss([(*first, now - timedelta(minutes=9))]))
    settings = make_settings(
        tmp_path / "w.db",
        [("A", feed_server.url("/rss"))],
        articles={"fetch": False},
        topics={
            "a": {"query": "troops AND Seoul"},
            "b": {"query": "troops", "relevance": "toy"},
        },
        subscriptions=[
            {"topic": "a", "channel": "console"},
            {"topic": "b", "channel": "console"},
        ],
    )
    async with console_runtime(settings) as (rt, console):
        await poll_once(rt)
        feed_server.serve(
            "/rss",
            _rss([(*later, now - timedelta(minutes=2)), (*first, now - timedelta(minutes=9))]),
        )
        await poll_once(rt)
        threads = rt.db.execute(
            "SELECT kind, thread_id FROM deliveries WHERE kind IN ('new', 'update') ORDER BY id"
        ).fetchall()
        relaxed = rt.db.execute("SELECT topic FROM relaxed_matches").fetchall()
    stories = {a["story_id"] for a in console.alerts()}
    assert [(a["kind"], a["topic"], a["title"]) for a in console.alerts()] == [
        ("new", "a", first[1]),
        ("update", "b", later[1]),  # through b, the topic it matched
    ]
    assert len(stories) == 1 and [tuple(r) for r in relaxed] == [("b",), ("b",)]
    (_, none), (_, parent) = threads
    assert none is None and parent is not None  # posted in the first alert's thread
