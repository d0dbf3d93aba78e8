"""What wirewatch concludes about a feed's new entries before they are stored: whether
each is news (`_news`: recent enough to alert), whether a topic could match it, its
article's text (fetched for candidates only), the topics it matches (the encoder's
opinions asked for those whose model takes one), its sentence vector, and the summary of
its article when one was fetched (feed text is summarised when an alert needs it).

Which entries are new, and storing what is concluded, are bot.pipeline's. Deciding takes
turns with the event loop (bot.turns), an entry at a time. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import opinions, sentencevectors
from bot.clock import parse_iso
from bot.corroboration import wire_of
from bot.errors import FetchError
from bot.feed_store import FeedRow
from bot.ingest import NewItem
from bot.model import Entry, Prepared
from bot.poll_context import Pipeline
from bot.prepare import prepared_of
from bot.text.summary import summarize
from bot.topics.match import prepare
from bot.workers import extract_article_async

log = logging.getLogger("bot.pipeline")  # one logger for a poll's lines


ARTICLE_LEAD_CHARS = 1500  # topics match on the article's lead, not on its background paragraphs


@dataclass(frozen=True)
class _Look:
    """What an entry's feed text says, before any article page is fetched."""

    entry: Entry
    published: datetime
    alertable: bool
    feed_text: Prepared
    candidate: bool
    fetch_article: bool


async def _decide(p: Pipeline, feed: FeedRow, entries: list[Entry], now: datetime) -> list[NewItem]:
    """Everything wirewatch concludes about new entries, before storing them.

    Article pages are fetched concurrently, and only for candidates; the other entries are
    decided at once (a task per entry would cost more than deciding it). `now` is the poll's
    start, the same for every feed of it: an undated item is dated then, so which of a poll's
    undated reports leads a story never depends on which server answered first.
    """
    looks = []
    async with p.turns.section() as pace:
        for e in entries:
            looks.append(_look(p, feed, e, now))
            await pace()
    wanted = [look for look in looks if look.fetch_article]
    fetched = iter(await asyncio.gather(*(_article_text(p, w.entry.url) for w in wanted)))
    texts = [next(fetched) if look.fetch_article else None for look in looks]
    matched: list[Prepared] = []
    async with p.turns.section() as pace:  # an article's lead is tokenised anew: ms
        for look, text in zip(looks, texts, strict=True):
            matched.append(_matched(p, look, text))
            await pace()
    # The encoder's opinion, for candidates whose topic's model takes one: one worker call
    # for the feed's new entries, which are judged (which opinions they want) in turns.
    asked = [i for i, look in enumerate(looks) if look.candidate]
    if asked:
        pairs = [
            (matched[i], opinions.reads(looks[i].entry.title, looks[i].entry.summary, texts[i]))
            for i in asked
        ]
        given = await opinions.ask(p.matcher, pairs, p.turns.section)
        for i, prepared in zip(asked, given, strict=True):
            matched[i] = prepared
    # Every new entry's sentence vector, for the story index: one worker call too. Not for
    # entries older than the story window (most of a feed's first poll, often): no later
    # item is compared with them, and their vectors would be forgotten at once.
    open_since = now - timedelta(seconds=p.settings.story_window)
    titles = [look.entry.title if look.published >= open_since else "" for look in looks]
    vectors = (
        await sentencevectors.ask(titles) if p.settings.sentence_vectors else [None] * len(titles)
    )
    items = []
    async with p.turns.section() as pace:
        for look, text, prepared, vector in zip(looks, texts, matched, vectors, strict=True):
            items.append(replace(_conclude(p, look, text, prepared, now), vector=vector))
            await pace()
    return items


def _news(p: Pipeline, feed: FeedRow, entry: Entry, now: datetime) -> bool:
    """Whether a new entry may be alerted: published within `max_age` (or the feed's poll
    interval, if longer), on every poll, so that neither a feed's back catalogue on first
    contact nor what piled up while the bot was stopped, the feed down, or its items pruned
    floods a channel. An entry with no believable date is as old as its feed's back
    catalogue unless the feed was read lately (within max_age, or two of its intervals)."""
    age = timedelta(seconds=max(p.settings.max_age, p.interval(feed)))
    if entry.published is not None:
        return entry.published >= now - age
    if feed.last_success is None:
        return False
    try:
        read = parse_iso(feed.last_success)
    except ValueError:  # a damaged timestamp: as good as never read
        return False
    return read >= now - max(age, timedelta(seconds=2 * p.interval(feed)))


def _look(p: Pipeline, feed: FeedRow, entry: Entry, now: datetime) -> _Look:
    if entry.date_ignored:  # only new entries get here: said once per item
        log.info(
            "item.date_ignored feed=%s item=%s date=%s reason=implausible using=first_seen",
            feed.name,
            entry.identity,
            entry.date_ignored,
        )
    published = entry.published or now
    alertable = _news(p, feed, entry, now)
    # Tokens, entities and story terms come from the parse worker (bot.prepare).
    feed_text = prepared_of(entry, p.gazetteer)
    # No topic can fire on an item without one of the topics' terms: most items stop here.
    candidate = p.matcher.could_match_prepared(feed_text)
    fetch = alertable and candidate and bool(entry.url) and p.settings.articles.fetch
    return _Look(entry, published, alertable, feed_text, candidate, fetch)


def _matched(p: Pipeline, look: _Look, text: str | None) -> Prepared:
    """What topics match on: the feed's text, or with the article's lead when it was fetched."""
    if not text:
        return look.feed_text
    body = f"{look.entry.summary}\n{text[:ARTICLE_LEAD_CHARS]}"
    return prepare(look.entry.title, body, p.gazetteer)


def _conclude(
    p: Pipeline, look: _Look, text: str | None, matched: Prepared, now: datetime
) -> NewItem:
    entry = look.entry
    return NewItem(
        entry=entry,
        published=min(look.published, now),
        text=text,
        # Feed text is summarised when an alert needs it (bot.alerts.build_alert), not per item.
        alert_summary=summarize(entry.title, text) if text else "",
        entities=matched.names,
        matches=tuple(p.matcher.match_prepared(matched, relaxed=True)) if look.candidate else (),
        alertable=look.alertable,
        terms=look.feed_text.terms,  # of the feed's text, fetched article or not (feed_names)
        wire=wire_of(entry.author, entry.summary, text),
    )


async def _article_text(p: Pipeline, url: str | None) -> str | None:
    """The article's main text, or None: a page that fails only costs us the richer text."""
    if not p.settings.articles.fetch or not url:
        return None
    async with p.article_slots:
        try:
            # Never trusted: the feed's URL was written by ops, its links by whoever writes
            # the feed; they pass the address guard unless private addresses are allowed.
            page = await asyncio.wait_for(
                p.fetcher.fetch_page(url, trusted=False), timeout=p.settings.articles.timeout
            )
        except (FetchError, TimeoutError) as exc:
            log.info("article.skipped url=%s error=%s", url, exc or "timeout")
            return None
    if not page.body:
        return None
    return await extract_article_async(page.body, url)
