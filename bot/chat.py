"""The one small interface a chat platform implements, and the errors it may raise.

The core knows nothing else of Slack or Discord: adapters (in `adapters/`) render an Alert
their own way, escape feed text at the last step, and turn platform errors into
`DeliveryError(retry_after=...)` (try later) or `DeliveryError(permanent=True)` (stop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.model import Alert, MessageRef

# A command handler takes (platform, channel, user, text) and returns the reply text.
CommandHandler = Callable[..., Awaitable[object]]

# `find_posted` looks from this long before `since`: our clock and the platform's may differ.
CLOCK_MARGIN = timedelta(minutes=5)


class ChatAdapter(Protocol):
    platform: str

    async def start(self, commands: CommandHandler | None) -> None:
        """Connect; route chat commands to `commands` when the platform has them."""

    async def stop(self) -> None:
        """Disconnect; pending work stays in the outbox."""

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        """Post a story's first message in `channel` (the id after 'platform:')."""

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        """Post a later item of the story in the thread of its first message."""

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        """Rewrite the story's first message, e.g. to list every source so far."""

    async def find_posted(
        self,
        channel: str,
        delivery_id: int,
        thread: MessageRef | None = None,
        *,
        since: datetime | None = None,
    ) -> MessageRef | None:
        """After a crash: the message already posted for `delivery_id`, if the platform can
        tell. `thread`: the story's first message, for an update: its thread is looked in
        first, however old the story (a scan of recent threads would miss it). `since`: when
        the send in doubt began (by our clock): everything posted from a little before it
        (CLOCK_MARGIN) is looked at, however many messages followed ours, up to a cap said in
        the log; without it, the newest messages up to that cap."""

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        """Post one digest message, or raise DeliveryError. It carries `key` (its first
        delivery's id) as an alert carries its delivery id, so that `find_posted(channel,
        key)` finds it after a crash or a lost answer."""

    async def post_notice(self, channel: str, text: str, *, key: int | None = None) -> None:
        """Tell moderators something once (a paused channel, a disabled feed). It carries
        `key` (the notice's id), where the platform lets it, so that `find_notice` finds it
        after a shutdown or a lost answer; only a refusal sends it elsewhere (a lost answer
        may have posted it where it was asked for)."""

    async def find_notice(self, channel: str, key: int, *, since: datetime | None = None) -> bool:
        """Whether notice `key` is already there (where `post_notice` would have put it), read
        as `find_posted` reads: from just before `since`. A DeliveryError when the platform
        cannot tell (a notice sent by a Slack DM cannot be read back)."""


def split_channel(channel: str) -> tuple[str, str]:
    """'slack:C0123' -> ('slack', 'C0123'); 'console' -> ('console', 'console')."""
    platform, _, ident = channel.partition(":")
    return platform, ident or platform
