"""Reading a Slack channel's history to find a message whose send is in doubt, within
Slack's rate limits.

conversations.history / .replies are the only way to learn whether a send whose answer was
lost got through. Slack serves apps outside its Marketplace one request a minute and 15
messages a page, so: the cap counts messages, not pages; a lookup Slack stops halfway with
a 429 raises DeliveryError(retry_after) at once, never waiting, and its next try goes on from
where it stopped; and Slack is not asked again before its Retry-After (nor, after one, more
often than that). What is looked for is the caller's (`SlackAdapter.find_posted`)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.errors import DeliveryError

log = logging.getLogger("adapters.slack_app")  # one logger for the adapter's lines
T = TypeVar("T")

HISTORY_LIMIT = 200  # messages asked per page of conversations.history / .replies
# What find_posted reads at most, per channel and per thread (from just before the send in
# doubt): a busy channel is read through, a pathological one cannot hold the sender for
# long (the log says when this cap was reached). Counted in messages: Slack gives apps
# outside the Marketplace 15 a page, and ten of those would stop at 150.
LOOKUP_PAGES = 10
LOOKUP_MESSAGES = LOOKUP_PAGES * HISTORY_LIMIT
# A lookup Slack stopped halfway (a 429, a timeout) is kept this long for its next try to
# go on from (the outbox retries one in doubt within 15 minutes, a restart's at each drain).
LOOKUP_KEEP = 30 * 60.0
# After a 429 on a history method, it is asked no more often than its Retry-After (at most
# this, Slack's one request a minute), for this long after the last 429.
SPACING_MAX = 60.0
SPACING_KEEP = 10 * 60.0


class HistoryReader:
    """History lookups of one adapter: those cut short, kept to go on from, and when each
    method may be asked again. `call` is the adapter's Web API call (errors as DeliveryError)."""

    def __init__(self, call: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        self._call = call
        self._gate = _Gate()  # when conversations.history / .replies may be asked again
        self._kept_lookups: dict[tuple[Any, ...], Lookup] = {}  # stopped halfway
        self._capped: set[str] = set()  # history methods whose short pages were logged

    @asynccontextmanager
    async def lookup(self, key: tuple[Any, ...]) -> AsyncIterator[Lookup]:
        """Lookup `key` (what is looked for, where, from when): the one an earlier try left
        halfway, if any, else a new one; kept again when this try is cut short too, dropped
        once it answers (a later lookup must read what was posted since)."""
        now = time.monotonic()
        for stale in [k for k, v in self._kept_lookups.items() if now - v.kept_at > LOOKUP_KEEP]:
            del self._kept_lookups[stale]
        lookup = self._kept_lookups.pop(key, None) or Lookup()
        try:
            yield lookup
        except BaseException:
            lookup.kept_at = time.monotonic()
            self._kept_lookups[key] = lookup
            raise

    async def scan(
        self,
        lookup: Lookup,
        method: str,
        match: Callable[[dict[str, Any]], T | None],
        **args: Any,
    ) -> T | None:
        """The first message `match` picks among those a history method returns (history
        newest first, a thread oldest first), within `oldest`..`latest` when given: those
        this lookup read already, then page after page (`cursor`); at most LOOKUP_MESSAGES,
        and the log says when more were left."""
        key = tuple(str(args.get(k, "")) for k in ("channel", "ts", "oldest", "latest"))
        scan = lookup.scans.setdefault((method, *key), _Scan())
        for message in scan.seen:
            if (hit := match(message)) is not None:
                return hit
        while not scan.done:
            if len(scan.seen) >= LOOKUP_MESSAGES:
                scan.done = True
                log.warning(
                    "slack.find_posted_capped method=%s channel=%s oldest=%s messages=%d: more "
                    "followed than are read; a post of this delivery among the rest is not seen",
                    method,
                    args.get("channel"),
                    args.get("oldest", "-"),
                    len(scan.seen),
                )
                break
            for message in await self._page(scan, method, args):
                if (hit := match(message)) is not None:
                    return hit
        return None

    async def _page(self, scan: _Scan, method: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """The next page of `scan`, unless Slack's rate limit is known to refuse it: then, as
        on a 429, a DeliveryError with the wait, at once (the outbox waits, on disk)."""
        wait = self._gate.wait(method)
        if wait > 0:
            log.debug(  # a restart's drain asks every few seconds: once a 429 said it
                "slack.history_deferred method=%s channel=%s retry_in=%.0fs read=%d",
                method,
                args.get("channel"),
                wait,
                len(scan.seen),
            )
            raise DeliveryError(
                f"Slack rate limit on {method}; retry in {wait:.0f}s", retry_after=wait
            )
        cursor = {"cursor": scan.cursor} if scan.cursor else {}
        try:
            page = await self._call(
                method, limit=HISTORY_LIMIT, include_all_metadata=True, **cursor, **args
            )
        except DeliveryError as exc:
            if exc.retry_after is not None:
                self._gate.refused(method, exc.retry_after)
                log.warning(
                    "slack.history_rate_limited method=%s channel=%s retry_in=%gs read=%d: "
                    "the lookup goes on from there at its next try",
                    method,
                    args.get("channel"),
                    exc.retry_after,
                    len(scan.seen),
                )
            elif "invalid_cursor" in str(exc):
                scan.seen, scan.cursor = [], ""  # start this range again
            raise
        self._gate.used(method)
        messages = [_kept(m) for m in page.get("messages") or []]
        scan.seen += messages
        scan.cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        scan.done = not page.get("has_more") or not scan.cursor
        if not scan.done and len(messages) < HISTORY_LIMIT and method not in self._capped:
            self._capped.add(method)
            log.warning(
                "slack.history_capped method=%s asked=%d got=%d: Slack gives this app short "
                "pages (15 for apps outside the Slack Marketplace); lookups take more requests",
                method,
                HISTORY_LIMIT,
                len(messages),
            )
        return messages


@dataclass
class _Scan:
    """One range of one history method as far as a lookup read it: what it needs of each
    message, and where Slack's next page starts."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    done: bool = False


@dataclass
class Lookup:
    """What one lookup read, range by range. Kept when Slack stops it halfway, so that its
    next try goes on from there: at one page a minute, starting over from the newest page
    each time, a lookup longer than a page would never end."""

    scans: dict[tuple[str, ...], _Scan] = field(default_factory=dict)
    kept_at: float = 0.0


def _kept(message: dict[str, Any]) -> dict[str, Any]:
    """What a lookup needs of a message (a kept lookup holds no text or blocks)."""
    return {k: message[k] for k in ("ts", "thread_ts", "reply_count", "metadata") if k in message}


class _Gate:
    """When a history method may be asked again: not before a 429's Retry-After, and for
    SPACING_KEEP after one, no more often than its Retry-After (at most SPACING_MAX): Slack
    gives apps outside the Marketplace one request a minute, and a request that can only be
    refused is better not made."""

    def __init__(self) -> None:
        self._open: dict[str, float] = {}
        self._spacing: dict[str, float] = {}
        self._refused_at: dict[str, float] = {}

    def wait(self, method: str) -> float:
        return max(0.0, self._open.get(method, 0.0) - time.monotonic())

    def refused(self, method: str, retry_after: float) -> None:
        now = time.monotonic()
        self._open[method] = now + retry_after
        self._spacing[method] = min(max(self._spacing.get(method, 0.0), retry_after), SPACING_MAX)
        self._refused_at[method] = now

    def used(self, method: str) -> None:
        now = time.monotonic()
        refused_at = self._refused_at.get(method)
        if refused_at is not None and now - refused_at < SPACING_KEEP:
            self._open[method] = now + self._spacing[method]
