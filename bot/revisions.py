"""A poll's edits: entries the feed gave before, whose words have changed since.

A poll reads, for its entries, the identity and digest of the items already stored
(`stored_versions`, one indexed query per 400 entries, never the text). An entry whose
digest differs is an edit, when its item's story is still open (`story_window`); it is
matched against the topics again, on its new title and summary and the article text stored
with it (no page is fetched again). A feed that rewrites most of what it had at once (a
template change, a new summary style) is applied quietly: that is not news.

Deciding only; `bot.edit_store` stores a Revision and tells channels.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot import opinions, sentencevectors
from bot.clock import parse_stored, utcnow
from bot.edits import digest
from bot.errors import one_line
from bot.ingest import grouping_text
from bot.model import Entry, Prepared, TopicMatch
from bot.prepare import feed_terms
from bot.settings import Settings
from bot.stories import StoryDoc
from bot.text.summary import summarize
from bot.topics.entities import Gazetteer
from bot.topics.match import Matcher, prepare

log = logging.getLogger(__name__)

ARTICLE_LEAD_CHARS = 1500  # topics match on the article's lead (as bot.pipeline does)
QUIET_SHARE = 0.5  # more than this share of a feed's stored entries changed at once...
QUIET_MIN = 3  # ...and more than this many: a rewrite of the feed, applied quietly
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)  # a stored date that cannot be read: not recent
# Decisions between two turns of the event loop: a feed that rewrote 1,000 entries held the
# loop 0.66 s in one go; 50 at a time, chat commands are answered in between. The pipeline
# takes new entries by the same count.
CHUNK = 50


@dataclass(frozen=True)
class Stored:
    """What a poll needs to know of an entry's item already stored."""

    item_id: int
    digest: str | None
    published: datetime


@dataclass(frozen=True)
class Revision:
    """A changed entry, decided on: its new text, topics and summary, ready to store."""

    item_id: int
    entry: Entry
    digest: str
    matches: tuple[TopicMatch, ...]
    entities: tuple[str, ...]
    alert_summary: str | None  # None: the item has no article text, keep what is stored
    recent: bool  # published within max_age: may still alert a channel it now concerns
    quiet: bool  # part of a rewrite of the whole feed: stored, told to nobody
    # The new headline's sentence vector (bot.sentencevectors) when the headline changed and
    # one could be had; None keeps a vector of an unchanged headline, drops a changed one's
    # (but a quiet rewrite keeps its items' vectors: bot.edit_store).
    vector: bytes | None = None
    # The item as the story index files it with its new words (the feed's title and summary,
    # as `bot.ingest` files a new item); None for a quiet rewrite, whose items keep the terms
    # they were filed with.
    doc: StoryDoc | None = None


def stored_versions(
    db: sqlite_utils.Database, feed_id: int, entries: tuple[Entry, ...]
) -> dict[str, Stored]:
    """identity -> the stored item, for the entries this feed has given before."""
    known: dict[str, Stored] = {}
    ids = list(dict.fromkeys(e.identity for e in entries))
    for start in range(0, len(ids), 400):  # SQLite allows 999 parameters per statement
        part = ids[start : start + 400]
        rows = db.execute(
            "SELECT identity, id, digest, published FROM items WHERE feed_id = ? "
            f"AND identity IN ({', '.join('?' * len(part))})",
            [feed_id, *part],
        )
        for identity, item_id, stored, published in rows:
            known[identity] = Stored(item_id, stored, parse_stored(published, LONG_AGO))
    return known


