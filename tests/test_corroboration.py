"""Which outlets carrying a story are independent, and when it is corroborated
(bot/corroboration.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import iso, utcnow
from bot.corroboration import Report, independent_outlets, reached, wire_of
from bot.corroboration_store import corroboration_of, story_reports
from bot.db import open_database

T0 = datetime(2025, 2, 27, 9, 0, tzinfo=UTC)
COPY = (
    "Russia has deployed additional air defence units to the Belarusian border after a "
    "series of drone incursions, the defence ministry said on Thursday."
)


def report(outlet: str, minutes: int = 0, title: str = "", summary: str = "", wire=None):
    return Report(outlet, title, summary, wire, T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("author", "text", "wire"),
    [
        (None, "SEOUL, Dec. 2 (Yonhap) -- North Korea has sent more troops", "Yonhap"),
        (None, "WASHINGTON (Reuters) - The Pentagon said on Monday", "Reuters"),
        (None, "KYIV, Feb 27 (Reuters) — Ukraine said", "Reuters"),
        (None, "AFP - France will send troops", "AFP"),
        (None, "PARIS (AFP/Getty) - France will send troops", "AFP"),
        (None, "BEIJING, March 3 (Xinhua) -- China's defence ministry", "Xinhua"),
        ("AFP", "North Korea has sent additional soldiers to Russia", "AFP"),
        ("By Reuters Staff", "Text", "Reuters"),
        ("The Associated Press", "Text", "AP"),
        (None, "Troops were sent, Reuters reported, citing sources (Reuters) later said", None),
        (None, "Japan and the Philippines sign a troop pact", None),
        ("Maria Tass", "Text", None),
        (None, "The Associated Press (AP) reported that troops left", None),
    ],
)
def test_a_wire_is_known_by_its_dateline_or_byline(author, text, wire) -> None:
    assert wire_of(author, text) == wire


def test_a_dateline_is_only_looked_for_at_the_start() -> None:
    late = "x " * 200 + "SEOUL, Dec. 2 (Yonhap) -- troops"
    assert wire_of(None, late) is None
    assert wire_of(None, "", "SEOUL, Dec. 2 (Yonhap) -- troops") == "Yonhap"  # article text


def test_wire_copy_on_several_sites_counts_once_as_via_the_agency() -> None:
    outlets = independent_outlets(
        [
            report("Yahoo News", 5, "Russia moves air defences", COPY, "Reuters"),
            report("CNA", 9, "Russia deploys air defences to Belarus border", COPY, "Reuters"),
            report("Al Jazeera", 20, "Russia sends air defence units", "Its own reporting."),
        ]
    )
    assert [o.label for o in outlets] == ["via Reuters (Yahoo News, CNA)", "Al Jazeera"]
    assert [o.first for o in outlets] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)]


def test_the_agency_own_feed_is_the_agency() -> None:
    outlets = independent_outlets(
        [
            report("Yonhap News Agency", 0, "N. Korea sends troops", "(Yonhap) -- x", "Yonhap"),
            report("Korea Herald", 15, "NK sends troops", "(Yonhap) -- y", "Yonhap"),
            report("The Moscow Times", 30, "North Korea sends troops", "z", "AFP"),
        ]
    )
    assert [o.label for o in outlets] == [
        "Yonhap News Agency (also Korea Herald)",
        "via AFP (The Moscow Times)",
    ]


def test_near_identical_text_without_a_byline_is_one_report() -> None:
    outlets = independent_outlets(
        [
            report("The Moscow Times", 0, "Russia moves air defences to Belarus", COPY),
            report("Yahoo News", 12, "Air defence units sent to Belarus border", COPY[:-10]),
            report("Meduza", 30, "Drones prompt a new deployment", "Different words, own story."),
        ]
    )
    assert [o.label for o in outlets] == ["The Moscow Times (also Yahoo News)", "Meduza"]


def test_independent_reports_of_one_event_stay_apart() -> None:
    outlets = independent_outlets(
        [
            report(
                "Yonhap",
                0,
                "(LEAD) N. Korea has sent additional troops to Russia: NIS",
                "North Korea has sent additional troops to Russia and redeployed its soldiers "
                "to the front line in Russia's Kursk border region after a lull of about a "
                "month, South Korea's spy agency said.",
            ),
            report(
                "Al Jazeera",
                40,
                "North Korea has sent more troops to Russia, South Korea says",
                "Seoul's intelligence agency says Pyongyang redeployed troops to the front in "
                "Russia's Kursk region after suffering heavy casualties.",
            ),
        ]
    )
    assert len(outlets) == 2


def test_one_outlet_reporting_twice_is_one_outlet() -> None:
    outlets = independent_outlets([report("BBC", 0, "a"), report("BBC", 50, "b")])
    assert [o.label for o in outlets] == ["BBC"]


def test_corroborated_when_enough_outlets_report_within_the_window() -> None:
    outlets = independent_outlets(
        [report("A", 0), report("B", 45), report("C", 100), report("D", 130)]
    )
    assert not reached(outlets, 3, timedelta(minutes=60))  # 0, 45, 100: 100 minutes
    assert reached(outlets, 3, timedelta(minutes=90))  # 45, 100, 130: 85 minutes
    assert reached(outlets, 2, timedelta(minutes=60))
    assert not reached(outlets, 5, timedelta(days=1))


def test_a_long_story_names_the_same_outlets_as_reading_every_report(tmp_path) -> None:
    """Past the first reports, only those that bring a new outlet or agency are read; the
    outlets named are those of every report, a late newcomer and a late wire copy included."""
    path = tmp_path / "w.db"
    open_database(path).close()
    now = utcnow()
    conn = sqlite3.connect(path, isolation_level=None)
    feeds = ["Flood", "Late", "Copy"]
    for n, name in enumerate(feeds, 1):
        conn.execute(
            "INSERT INTO feeds (id, url, name, origin, next_poll, created) "
            "VALUES (?, ?, ?, 'config', ?, ?)",
            [n, f"https://{name.lower()}.example/rss", name, iso(now), iso(now)],
        )
    conn.execute("INSERT INTO stories (id, title, first_seen, last_seen) VALUES (1, 's', ?, ?)",
                 [iso(now), iso(now)])  # fmt: skip
    plan = [(1, None)] * 150 + [(2, None), (1, None), (3, "AFP"), (1, "AFP")]
    for n, (feed, wire) in enumerate(plan, 1):
        when = iso(now - timedelta(minutes=len(plan) - n))
        conn.execute(
            "INSERT INTO items (id, feed_id, identity, url, title, summary, entities, "
            "published, first_seen, story_id, wire) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, 1, ?)",
            [n, feed, f"g{n}", f"https://x.example/{n}", f"Report number {n} on the border",
             f"Soldiers moved, report {n} says.", when, when, wire],
        )  # fmt: skip
        conn.execute("INSERT INTO matches (item_id, topic, matched) VALUES (?, 't', '[]')", [n])
    conn.close()
    db = open_database(path)
    read = story_reports(db, 1)
    everything = [report(feeds[f - 1], n, f"Report number {n + 1} on the border",
                         f"Soldiers moved, report {n + 1} says.", wire)
                  for n, (f, wire) in enumerate(plan)]  # fmt: skip
    assert len(read) < len(plan) // 2  # the flood's repeats were not read
    expected = [o.label for o in independent_outlets(everything)]
    assert [o.label for o in independent_outlets(read)] == expected
    assert corroboration_of(db, 1, len(plan)).outlets == tuple(expected)
    assert any("Late" in label for label in expected) and any("AFP" in x for x in expected)
