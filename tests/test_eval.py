"""`wirewatch eval` and `wirewatch topics backtest`: replays a user can trust and read."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import main
from bot.demo.server import serve_demo
from bot.gazetteer import Gazetteer

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _write(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def _item(n: int, title: str, label: str, story: str, minutes: int, outlet: str) -> dict:
    return {
        "title": title,
        "published": (T0 + timedelta(minutes=minutes)).isoformat(),
        "outlet": outlet,
        "label": label,
        "story": story,
        "thread": story,
        "id": str(n),
    }


ITEMS = [
    _item(1, "Britain sends 900 troops to Estonia", "deploy", "uk-est", 0, "A"),
    _item(2, "UK to deploy 900 soldiers to Estonia", "deploy", "uk-est", 40, "B"),
    _item(3, "Minister rules out sending troops to Ukraine", "other", "no-uk", 60, "A"),
    _item(4, "Stocks rise as inflation cools", "other", "stocks", 70, "B"),
]  # fmt: skip


def test_eval_replays_in_publication_order_and_reports_every_measure(tmp_path, capsys):
    # The file lists the later report first: the replay must still alert the earlier one.
    path = _write(tmp_path / "l.jsonl", [ITEMS[1], ITEMS[0], *ITEMS[2:]])
    assert main(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    assert "topic troop-deployments: precision 1.000 recall 1.000 F1 1.000" in out
    assert "stories: pairwise precision 1.000 recall 1.000 (3 stories found, 3 true)" in out
    assert "1 new alert for 1 story, 0 stories alerted more than once; 1 update," in out


def test_eval_of_one_story_says_story(tmp_path, capsys):
    assert main(["eval", str(_write(tmp_path / "one.jsonl", ITEMS[:1]))]) == 0
    assert "(1 story found, 1 true)" in capsys.readouterr().out


def test_eval_reports_what_the_channel_was_sent_updates_included(tmp_path, capsys):
    """A follow-up that passes only the relaxed bar is not a match of the topic, but the
    channel gets it as an update: an editor judges what reaches the channel."""
    items = [
        _item(1, "Rwandan troops arrive in Darfur", "deploy", "rw", 0, "A"),
        _item(2, "Rwandan troops start AU mission in Darfur", "deploy", "rw", 30, "B"),
        _item(3, "Britain sends 900 troops to Estonia", "deploy", "uk", 300, "A"),
        _item(4, "British troops start NATO mission in Estonia", "deploy", "uk", 330, "B"),
        _item(5, "Stocks rise as inflation cools", "other", "stocks", 400, "B"),
    ]  # fmt: skip
    assert main(["eval", str(_write(tmp_path / "c.jsonl", items))]) == 0
    out = capsys.readouterr().out
    assert "channel (new alerts and updates sent): precision 1.000 recall 1.000 F1 1.000" in out
    assert "2 new alerts for 2 stories, 0 stories alerted more than once; 2 updates" in out
    topic = re.search(r"^topic troop-deployments: precision \S+ recall (\S+)", out, re.M)
    assert topic and float(topic[1]) < 1.0  # the follow-ups went out as updates, not matches


def test_eval_shows_the_reports_that_split_a_story_into_two_alerts(tmp_path, capsys):
    """A story alerted twice is the failure a newsroom minds most: the replay names the
    reports that each started one, with their time and outlet, so they can be looked at."""
    items = [
        _item(1, "Britain sends 900 troops to Estonia", "deploy", "split", 0, "A"),
        _item(2, "Stocks rise as inflation cools", "other", "stocks", 10, "B"),
        _item(3, "Paratroopers deployed to Baltic frontier", "deploy", "split", 30, "B"),
    ]  # fmt: skip
    assert main(["eval", str(_write(tmp_path / "s.jsonl", items))]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("alerted more than once: split (2 alerts)")
    assert lines[at + 1 : at + 3] == [
        "  new alert: 2024-03-01 08:00 A: Britain sends 900 troops to Estonia",
        "  new alert: 2024-03-01 08:30 B: Paratroopers deployed to Baltic frontier",
    ]


def test_eval_says_how_far_each_miss_fell(tmp_path, capsys):
    """A missed report shows the score it got, or that the topic's query never let it through:
    the two call for different fixes (more training data, or a wider query). A score the
    encoder had no say in (its opinion could not have lifted it to a bar) says so: the
    combined score of a near miss would read higher."""
    items = [
        _item(1, "Minister rules out sending troops to Ukraine", "deploy", "a", 0, "A"),
        _item(2, "Britain to send 900 to Estonia", "deploy", "b", 10, "B"),
        _item(3, "Troops clash with protesters in the capital", "deploy", "c", 20, "C"),
    ]  # fmt: skip
    assert main(["eval", str(_write(tmp_path / "m.jsonl", items))]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^missed: Minister rules out sending troops to Ukraine \[0\.\d\d\]$", out, re.M
    )  # vetoed: the words' score, as ever
    assert re.search(
        r"^missed: Troops clash with protesters in the capital \[0\.\d\d, words alone\]$",
        out,
        re.M,
    ), out
    assert "missed: Britain to send 900 to Estonia [the query does not hold]" in out.splitlines()


def test_eval_says_what_it_cannot_measure(tmp_path, capsys):
    nothing = [{**i, "story": None, "thread": None} for i in ITEMS[2:]]
    assert main(["eval", str(_write(tmp_path / "n.jsonl", nothing))]) == 0
    out = capsys.readouterr().out
    assert "precision n/a recall n/a F1 n/a" in out  # no prediction, nothing to find
    assert "no `story` labels, grouping not measured" in out


def test_eval_names_the_bad_line_and_the_unknown_topic(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ITEMS[0]) + "\n{not json\n", encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    assert f"{path}:2: not JSON" in capsys.readouterr().err
    assert main(["eval", str(_write(tmp_path / "ok.jsonl", ITEMS)), "--topic", "troop-deploy"]) == 2
    assert "did you mean troop-deployments" in capsys.readouterr().err


def test_eval_reads_labels_and_times_as_other_tools_write_them(tmp_path, capsys):
    """Capitalised labels, `ambiguous` as text or 0/1, times in RFC 2822, Unix seconds or
    JavaScript's milliseconds: the same replay as the file written our way. The text "false"
    is not true: read as a truth value, every such item would be left out of scoring as
    ambiguous."""
    from email.utils import format_datetime

    def theirs(n: int, item: dict) -> dict:
        when = datetime.fromisoformat(item["published"])
        written = (format_datetime(when), when.timestamp(), int(when.timestamp() * 1000))[n % 3]
        flag = ("false", 0, "no", "False")[n % 4]
        return {**item, "label": item["label"].capitalize(), "published": written,
                "ambiguous": flag}  # fmt: skip

    ours = _write(tmp_path / "ours.jsonl", ITEMS)
    other = _write(tmp_path / "theirs.jsonl", [theirs(n, i) for n, i in enumerate(ITEMS)])
    assert main(["eval", str(ours)]) == 0
    expected = capsys.readouterr().out.replace(str(ours), "FILE")
    assert main(["eval", str(other)]) == 0
    assert capsys.readouterr().out.replace(str(other), "FILE") == expected
    assert "recall 1.000" in expected
    bad = _write(tmp_path / "bad.jsonl", [ITEMS[0], {**ITEMS[1], "ambiguous": "perhaps"}])
    assert main(["eval", str(bad)]) == 2
    assert f"{bad}:2: `ambiguous` 'perhaps' is neither true nor false" in capsys.readouterr().err


def test_eval_of_a_file_it_cannot_read_says_why_once(tmp_path, capsys):
    # It read "from x.jsonl: [Errno 2] No such file or directory: 'x.jsonl'", the path twice.
    missing = tmp_path / "x.jsonl"
    assert main(["eval", str(missing)]) == 2
    said = capsys.readouterr().err
    assert said == f"error: cannot read labelled items from {missing}: No such file or directory\n"
    assert main(["eval", str(tmp_path)]) == 2
    assert capsys.readouterr().err.endswith(f"from {tmp_path}: Is a directory\n")


async def test_backtest_prints_the_alerts_a_topic_would_have_posted(tmp_path, capsys):
    async with serve_demo() as feeds:
        config = tmp_path / "c.yaml"
        config.write_text(
            f"database: {tmp_path / 'w.db'}\nfeeds:\n"
            + "".join(f"  - {{name: {f.name!r}, url: '{f.url}'}}\n" for f in feeds)
            + "network: {allow_private_addresses: true}\n",
            encoding="utf-8",
        )
        assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["topics", "backtest", "troop-deployments", "--since", "30d",
                 "--config", str(config)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    news = [line for line in lines if line.startswith("NEW")]
    updates = [line for line in lines if line.lstrip().startswith("update")]
    assert any("N. Korea has sent additional troops" in line for line in news)
    assert len(updates) >= 2 and lines[-1].startswith("troop-deployments: ")
    assert main(["topics", "backtest", '"5G"', "--config", str(config)]) == 0  # a query too
    assert "SK Telecom" in capsys.readouterr().out

    # A month's archive takes minutes: the replay says how far it has got as it goes.
    from bot.backtest import backtest
    from bot.db import open_existing
    from bot.model import Topic

    seen: list[tuple[int, int]] = []
    db = open_existing(tmp_path / "w.db")
    topic = Topic("q", "troops")
    lines = list(
        backtest(db, topic, Gazetteer.load(), timedelta(days=30), timedelta(hours=72),
                 vectors=False, progress=lambda done, total: seen.append((done, total)))
    )  # fmt: skip
    db.close()
    total = seen[-1][1]
    assert seen[-1] == (total, total) and f"from {total} items" in lines[-1]
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and len(seen) > 1


async def test_backtest_of_feeds_just_added_says_their_items_are_older(tmp_path, capsys):
    # Feeds added today store their back catalogue, published weeks ago: the window counts
    # publication dates, so the summary says "published since" (it said "stored since", of
    # items stored minutes before) and, with nothing in it, how to reach what is stored.
    async with serve_demo(now=datetime.now(UTC) - timedelta(days=60)) as feeds:
        config = tmp_path / "c.yaml"
        config.write_text(
            f"database: {tmp_path / 'w.db'}\nfeeds:\n"
            + "".join(f"  - {{name: {f.name!r}, url: '{f.url}'}}\n" for f in feeds)
            + "network: {allow_private_addresses: true}\narticles: {fetch: false}\n",
            encoding="utf-8",
        )
        assert await asyncio.to_thread(main, ["poll", "--once", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["topics", "backtest", "troop-deployments", "--config", str(config)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert " from 0 items published since " in last, last
    assert re.search(r"\(\d+ stored items published before it: a longer --since reaches", last)
    assert main(["topics", "backtest", "troop-deployments", "--since", "90d",
                 "--config", str(config)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("NEW") for line in lines) and "before it" not in lines[-1]


def test_eval_lists_the_stories_it_joined_wrongly_and_those_it_split(tmp_path, capsys):
    """`--stories` shows what lowered each grouping figure: a story made of two threads, and
    a labelled story left in two pieces, each with the pairs it cost; the rest is unlisted.
    (Made so that any join model groups them alike: one headline three times within the hour,
    the labels putting the third in another thread; one report again six days later, past
    the story window.)"""
    vote, won, uk = (
        "Venezuela Holds Referendum on Chavez Rule",
        "chavez-wins",
        "Britain sends 900 troops to Estonia",
    )
    items = [
        _item(1, vote, "other", "vote", 0, "A"),
        _item(2, vote, "other", "vote", 20, "B"),
        _item(3, vote, "other", won, 40, "C"),
        _item(4, uk, "deploy", "uk", 30, "A"),
        _item(5, uk, "deploy", "uk", 6 * 24 * 60, "B"),
        _item(6, "Stocks rise as inflation cools", "other", "stocks", 60, "B"),
    ]  # fmt: skip
    path = _write(tmp_path / "g.jsonl", items)
    assert main(["eval", str(path)]) == 0
    plain = capsys.readouterr().out
    assert "joined wrongly" not in plain  # only asked for
    assert main(["eval", str(path), "--stories"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[: len(plain.splitlines())] == plain.splitlines()
    at = lines.index("joined wrongly: one story of 2 threads (wrong pairs: 2)")
    assert lines[at + 1 : at + 4] == [
        f"  2024-03-01 08:00 A [vote]: {vote}",
        f"  2024-03-01 08:20 B [vote]: {vote}",
        f"  2024-03-01 08:40 C [{won}]: {vote}",
    ]
    at = lines.index("split: uk in 2 stories (pairs kept apart: 1)")
    assert lines[at + 1 : at + 3] == [
        f"  2024-03-01 08:30 A (part 1): {uk}",
        f"  2024-03-07 08:00 B (part 2): {uk}",
    ]
    assert not [x for x in lines if "inflation" in x]  # a story grouped right is not listed
    # The pairs listed are those the figures lost: 2 wrong of 3 merged, 1 apart of 2 pairs.
    assert "stories: pairwise precision 0.333 recall 0.500" in "\n".join(lines)
