"""The Discord adapter: alerts as embeds, story updates in a thread, /wirewatch as app commands.

It runs a discord.py client (discord_client) in the bot's own event loop. Every send carries
`AllowedMentions.none()` (the client's default too) and a nonce derived from the delivery id
with `enforce_nonce`, so a retried send within Discord's nonce window returns the message
already posted instead of posting twice; the embed footer carries the delivery id as well so
`find_posted` (discord_lookups) can recognise an older post in the channel's history, read
from just before the send in doubt began. Discord's errors become DeliveryError
(discord_errors): 400/403/404 stop the delivery (the outbox pauses the channel and tells a
moderator), 5xx, 429 beyond discord.py's own waiting, timeouts and network errors are
retried. A 5xx, a timeout or a dropped connection may come after Discord posted the
message, and a retry can come after the nonce window: those errors are marked
`maybe_posted`, and the outbox looks for the message (`find_posted`, by the embed footer)
before sending it again.

Every alert and update carries the "Not relevant" / "Wrong story" buttons
(discord_render.feedback_view); an edit leaves them as they are. Given the core's commands
at start, it syncs /wirewatch (bulk overwrite) and hands every interaction, button clicks
included, to discord_commands.CommandRouter.

Deliberately not here: what a command does (bot.commands), rendering (discord_render), the
command schema (discord_schema), interaction handling (discord_commands), what an error
means (discord_errors), a message's nonce and notice marker (discord_marks), looking for a
send in doubt (discord_lookups), retries and ordering (bot.outbox).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.base import Alert, DeliveryError, MessageRef
from adapters.discord_client import GatewayClient
from adapters.discord_commands import DEFER_AFTER, NO_PINGS, CommandRouter, as_surface
from adapters.discord_errors import (
    CALL_ERRORS,
    GONE,
    THREAD_CLOSED,
    THREAD_EXISTS,
    delivery_error,
    error_code,
    snowflake,
)
from adapters.discord_lookups import DiscordLookups
from adapters.discord_marks import nonce_for, notice_content, notice_nonce
from adapters.discord_render import (
    alert_embed,
    digest_embed,
    edit_embed,
    feedback_view,
    thread_name,
)
from adapters.discord_schema import command_payload
from adapters.discord_spelling import discord_digest
from bot.errors import ConfigError, WirewatchError
from bot.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
SEND_TIMEOUT = 45.0  # above discord.py's own 5xx retries (1+3+5+7 s) plus a slow answer
THREAD_ARCHIVE_MINUTES: Final = 10080  # a week: longer than a story stays open
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    read_message_history=True,
    create_public_threads=True,
    send_messages_in_threads=True,
)
T = TypeVar("T")


def invite_url(application_id: int | str) -> str:
    """Where a server admin adds the bot, with exactly the permissions it needs."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={PERMISSIONS.value}"
    )


