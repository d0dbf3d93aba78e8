"""Filling a digest message: the same split points and text as measuring the whole text.

`fill_message` keeps a running size instead of measuring `digest_text` again for every story
added (quadratic in the stories read). The rule it must keep is the straightforward one,
written out here as the specification: add the next story while the whole text, escaped,
stays within DIGEST_CHARS (the first story always). A different split would drop a story
from a message while marking it sent, or post a message Discord cuts.
"""

from __future__ import annotations

import random
from datetime import timedelta

from bot.digest import DIGEST_CHARS, digest_text, escaped_size, fill_message, send_digests
from bot.ingest import store_new_items
from bot.redecide import subscribe
from tests.test_outbox import NOW, Platform, _item, _setup

# Widened by escaping (punctuation), two UTF-16 units each (astral), or neither.
_PIECES = ["troops", "Seoul", "|_*", "<@here>", "🪖", "🇰🇷", "𝔑𝔬𝔯𝔱𝔥", "·", "é", "&amp;", "ok"]


def _held(ref: int) -> dict:
    """What a row holds of its item beside its headline and outlet (bot.digest.REPORT_KEYS):
    the line counts outlets as the alert does, wire copy folded, from these."""
    stamp = "2026-12-07T09:00:00+00:00"
    return {"summary": "", "wire": None, "published": stamp, "first_seen": stamp, "item_id": ref}


def _reference(stories: list[list[dict]], platform: str) -> list[dict]:
    """The rule as it reads: the whole message measured again for each story added."""
    kept: list[dict] = []
    for more in stories:
        if kept and escaped_size(digest_text(kept + more, platform)) > DIGEST_CHARS:
            break
        kept += more
    return kept


def _stories(
    rng: random.Random, count: int, topics: list[str], words: int = 60
) -> list[list[dict]]:
    """`count` stories of one to three reports: headlines of up to `words` pieces, several
    outlets, some follow-ups, now and then a story whose reports were all gone when read."""
    stories, ref = [], 1
    for sid in range(count):
        rows = []
        for _ in range(rng.choice((1, 1, 1, 2, 3)) if rng.random() > 0.02 else 0):
            title = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, words)))
            url = rng.choice([None, "", f"https://x.example/{ref}?q=a&b=<c>"])
            rows.append(
                {
                    "id": ref,
                    "story_id": sid,
                    "topic": rng.choice(topics),
                    "title": title,
                    "url": url,
                    "outlet": rng.choice(["Yonhap", "AP 🇺🇸", "Reuters", "N|K_News"]),
                    "earlier": rng.random() < 0.2,
                }
                | _held(ref)
                | {"wire": rng.choice([None, None, "AFP"])}
            )
            ref += 1
        stories.append(rows)
    return stories


def _messages(stories: list[list[dict]], platform: str, fill) -> list[str]:
    """Every message the stories make, one after another, as a digest posts them."""
    texts = []
    while stories:
        taken = {id(r) for r in fill(stories, platform)}
        done = 0
        while done < len(stories) and all(id(r) in taken for r in stories[done]):
            done += 1
        texts.append(digest_text([r for rows in stories[:done] for r in rows], platform))
        stories = stories[done:]
    return texts


def test_many_stories_split_where_measuring_the_whole_text_splits_them():
    rng = random.Random(20261207)
    for n in range(40):
        topics = ["troop-deployments", "naval-moves", "🛰-watch", "a"][: 1 + n % 4]
        # short headlines: a hundred stories and more to a message; long ones: a few
        stories = _stories(rng, rng.choice((150, 300, 600)), topics, rng.choice((3, 20, 60)))
        platform = rng.choice(["slack", "discord", "console"])
        assert _messages(stories, platform, fill_message) == _messages(
            stories, platform, _reference
        )


def _padded(size: int) -> list[list[dict]]:
    """Stories of a topic whose message with all of them, escaped, is `size` exactly: the
    last headline padded with plain letters (one unit each)."""
    rows = [
        {"id": i, "story_id": i, "topic": "t", "title": " ".join(["🪖 «troops» |_*"] * 9)}
        | {"url": None}
        | {"outlet": "AP", "earlier": False}
        | _held(i)
        for i in range(1, 19)
    ]
    short = escaped_size(digest_text(rows, "slack"))
    rows[-1]["title"] += "x" * (size - short)  # from about 3,500
    assert escaped_size(digest_text(rows, "slack")) == size
    return [[r] for r in rows]


def test_a_message_exactly_at_the_limit_holds_its_last_story_and_one_unit_more_does_not():
    at, over = _padded(DIGEST_CHARS), _padded(DIGEST_CHARS + 1)
    assert len(fill_message(at, "slack")) == len(at) == len(_reference(at, "slack"))
    assert len(fill_message(over, "slack")) == len(over) - 1 == len(_reference(over, "slack"))


def test_a_first_story_longer_than_a_message_still_goes_out_alone():
    rng = random.Random(7)
    huge = [
        {"id": 1, "story_id": 1, "topic": "t", "title": "🪖|" * 3000, "url": None}
        | {"outlet": "AP", "earlier": False}
        | _held(1)
    ]
    stories = [huge, *_stories(rng, 5, ["t"])]
    assert fill_message(stories, "slack") == huge == _reference(stories, "slack")


async def test_a_backlog_of_wide_headlines_is_posted_in_full_messages(tmp_path):
    # Through the store: 240 stories waiting (more than one message reads), headlines that
    # escaping widens. Each message but the last of a round holds as many stories as fit:
    # with the next message's first story it would be too long.
    db, feed, index = _setup(tmp_path, channels=())
    subscribe(db, "chat:D", "t", "digest")

    def word(n: int, j: int) -> str:
        return "".join("bcdfghjklm"[int(c)] for c in f"{n:03d}{j}") + "o"

    items = [
        _item(str(n), f"Deploys troops 🪖 {' '.join(word(n, j) for j in range(8))} |_* «𝔑»", NOW)
        for n in range(240)
    ]
    store_new_items(db, feed, items, index, NOW + timedelta(minutes=1))
    chat = Platform()
    rounds = []
    while sent := await send_digests(db, {"chat": chat}):
        rounds.append(sent)
    texts = [text for _, _, text in chat.digests]
    assert len(texts) == sum(rounds) >= 5
    assert all(escaped_size(t) <= DIGEST_CHARS for t in texts)
    listed = [line for t in texts for line in t.splitlines()[1:-1]]
    assert len(listed) == len(items)
    starts = {sum(rounds[:i]) for i in range(len(rounds))}
    for n, (this, after) in enumerate(zip(texts, texts[1:], strict=False)):
        if n + 1 in starts:
            continue  # the last message of a round: nothing more was waiting then
        head, *lines, closing = this.splitlines()
        more = len(lines) + 1
        grown = [head.rsplit(" · ", 1)[0] + f" · {more} stories", *lines]
        grown += [after.splitlines()[1], closing]
        assert escaped_size("\n".join(grown)) > DIGEST_CHARS
