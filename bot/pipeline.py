"""One poll of one feed, stage after stage, readable top to bottom:

    fetch -> parse -> new entries -> (candidates: article text) -> match -> summarise
          -> store items, stories, matches and deliveries in one transaction

Fetching and parsing are async and bounded; matching, grouping and summarising are pure
functions over data. A failure at any stage is recorded on the feed and never touches the
others; a crash between stages loses nothing because only the final transaction writes items.

Here: the poll of many feeds in waves, one poll of a feed at a time, which entries are new,
storing and recording each feed's outcome. What a poll needs is bot.poll_context's
`Pipeline`; what is concluded about the new entries (news or not, article text, topics,
vectors) is bot.decide's; the event loop's turns are bot.turns'.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

import sqlite_utils

from bot import heap, metrics
from bot.clock import utcnow
from bot.decide import _decide
from bot.edit_store import store_edits
from bot.errors import FeedParseError, FetchError, UnsafeURLError, WirewatchError, one_line
from bot.failpoints import failpoint
from bot.feed_store import FeedRow, record_failure, record_success
from bot.feeds.fetch import backoff_delay
from bot.feeds.guard import check_url
from bot.feeds.parse import base_identity
from bot.health_store import assess_feed
from bot.ingest import Ingested, NewItem, log_stored, publication_order, store_front
from bot.model import Entry, FetchResult, ParsedFeed
from bot.poll_context import Pipeline, PollResult
from bot.revisions import (
    CHUNK,
    Revision,
    poll_revisions,
    resolve_identities,
    stored_versions,
)
from bot.stories import StoryIndex
from bot.workers import (
    WorkersBroken,
    parse_feed_async,
    prepare_entries_async,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

WAVE_GRACE = 2.0  # seconds the other feeds of a poll get to be stored with the first ready


async def poll_feed(p: Pipeline, feed: FeedRow) -> PollResult:
    """Fetch, parse, decide and store one feed; any failure is recorded on the feed.

    A feed being polled already (by the scheduler's wave) is not polled again: its poll is
    waited for and its outcome returned, so `feeds add` tells what its first poll stored
    whichever poll made it."""
    running = p.polling.get(feed.id)
    if running is None:
        return (await poll_many(p, [feed]))[0]
    log.info("poll.joined feed=%s", feed.name)
    await asyncio.wait({running})  # not `await running`: a cancelled caller must not cancel it
    if running.cancelled():  # its poll was cut short (the bot stopping): nothing stored
        return PollResult(feed.name, False, error="its poll in flight was cut short")
    return running.result()


@dataclass(frozen=True)
class _Decided:
    """A feed fetched, parsed and decided on: its items wait to be stored with the others'."""

    feed: FeedRow
    fetched: FetchResult
    parsed: ParsedFeed
    items: list[NewItem]
    started: float
    edits: list[Revision] = field(default_factory=list)


async def _fetch_and_decide(p: Pipeline, feed: FeedRow, now: datetime) -> _Decided | PollResult:
    """Everything up to storing; a PollResult when the poll ends here (304 or a failure).

    Whatever one feed's data makes go wrong (a library's bug included) is that feed's
    failure: backed off, counted, and after `max_failures` the feed is disabled. It is never
    retried on the next tick, and never stops the other feeds.
    """
    started = time.monotonic()
    try:
        return await _decide_feed(p, feed, started, now)
    except Exception as exc:
        log.debug("poll.crashed feed=%s", feed.name, exc_info=True)  # the traceback
        result = _record_failure(p, feed, f"internal error: {one_line(exc)}", "internal")
    return _account(p, feed, result, started)


async def _decide_feed(
    p: Pipeline, feed: FeedRow, started: float, now: datetime
) -> _Decided | PollResult:
    interval = p.interval(feed)
    try:
        fetched = await p.fetcher.fetch_feed(
            feed.url, etag=feed.etag, last_modified=feed.last_modified, trusted=feed.trusted
        )
        failpoint("after_fetch")
        if fetched.status == 304 or fetched.body is None:
            # Validators the 304 sent replace ours; a permanent redirect moves the feed here too.
            record_success(
                p.db,
                feed,
                interval=interval,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                moved_to=fetched.permanent_url,
            )
            return _account(p, feed, PollResult(feed.name, True, not_modified=True), started)
        parsed = await parse_feed_async(fetched.body, feed_url=fetched.url)
        # Which stored item each entry is: one guid or link may carry many reports.
        parsed = replace(parsed, entries=await _resolved(p, feed.id, parsed.entries))
        known = stored_versions(p.db, feed.id, parsed.entries)
        # Only new entries are prepared (in a worker): most of a changed feed is old news.
        unseen = _unseen(p.db, feed, parsed.entries, set(known), lambda e: _unsafe_link(p, feed, e))
        fresh = [_shown_link(p, feed, e) for e in unseen]
        entries = await prepare_entries_async(fresh)
        items: list[NewItem] = []
        for part in _chunks(list(entries)):
            items += await _decide(p, feed, part, now)
        edits = await poll_revisions(
            p.db, parsed.entries, known, p.matcher, p.gazetteer, p.settings, p.turns.section
        )
        if edits and edits[0].quiet:
            edits = await _store_rewrite(p, feed, edits)
    except FetchError as exc:
        result = _record_failure(p, feed, str(exc), "fetch", exc.retry_after or 0.0, exc.gone)
        return _account(p, feed, result, started)
    except WorkersBroken as exc:  # the bot's failure, not the feed's: not counted on it
        log.info("poll.unparsed feed=%s error=%s", feed.name, exc)  # said loudly once, there
        p.hold(feed)  # its next_poll unmoved: polled again, once the workers work
        return _account(p, feed, PollResult(feed.name, False, error=str(exc)), started)
    except FeedParseError as exc:
        return _account(p, feed, _record_failure(p, feed, str(exc), "parse"), started)
    # A wave holds hundreds of feeds: not their bodies and parsed entries, only what storing
    # and recording them needs (with them, a first poll of 1,000 feeds held 150 MB).
    slim_fetch, slim_parse = replace(fetched, body=None), replace(parsed, entries=())
    return _Decided(feed, slim_fetch, slim_parse, items, started, edits)


async def _store_rewrite(p: Pipeline, feed: FeedRow, edits: list[Revision]) -> list[Revision]:
    """A feed that rewrote its entries (told to nobody) is stored at once, not with its wave:
    after an upgrade that cleans text anew, every feed of a first poll rewrites all it has,
    and a wave holding their texts together held 260 MB with 1,000 feeds. A chunk per
    transaction, so the loop answers in between; what is not stored if the database fails
    now is left for the next poll (its digests still differ)."""
    try:
        for part in _chunks(edits):
            store_edits(p.db, part, utcnow())
            await asyncio.sleep(0)
    except WirewatchError as exc:
        log.error("edits.failed feed=%s error=%s", feed.name, exc)
    return []


async def _store_wave(p: Pipeline, wave: list[_Decided]) -> list[PollResult]:
    """Store the wave's items together, oldest first whichever feed they came from (a chunk
    per transaction and per turn of `Turns`, the loop let run in between), then record each
    feed's success."""
    pairs = sorted(((d.feed, i) for d in wave for i in d.items), key=publication_order)
    stored: dict[int, Ingested] = {}
    try:
        async with p.turns.section() as pace:
            for part in _chunks(pairs, STORE_CHUNK):
                for fid, more in store_front(p.db, part, p.index, utcnow(), p.rule).items():
                    had = stored.get(fid, Ingested(0, 0, 0))
                    stored[fid] = Ingested(
                        had.items + more.items,
                        had.stories_new + more.stories_new,
                        had.deliveries + more.deliveries,
                    )
                await pace()
        if pairs:
            log_stored(pairs, stored)
        edits = [r for d in wave for r in d.edits]
        store_edits(p.db, edits, utcnow())
        _refile(p.index, edits)
        failpoint("after_store")
        if p.on_queued and any(d.items or d.edits for d in wave):
            p.on_queued()
    except WirewatchError as exc:  # the database's failure, not the feeds': not counted on them
        log.error("poll.failed feeds=%s error=%s", ",".join(d.feed.name for d in wave), exc)
        forget_uncommitted(p.db, p.index)
        for d in wave:
            p.hold(d.feed)
        return [_account(p, d.feed, PollResult(d.feed.name, False, error=str(exc)), d.started)
                for d in wave]  # fmt: skip
    return [_finish(p, d, stored.get(d.feed.id, Ingested(0, 0, 0))) for d in wave]


def _refile(index: StoryIndex, edits: list[Revision]) -> None:
    """Edited items the story index holds are held with their new words, in their story (as
    a restart's index, rebuilt from the terms stored with the edit, would hold them)."""
    for rev in edits:
        if rev.doc is not None and (story := index.story_of(rev.item_id)) is not None:
            index.add(rev.doc, story)


def _finish(p: Pipeline, d: _Decided, stored: Ingested) -> PollResult:
    feed, fetched = d.feed, d.fetched
    _count(d.items)
    try:
        record_success(
            p.db,
            feed,
            interval=p.interval(feed),
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            moved_to=fetched.permanent_url,
        )
    except WirewatchError as exc:  # the items are stored; only the feed's state is not
        log.error("poll.unrecorded feed=%s error=%s", feed.name, exc)
        p.hold(feed)
        return PollResult(feed.name, False, stored.items, stored.deliveries, error=str(exc))
    if d.parsed.warning:
        log.info("poll.bozo feed=%s warning=%s", feed.name, d.parsed.warning)
    result = PollResult(feed.name, True, stored.items, stored.deliveries)
    return _account(p, feed, result, d.started)


def _account(p: Pipeline, feed: FeedRow, result: PollResult, started: float) -> PollResult:
    """Metrics and feed health for a poll whose outcome is known."""
    metrics.POLL_DURATION.observe(time.monotonic() - started)
    try:
        assess_feed(p.db, p.settings, feed.id, result.new_items)
    except Exception as exc:  # the feed's health notice waits; the poll's outcome stands
        log.error("health.failed feed=%s error=%s", feed.name, one_line(exc))
    outcome = "not_modified" if result.not_modified else "ok" if result.ok else "error"
    metrics.FEEDS_POLLED.labels(outcome).inc()
    if not result.ok:
        metrics.FETCH_ERRORS.labels(feed.name).inc()
    return result


# New items stored per transaction. Each costs a story assignment (its members' sentence
# vectors read and compared) and its alerts queued, 1-15 ms: a chunk is the longest turn a
# poll takes. Fewer would hold the loop less, but a full disk or a lock taken between two
# transactions would leave part of a small feed's poll stored ("no partial write", README).
STORE_CHUNK = 20


async def _resolved(p: Pipeline, feed_id: int, entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """`resolve_identities`, a few guids or links at a time, taking turns with the loop.

    An entry compared with what is stored costs up to ms (every new entry is: its stored
    reports read and compared), one the feed gave as stored a string comparison; so a slice
    starts at one guid or link, and the next holds as many as the last took to fill a turn.
    Each guid or link is settled from its own entries and what is stored, so settling them
    a slice at a time gives what settling them together does."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(base_identity(e.identity), []).append(i)
    bases, out = list(groups), list[Entry | None](entries)
    start, size = 0, 1
    async with p.turns.section() as pace:
        while start < len(bases):
            began = time.monotonic()
            at = sorted(i for base in bases[start : start + size] for i in groups[base])
            part = resolve_identities(p.db, feed_id, tuple(entries[i] for i in at))
            for i, got in zip(at, part, strict=True):
                out[i] = got
            start += size
            each = (time.monotonic() - began) / size
            size = max(1, min(400, int(p.turns.every / each) if each > 0 else 400))
            await pace()
    return tuple(e for e in out if e is not None)


def _chunks(seq: list[_T], size: int = CHUNK) -> list[list[_T]]:
    """Entries per gather and per transaction: the loop keeps answering during a flood."""
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def _count(items: list[NewItem]) -> None:
    metrics.ITEMS.inc(len(items))
    for item in items:
        for m in item.matches:
            if m.strict:
                metrics.MATCHES.labels(m.topic).inc()


def _unseen(
    db: sqlite_utils.Database,
    feed: FeedRow,
    entries: tuple[Entry, ...],
    known: set[str],
    unsafe_link: Callable[[Entry], object] = lambda _: None,
) -> list[Entry]:
    """Entries this feed has not given us before (identity is per feed, stable across moves;
    `known`: the identities already stored, from `stored_versions`; `unsafe_link`: truthy
    for an entry whose link is not stored, `_shown_link`).

    Only the rows that could collide are read, never the feed's whole history.
    """
    seen: set[tuple[str, str]] = set()
    fresh = [e for e in entries if e.identity not in known]
    # A feed that mints new guids every poll still repeats its links and titles; one that
    # moves an article to a new link and guid (a new slug, a new campaign tag) still repeats
    # its words. Words identify an item with a summary, or with no link but its guid: a
    # "Daily briefing" headline alone is a new item every day. An item whose private link is
    # not stored (`_shown_link`) has no link to be known by either: it is stored, and shown,
    # as its words alone, so its words identify it (a chat feed minting guids every poll
    # added it again each time, link-less: its link never matched the stored none).
    words = {
        id(e): e.digest for e in fresh if e.link_is_guid or e.summary.strip() or unsafe_link(e)
    }
    stored_words: set[str] = set()
    for part in _chunks(fresh, 400):  # SQLite allows 999 parameters per statement
        urls = [e.url for e in part if e.url]
        seen.update(_column(db, "url, title", "url", feed.id, urls))
        digests = [words[id(e)] for e in part if id(e) in words]
        stored_words.update(_column(db, "digest", "digest", feed.id, digests))
    # A report the feed gave a guid or link another report holds was told from those by its
    # words (`resolve_identities`): its link and title may be theirs (a home page, a
    # "Daily briefing" every day), so only its words count.
    return [
        e
        for e in fresh
        if ((e.url, e.title) not in seen or base_identity(e.identity) != e.identity)
        and words.get(id(e)) not in stored_words
    ]


def _shown_link(p: Pipeline, feed: FeedRow, entry: Entry) -> Entry:
    """The entry, without its link when a guarded feed points it at a private address.

    The bot never fetches such a link (article fetches are guarded), but posted it is a
    clickable link into the reader's own network (`http://192.168.1.1/admin?...`). Config
    and imported feeds are ops' and may link an intranet. The guard's test of the literal
    host only (IPs, `localhost` names): no DNS. Only the link goes: the identity was settled
    from it already, so the item stays one item poll after poll (one whose guid changes
    every poll is known by its words instead: `_unseen`).
    """
    if (why := _unsafe_link(p, feed, entry)) is None:
        return entry
    log.info("item.link_dropped feed=%s item=%s reason=%s", feed.name, entry.identity, why)
    return replace(entry, url=None)


def _unsafe_link(p: Pipeline, feed: FeedRow, entry: Entry) -> UnsafeURLError | None:
    """Why the entry's link is not to be posted (`_shown_link`), None when it may be."""
    if feed.trusted or not entry.url or p.settings.network.allow_private_addresses:
        return None
    try:
        check_url(entry.url)
    except UnsafeURLError as exc:
        return exc
    return None


def _column(db: sqlite_utils.Database, columns: str, key: str, feed_id: int, values: list) -> list:
    if not values:
        return []
    sql = (
        f"SELECT {columns} FROM items WHERE feed_id = ? "
        f"AND {key} IN ({', '.join('?' * len(values))})"
    )
    rows = db.execute(sql, [feed_id, *values]).fetchall()
    return [r[0] if len(r) == 1 else tuple(r) for r in rows]


def _record_failure(
    p: Pipeline,
    feed: FeedRow,
    error: str,
    cause: str,
    retry_after: float = 0.0,
    gone: bool = False,
) -> PollResult:
    """Back the feed off (disabled after `max_failures`, or at once when the server says it
    is gone), in one log line. A failing feed is never asked more often than a healthy one."""
    interval = p.interval(feed)
    delay = max(backoff_delay(feed.failures + 1), retry_after, interval)
    metrics.FEED_FAILURES.labels(cause).inc()
    disabled = record_failure(
        p.db, feed, error, retry_in=delay, max_failures=p.settings.max_failures, permanent=gone
    )
    log.warning(
        "poll.failed feed=%s cause=%s failures=%d retry_in=%.0fs error=%s",
        feed.name,
        cause,
        feed.failures + 1,
        delay,
        error,
    )
    if disabled:  # announced by bot.health_store, once per disabling, again if revived
        log.error("poll.disabled feed=%s failures=%d", feed.name, feed.failures + 1)
    return PollResult(feed.name, False, error=error)


def forget_uncommitted(db: sqlite_utils.Database, index: StoryIndex) -> None:
    """Drop from the index the items of a rolled-back transaction (their ids are reused)."""
    newest = db.execute("SELECT max(id) FROM items").fetchone()[0] or 0
    index.discard([key for key in index.members() if key > newest])


async def poll_many(
    p: Pipeline, feeds: list[FeedRow], concurrency: int = 16, held: int = 0
) -> list[PollResult]:
    """Poll `feeds` concurrently; one feed's failure never stops the others.

    Feeds are fetched and decided on concurrently, then stored in waves: when one feed is
    ready, the others get `WAVE_GRACE` seconds to be ready too, and the wave's items are stored
    together in publication order. Of several outlets' reports of a story that come in one
    poll, the earliest published leads it, not the first server to answer; a slow feed delays
    the others by at most the grace.

    At most `held` feeds (twice `concurrency` unless given) are fetched, decided or waiting
    to be stored at once: a feed takes its place before it is fetched and gives it up once
    its wave is stored. Deciding outruns storing when every item is new (a cold start, a
    day away), and without the bound every feed's parsed items waited in memory until the
    poll ended: 400 feeds of 50 new items peaked at 275 MB, 129 MB with it (bench/RESULTS.md).

    A feed another poll has in flight (`Pipeline.polling`: a `feeds add`'s first poll) is
    left to it, not waited for: its result here says `in_flight`. Polled twice at once, both
    polls found its items new and the second to store failed on them, its whole wave held.
    Nothing is lost: the poll in flight stores them and moves the feed's next poll.
    """
    mine, claimed = _claim(p, feeds)
    try:
        results = await _poll_claimed(p, mine, concurrency, held)
    finally:  # a poll cut short (the bot stopping) or crashed lets its feeds go
        for feed_id, running in claimed.items():
            if p.polling.get(feed_id) is running:
                del p.polling[feed_id]
            running.cancel()  # no-op once its outcome is set
    left = PollResult("", True, in_flight=True)
    return [results.get(f.id) or replace(left, feed=f.name) for f in feeds]


def _claim(
    p: Pipeline, feeds: list[FeedRow]
) -> tuple[list[FeedRow], dict[int, asyncio.Future[PollResult]]]:
    """The feeds no poll has in flight, marked as this poll's (`Pipeline.polling`), each
    once however often it is listed; and the outcome each of them will settle."""
    loop = asyncio.get_running_loop()
    mine, claimed = list[FeedRow](), dict[int, asyncio.Future[PollResult]]()
    for feed in feeds:
        if feed.id not in p.polling:
            claimed[feed.id] = p.polling[feed.id] = loop.create_future()
            mine.append(feed)
        elif feed.id not in claimed:  # the log says why this poll did not fetch it
            log.info("poll.left feed=%s: another poll of it is in flight", feed.name)
    return mine, claimed


def _settle(p: Pipeline, feed_id: int, result: PollResult) -> None:
    """The feed's poll is over (stored and recorded): whoever waits for it has its outcome,
    and the feed may be polled again."""
    running = p.polling.pop(feed_id, None)
    if running is not None and not running.done():
        running.set_result(result)


async def _poll_claimed(
    p: Pipeline, feeds: list[FeedRow], concurrency: int, held: int
) -> dict[int, PollResult]:
    """`poll_many` of the feeds it claimed, each settled (`_settle`) once its wave is stored."""
    slots = asyncio.Semaphore(concurrency)
    limit = held or 2 * concurrency
    room = asyncio.Semaphore(limit)

    async def one(feed: FeedRow) -> _Decided | PollResult:
        await room.acquire()  # given back once the feed's wave is stored
        async with slots:
            try:
                return await _fetch_and_decide(p, feed, now)
            except Exception as exc:  # even recording the failure failed (the database?)
                p.hold(feed)
                log.debug("poll.crashed feed=%s", feed.name, exc_info=True)
                log.error("poll.crashed feed=%s error=%s", feed.name, one_line(exc))
                return PollResult(feed.name, False, error=f"internal error: {one_line(exc)}")

    now = utcnow()
    p.index.prune(now)
    loop = asyncio.get_running_loop()
    finished: asyncio.Queue[asyncio.Future[_Decided | PollResult]] = asyncio.Queue()
    tasks: dict[asyncio.Future[_Decided | PollResult], int] = {
        asyncio.ensure_future(one(f)): f.id for f in feeds
    }
    for task in tasks:
        task.add_done_callback(finished.put_nowait)
    results: dict[int, PollResult] = {}
    try:
        while tasks:
            done = [await finished.get()]
            # The wave: what else is ready within the grace, until every feed left is, or
            # every place is taken (no other feed can be ready before this wave is stored).
            deadline = loop.time() + WAVE_GRACE
            while len(done) < min(len(tasks), limit) and (left := deadline - loop.time()) > 0:
                try:
                    done.append(await asyncio.wait_for(finished.get(), left))
                except TimeoutError:
                    break
            decided, ids = [], []
            for task in done:  # let go of each task: a done one holds its feed's items
                feed_id, outcome = tasks.pop(task), task.result()
                ids.append(feed_id)
                if isinstance(outcome, PollResult):
                    results[feed_id] = outcome
                else:
                    decided.append(outcome)
            for d, result in zip(decided, await _store_wave(p, decided), strict=True):
                results[d.feed.id] = result
            for feed_id in ids:
                _settle(p, feed_id, results[feed_id])
            for _ in done:
                room.release()
            heap.give_back()  # the wave's feeds, entries and items (bot.heap): ms at most
    except BaseException:
        # The bot is stopping (or a bug of ours ended the poll): the feeds still being
        # fetched stop too. Left running, they would write their feed's state after the
        # stop, and fail on the closed database; and once `poll_many` lets their feeds go,
        # another poll could fetch them beside them. Nothing of theirs was stored: a poll
        # writes in its last step (or per whole chunk).
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return results