class DiscordAdapter(DiscordLookups):
    platform = "discord"

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        gateway_url: str | None = None,
        ready_timeout: float = READY_TIMEOUT,
        defer_after: float = DEFER_AFTER,
        sync_commands: bool = True,
        guild_ready_timeout: float = 2.0,
        send_timeout: float = SEND_TIMEOUT,
    ):
        self._token = token
        self.api_url, self.gateway_url = api_url, gateway_url
        self.ready_timeout = ready_timeout
        self.router = CommandRouter(None, self.platform, defer_after)
        self.sync_commands = sync_commands
        self.guild_ready_timeout = guild_ready_timeout  # READY is followed by GUILD_CREATEs
        self.send_timeout = send_timeout
        self.ready = asyncio.Event()
        self.client: GatewayClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self._threads: dict[str, str] = {}  # starter message id -> thread id
        # Why the gateway connection ended for good (a token revoked mid-run: 4004), if it
        # did: discord.py does not come back from that, so deliveries wait for a restart.
        self.stopped_by: str | None = None
        # When the gateway connection last dropped, while discord.py reconnects (None: up).
        self._dropped_at: float | None = None
        # Channels deleted while we ran -> their server's id: discord.py forgets a deleted
        # channel, and with it which server's system channel may take the pause notice.
        self._deleted: dict[int, int] = {}

    def _client_ended(self, task: asyncio.Task[None]) -> None:
        """The gateway connection ended for good (closed, or a fatal error such as a token
        Discord no longer accepts): say so in the log, and keep the reason for deliveries
        and /readyz."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.stopped_by = f"{type(error).__name__}: {error}"[:200]
            log.error("discord.client_stopped error=%s", self.stopped_by)
        else:
            log.info("discord.client_stopped")

    def channel_deleted(self, channel_id: int, guild_id: int) -> None:
        """CHANNEL_DELETE: its server is remembered, so that the notice saying its alerts
        stopped reaches the server's system channel (discord.py forgets a deleted channel;
        the notice then reached nobody: ten tries over 40 minutes, given up in the log)."""
        self._deleted[channel_id] = guild_id

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The gateway session is up, not dropped and being reconnected (discord.py does
        that by itself, from the drop until RESUMED or READY), and Discord has not refused
        the token."""
        client = self.client
        return (
            client is not None
            and not client.is_closed()
            and client.is_ready()
            and self._dropped_at is None
            and not self.stopped_by
        )

    @property
    def down_reason(self) -> str:
        """Why the adapter is not connected, for /readyz ("" when unknown or connected)."""
        if self.connected:
            return ""
        if self.stopped_by:
            return self.stopped_by
        if self._dropped_at is not None and self.client is not None and not self.client.is_closed():
            ago = time.monotonic() - self._dropped_at
            return f"reconnecting: the gateway connection dropped {ago:.0f}s ago"
        return ""

    def gateway_dropped(self) -> None:
        """discord.py lost the gateway and reconnects: not connected until it is back."""
        closing = self.client is None or self.client.is_closed()
        if self._dropped_at is None and self.ready.is_set() and not closing:
            log.warning("discord.gateway_dropped state=reconnecting")
        if self._dropped_at is None:
            self._dropped_at = time.monotonic()

    def gateway_back(self) -> None:
        """RESUMED (the same session) or READY (a new one): connected again."""
        if self._dropped_at is not None:
            log.info("discord.gateway_back after=%.1fs", time.monotonic() - self._dropped_at)
        self._dropped_at = None

    async def start(self, commands: Any = None) -> None:
        """Log in, wait for the gateway's READY, sync /wirewatch when commands are given
        (bot.commands.Commands or its bound `handle`)."""
        self.router.commands = as_surface(commands)
        self._point_discord_py()
        self.client = GatewayClient(self)
        self._task = asyncio.create_task(self.client.start(self._token), name="discord-client")
        self.stopped_by = self._dropped_at = None
        self._task.add_done_callback(self._client_ended)
        await self._wait_ready()
        user = self.client.user
        log.info(
            "discord.ready user=%s guilds=%d", user.id if user else "?", len(self.client.guilds)
        )
        if self.router.commands is not None and self.sync_commands:
            await self._sync_commands()

    async def stop(self) -> None:
        """Close the connection; unsent deliveries stay in the outbox."""
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=10)
            if not self._task.done():
                self._task.cancel()
        if self._saved is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
        self.ready.clear()

    def _point_discord_py(self) -> None:
        """DISCORD_API_URL / DISCORD_GATEWAY_URL: discord.py reads these class attributes."""
        self._saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        if self.api_url:
            Route.BASE = self.api_url.rstrip("/")
        if self.gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    async def _wait_ready(self) -> None:
        assert self._task is not None
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait(
            {ready, self._task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready.done():
            return
        ready.cancel()
        failure = self._task.exception() if self._task.done() else None
        await self.stop()
        if isinstance(failure, discord.LoginFailure):
            raise ConfigError(
                [
                    "DISCORD_BOT_TOKEN: Discord refused the token (reset it in the "
                    "Developer Portal, Bot page)"
                ]
            )
        why = (
            f"{type(failure).__name__}: {failure}"
            if failure
            else f"no READY within {self.ready_timeout:.0f}s"
        )
        raise WirewatchError(f"discord: cannot connect: {why}")

    async def _sync_commands(self) -> None:
        """Bulk overwrite: idempotent, so syncing at every start is safe."""
        client = self._client()
        app_id = client.application_id
        if app_id is None:  # READY, which start() waited for, carries it
            raise WirewatchError("discord: READY gave no application id to sync commands for")
        await self._call(client.http.bulk_upsert_global_commands(app_id, [command_payload()]))
        log.info("discord.commands_synced application=%s", app_id)

    # -- alerts --------------------------------------------------------------------------

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        embed = edit_embed(alert) if alert.edit else alert_embed(alert)
        msg = await self._send(channel, embed, alert)
        return MessageRef(self.platform, channel, str(msg.id))

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        """Into the thread started from the story's first message (made on first use); if a
        moderator deleted that message or its thread, or archived and locked the thread, or
        in a voice or stage channel's text chat (no threads there), into the channel instead.
        An edit of an item goes there the same way."""
        embed = edit_embed(alert) if alert.edit else alert_embed(alert, as_update=True)
        thread: str | None = None
        try:
            thread = parent.thread_id or await self._thread_for(parent, alert)
            msg = await self._send(thread, embed, alert)
        except DeliveryError as exc:
            code = error_code(exc)
            if code not in GONE + THREAD_CLOSED or thread == parent.channel:
                raise
            why = "closed" if code in THREAD_CLOSED else "gone"
            log.warning(
                "discord.thread_%s channel=%s story=%d", why, parent.channel, alert.story_id
            )
            thread = None
            msg = await self._send(parent.channel, embed, alert)
        inline = thread == parent.channel  # no thread: as `find_posted` would report it
        return MessageRef(self.platform, parent.channel, str(msg.id), None if inline else thread)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        """The first message lists every source so far. Its footer keeps its own delivery's
        ref (`alert.shown_delivery`), and drops it when that is not known: `delivery_id` is
        the later delivery that caused the edit. The buttons are left as they are."""
        message = self._partial(ref.channel).get_partial_message(snowflake(ref.message_id))
        embed = alert_embed(alert, ref=alert.shown_delivery is not None)
        await self._call(message.edit(embed=embed, allowed_mentions=NO_PINGS))

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        """One embed, with the key's nonce and its ref in the footer (as an alert's), its
        closing line's commands spelled as Discord takes them; no fallback channel: a digest
        that did not go where it was asked for waits."""
        embed = digest_embed(discord_digest(text), key)
        message = await self._call(
            self._partial(channel).send(
                embed=embed, nonce=nonce_for(key), allowed_mentions=NO_PINGS
            )
        )
        return MessageRef(self.platform, channel, str(message.id))

    async def post_notice(self, channel: str, text: str, *, key: int | None = None) -> None:
        """In the channel concerned, else, when it refuses us, the server's system channel;
        no ping, and no preview of the feed URLs a notice names. With `key`: its nonce, and
        a last line `-# notice KEY` that `find_notice` looks for. A lost answer is not a
        refusal: it may be posted, so it is not sent elsewhere too."""
        content = notice_content(text, key)
        extra: dict[str, Any] = {} if key is None else {"nonce": notice_nonce(key)}
        try:
            await self._call(
                self._partial(channel).send(
                    content, allowed_mentions=NO_PINGS, suppress_embeds=True, **extra
                )
            )
            return
        except DeliveryError as exc:
            fallback = self._system_channel(channel)
            if fallback is None or not exc.permanent:
                raise
            log.info("discord.notice_fallback channel=%s error=%s", channel, exc)
        await self._call(
            fallback.send(content, allowed_mentions=NO_PINGS, suppress_embeds=True, **extra)
        )

    # -- alert plumbing ------------------------------------------------------------------

    async def _send(self, channel: str, embed: discord.Embed, alert: Alert) -> discord.Message:
        return await self._call(
            self._partial(channel).send(
                embed=embed,
                view=feedback_view(alert),
                nonce=nonce_for(alert.delivery_id),
                allowed_mentions=NO_PINGS,
            )
        )

    async def _thread_for(self, parent: MessageRef, alert: Alert) -> str:
        """Discord gives a thread started from a message that message's id; create it once.

        Where a message cannot start a thread (a thread itself, or a voice or stage
        channel's text chat), the update goes into the channel, as when the story's thread
        was deleted: refusing it would pause the whole subscription."""
        if parent.message_id in self._threads:
            return self._threads[parent.message_id]
        channel = await self._call(self._channel(snowflake(parent.channel)))
        if isinstance(channel, discord.Thread):  # subscribed inside a thread: stay there
            return str(channel.id)
        if not isinstance(channel, discord.TextChannel):
            log.info("discord.updates_inline channel=%s type=%s", parent.channel, channel.type)
            self._threads[parent.message_id] = parent.channel
            return parent.channel
        starter = channel.get_partial_message(snowflake(parent.message_id))
        try:
            await self._call(
                starter.create_thread(
                    name=thread_name(alert), auto_archive_duration=THREAD_ARCHIVE_MINUTES
                )
            )
        except DeliveryError as exc:
            if error_code(exc) != THREAD_EXISTS:
                raise
        self._threads[parent.message_id] = parent.message_id
        return parent.message_id

    async def _channel(self, channel_id: int) -> Any:
        client = self._client()
        return client.get_channel(channel_id) or await client.fetch_channel(channel_id)

    def _system_channel(self, channel: str) -> discord.TextChannel | None:
        client, ident = self._client(), int(channel) if channel.isdigit() else 0
        known = client.get_channel(ident) if ident else None
        guild = getattr(known, "guild", None) or client.get_guild(self._deleted.get(ident, 0))
        system = guild.system_channel if guild else None
        return system if system is not None and str(system.id) != channel else None

    def _partial(self, channel: str) -> discord.PartialMessageable:
        return self._client().get_partial_messageable(snowflake(channel))

    def _client(self) -> GatewayClient:
        if self.client is None or self.client.is_closed():
            if self.stopped_by:  # waits on disk: a restart with the cause fixed sends it
                raise DeliveryError(
                    f"discord is not connected: the gateway closed for good ({self.stopped_by}); "
                    "fix that and restart wirewatch",
                    retry_after=30.0,  # not longer: after the restart they go out at once
                )
            raise DeliveryError("discord is not connected", retry_after=30.0)
        return self.client

    async def _call(self, call: Awaitable[T]) -> T:
        """One Discord request with a deadline, its failure turned into a DeliveryError.

        The deadline stops our waiting, not the request: discord.py, cancelled while it
        sleeps out a *global* rate limit, never lifts the lock every later request waits on,
        and Discord would answer nothing again until a restart. Left to finish, a send that
        outlived its deadline may still post: the outbox treats it as in doubt (asks before
        sending again) and the nonce makes a second send within minutes the same message."""
        request = asyncio.ensure_future(call)
        try:
            return await asyncio.wait_for(asyncio.shield(request), self.send_timeout)
        except CALL_ERRORS as exc:
            if isinstance(exc, discord.HTTPException) and exc.status == 401:
                self.stopped_by = self.stopped_by or f"the bot token was refused: {exc}"[:200]
            raise delivery_error(exc) from exc
        finally:
            if not request.done():
                request.add_done_callback(_outlived)


def _outlived(request: asyncio.Future[Any]) -> None:
    """A request our deadline gave up on has ended: its outcome was already reported."""
    if not request.cancelled() and (error := request.exception()) is not None:
        log.debug("discord.late_request_failed error=%s", error)


def _not_a_bot_token(token: str) -> str:
    """The other values the developer portal shows beside the token, pasted instead of it:
    `check` passed them and `run` stopped on Discord's refusal, without saying which value
    was wrong. A bot token has three parts joined by dots; these have none."""
    if "." in token:
        return ""
    if token.isdigit():
        kind = "the Application ID"
    elif re.fullmatch(r"[0-9a-f]{64}", token):
        kind = "the Public Key"
    elif re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
        kind = "the OAuth2 Client Secret"
    else:
        return ""
    return (
        f"DISCORD_BOT_TOKEN: this looks like {kind}; the bot token is under Bot → Reset Token "
        "(three parts joined by dots)"
    )


def discord_from_env(
    settings: Settings, env: Mapping[str, str] = os.environ
) -> DiscordAdapter | None:
    """The adapter when DISCORD_BOT_TOKEN is set; DISCORD_API_URL and DISCORD_GATEWAY_URL
    point it elsewhere (a proxy, a test stand-in). `settings` is taken so every platform is
    built alike; moderators are the core's business."""
    token = env.get("DISCORD_BOT_TOKEN", "").strip()
    if not token:
        return None
    api, gateway = env.get("DISCORD_API_URL", "").strip(), env.get("DISCORD_GATEWAY_URL", "")
    problems = [problem] if (problem := _not_a_bot_token(token)) else []
    if api and not api.lower().startswith(("http://", "https://")):
        problems.append("DISCORD_API_URL: must be http(s)://HOST/api/v10")
    if gateway.strip() and not gateway.strip().lower().startswith(("ws://", "wss://")):
        problems.append("DISCORD_GATEWAY_URL: must be ws:// or wss://")
    if problems:
        raise ConfigError(problems)
    return DiscordAdapter(token, api_url=api or None, gateway_url=gateway.strip() or None)
