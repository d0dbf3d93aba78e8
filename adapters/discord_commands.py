"""/wirewatch on Discord: the application command, and answering its interactions.

`command_payload` is the JSON that bulk-overwrite sync sends: one `wirewatch` command whose
subcommands and typed options come from `bot.commands.SUBCOMMANDS` (a topic option has
autocomplete, a mode option has choices). Two-word commands become groups (`feeds add`);
Discord forbids a group and a command of the same name side by side, so the bare `feeds`
becomes `feeds list`. `read_options` walks an interaction's options back to the core's
subcommand name and a plain {option: value} dict for `Commands.text_for`.

`discord_command` goes the other way, for the commands our own text suggests: the core
writes one spelling for every platform (`/wirewatch feeds add URL [NAME]`), which a Discord
member cannot type as shown; spelled from the same layout and options as the payload, it is
`/wirewatch feeds add url:URL [name:NAME]`, the command as Discord's client shows it filled
in. `discord_spans` does that to each `code` span of a reply or notice that is one whole
command, and `discord_digest` to a digest's closing line; anything else (an unknown word, a
part missing, free text, every story line of a digest) stays exactly as written.

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
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from adapters.discord_render import feedback_command, reply_text, split_text
from bot.commands import SUBCOMMANDS, Commands, Invocation, Reply, Subcommand, parse, rights_mark
from bot.commands.grammar import one_word
from bot.digest import closing_line
from bot.errors import CommandError

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEFER_AFTER = 2.0  # Discord wants an answer within 3 s
COMMAND = "wirewatch"
MODERATORS = (  # who may change this channel (`invocation`, `Commands.is_moderator`)
    "members who may manage the channel (Manage Channels), members with Manage Server, and "
    "user or role ids listed under `discord: moderators` in the config"
)
BOT_MODERATORS = (  # who may change every channel's feeds and topics
    "members with Manage Server or Administrator for the whole server (Manage Channels is "
    "not enough), and user or role ids listed under `discord: moderators` in the config"
)
SUB_COMMAND, SUB_COMMAND_GROUP, STRING = 1, 2, 3
GUILD_CONTEXT, GUILD_INSTALL = 0, 0
BARE = "list"  # what the bare `feeds` is called next to `feeds add`
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
_NAME = re.compile(r"[-_a-z0-9]{1,32}")
_KIND_HELP = {
    "topic": "topic name",
    "mode": "instant (one alert each) or digest",
    "url": "feed URL (http or https)",
    "duration": "how long, e.g. 30m, 2h, 1d",
    "query": 'a query, e.g. entity:"North Korea" AND NOT drill*',
    "text": "text",
    "alert": "the alert's number: ref N under it",
    "switch": "on or off",
}


@dataclass(frozen=True)
class Invoked:
    """What an interaction asked for, in the core's terms."""

    name: str  # the core's subcommand name, e.g. "feeds add"
    options: dict[str, str]
    focused: str | None = None  # the option being typed (autocomplete)
    kind: str | None = None  # the focused option's kind


def layout(subcommands: Iterable[Subcommand] = SUBCOMMANDS) -> dict[tuple[str, ...], Subcommand]:
    """Discord path -> subcommand: ('subscribe',), ('feeds', 'add'), ('feeds', 'list')."""
    subs = list(subcommands)
    groups = {s.name.split()[0] for s in subs if " " in s.name}
    paths: dict[tuple[str, ...], Subcommand] = {}
    for s in subs:
        words = tuple(s.name.split())
        path = (*words, BARE) if len(words) == 1 and words[0] in groups else words
        if len(path) > 2 or not all(_NAME.fullmatch(w) for w in path) or path in paths:
            raise ValueError(f"subcommand {s.name!r} cannot be a Discord command")
        paths[path] = s
    return paths


def _option(name: str, kind: str, required: bool) -> dict[str, Any]:
    if not _NAME.fullmatch(name):
        raise ValueError(f"option {name!r} cannot be a Discord option name")
    option: dict[str, Any] = {
        "type": STRING,
        "name": name,
        "required": required,
        "description": _KIND_HELP.get(kind, name),
    }
    if kind == "topic":
        option["autocomplete"] = True
    elif kind == "mode":
        option["choices"] = [{"name": m, "value": m} for m in ("instant", "digest")]
    elif kind == "switch":
        option["choices"] = [{"name": m, "value": m} for m in ("on", "off")]
    return option


def _ordered(sub: Subcommand) -> list[tuple[str, str, bool]]:
    """Its options as Discord lists them: Discord wants required options first; the core
    reads them by name, so order is free."""
    return sorted(sub.args, key=lambda a: not a[2])


