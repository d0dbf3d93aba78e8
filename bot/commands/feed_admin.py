"""Feeds from chat: `feeds` (each with its health), `feeds add URL [NAME]`, `feeds remove`.

`feeds add` fetches and parses the feed once before storing anything, so a bad URL changes
nothing, then polls it right away; it runs on the loop and hands its queries to the store
thread one by one (`StoreCalls.run`). Listing and removing run whole on the store thread.
While the worker processes cannot start (bot.workers.WorkersBroken) no feed can be read, so
none is added, and the answer says it is wirewatch's trouble, for whoever runs it.

Deliberately not here: fetching and parsing (bot.feeds, bot.workers), polling
(bot.pipeline), a feed's health (bot.health), how a feed is named (bot.commands.feed_names).
"""

from __future__ import annotations

import difflib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

from bot.commands.echo import shown, when
from bot.commands.feed_names import feed_name, host, name_free, title_name
from bot.commands.grammar import Invocation, Reply
from bot.commands.urls import URL_SHOWN, URL_TEXT, guarded_url, shown_feed_url, unsafe
from bot.errors import CommandError, FeedParseError, FetchError, UnsafeURLError
from bot.feed_store import add_feed, feed_at, feed_item_counts, list_feeds, remove_feed
from bot.health import describe
from bot.health_store import feeds_health
from bot.pipeline import poll_feed
from bot.wording import counted
from bot.workers import WorkersBroken, parse_feed_async

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.commands.calls import StoreCalls
    from bot.feed_store import FeedRow
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Seconds a feed added in chat is not due for the scheduler: its first poll is the add's own,
# which claims it (`Pipeline.polling`) moments after storing it. A tick landing in those
# moments claimed it instead, and the add waited for that cycle's whole wave (12 s with 40
# slow feeds). An add cut short (the bot stopping) leaves it to the cycle this much later.
OWN_FIRST_POLL = 60.0


