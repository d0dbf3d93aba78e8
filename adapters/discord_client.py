"""discord.py's client as the adapter runs it: guild events only, no pings, rate limits up
to RATE_LIMIT_WAIT slept through, and the gateway's drops, READY and interactions handed to
the adapter.

Deliberately not here: what the adapter does with them (discord_bot), interactions
(discord_commands).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from adapters.discord_commands import NO_PINGS

if TYPE_CHECKING:
    from adapters.discord_bot import DiscordAdapter

# A rate limit up to this is slept through inside the request; a longer one comes back as
# RateLimited, and the outbox waits it out on disk. Slept through past SEND_TIMEOUT, it was
# taken for a lost answer and tried again after 5 s, before Discord's retry_after.
# discord.py takes no value under 30 s (it raises a smaller one to 30), so 30 it is.
RATE_LIMIT_WAIT = 30.0


class GatewayClient(discord.Client):
    """discord.py's client, told where to send interactions and when it is ready."""

    def __init__(self, adapter: DiscordAdapter):
        # The bot never joins a voice channel: discord.py's warnings at every start that voice
        # needs PyNaCl and davey (which we do not install) are noise an operator looks up.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=discord.Intents(guilds=True),
            allowed_mentions=NO_PINGS,
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
            guild_ready_timeout=adapter.guild_ready_timeout,
        )
        self.adapter = adapter

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        """The gateway's ups and downs as discord.py meets them, before any handler runs: it
        says `disconnect` when the socket drops and `resumed` or `ready` once it is back
        (between the two it reconnects by itself, `is_ready()` still true)."""
        if event == "disconnect":
            self.adapter.gateway_dropped()
        elif event in ("resumed", "ready"):
            self.adapter.gateway_back()
        super().dispatch(event, *args, **kwargs)

    async def on_ready(self) -> None:
        self.adapter.ready.set()

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        self.adapter.channel_deleted(channel.id, channel.guild.id)

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A deleted thread comes as THREAD_DELETE, not CHANNEL_DELETE: a forum's post takes
        subscriptions too. Raw: a post not in discord.py's cache (archived) is said too."""
        self.adapter.channel_deleted(payload.thread_id, payload.guild_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.router.on_interaction(interaction)
