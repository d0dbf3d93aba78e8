"""A poll's edits: entries the feed gave before, whose words have changed since.

A poll first settles which stored item each entry is (`resolve_identities`): a feed may give
one guid (or one link) to every report it publishes, so an entry whose words changed under
an identity is the item stored under it only when it is the same report (`same_report`),
else another report of that guid or link, found among those stored, or new. It then reads,
for its entries, the identity and digest of the items already stored (`stored_versions`,
one indexed query per 400 entries, never the text). An entry whose
digest differs is an edit, when its item's story is still open (`story_window`); it is
matched against the topics again, on its new title and summary and the article text stored
with it (no page is fetched again). A feed that rewrites most of what it had at once (a
template change, a new summary style) is applied quietly: that is not news.

Deciding only; `bot.edit_store` stores a Revision and tells channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlite_utils

from bot import opinions, sentencevectors
from bot.clock import parse_stored, utcnow
from bot.edits import report_words, same_report, shared_share
from bot.errors import one_line
from bot.feeds.parse import REPORT_MARK, base_identity, report_identity
from bot.gazetteer import Gazetteer
from bot.ingest import grouping_text
from bot.model import Entry, Prepared, TopicMatch
from bot.prepare import feed_terms
from bot.settings import Settings
from bot.stories import StoryDoc
from bot.text.summary import summarize
from bot.topics.match import Matcher, prepare

log = logging.getLogger(__name__)

ARTICLE_LEAD_CHARS = 1500  # topics match on the article's lead (as bot.decide does)
QUIET_SHARE = 0.5  # more than this share of a feed's stored entries changed at once...
QUIET_MIN = 3  # ...and more than this many: a rewrite of the feed, applied quietly
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)  # a stored date that cannot be read: not recent
# Entries per worker call (the encoder's opinions, sentence vectors): a feed that rewrote
# 1,000 entries held the loop 0.66 s in one go; each entry of a chunk is now decided in the
# poll's turns with the loop (`bot.turns.Turns`). The pipeline takes new entries by the
# same count.
CHUNK = 50
# Stored reports of one guid or link, beyond those its entries number, that a changed entry
# may be an edit of (`_settle`).
EDIT_MARGIN = 3


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


@dataclass(frozen=True)
class _Version:
    """An item stored under one guid or link of the feed, as `resolve_identities` reads it."""

    item_id: int
    identity: str
    digest: str | None


def resolve_identities(
    db: sqlite_utils.Database, feed_id: int, entries: tuple[Entry, ...]
) -> tuple[Entry | None, ...]:
    """The entries, each under the identity of the stored item it is a version of, or of a
    new report; None for one the feed listed again reworded under the same guid or link
    (`_one_each`). Usually what the feed gave: an entry whose identity is stored with the same
    words is done with one indexed query per 400 entries. Any other is compared with every
    report the feed stored under its guid or link: the one it is (same words, else the
    same report edited: `bot.edits.same_report`) gives it its identity; none, and it is a
    new report, under the guid or link itself when free, else under `report_identity`.
    Decided from what is stored and what the feed says only: polling the same body again,
    or after a restart, finds every entry where it found it before. The pipeline asks for
    a few guids or links at a time, taking turns with the event loop (`pipeline._resolved`)."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(base_identity(e.identity), []).append(e)
    groups = {base: _one_each(group) for base, group in groups.items()}
    listed = {id(e) for group in groups.values() for e in group}
    plain = _plain_versions(db, feed_id, list(groups))
    settled: dict[int, str] = {}
    for base, group in groups.items():
        first = group[0]
        if len(group) == 1 and first.identity == base and _unchanged(first, plain.get(base)):
            continue  # the usual case: the item as stored
        stored = _versions(db, feed_id, base)
        for e, identity in zip(group, _settle(db, base, group, stored), strict=True):
            settled[id(e)] = identity
    return tuple(
        None if id(e) not in listed
        else replace(e, identity=settled[id(e)]) if settled.get(id(e), e.identity) != e.identity
        else e
        for e in entries
    )  # fmt: skip


def _one_each(group: list[Entry]) -> list[Entry]:
    """The entries of one guid or link, each report once: one the feed lists again reworded
    (`same_report` with one listed before it) is the first one's version, not another report."""
    if len(group) == 1:
        return group
    kept: list[Entry] = []
    said: list[frozenset[str]] = []
    for e in group:
        words = report_words(e.title, e.summary)
        if not any(same_report(other, words) for other in said):
            kept.append(e)
            said.append(words)
    return kept


def _plain_versions(
    db: sqlite_utils.Database, feed_id: int, bases: list[str]
) -> dict[str, tuple[str | None, str, str]]:
    """identity -> (digest, title, summary) of the items stored under these identities as
    the feed gives them."""
    found: dict[str, tuple[str | None, str, str]] = {}
    for start in range(0, len(bases), 400):  # SQLite allows 999 parameters per statement
        part = bases[start : start + 400]
        rows = db.execute(
            "SELECT identity, digest, title, summary FROM items WHERE feed_id = ? "
            f"AND identity IN ({', '.join('?' * len(part))})",
            [feed_id, *part],
        )
        found.update((identity, (d, title, summary)) for identity, d, title, summary in rows)
    return found


def _unchanged(entry: Entry, stored: tuple[str | None, str, str] | None) -> bool:
    """The entry says what its stored item says: the very text, or the same words (its
    digest, made with the entry in the parse worker)."""
    if stored is None:
        return False
    if (entry.title, entry.summary) == stored[1:]:
        return True
    return stored[0] is not None and stored[0] == entry.digest