def list_feeds_here(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    feeds = [f for f in list_feeds(db) if f.disabled_reason != "removed"]
    if not feeds:
        return "no feeds yet: `/wirewatch feeds add URL [NAME]`"
    counts = feed_item_counts(db)
    healths = feeds_health(db, rt.settings)
    lines = [f"{counted(len(feeds), 'feed')}:"]
    for f in feeds:
        h = healths.get(f.id)
        pace, state = describe(h.state, h.usual_gap, h.quiet_for) if h else describe("ok")
        if f.disabled:
            state = f"DISABLED: {f.disabled_reason}"
        elif f.failures:
            state = f"{counted(f.failures, 'failure')} in a row, last: {f.last_error}"
        lines.append(
            f"- `{f.name}` {shown_feed_url(f.url)} ({f.origin}): "
            f"{counted(counts.get(f.id, 0), 'item')}, {pace}, "
            f"last poll {when(f.last_polled)}, {state}"
        )
    return "\n".join(lines)


async def feeds_add(calls: StoreCalls, inv: Invocation, rest: str) -> str | Reply:
    if not rest:
        raise CommandError("feeds add needs the feed's URL")
    url, name = (rest.split(None, 1) + [""])[:2]
    if not URL_TEXT.match(url) and any(URL_TEXT.match(w) for w in name.split()):
        raise CommandError(f"URL first: `feeds add URL [NAME]`, not `{shown(rest)}`")
    url, name = urldefrag(guarded_url(calls.rt, url)).url, feed_name(name)
    existing = await calls.run(_free_feed_at, url, name)
    if existing and not existing.disabled:
        return already_polled(existing, url, name)
    try:
        title = await _trial_fetch(calls.rt, url)
    except WorkersBroken as exc:
        return _workers_broken(url, exc)
    by = f"{inv.platform}:{inv.user}"
    feed = await calls.run(_add_feed_named, url, name, title, by)
    if isinstance(feed, str):  # another command added it meanwhile
        return feed
    return f"added `{feed.name}` ({url}); " + await _first_poll(calls.rt, feed)


def feeds_remove(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    if not rest:
        raise CommandError("feeds remove needs the feed's URL or name")
    rest = urldefrag(rest).url if URL_TEXT.match(rest) else rest
    try:
        feed = remove_feed(db, rest)
    except CommandError:  # "no feed X": with the feed most likely meant, if any
        if not (meant := _feed_meant(db, rest)):
            raise
        raise CommandError(
            f"no feed `{shown(rest, 80)}`: did you mean `{shown(meant)}`? (`feeds` lists them)"
        ) from None
    note = (
        " It is in the config file too: remove it there as well." if feed.origin == "config" else ""
    )
    return f"removed `{feed.name}` ({shown_feed_url(feed.url)}); its items stay searchable.{note}"


def _feed_meant(db: Database, typed: str) -> str:
    """The name or URL of the polled feed nearest to `typed` (a URL with a slash more, a
    name cut short), or ""."""
    polled = [f for f in list_feeds(db) if not (f.disabled and f.disabled_reason == "removed")]
    by_text = {f.name.lower(): f.name for f in polled} | {f.url.lower(): f.url for f in polled}
    close = difflib.get_close_matches(typed.lower(), list(by_text), n=1, cutoff=0.6)
    return by_text[close[0]] if close else ""


async def _trial_fetch(rt: Runtime, url: str) -> str | None:
    """Fetch and parse once before storing anything, so a bad URL changes nothing."""
    try:
        fetched = await rt.pipeline.fetcher.fetch_feed(url, trusted=False)
        parsed = await parse_feed_async(fetched.body or b"", feed_url=fetched.url)
    except UnsafeURLError as exc:
        raise CommandError(unsafe(url, exc)) from None
    except FetchError as exc:
        raise CommandError(f"cannot fetch {shown(url, URL_SHOWN)}: {exc}") from None
    except FeedParseError as exc:
        raise CommandError(
            f"{shown(url, URL_SHOWN)} is not a feed wirewatch can read: {exc}"
        ) from None
    return title_name(parsed.title or "")


def _workers_broken(url: str, exc: WorkersBroken) -> Reply:
    """No feed can be parsed now: not the URL's fault nor the moderator's, and only whoever
    runs wirewatch can mend it (it was "something went wrong on wirewatch's side"). Nothing
    is stored: a feed is added only once it was read, and this one could not be."""
    why = str(exc).removeprefix("the workers cannot work: ")
    return Reply(
        f"{shown(url, URL_SHOWN)} was not added: wirewatch's worker processes cannot start "
        f"({why}), so it cannot read any feed now. Tell whoever runs wirewatch (its log says "
        "`workers.broken`), then add the feed again once they work.",
        ok=False,
    )


async def _first_poll(rt: Runtime, feed: FeedRow) -> str:
    """The new feed polled now, alone: it was stored not due yet (`OWN_FIRST_POLL`), so no
    cycle has claimed it; should one have (the loop held past that), its poll is waited
    for and what it stored told (`poll_feed`)."""
    try:
        result = await poll_feed(rt.pipeline, feed)
    except Exception as exc:  # a bug of ours: a poll records its own failures
        log.warning("command.first_poll_failed feed=%s error=%s", feed.name, exc)
        return "it will be polled on schedule"
    if not result.ok:
        return f"its first poll failed ({result.error}); it will be retried"
    stored, queued = counted(result.new_items, "item"), counted(result.deliveries, "alert")
    return f"first poll: {stored} stored, {queued} queued"


def _free_feed_at(db: Database, url: str, name: str) -> FeedRow | None:
    """The feed stored at `url`, if any, once `name` is known to be free."""
    name_free(db, name, url)
    return feed_at(db, url)


def already_polled(existing: FeedRow, url: str, name: str) -> str:
    """The answer for a feed polled already; a NAME given with it was not applied, so say so
    (silence reads as if the feed had been renamed)."""
    said = f"`{existing.name}` ({url}) is already polled"
    if name and name != existing.name:
        said += f"; it keeps that name, not `{shown(name)}`"
    return said


def _add_feed_named(
    db: Database, url: str, name: str, title: str | None, added_by: str
) -> FeedRow | str:
    """Add (or re-enable) the feed at `url` as chat's, named `name`, else as it was, else by
    its own `title`, else by its host; a sentence instead when it is polled already."""
    existing = feed_at(db, url)
    if existing and not existing.disabled:
        return already_polled(existing, url, name)
    name = name or (existing.name if existing else title or host(url))
    name_free(db, name, url)
    return add_feed(db, url, name, origin="chat", added_by=added_by, due_in=OWN_FIRST_POLL)
