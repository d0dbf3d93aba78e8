"""Whether a message in doubt reached Discord: an alert or update whose answer was lost
(`find_posted`, by the delivery's ref in our embed footers), a notice (`find_notice`, by its
marker line), read in the channel's history from just before the send in doubt began
(however many messages followed it, up to LOOKUP_MESSAGES) and in the threads of our
messages.

`DiscordLookups` is a part of `discord_bot.DiscordAdapter` (which gives it its client, its
channels and its send deadline); the methods are the adapter's. Deliberately not here:
posting (discord_bot), what an error means (discord_errors), the marks themselves
(discord_marks, discord_render.ref_marker).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from adapters.base import DeliveryError, MessageRef
from adapters.discord_errors import CALL_ERRORS, GONE, delivery_error
from adapters.discord_marks import notice_marker
from adapters.discord_render import ref_marker
from bot.chat import CLOCK_MARGIN

log = logging.getLogger("adapters.discord_bot")  # one logger for the adapter's lines

# Messages find_posted reads at most, per channel and per thread (pages of 100, from just
# before the send in doubt): a busy channel is read through, a pathological one cannot hold
# the sender for long (the log says when this cap was reached).
LOOKUP_MESSAGES = 1000
LOOKUP_SENDS = 4  # a whole lookup is given this many send deadlines, each page one
THREADS_SCANNED = 5  # threads of our messages looked in when the story's is not known


class DiscordLookups:
    """The adapter's lookups of what it may have sent (a part of `DiscordAdapter`)."""

    platform: str
    send_timeout: float  # one request's deadline: each page's, and LOOKUP_SENDS of them all

    if TYPE_CHECKING:  # the adapter's own

        def _client(self) -> discord.Client: ...

        def _partial(self, channel: str) -> discord.PartialMessageable: ...

        def _system_channel(self, channel: str) -> discord.TextChannel | None: ...

    async def find_posted(
        self,
        channel: str,
        delivery_id: int,
        thread: MessageRef | None = None,
        *,
        since: datetime | None = None,
    ) -> MessageRef | None:
        """Our message with this delivery's ref among those posted from just before `since`
        (the newest ones without it), or in their threads. None when the channel is gone
        (nothing there to duplicate); a DeliveryError when Discord cannot tell (an outage,
        or no right to read the history where we may still post), so that nothing is sent
        on a guess."""
        try:
            marker = ref_marker(delivery_id)
            story = (thread.thread_id or thread.message_id) if thread is not None else None
            return await asyncio.wait_for(
                self._find_posted(channel, marker, story, since),
                self.send_timeout * LOOKUP_SENDS,
            )
        except CALL_ERRORS as exc:
            error = delivery_error(exc)
            log.warning(
                "discord.find_posted_failed channel=%s delivery=%d error=%s",
                channel,
                delivery_id,
                error,
            )
            if isinstance(exc, discord.HTTPException) and (exc.status == 404 or exc.code in GONE):
                return None
            raise error from exc

    async def find_notice(self, channel: str, key: int, *, since: datetime | None = None) -> bool:
        """Notice `key` among our messages in the channel, or in the system channel it falls
        back to, read as `find_posted` reads; a DeliveryError when Discord cannot tell."""
        fallback = self._system_channel(channel)
        places = [channel] + ([str(fallback.id)] if fallback is not None else [])
        unknown: DeliveryError | None = None
        for where in places:
            try:
                if await asyncio.wait_for(
                    self._notice_in(where, key, since), self.send_timeout * LOOKUP_SENDS
                ):
                    return True
            except discord.HTTPException as exc:
                if exc.status != 404 and exc.code not in GONE:  # a channel gone holds nothing
                    unknown = delivery_error(exc)
            except CALL_ERRORS as exc:
                unknown = delivery_error(exc)
        if unknown is not None:
            raise unknown
        return False

    async def _notice_in(self, where: str, key: int, since: datetime | None) -> bool:
        marker = notice_marker(key)
        async for msg in self._history(where, since, marker):
            if msg.author == self._client().user and msg.content.endswith(f"\n{marker}"):
                return True
        return False

    async def _find_posted(
        self, channel: str, marker: str, story: str | None, since: datetime | None
    ) -> MessageRef | None:
        if story is not None and story != channel:  # the story's own thread first
            try:
                async for msg in self._history(story, since, marker):
                    if self._ours(msg, marker):
                        return MessageRef(self.platform, channel, str(msg.id), story)
            except discord.NotFound:
                pass  # the thread is gone: nothing in it can be seen to be duplicated
        threads: list[str] = []
        async for msg in self._history(channel, since, marker):
            if self._ours(msg, marker):
                return MessageRef(self.platform, channel, str(msg.id))
            if msg.flags.has_thread and msg.author == self._client().user:
                threads.append(str(msg.id))
        for thread in threads[:THREADS_SCANNED]:
            async for msg in self._history(thread, since, marker):
                if self._ours(msg, marker):
                    return MessageRef(self.platform, channel, str(msg.id), thread)
        return None

    async def _history(
        self, where: str, since: datetime | None, marker: str
    ) -> AsyncIterator[discord.Message]:
        """The messages of a channel or thread from just before `since`, oldest first (where
        ours is, soon after it), else the newest first; up to LOOKUP_MESSAGES, each page
        within the send deadline."""
        after = None
        if since is not None:
            start = discord.utils.time_snowflake(since - CLOCK_MARGIN)
            after = discord.Object(id=max(start, 0))  # a damaged claim time: from the start
        pages = self._partial(where).history(limit=LOOKUP_MESSAGES, after=after)
        seen = 0
        while True:
            try:
                msg = await asyncio.wait_for(anext(pages), self.send_timeout)
            except StopAsyncIteration:
                break
            seen += 1
            yield msg
        if seen >= LOOKUP_MESSAGES:
            log.warning(
                "discord.find_posted_capped where=%s ref=%s since=%s read=%d: the cap on "
                "messages read was reached; a post of this delivery past them is not seen",
                where,
                marker,
                since.isoformat() if since else "-",
                seen,
            )

    def _ours(self, msg: discord.Message, marker: str) -> bool:
        footers = (e.footer.text or "" for e in msg.embeds)
        return msg.author == self._client().user and any(
            f.rsplit(" · ", 1)[-1] == marker for f in footers
        )