def _subcommand(name: str, sub: Subcommand) -> dict[str, Any]:
    args = _ordered(sub)
    help_text = sub.help + rights_mark(sub)
    return {
        "type": SUB_COMMAND,
        "name": name,
        "description": help_text[:100],
        "options": [_option(*a) for a in args],
    }


def command_payload(subcommands: Iterable[Subcommand] = SUBCOMMANDS) -> dict[str, Any]:
    """The /wirewatch command for bulk overwrite: shown to every member (wirewatch checks
    rights itself, see the module docstring), in servers only."""
    options: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for path, sub in layout(subcommands).items():
        if len(path) == 1:
            options.append(_subcommand(path[0], sub))
            continue
        if path[0] not in groups:
            groups[path[0]] = {
                "type": SUB_COMMAND_GROUP,
                "name": path[0],
                "description": f"{path[0]} commands",
                "options": [],
            }
            options.append(groups[path[0]])
        groups[path[0]]["options"].append(_subcommand(path[1], sub))
    return {
        "name": COMMAND,
        "type": 1,
        "description": "wirewatch: news alerts for this channel",
        "options": options,
        "contexts": [GUILD_CONTEXT],
        "integration_types": [GUILD_INSTALL],
        "nsfw": False,
    }


class UnknownCommand(Exception):
    """A /wirewatch path or option this version does not have: a Discord client may show
    an older schema for a while after an upgrade renamed or removed one."""


