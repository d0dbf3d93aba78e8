"""/wirewatch on Discord: answering its interactions.

The command's shape (the payload sync sends, options read back) is discord_schema's; the
spelling of commands our text suggests is discord_spelling's.

`CommandRouter` answers interactions the way every handler here does: acknowledge or defer
within 3 s, call the shared command code, send its reply (ephemeral, escaped, split at 2,000
characters). A click on an alert's feedback button is a component interaction: it runs the
shared `feedback KIND ALERT` command and is answered the same way, to the clicker only.
The Invocation's `platform_admin` is the member's permissions as Discord resolved them for
the channel (Manage Channels or Administrator). The command sets no
`default_member_permissions`: everyone may search, test, see status and give feedback, so
every member is shown `/wirewatch`, and wirewatch itself refuses what a member may not do
(such a default would hide it from them, and proves nothing: server admins may override it).
That covers the
channel's own commands; the bot-wide ones (`Subcommand.bot_wide`: feeds and topics, shared
by every channel) need `bot_admin`, Manage Server or Administrator across the server
(`guild_permissions`): a channel-level overwrite giving Manage Channels in one channel
must not reach every other channel's feeds and topics.

Deliberately not here: deciding who is a moderator or what a command does (bot.commands),
alerts and the connection (discord_bot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from adapters.discord_render import feedback_command, reply_text, split_text
from adapters.discord_schema import Invoked, UnknownCommand, read_options
from adapters.discord_spelling import discord_spans
from bot.commands import Commands, Invocation, Reply
from bot.errors import CommandError

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEFER_AFTER = 2.0  # Discord wants an answer within 3 s
MODERATORS = (  # who may change this channel (`invocation`, `Commands.is_moderator`)
    "members who may manage the channel (Manage Channels), members with Manage Server, and "
    "user or role ids listed under `discord: moderators` in the config"
)
BOT_MODERATORS = (  # who may change every channel's feeds and topics
    "members with Manage Server or Administrator for the whole server (Manage Channels is "
    "not enough), and user or role ids listed under `discord: moderators` in the config"
)
# What wirewatch needs in a channel to post its alerts there (discord_bot.PERMISSIONS, the
# invite's), as Discord's settings name them.
POSTING = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "read_message_history": "Read Message History",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
}


# In a forum's post the bot posts into the post: the forum's Send Messages is "Create
# Posts", which a forum where only staff start posts denies, and a post starts no thread.
IN_A_POST = ("view_channel", "send_messages_in_threads", "embed_links", "read_message_history")


def cannot_post(perms: discord.Permissions, *, in_post: bool = False) -> str:
    """What the bot's permissions in a channel (`interaction.app_permissions`, resolved by
    Discord) lack for posting alerts there (`in_post`: a forum's post); "" when nothing is
    missing."""
    flags = IN_A_POST if in_post else POSTING
    missing = [POSTING[flag] for flag in flags if not getattr(perms, flag)]
    if not missing:
        return ""
    return (
        f"the bot lacks {', '.join(missing)} here: give wirewatch's role those permissions "
        "in the channel's settings (Edit Channel → Permissions)"
    )


def channel_of(interaction: discord.Interaction) -> int | None:
    """The channel a typed command acts on: a thread's parent, for a thread (a story's,
    where editors read it) has no subscriptions of its own; `list` or `mute` there mean
    the channel it hangs from. Its permissions are the parent's too. Not a forum's post:
    the forum takes no message (Discord refuses it, 50008), the post is where alerts go."""
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return channel.id if in_a_post(interaction) else channel.parent_id
    return interaction.channel_id


def in_a_post(interaction: discord.Interaction) -> bool:
    """Whether the command was typed in a forum's post (a media channel's too)."""
    channel = interaction.channel
    return isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel)


class CommandSurface(Protocol):
    """What the router needs of the core's commands (bot.commands.Commands)."""

    def handle(self, inv: Invocation) -> Awaitable[Reply]: ...

    def topic_names(
        self, prefix: str = "", *, command: str = "", channel: str = ""
    ) -> list[str]: ...


@dataclass(frozen=True)
class _HandleOnly:
    """A bare handler: commands work, autocomplete offers nothing."""

    handle: Callable[[Invocation], Awaitable[Reply]]

    def topic_names(self, prefix: str = "", *, command: str = "", channel: str = "") -> list[str]:
        return []


def as_surface(commands: Any) -> CommandSurface | None:
    """`Commands`, or its bound `handle` as the command line passes to every adapter."""
    if commands is None or hasattr(commands, "handle"):
        return commands
    owner = getattr(commands, "__self__", None)
    if hasattr(owner, "handle") and hasattr(owner, "topic_names"):
        return owner
    return _HandleOnly(commands)


