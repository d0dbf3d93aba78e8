"""Discord's error codes sorted by what the outbox should do about them, and the
DeliveryError a failed request becomes.

400/403/404 stop the delivery (the outbox pauses the channel and tells a moderator); a
refusal of the message itself (REFUSED) fails alone; a refused token (401) waits on disk for
a restart. 5xx, 429 beyond discord.py's own waiting, timeouts and network errors are
retried; a 5xx, a timeout or a dropped connection may come after Discord posted the
message: those are marked `maybe_posted`.

Deliberately not here: calling Discord (discord_bot), looking for a message in doubt
(discord_lookups).
"""

from __future__ import annotations

import aiohttp
import discord

from adapters.base import DeliveryError
from adapters.discord_render import clip

# What one Discord request can fail with: its own HTTP errors, the transport, a timeout.
CALL_ERRORS = (
    discord.HTTPException,
    discord.RateLimited,  # a wait longer than discord_client.RATE_LIMIT_WAIT
    aiohttp.ClientError,
    OSError,
    ValueError,
    TimeoutError,
)
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
MISSING_ACCESS = (50001, 50013)
GONE = (10003, 10008)  # unknown channel, unknown message
UNKNOWN_CHANNEL = 10003  # the channel was deleted (one the bot cannot see is 50001)
# A thread a moderator archived and locked takes no post from a bot without Manage Threads:
# the channel is fine, so the update goes there (as when the thread was deleted).
THREAD_CLOSED = (50083, 160005)  # "Thread is archived", "Thread is locked"
# Refusals of the message itself, not the channel (invalid form body, empty message, too
# large): sent again it is refused again, so it fails alone instead of pausing the channel.
REFUSED = (50035, 50006, 40005)


def delivery_error(exc: BaseException) -> DeliveryError:
    """Discord's answer as retry-later or stop; the text is what a moderator will read."""
    if isinstance(exc, discord.RateLimited):
        return DeliveryError("discord rate limit", retry_after=exc.retry_after)
    if isinstance(exc, discord.HTTPException) and exc.status in (400, 413) and exc.code in REFUSED:
        return DeliveryError(_refusal(exc), permanent=True, refused=True)
    if isinstance(exc, discord.HTTPException) and exc.status == 401:
        # The token, not the channel: pausing the channel would leave each one to be
        # subscribed again once the token is fixed. It waits on disk for a restart.
        return DeliveryError(f"{_refusal(exc)}; restart wirewatch once fixed", retry_after=30.0)
    if isinstance(exc, discord.HTTPException) and exc.status in (400, 403, 404):
        deleted = exc.status == 404 and exc.code == UNKNOWN_CHANNEL  # not a lost permission
        return DeliveryError(_refusal(exc), permanent=True, gone="deleted" if deleted else "")
    if isinstance(exc, discord.HTTPException) and exc.status == 429:
        return DeliveryError(
            "discord refused the request (429 without rate-limit details)", retry_after=60.0
        )
    if isinstance(exc, discord.HTTPException):
        return DeliveryError(
            f"discord answered {exc.status}: {clip(exc.text, 200)}", maybe_posted=exc.status >= 500
        )
    if isinstance(exc, ValueError):
        return DeliveryError(f"not a Discord channel or message id: {exc}", permanent=True)
    if isinstance(exc, TimeoutError):
        return DeliveryError("discord did not answer in time", maybe_posted=True)
    if isinstance(exc, aiohttp.ClientConnectorError):  # never reached Discord
        return DeliveryError(f"cannot reach discord: {exc}")
    return DeliveryError(f"lost discord's answer: {type(exc).__name__}: {exc}", maybe_posted=True)


def _refusal(exc: discord.HTTPException) -> str:
    what = f"discord refused ({exc.status}, code {exc.code}: {clip(exc.text, 200)})"
    if exc.status == 403 or exc.code in MISSING_ACCESS:
        return (
            f"{what}: the bot needs View Channel, Send Messages, Embed Links, Read "
            "Message History, Create Public Threads and Send Messages in Threads there"
        )
    if exc.status == 404:
        return f"{what}: the channel is gone or the bot cannot see it"
    if exc.status == 401:  # retried, it would fail every alert every 15 minutes for good
        return f"{what}: the bot token is not valid (check DISCORD_BOT_TOKEN)"
    return what


def error_code(exc: DeliveryError) -> int | None:
    """Discord's JSON error code behind a DeliveryError, when there was one."""
    cause = exc.__cause__
    return cause.code if isinstance(cause, discord.HTTPException) else None


def snowflake(ident: str) -> int:
    """A channel or message id as Discord's API takes it; anything else cannot be sent to."""
    if not ident.isdigit():
        raise DeliveryError(f"not a Discord id: {ident!r}", permanent=True)
    return int(ident)
