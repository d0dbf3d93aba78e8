"""Whether a message in doubt reached Slack: an alert or update whose answer was lost
(`find_posted`), a notice (`find_notice`), found by the delivery id or notice key in our
messages' metadata, in a window of the channel's history around the send and the threads
of our alerts.

`SlackLookups` is a part of `slack_app.SlackAdapter` (which gives it `_history`, its
`HistoryReader`, and the DMs already named in the log); the methods are the adapter's.
Reading history within Slack's rate limits, a lookup cut short going on where it stopped
at its next try, is `slack_history.HistoryReader`'s; what is looked for (our delivery's
metadata, in which range and threads) is decided here. Deliberately not here: posting, and
what an error means (slack_errors).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from adapters import slack_render as render
from adapters.base import DeliveryError, MessageRef
from adapters.slack_errors import CHANNEL_GONE, THREAD_GONE, SlackError, _dm_unreadable
from adapters.slack_history import HistoryReader, Lookup
from bot.chat import CLOCK_MARGIN

log = logging.getLogger("adapters.slack_app")  # one logger for the adapter's lines


API_TIMEOUT = 15  # one Web API call (the adapter's client)
# A send in doubt posted, if at all, within this long of its start (a paced post waits its
# turn first): the lookup reads `since` - CLOCK_MARGIN .. `since` + this + CLOCK_MARGIN, so
# however busy the channel was afterwards, Slack's newest-first pages reach ours.
SEND_WINDOW = timedelta(minutes=15)
LOOKUP_TIMEOUT = 4 * API_TIMEOUT  # a whole lookup, however many pages and threads
THREADS_SCANNED = 20


class SlackLookups:
    """The adapter's lookups of what it may have sent (a part of `SlackAdapter`)."""

    _history: HistoryReader
    _unreadable_told: set[str]  # DMs the app may not read, named in the log

    async def find_notice(self, channel: str, key: int, *, since: datetime | None = None) -> bool:
        """Notice `key` among the channel's messages from just before `since`. A notice sent
        by DM cannot be read back (no im:history): where the channel cannot be read, which
        is when the DMs go out, a DeliveryError says we cannot tell."""
        oldest = _window(since).get("oldest")  # not `latest`: the notice's first try
        args = {"oldest": oldest} if oldest else {}  # may be long after `since`
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                async with self._history.lookup(("notice", channel, key, oldest)) as lookup:
                    found = await self._history.scan(
                        lookup,
                        "conversations_history",
                        lambda m: True if notice_of(m) == key else None,
                        channel=channel,
                        **args,
                    )
        except TimeoutError:
            raise DeliveryError(
                f"Slack find_notice: no answer within {LOOKUP_TIMEOUT:g}s"
            ) from None
        return bool(found)

    async def find_posted(
        self,
        channel: str,
        delivery_id: int,
        thread: MessageRef | None = None,
        *,
        since: datetime | None = None,
    ) -> MessageRef | None:
        """Our message for `delivery_id` in `thread` (an update's story), then among the
        channel's messages from just before `since` (the newest ones without it) and their
        threads. A DeliveryError when it takes longer than LOOKUP_TIMEOUT, or when Slack's
        rate limit stops it: we cannot tell yet (the next try goes on from there)."""
        window = _window(since)
        key = (
            "posted",
            channel,
            delivery_id,
            thread.message_id if thread else "",
            *window.values(),
        )
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                async with self._history.lookup(key) as lookup:
                    try:
                        return await self._find_posted(lookup, channel, delivery_id, thread, window)
                    except SlackError as exc:
                        if not _dm_unreadable(channel, exc):
                            raise
                        self._dm_unreadable(channel, delivery_id, exc)
                        return None
        except TimeoutError:
            raise DeliveryError(
                f"Slack find_posted: no answer within {LOOKUP_TIMEOUT:g}s", maybe_posted=True
            ) from None

    def _dm_unreadable(self, channel: str, delivery_id: int, exc: SlackError) -> None:
        """The app may post in this DM but not read it: installed from a manifest without
        im:history / mpim:history, which only the lookup of a send in doubt needs. Waiting
        would wait for good, and pausing the DM would blame it: the alert is sent again,
        unseen, and the log says once per DM that it may show twice, and how to fix it."""
        if channel in self._unreadable_told:
            log.info("slack.dm_unreadable channel=%s delivery=%d: sent again", channel, delivery_id)
            return
        self._unreadable_told.add(channel)
        log.warning(
            "slack.dm_unreadable channel=%s delivery=%d needed=%s: the app cannot read this "
            "direct message, so whether an alert whose answer was lost got through cannot be "
            "checked; it is sent again and may show twice. Reinstall the app from "
            "config/slack-manifest.yml (it asks im:history and mpim:history) to stop this",
            channel,
            delivery_id,
            exc.needed or "im:history/mpim:history",
        )

    async def _find_posted(
        self,
        lookup: Lookup,
        channel: str,
        delivery_id: int,
        thread: MessageRef | None,
        window: dict[str, str],
    ) -> MessageRef | None:
        if thread is not None:
            found = await self._in_thread(lookup, channel, thread.message_id, delivery_id, window)
            if found is not None:
                return found
        threads: list[str] = []

        def ours(message: dict[str, Any]) -> MessageRef | None:
            if render.delivery_of(message) == delivery_id:
                return MessageRef("slack", channel, message["ts"])
            if message.get("reply_count") and render.delivery_of(message) is not None:
                threads.append(message["ts"])
            return None

        try:
            found = await self._history.scan(
                lookup, "conversations_history", ours, channel=channel, **window
            )
        except DeliveryError as exc:
            if str(exc).startswith(CHANNEL_GONE):
                return None  # the channel is gone: nothing was posted there to duplicate
            raise  # no right to read it (posting may still work): we cannot tell, so we wait
        if found is not None:
            return found
        for parent in threads[:THREADS_SCANNED]:
            found = await self._in_thread(lookup, channel, parent, delivery_id, window)
            if found is not None:
                return found
        return None

    async def _in_thread(
        self,
        lookup: Lookup,
        channel: str,
        parent: str,
        delivery_id: int,
        window: dict[str, str],
    ) -> MessageRef | None:
        """Our reply for `delivery_id` in the thread of `parent`; None too when that thread
        is gone (what was in it can no longer be seen to be duplicated)."""

        def ours(message: dict[str, Any]) -> MessageRef | None:
            if message.get("ts") != parent and render.delivery_of(message) == delivery_id:
                return MessageRef("slack", channel, message["ts"], parent)
            return None

        try:
            return await self._history.scan(
                lookup, "conversations_replies", ours, channel=channel, ts=parent, **window
            )
        except DeliveryError as exc:
            if any(error in str(exc) for error in THREAD_GONE):
                return None
            raise


def notice_metadata(key: int) -> dict[str, Any]:
    """A notice's metadata: its key, never a delivery id (`render.delivery_of` sees none)."""
    return {"event_type": render.METADATA_EVENT, "event_payload": {"notice_id": key}}


def notice_of(message: dict[str, Any]) -> int | None:
    """The notice key a message of ours carries in its metadata, else None."""
    meta = message.get("metadata") or {}
    value = (meta.get("event_payload") or {}).get("notice_id")
    if meta.get("event_type") != render.METADATA_EVENT or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _window(since: datetime | None) -> dict[str, str]:
    """A history method's `oldest` and `latest` (Slack ts) around a send that began at
    `since`: from a little before (CLOCK_MARGIN) to SEND_WINDOW after; none without it."""
    if since is None:
        return {}
    oldest = max((since - CLOCK_MARGIN).timestamp(), 0.0)
    latest = (since + SEND_WINDOW + CLOCK_MARGIN).timestamp()
    return {"oldest": f"{oldest:.6f}", "latest": f"{latest:.6f}"}