class CommandRouter:
    """Our interactions in, the core's replies out; anything not /wirewatch is ignored."""

    def __init__(
        self,
        commands: CommandSurface | None,
        platform: str = "discord",
        defer_after: float = DEFER_AFTER,
    ):
        self.commands = commands
        self.platform = platform
        self.defer_after = defer_after

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            await self.on_click(interaction)
            return
        kinds = (discord.InteractionType.application_command, discord.InteractionType.autocomplete)
        try:
            invoked = read_options(interaction.data or {}) if interaction.type in kinds else None
        except UnknownCommand as exc:
            await self._out_of_date(interaction, f"command {exc}")
            return
        if invoked is None:
            return
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                await self._autocomplete(interaction, invoked)
            else:
                await self._run(interaction, lambda: self.invocation(interaction, invoked))
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("discord.interaction_failed command=%s error=%s", invoked.name, exc)

    async def on_click(self, interaction: discord.Interaction) -> None:
        """A feedback button: the shared `feedback KIND ALERT` run as the member who
        clicked, answered to that member alone; the message itself is never changed."""
        data: Mapping[str, Any] = interaction.data or {}
        text = feedback_command(str(data.get("custom_id", "")))
        if text is None:
            await self._out_of_date(interaction, f"button `{data.get('custom_id', '')}`")
            return
        try:
            await self._run(interaction, lambda: self.click_invocation(interaction, text))
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("discord.interaction_failed click=%s error=%s", text, exc)

    async def _out_of_date(self, interaction: discord.Interaction, what: str) -> None:
        """Logged and answered: unanswered, the member sees only "The application did not
        respond", and nobody learns that clients still show another version's commands."""
        log.warning(
            "discord.unknown_command user=%s channel=%s what=%s",
            interaction.user.id,
            interaction.channel_id,
            what,
        )
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
                return
            text = (
                f"this {what} is out of date: wirewatch has changed since Discord loaded it. "
                "Reload Discord (Ctrl+R, or restart the app) and run `/wirewatch help`"
            )
            await self._answer(interaction, Reply(text, ok=False))
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("discord.interaction_failed unknown=%s error=%s", what, exc)

    async def _run(self, interaction: discord.Interaction, make: Callable[[], Invocation]) -> None:
        if self.commands is None or interaction.guild_id is None:
            text = "wirewatch commands work in server channels while the bot runs them"
            await self._answer(interaction, Reply(text, ok=False))
            return
        try:
            invocation = make()
        except CommandError as exc:  # options the shared command text cannot carry as typed
            await self._answer(interaction, Reply(str(exc), ok=False))
            return
        work = asyncio.ensure_future(self.commands.handle(invocation))
        done, _ = await asyncio.wait({work}, timeout=self.defer_after)
        if not done:
            await interaction.response.defer(ephemeral=True, thinking=True)
        await self._answer(interaction, await work)

    def click_invocation(self, interaction: discord.Interaction, text: str) -> Invocation:
        """Who clicked, where (a thread, for a story's updates): Discord sends a click only
        from someone who can see the message, through our authenticated gateway."""
        return Invocation(
            platform=self.platform,
            channel=f"{self.platform}:{interaction.channel_id}",
            user=str(interaction.user.id),
            text=text,
            workspace=str(interaction.guild_id),
        )

    def invocation(self, interaction: discord.Interaction, invoked: Invoked) -> Invocation:
        """Who asked, where, with which rights: Discord's permissions resolved for the
        channel (this channel's commands), the member's server-wide ones (bot-wide commands),
        and role ids."""
        perms = interaction.permissions
        server = getattr(interaction.user, "guild_permissions", None) or discord.Permissions.none()
        roles = getattr(interaction.user, "roles", [])
        return Invocation(
            platform=self.platform,
            channel=f"{self.platform}:{channel_of(interaction)}",
            user=str(interaction.user.id),
            text=Commands.text_for(invoked.name, invoked.options),
            platform_admin=perms.administrator or perms.manage_channels or server.manage_guild,
            bot_admin=server.administrator or server.manage_guild,
            roles=tuple(str(r.id) for r in roles if not r.is_default()),
            workspace=str(interaction.guild_id),
            moderators=MODERATORS,
            bot_moderators=BOT_MODERATORS,
            cannot_post=cannot_post(interaction.app_permissions, in_post=in_a_post(interaction)),
            user_name=interaction.user.name,
        )

    async def _answer(self, interaction: discord.Interaction, reply: Reply) -> None:
        """Ephemeral, split at Discord's 2,000 characters; the commands it suggests spelled
        as Discord takes them; feed text in it is escaped, and
        the links in it (feeds' URLs, search results) are not previewed: a page a feed
        chose would show its own title and picture under our answer."""
        chunks = split_text(reply_text(discord_spans(reply.text)))
        if not interaction.response.is_done():
            await interaction.response.send_message(
                chunks.pop(0), ephemeral=True, allowed_mentions=NO_PINGS, suppress_embeds=True
            )
        for chunk in chunks:
            await interaction.followup.send(
                chunk, ephemeral=True, allowed_mentions=NO_PINGS, suppress_embeds=True
            )

    async def _autocomplete(self, interaction: discord.Interaction, invoked: Invoked) -> None:
        """The topic names this subcommand takes in this channel (a thread's parent, as the
        command itself will act on), starting with what is typed."""
        typed = invoked.options.get(invoked.focused or "", "")
        names: list[str] = []
        if self.commands is not None and invoked.kind == "topic":
            channel = f"{self.platform}:{channel_of(interaction)}"
            names = self.commands.topic_names(typed, command=invoked.name, channel=channel)
        await interaction.response.autocomplete(
            [app_commands.Choice(name=n, value=n) for n in names[:25]]
        )