async def poll_revisions(
    db: sqlite_utils.Database,
    entries: tuple[Entry, ...],
    known: dict[str, Stored],
    matcher: Matcher,
    gazetteer: Gazetteer,
    settings: Settings,
) -> list[Revision]:
    """The entries of a poll whose stored item's words changed, decided on. A failure here
    costs the poll its edits (found again next time: the stored digest still differs), never
    its new items."""
    now = utcnow()
    try:
        open_since = now - timedelta(seconds=settings.story_window)
        changed: dict[str, tuple[Stored, Entry, str]] = {}
        for e in entries:
            stored = known.get(e.identity)
            if stored is None or e.identity in changed:
                continue
            new = digest(e.title, e.summary)
            if stored.digest != new and stored.published >= open_since:
                changed[e.identity] = (stored, e, new)
        quiet = len(changed) > max(QUIET_MIN, QUIET_SHARE * len(known))
        if quiet:
            log.info("edits.quiet items=%d of=%d: the feed rewrote its entries",
                     len(changed), len(known))  # fmt: skip
        recent_since = now - timedelta(seconds=settings.max_age)
        out = []
        todo = list(changed.values())
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            read = [_read(db, s, e, gazetteer) for s, e, _ in chunk]
            candidates = [i for i, r in enumerate(read) if matcher.could_match_prepared(r[0])]
            asked = await opinions.ask(matcher, [(read[i][0], read[i][2]) for i in candidates])
            given = dict(zip(candidates, asked, strict=True))
            vectors = await _new_vectors(chunk, read, settings, quiet)
            for i, ((s, e, d), (prepared, text, _, _)) in enumerate(zip(chunk, read, strict=True)):
                recent = s.published >= recent_since
                matches = (
                    tuple(matcher.match_prepared(given[i], relaxed=True)) if i in given else ()
                )
                out.append(Revision(
                    item_id=s.item_id,
                    entry=e,
                    digest=d,
                    matches=matches,
                    entities=prepared.names,
                    alert_summary=summarize(e.title, text) if text else None,
                    recent=recent,
                    quiet=quiet,
                    vector=vectors[i],
                    doc=None if quiet else _story_doc(s, e),
                ))  # fmt: skip
            await asyncio.sleep(0)
        return out
    except Exception as exc:
        log.error("edits.failed entries=%d error=%s", len(entries), one_line(exc))
        return []


def _story_doc(stored: Stored, entry: Entry) -> StoryDoc:
    """The edited item as the story index files it: a later report is compared with what
    it says now, and a restart's index (rebuilt from the stored terms) holds the same."""
    doc = StoryDoc(stored.item_id, entry.title, grouping_text(entry.summary, None, ""), (),
                   stored.published)  # fmt: skip
    return replace(doc, terms=feed_terms(doc))


def _read(
    db: sqlite_utils.Database, stored: Stored, entry: Entry, gazetteer: Gazetteer
) -> tuple[Prepared, str | None, str, str | None]:
    """The edited entry as topics read it (with the stored article's lead), the article's
    text, what the encoder reads of it, and the headline stored before."""
    row = db.execute("SELECT text, title FROM items WHERE id = ?", [stored.item_id]).fetchone()
    text, title = (row[0], row[1]) if row else (None, None)
    body = f"{entry.summary}\n{text[:ARTICLE_LEAD_CHARS]}" if text else entry.summary
    reads = opinions.reads(entry.title, entry.summary, text)
    return prepare(entry.title, body, gazetteer), text, reads, title


async def _new_vectors(
    chunk: list[tuple[Stored, Entry, str]],
    read: list[tuple[Prepared, str | None, str, str | None]],
    settings: Settings,
    quiet: bool,
) -> list[bytes | None]:
    """Sentence vectors of the changed headlines, one worker call for the chunk: an edited
    headline is compared with later reports by what it says now. None for the others, and
    for a rewrite of the whole feed (a new template, text cleaned anew after an upgrade:
    every open item of every feed at once), whose items keep the vectors they had."""
    titles = [entry.title for _, entry, _ in chunk]
    changed = [i for i, r in enumerate(read) if titles[i] != r[3]]
    if not changed or not settings.sentence_vectors or quiet:
        return [None] * len(chunk)
    given = await sentencevectors.ask([titles[i] for i in changed])
    found = dict(zip(changed, given, strict=True))
    return [found.get(i) for i in range(len(chunk))]