def _versions(db: sqlite_utils.Database, feed_id: int, base: str) -> list[_Version]:
    """Every report the feed stored under `base`, oldest first: the identity itself and its
    `report_identity` marks (one range of the (feed, identity) index; hex digits sort
    before "g")."""
    rows = db.execute(
        "SELECT id, identity, digest FROM items WHERE feed_id = ? "
        "AND (identity = ? OR (identity > ? AND identity < ?)) ORDER BY id",
        [feed_id, base, base + REPORT_MARK, base + REPORT_MARK + "g"],
    )
    return [
        _Version(item_id, identity, stored)
        for item_id, identity, stored in rows
        if identity == base or base_identity(identity) == base
    ]


def _settle(
    db: sqlite_utils.Database, base: str, group: list[Entry], stored: list[_Version]
) -> list[str]:
    """The identity of each entry of one guid or link: a stored report with its very words
    first, then the recent stored report it is an edit of (the most alike), then new ones."""
    out: list[str | None] = [None] * len(group)
    free = {v.identity: v for v in stored}
    by_digest = {v.digest: v.identity for v in reversed(stored) if v.digest}
    for i, e in enumerate(group):
        identity = by_digest.get(e.digest)
        if identity in free:
            out[i] = identity
            del free[identity]
    waiting = [i for i, o in enumerate(out) if o is None]
    # An edit is of a report the feed lists now or listed lately: its newest ones, as many as
    # it lists and a few more. Compared with hundreds of older ones, a new report would now
    # and then pass for one of them (`bot.edits.SAME_SHARE`: 2 pairs in 1,000 do).
    lately = [v for v in stored[-(len(group) + EDIT_MARGIN) :] if v.identity in free]
    said = _words(db, lately) if waiting and lately else {}
    for i in waiting:
        if (edited := _edited(said, group[i])) is not None:
            out[i] = edited
            del said[edited]
    taken = {v.identity for v in stored} | {o for o in out if o}
    for i in waiting:
        if out[i] is None:
            new = _new_identity(base, group[i], taken)
            out[i] = new
            taken.add(new)
    return [o or "" for o in out]


def _words(db: sqlite_utils.Database, versions: list[_Version]) -> dict[str, frozenset[str]]:
    """identity -> what the stored report says (`report_words`), oldest first; read only
    when an entry changed, and only for the reports no entry is yet."""
    said: dict[str, frozenset[str]] = {}
    for start in range(0, len(versions), 400):
        part = {v.item_id: v.identity for v in versions[start : start + 400]}
        rows = db.execute(
            f"SELECT id, title, summary FROM items WHERE id IN ({', '.join('?' * len(part))})",
            list(part),
        )
        text = {item_id: (title, summary) for item_id, title, summary in rows}
        said.update((part[i], report_words(*text[i])) for i in part if i in text)
    return said


def _edited(stored: dict[str, frozenset[str]], entry: Entry) -> str | None:
    """The stored report `entry` is an edit of, if any: the one sharing the most words."""
    said = report_words(entry.title, entry.summary)
    alike = [identity for identity, words in stored.items() if same_report(words, said)]
    return max(alike, key=lambda i: shared_share(stored[i], said) or 0.0, default=None)


def _new_identity(base: str, entry: Entry, taken: set[str]) -> str:
    """A new report's identity: the feed's own when no report holds it, else marked."""
    identity, n = base, 0
    while identity in taken:
        identity = report_identity(base, entry.digest, n)
        n += 1
    return identity


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
    turns: opinions.Turns,
) -> list[Revision]:
    """The entries of a poll whose stored item's words changed, decided on, an entry at a
    time in the poll's turns with the event loop (`turns`: `bot.turns.Turns.section`).
    A failure here costs the poll its edits (found again next time: the stored digest still
    differs), never its new items."""
    now = utcnow()
    try:
        open_since = now - timedelta(seconds=settings.story_window)
        changed: dict[str, tuple[Stored, Entry, str]] = {}
        for e in entries:
            stored = known.get(e.identity)
            if stored is None or e.identity in changed:
                continue
            if stored.digest != e.digest and stored.published >= open_since:
                changed[e.identity] = (stored, e, e.digest)
        quiet = len(changed) > max(QUIET_MIN, QUIET_SHARE * len(known))
        if quiet:
            log.info("edits.quiet items=%d of=%d: the feed rewrote its entries",
                     len(changed), len(known))  # fmt: skip
        recent_since = now - timedelta(seconds=settings.max_age)
        out = []
        todo = list(changed.values())
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            read = []
            async with turns() as pace:  # an entry read again is tokenised: ms
                for s, e, _ in chunk:
                    read.append(_read(db, s, e, gazetteer))
                    await pace()
            candidates = [i for i, r in enumerate(read) if matcher.could_match_prepared(r[0])]
            asked = await opinions.ask(
                matcher, [(read[i][0], read[i][2]) for i in candidates], turns
            )
            given = dict(zip(candidates, asked, strict=True))
            vectors = await _new_vectors(chunk, read, settings, quiet)
            async with turns() as pace:  # matched against every topic: ms with many
                for i, ((s, e, d), (prepared, text, _, _)) in enumerate(
                    zip(chunk, read, strict=True)
                ):
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
                        recent=s.published >= recent_since,
                        quiet=quiet,
                        vector=vectors[i],
                        doc=None if quiet else _story_doc(s, e),
                    ))  # fmt: skip
                    await pace()
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