def read_options(
    data: Mapping[str, Any], subcommands: Iterable[Subcommand] = SUBCOMMANDS
) -> Invoked | None:
    """An interaction's `data` as the core's subcommand and options; None if not ours,
    UnknownCommand if ours but not as this version declares it (an option dropped
    silently would run the command as something else)."""
    if data.get("name") != COMMAND:
        return None
    path: list[str] = []
    level = data.get("options") or []
    while level and level[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
        path.append(str(level[0].get("name")))
        level = level[0].get("options") or []
    sub = layout(subcommands).get(tuple(path))
    if sub is None:
        raise UnknownCommand(f"`/{' '.join([COMMAND, *path])}`")
    kinds = {name: kind for name, kind, _ in sub.args}
    if unknown := [str(o.get("name")) for o in level if o.get("name") not in kinds]:
        raise UnknownCommand(f"`/{COMMAND} {' '.join(path)}` with `{'`, `'.join(unknown)}`")
    values = {o["name"]: str(o.get("value", "")) for o in level}
    focused = next((o["name"] for o in level if o.get("focused")), None)
    return Invoked(sub.name, values, focused, kinds.get(focused) if focused else None)


# A part of a command as the core writes it: `[...]` (an optional part of a synopsis,
# `[NAME]`, `[--only QUERY]`) or a word.
_PART = re.compile(r"\[(?P<optional>[^\[\]\n]*)\]|\S+")
_SPAN = re.compile(r"`([^`\n]*)`")
_SAID_TWICE = re.compile(r"(`[^`\n]*`) \(or (`[^`\n]*`)\)")  # "`a` (or `a`)"


@dataclass(frozen=True)
class _Given:
    value: str
    optional: bool  # written in brackets, as a synopsis marks an optional part


@cache
def _paths() -> dict[str, tuple[str, ...]]:
    """The core's subcommand name -> its Discord path (`feeds` -> ('feeds', 'list'))."""
    return {sub.name: path for path, sub in layout().items()}


def discord_command(command: str) -> str | None:
    """A command as the core spells it, `/wirewatch feedback not-relevant REF`, as Discord's
    client shows it filled in: `/wirewatch feedback not-relevant alert:REF` (options by
    name, required first, optional ones kept in brackets; the bare `feeds` is `feeds list`).
    None when it is not one whole command of this version: an unknown word, a required part
    missing or a word too many; read by the core's own parser."""
    prefix = f"/{COMMAND} "
    typed = command[len(prefix) :] if command.startswith(prefix) else ""
    if not typed.strip() or "`" in typed:
        return None
    try:
        sub, rest = parse(typed)
    except CommandError:
        return None
    given = _given(sub, rest)
    if given is None:
        return None
    chips = [
        (f"{n}:{given[n].value}", given[n].optional) for n, _, _ in _ordered(sub) if n in given
    ]
    return " ".join([f"/{COMMAND}", *_paths()[sub.name], *(f"[{c}]" if o else c for c, o in chips)])


def _given(sub: Subcommand, rest: str) -> dict[str, _Given] | None:
    """Which option each part of `rest` fills, as `text_for` would have written them: a
    query option after its flag (`--only QUERY`), the others in order, each one word but the
    last, which takes the rest unless it is one word too."""
    flags = {f"--{name}": name for name, kind, _ in sub.args if kind == "query"}
    parts = list(_PART.finditer(rest))
    given: dict[str, _Given] = {}
    loose: list[re.Match[str]] = []
    i = 0
    while i < len(parts):
        inner = parts[i]["optional"]
        flag, _, value = (parts[i][0] if inner is None else inner.strip()).partition(" ")
        if flag not in flags:
            loose.append(parts[i])
            i += 1
            continue
        end = i + 1
        if inner is None:  # `--only` then its words, up to the next flag
            while end < len(parts) and parts[end][0] not in flags:
                end += 1
            value = rest[parts[i + 1].start() : parts[end - 1].end()] if end > i + 1 else ""
        if not value.strip() or flags[flag] in given:
            return None
        given[flags[flag]] = _Given(value.strip(), inner is not None)
        i = end
    positional = [a for a in sub.args if a[1] != "query"]
    for n, (name, kind, required) in enumerate(positional):
        rest_of_it = n == len(positional) - 1 and not one_word(sub.name, name, kind)
        taken, loose = (loose, []) if rest_of_it else (loose[:1], loose[1:])
        if not taken:
            if required:
                return None
            continue
        optional = len(taken) == 1 and taken[0]["optional"] is not None
        value = taken[0]["optional"] if optional else rest[taken[0].start() : taken[-1].end()]
        if not value.strip() or (optional and required):
            return None
        given[name] = _Given(value.strip(), optional)
    return None if loose else given


def discord_spans(text: str) -> str:
    """Our text (a reply, a notice) with each `code` span that is one whole command spelled
    as Discord takes it; every other span and all text around them as written. A command
    the core gives two spellings of that are one on Discord (`feeds`, or `feeds list`) is
    said once."""
    spelled = _SPAN.sub(lambda m: f"`{discord_command(m[1]) or m[1]}`", text)
    return _SAID_TWICE.sub(lambda m: m[1] if m[1] == m[2] else m[0], spelled)


def discord_digest(text: str) -> str:
    """A digest (bot.digest.digest_text) whose closing line, ours alone, spells its commands
    as Discord takes them; its story lines, feed text, stay as written whatever they say."""
    head, newline, last = text.rpartition("\n")
    if last != closing_line("discord"):
        return text
    return head + newline + _spell_line(last)


def _spell_line(line: str) -> str:
    """Each `/wirewatch ...` in a line of our own, as long a run of its words as reads as one
    whole command, in Discord's spelling."""
    starts = [m.start() for m in re.finditer(re.escape(f"/{COMMAND} "), line)]
    out, done = [], 0
    for n, start in enumerate(starts):
        segment = line[start : starts[n + 1] if n + 1 < len(starts) else len(line)]
        for cut in reversed([m.end() for m in re.finditer(r"\S+", segment)][1:]):
            if spelled := discord_command(segment[:cut]):
                out += [line[done:start], spelled]
                done = start + cut
                break
    return "".join([*out, line[done:]])


def cannot_post(perms: discord.Permissions) -> str:
    """What the bot's permissions in a channel (`interaction.app_permissions`, resolved by
    Discord) lack for posting alerts there; "" when nothing is missing."""
    missing = [label for flag, label in POSTING.items() if not getattr(perms, flag)]
    if not missing:
        return ""
    return (
        f"the bot lacks {', '.join(missing)} here: give wirewatch's role those permissions "
        "in the channel's settings (Edit Channel → Permissions)"
    )


def channel_of(interaction: discord.Interaction) -> int | None:
    """The channel a typed command acts on: a thread's parent, for a thread (a story's,
    where editors read it) has no subscriptions of its own; `list` or `mute` there mean
    the channel it hangs from. Its permissions are the parent's too."""
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return channel.parent_id
    return interaction.channel_id


class CommandSurface(Protocol):
    """What the router needs of the core's commands (bot.commands.Commands)."""

    def handle(self, inv: Invocation) -> Awaitable[Reply]: ...

    def topic_names(self, prefix: str = "") -> list[str]: ...


@dataclass(frozen=True)
class _HandleOnly:
    """A bare handler: commands work, autocomplete offers nothing."""

    handle: Callable[[Invocation], Awaitable[Reply]]

    def topic_names(self, prefix: str = "") -> list[str]:
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
            cannot_post=cannot_post(interaction.app_permissions),
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
        typed = invoked.options.get(invoked.focused or "", "")
        wanted = self.commands is not None and invoked.kind == "topic"
        names = self.commands.topic_names(typed) if wanted and self.commands else []
        await interaction.response.autocomplete(
            [app_commands.Choice(name=n, value=n) for n in names[:25]]
        )
