"""Synthetic news for the benchmarks: items, RSS feeds and topics, all from one seed.

Text is made to stress wirewatch the way real wires do, not to read well: a Zipf-distributed
vocabulary of 30,000 made-up words between real function words, entity aliases from the
shipped gazetteer, and events that several outlets report (so stories group) with a few per
cent of them troop deployments (so the built-in topic fires and alerts go out). Item bodies
are HTML paragraphs of about 1.5 KB, which makes a 50-item feed about 100 KB, the size the
issue's feedparser figure (37 ms per 100 KB feed) refers to.

Deliberately not here: serving (feedserver.py) or timing anything.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cached_property
from html import escape

from bot.gazetteer import Gazetteer

VOCABULARY = 30_000
ITEMS_PER_FEED = 50
_SYLLABLES = str.split(
    "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu "
    "ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu bra tre pli "
    "kro stu gan ber lin mor tas vel dor"
)
_FUNCTION = str.split(
    "the of and to in a for on that with as by at from is was has have it its be are were "
    "after over but will not this their which who more than into about also had been"
)
_MILITARY = (
    "sent more troops to",
    "deployed soldiers to",
    "will dispatch a battalion to",
    "has stationed marines in",
    "is sending warships to",
)
_REPORTING = ("said on", "announced in", "reported from", "confirmed to")


@dataclass(frozen=True)
class Item:
    guid: str
    link: str
    title: str
    html: str  # the description: HTML paragraphs
    published: datetime


class Corpus:
    """Deterministic text source; the same seed gives the same feeds in every process."""

    def __init__(self, seed: int = 7):
        self.seed = seed
        rng = random.Random(seed)
        self.words = _make_words(rng, VOCABULARY)
        # Zipf (s=1): rank r weighs 1/r, as word frequencies in news text roughly do.
        self._cum = list(itertools.accumulate(1 / (r + 1) for r in range(VOCABULARY)))
        self.aliases = _aliases()

    def word(self, rng: random.Random) -> str:
        return self.words[bisect.bisect_left(self._cum, rng.random() * self._cum[-1])]

    def sentence(self, rng: random.Random, extra: list[str], length: int = 16) -> str:
        out = []
        for _ in range(length):
            roll = rng.random()
            if roll < 0.4:
                out.append(rng.choice(_FUNCTION))
            elif roll < 0.5 and extra:
                out.append(rng.choice(extra))
            else:
                out.append(self.word(rng))
        return " ".join(out).capitalize() + "."

    @cached_property
    def events(self) -> list[Event]:
        """20,000 events; each is told by several outlets in their own words."""
        rng = random.Random(self.seed + 1)
        return [self._event(rng, i) for i in range(20_000)]

    def _event(self, rng: random.Random, number: int) -> Event:
        keys = [self.words[rng.randrange(300, VOCABULARY)] for _ in range(6)]
        actors = rng.sample(self.aliases, 2)
        military = rng.random() < 0.04
        return Event(number, keys, actors, rng.choice(_MILITARY) if military else None)

    def item(self, feed: int, number: int, now: datetime) -> Item:
        """Item `number` of feed `feed` (0 is the newest); its event is shared with other feeds."""
        rng = random.Random(f"{self.seed}:{feed}:{number}")
        event = self.events[(feed // 3 * 50 + number) % len(self.events)]
        a, b = event.actors
        verb = event.military or rng.choice(_REPORTING)
        title = f"{a} {verb} {b} as {' '.join(rng.sample(event.keys, 3))}"
        title = title[:1].upper() + title[1:]
        extra = event.keys + [a, b]
        paragraphs = []
        for p in range(5):
            sentences = [self.sentence(rng, extra) for _ in range(3)]
            if p == 0:
                sentences.insert(0, f"{a} {verb} {b}, officials {rng.choice(_REPORTING)} Tuesday.")
            paragraphs.append(f"<p>{escape(' '.join(sentences))}</p>")
        return Item(
            guid=f"outlet{feed}-{number}",
            link=f"https://outlet{feed}.example/a/{number}?utm_source=rss",
            title=title,
            html="\n".join(paragraphs),
            published=now - timedelta(minutes=10 * number + feed % 10),
        )

    def feed_xml(self, feed: int, now: datetime, items: list[Item]) -> bytes:
        entries = "".join(
            "<item>"
            f"<title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f"<guid isPermaLink='false'>{escape(i.guid)}</guid>"
            f"<pubDate>{format_datetime(i.published, usegmt=True)}</pubDate>"
            f"<description>{escape(i.html)}</description>"
            "</item>\n"
            for i in items
        )
        return (
            "<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0'><channel>"
            f"<title>Outlet {feed}</title><link>https://outlet{feed}.example/</link>"
            f"<description>Bench outlet {feed}</description>"
            f"<lastBuildDate>{format_datetime(now, usegmt=True)}</lastBuildDate>\n"
            f"{entries}</channel></rss>\n"
        ).encode()

    def feed_items(self, feed: int, now: datetime, count: int = ITEMS_PER_FEED) -> list[Item]:
        return [self.item(feed, n, now) for n in range(count)]

    def topics(self, count: int) -> dict[str, str]:
        """`count` valid topic queries mixing phrases, entities, NEAR, prefixes, title: and NOT."""
        rng = random.Random(self.seed + 2)
        names = sorted(Gazetteer.load().entities)
        out: dict[str, str] = {}
        for i in range(count):
            # Topic words are specific: Zipf ranks 300 and up (rank 300 is in ~1 item in 20).
            w = [self.words[rng.randrange(300, VOCABULARY)] for _ in range(4)]
            entity = rng.choice(names)
            shapes = (
                f'"{w[0]} {w[1]}"',
                f'entity:"{entity}" AND ({w[0]} OR {w[1]} OR "{w[2]} {w[3]}")',
                f"{w[0]} NEAR/5 {w[1]}",
                f'{w[0][:4]}* AND entity:"{entity}"',
                f"title:{w[0]} AND ({w[1]} OR {w[2]})",
                f'"{w[0]} {w[1]}" AND NOT {w[2]}',
            )
            out[f"bench-{i:05d}"] = shapes[i % len(shapes)]
        return out


@dataclass(frozen=True)
class Event:
    number: int
    keys: list[str]
    actors: list[str]
    military: str | None


def _make_words(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _aliases() -> list[str]:
    """Names as outlets write them: canonical names and capitalised aliases of the gazetteer."""
    gazetteer = Gazetteer.load()
    out = []
    for info in gazetteer.entities.values():
        out.append(info.name)
        out.extend(a for a in info.aliases[:3] if a[:1].isupper())
    return out


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
