"""The Slack adapter: alerts through the Web API, /wirewatch through a bolt AsyncApp.

Posting: one chat.postMessage per alert (Block Kit + plain fallback, metadata carrying the
delivery id), updates in the story's thread, chat.update on the first message to list every
source. At most one message per `pace` seconds per channel. Slack errors become
DeliveryError: 429 with its Retry-After, 5xx and network errors retryable, and the errors no
retry can fix (channel_not_found, not_in_channel, ...) permanent; a refusal of the message
itself (msg_too_long, ...) is `refused`: it fails alone, as an alert meeting an error code
in none of our lists (Slack adds new ones) does after UNKNOWN_TRIES tries and
UNKNOWN_PATIENCE of backoff (a digest: taken as a refusal, which bot.digest halves until
the one story is found); those Slack documents as passing (PASSING) are retried for as
long as they last. A 5xx, a timeout, a dropped connection, an internal_error or a
fatal_error (of which Slack says "it's possible some aspect of the operation succeeded") may
come after Slack posted the message: those are marked `maybe_posted`, and the outbox looks
for the message (`find_posted`) before sending it again. The outbox does the retrying, on
disk; slack_sdk's own retry handlers are off.

Looking (conversations.history / .replies) within Slack's rate limits, a lookup cut short
going on where it stopped at its next try, is `slack_history.HistoryReader`'s; what is looked
for (our delivery's metadata, in which range and threads) is decided here.

Commands: HTTP mode mounts POST /slack/events on the caller's aiohttp app (`routes()`),
checking Slack's signature before bolt sees the request (401 for anything unsigned, badly
signed or older than five minutes); Socket Mode is used when an app token is given. Each
command is acknowledged within 3 s, run by the shared bot.commands, answered ephemerally.
The feedback buttons under alerts arrive the same ways (`block_actions`); a click runs the
shared `feedback KIND ALERT` command as the clicker, and the answer goes to the clicker
alone through the action's response_url, never replacing the message.

Deliberately not here: what a command does (bot.commands) and how text is escaped
(slack_render).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters.base import Alert, DeliveryError, MessageRef
from adapters.slack_history import HistoryReader, Lookup
from bot.chat import CLOCK_MARGIN
from bot.commands import Invocation, Reply, needs_posting, requires_moderator
from bot.errors import ConfigError
from bot.settings import Settings

log = logging.getLogger(__name__)


class _SameToken(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN itself and warns, at every start, that the client we give
    it wins over that token. It is the same token: the one warning is noise, the rest stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


# The logger bolt would pick by itself (slack_bolt.AsyncApp), passed explicitly with the filter.
BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
BOLT_LOG.addFilter(_SameToken())

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
ACK_BUDGET = 2.0  # Slack waits 3 s for the ack; a reply ready by then goes in the ack itself
API_TIMEOUT = 15
# A send in doubt posted, if at all, within this long of its start (a paced post waits its
# turn first): the lookup reads `since` - CLOCK_MARGIN .. `since` + this + CLOCK_MARGIN, so
# however busy the channel was afterwards, Slack's newest-first pages reach ours.
SEND_WINDOW = timedelta(minutes=15)
LOOKUP_TIMEOUT = 4 * API_TIMEOUT  # a whole lookup, however many pages and threads
THREADS_SCANNED = 20
MODERATORS = (  # who may change things here (`_is_admin`, `Commands.is_moderator`)
    "Slack workspace admins and owners, and user ids listed under `slack: moderators` in the config"
)
NOT_INVITED = (
    "the app is not in this conversation: `/invite @wirewatch` first (a direct message "
    "between people cannot get alerts)"
)
# On Slack the same people may run the bot-wide commands (feeds, topics): a workspace admin
# or owner has rights over every channel anyway, unlike a Discord channel manager.
BOT_MODERATORS = MODERATORS
# Errors that no retry fixes: the outbox pauses the channel and tells moderators once.
PERMANENT = {
    "channel_not_found": "the channel does not exist, or it is private and the app was not "
    "invited (/invite @wirewatch)",
    "not_in_channel": "the app is not in the channel (/invite @wirewatch)",
    "is_archived": "the channel is archived",
    "invalid_auth": "the bot token is not valid (check SLACK_BOT_TOKEN)",
    "account_inactive": "the bot token belongs to a deleted user or app",
    "token_revoked": "the bot token was revoked (reinstall the app)",
    "not_authed": "no bot token was sent (check SLACK_BOT_TOKEN)",
    "missing_scope": "the app lacks a permission (reinstall it from config/slack-manifest.yml)",
    "restricted_action": "the workspace does not let the app post in this channel",
    "restricted_action_read_only_channel": "the channel is read-only for the app",
    "restricted_action_thread_only_channel": "the channel takes posts in threads only, and "
    "an alert starts a thread",
    "ekm_access_denied": "the workspace's administrators have suspended posting",
    "team_access_not_granted": "the app has no access to the workspace this channel is in",
    "messages_tab_disabled": "the app's Messages tab is off, so it cannot post in a DM",
    "access_denied": "Slack denies the app access to this channel",
    "no_permission": "the app lacks the permissions to post here",
    "token_expired": "the bot token has expired (reinstall the app, or turn off token rotation)",
}

# Refusals of the bot token itself, not of a channel: pausing the channel they met would
# leave every channel paused (to be subscribed again one by one) once the token is fixed.
# Alerts wait on disk instead, /healthz and /readyz say why, and a restart with a working
# token sends them.
TOKEN_REFUSED = ("invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed")
TOKEN_WAIT = 60.0  # how often a waiting channel's oldest alert asks again meanwhile

# Refusals of conversations.history that mean nothing can have been posted there; any other
# (missing_scope, not_in_channel: `chat:write.public` posts without reading) cannot tell.
CHANNEL_GONE = ("Slack channel_not_found:", "Slack is_archived:")

# chat.postMessage refusals of a thread whose first message is gone, or that takes no more
# replies (locked, or a message that cannot have a thread): the channel is fine.
THREAD_GONE = (
    "message_not_found",
    "thread_not_found",
    "cannot_reply_to_message",
    "thread_locked",
    "restricted_action_non_threadable_channel",
)

# Refusals of the message itself, not the channel: sent again, it is refused again, so it
# fails alone (bot.outbox) instead of holding every later alert of the channel behind it.
REFUSED = (
    "msg_too_long",
    "no_text",
    "invalid_arguments",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "metadata_too_large",
    "too_many_attachments",
    "invalid_blocks",
    "invalid_blocks_format",
    "attachment_payload_limit_exceeded",
)

# chat.update errors that no retry fixes for that message (the channel is fine).
EDIT_REFUSED = ("message_not_found", "cant_update_message", "edit_window_closed")

# Errors Slack documents as passing (its common errors: a fault or load on its side, a
# workspace moving into an Enterprise org): retried with the outbox's backoff for as long
# as they last, like a 429 or a 5xx.
PASSING = (
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
)
# Of those, the ones Slack says may come after "some aspect of the operation succeeded":
# a chat.postMessage met by one may have posted, so it is a send in doubt (`maybe_posted`),
# looked for before it is sent again, as after a 5xx.
AFTER_THE_WORK = ("internal_error", "fatal_error")
# An error code in none of the lists here (Slack adds new ones) may pass or may never: an
# alert meeting it is retried with the outbox's backoff, UNKNOWN_TRIES times and for
# UNKNOWN_PATIENCE at least (counted by this process), then fails alone with Slack's code as
# its reason; the channel goes on. Retried for good, it held the channel's alerts forever.
UNKNOWN_TRIES = 5
UNKNOWN_PATIENCE = 30 * 60.0
UNKNOWN_FORGET = 24 * 3600.0  # an alert not tried again for this long is forgotten here
UnknownKey = int | tuple[str, str]  # an alert's delivery id; a digest's (channel, code)
# History scopes of direct messages, which manifests before this one did not ask for.
DM_HISTORY = ("im:history", "mpim:history")

CommandRunner = Callable[[Invocation], Awaitable[Reply]]


class SlackAdapter:
    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        signing_secret: str | None = None,
        app_token: str | None = None,
        pace: float = 1.0,
        notice_users: tuple[str, ...] = (),
    ):
        self.client = client
        self.pace = pace
        # slack.moderators: told of a paused channel by DM, and moderators without a lookup
        self.notice_users = notice_users
        self._app_token = app_token
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._commands: CommandRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pacer = _Pacer(pace)
        self._history = HistoryReader(self._call)
        self.unknown_patience = UNKNOWN_PATIENCE
        # (first refusal, tries, last refusal) of an error we do not know: an alert's by its
        # delivery id, a channel's digests by (channel, code) (`post_digest` says why)
        self._unknown: dict[UnknownKey, tuple[float, int, float]] = {}
        self._unknown_told: set[str] = set()  # unknown codes already named in the log
        self._given_up: set[UnknownKey] = set()  # those past their bounds, logged
        self._unreadable_told: set[str] = set()  # DMs the app may not read, named in the log
        self._running: set[asyncio.Future[Reply]] = set()
        # Why Slack refused the bot token mid-run, if it did: nothing goes out until a
        # restart with a working one (bot.app.broken turns /healthz red with it).
        self.stopped_by: str | None = None
        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=bool(signing_secret),
            name="wirewatch",
            logger=BOLT_LOG,
        )
        self.app.command("/wirewatch")(self._on_command)
        self.app.action(re.compile("^" + re.escape(render.FEEDBACK_ACTION)))(self._on_feedback)
        self.app.event("app_uninstalled")(self._on_uninstalled)
        self.app.event("tokens_revoked")(self._on_uninstalled)

    @property
    def connected(self) -> bool:
        """Started (an HTTP session exists), the token not refused, and in Socket Mode the
        socket up."""
        if self.client.session is None or self.stopped_by:
            return False
        return self._socket is not None if self._app_token and self._commands else True

    @property
    def down_reason(self) -> str:
        """Why the adapter is not connected, for /readyz ("" when unknown or connected)."""
        return self.stopped_by or ""

    @property
    def mode(self) -> str:
        return "socket" if self._app_token else "http"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, commands: Callable[..., Awaitable[object]] | None) -> None:
        """Route /wirewatch to `commands` (Commands.handle); connect Socket Mode if configured."""
        # bot.chat types the handler loosely (any awaitable); ours is Commands.handle
        self._commands = commands  # type: ignore[assignment]
        if self.client.session is None:  # slack_sdk applies no timeout of its own to a session
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout or API_TIMEOUT),
                trust_env=True,
            )
            self.client.session = self._session
        if self._app_token and commands is not None:
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()
        log.info("slack.started mode=%s api=%s", self.mode, self.client.base_url)

    async def stop(self, grace: float = 5.0) -> None:
        """Let commands in progress finish (briefly), then disconnect."""
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace)
            for task in late:
                task.cancel()
        self._commands = None
        if self._socket is not None:
            with suppress(Exception):  # already gone is fine when stopping
                await self._socket.close_async()
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self.client.session = None
            self._session = None

    def routes(self) -> list[web.RouteDef]:
        """POST /slack/events, for the aiohttp application that owns the HTTP port.

        None without a signing secret (Socket Mode only): nothing could be verified.
        """
        return [web.post(EVENTS_PATH, self.handle_http)] if self._verifier else []

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not self._signed(request.headers, body):
            log.warning("slack.unsigned_request remote=%s", request.remote)
            return web.json_response({"error": "invalid request signature"}, status=401)
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8"), query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    def _signed(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Slack's v0 HMAC over timestamp and body, at most five minutes old; never raises."""
        if self._verifier is None:
            return False
        try:
            return self._verifier.is_valid(
                body.decode("utf-8"),
                headers.get("X-Slack-Request-Timestamp"),
                headers.get("X-Slack-Signature"),
            )
        except (ValueError, TypeError, UnicodeDecodeError):
            return False

    # -- commands ----------------------------------------------------------------------

    async def _on_command(self, ack, command: dict[str, Any], respond) -> None:
        """Ack within 3 s: with the reply when it is ready, else "working" and respond later.

        A reply too long for one message goes through response_url, one post per chunk and
        each after the last, so they arrive in order; the ack then shows nothing (an ack
        and a post race each other to Slack)."""
        task = asyncio.ensure_future(self._run_command(command))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET)
        if task in done:
            messages = _ephemeral(task.result())
            if len(messages) == 1:
                await ack(**messages[0])
                return
            await ack()
        else:
            await ack(response_type="ephemeral", text="Working on it…")
            messages = _ephemeral(await task)
        try:
            for message in messages:
                await respond(**message)
        except Exception as exc:  # response_url expired or unreachable: nothing else to do
            log.warning("slack.respond_failed error=%s", exc)

    async def _run_command(self, command: dict[str, Any]) -> Reply:
        return await self._run(lambda: self._invoke(command))

    async def _run(self, invoke: Callable[[], Awaitable[Reply]]) -> Reply:
        if self._commands is None:
            return Reply("wirewatch is starting or stopping; try again in a moment", ok=False)
        try:
            return await invoke()
        except Exception:  # Commands.handle never raises; this guards the glue around it
            log.exception("slack.command_crashed")
            return Reply(
                "something went wrong on wirewatch's side; the logs have details", ok=False
            )

    async def _on_feedback(
        self, ack, body: dict[str, Any], action: dict[str, Any], respond
    ) -> None:
        """A feedback button: ack at once (Slack shows nothing for that), record the label,
        answer the clicker alone through response_url; the message stays as it is."""
        await ack()
        reply = await self._run(lambda: self._feedback(body, action))
        try:
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=render.reply_text(reply.text),
            )
        except Exception as exc:  # response_url expired or unreachable: nothing else to do
            log.warning("slack.respond_failed error=%s", exc)

    async def _feedback(self, body: dict[str, Any], action: dict[str, Any]) -> Reply:
        """The click as the shared command `feedback KIND ALERT`, run by whoever clicked."""
        assert self._commands is not None
        kind = render.feedback_kind(action.get("action_id", ""))
        container, channel = body.get("container") or {}, body.get("channel") or {}
        where = container.get("channel_id") or channel.get("id", "")
        return await self._commands(
            Invocation(
                platform="slack",
                channel=f"slack:{where}",
                user=(body.get("user") or {}).get("id", ""),
                text=f"feedback {kind} {action.get('value', '')}",
                workspace=(body.get("team") or {}).get("id"),
            )
        )

    async def _invoke(self, command: dict[str, Any]) -> Reply:
        assert self._commands is not None
        text = render.command_text(command.get("text", ""))
        user = command.get("user_id", "")
        admin = False
        # A configured moderator needs no lookup: Commands.is_moderator allows them anyway.
        if requires_moderator(text) and user not in self.notice_users:
            try:
                admin = await self._is_admin(user)
            except DeliveryError as exc:
                return _rights_unknown(exc)
        where = command.get("channel_id", "")
        cannot = await self._cannot_post(where) if needs_posting(text) else ""
        return await self._commands(
            Invocation(
                platform="slack",
                channel=f"slack:{where}",
                user=user,
                text=text,
                platform_admin=admin,
                bot_admin=admin,
                workspace=command.get("team_id"),
                moderators=MODERATORS,
                bot_moderators=BOT_MODERATORS,
                cannot_post=cannot,
                user_name=command.get("user_name", ""),
            )
        )

    async def _cannot_post(self, channel: str) -> str:
        """Why alerts could not be posted in `channel` (conversations.info): a private one
        or a DM the app is not in, or an archived one; "" when they can, or when Slack could
        not say (an install without channels:read): subscribing then stays possible."""
        try:
            data = await self._call("conversations_info", channel=channel)
        except DeliveryError as exc:
            if "channel_not_found" in str(exc):
                return NOT_INVITED
            log.warning("slack.conversations_info_failed channel=%s error=%s", channel, exc)
            return ""
        info = data.get("channel") or {}
        if info.get("is_archived"):
            return "the channel is archived"
        public = info.get("is_channel") and not info.get("is_private")
        return "" if info.get("is_member") or public else NOT_INVITED

    async def _is_admin(self, user: str) -> bool:
        """Workspace admins and owners may change things (users.info, asked each time).
        DeliveryError when Slack could not say: a refusal then would tell an admin, wrongly,
        that they lack the right."""
        try:
            data = await self._call("users_info", user=user)
        except DeliveryError as exc:
            log.warning("slack.users_info_failed user=%s error=%s", user, exc)
            raise
        info = data.get("user") or {}
        return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))

    async def _on_uninstalled(self, event: dict[str, Any]) -> None:
        log.error(
            "slack.uninstalled event=%s: alerts will fail until the app is reinstalled",
            event.get("type"),
        )

    # -- alerts ------------------------------------------------------------------------

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        data = await self._post(channel, alert, render.top_blocks(alert))
        return MessageRef("slack", channel, data["ts"])

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        """In the story's thread; if a moderator deleted its first message, in the channel:
        retried, the refusal would hold up every later alert of the channel for good."""
        blocks = render.update_blocks(alert)
        try:
            data = await self._post(parent.channel, alert, blocks, thread_ts=parent.message_id)
        except DeliveryError as exc:
            if not any(error in str(exc) for error in THREAD_GONE):
                raise
            log.warning("slack.thread_gone channel=%s story=%d", parent.channel, alert.story_id)
            data = await self._post(parent.channel, alert, blocks)
            return MessageRef("slack", parent.channel, data["ts"])
        return MessageRef("slack", parent.channel, data["ts"], parent.message_id)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        """Rewrite the story's first message. A message that is gone or can no longer be
        edited is a permanent error of this edit alone (the outbox never pauses a channel
        for an edit)."""
        # No metadata here: the first message keeps the delivery id it was posted with.
        try:
            await self._call(
                "chat_update",
                channel=ref.channel,
                ts=ref.message_id,
                text=render.alert_text(alert),
                blocks=render.alert_blocks(alert),
            )
        except DeliveryError as exc:
            if not any(error in str(exc) for error in EDIT_REFUSED):
                raise
            raise DeliveryError(str(exc), permanent=True) from None

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        """Escaped plain text with the key in its metadata; never to moderators instead. Its
        headlines' own * ~ ` are lookalikes: three backticks in one headline and three in a
        later one made every story line between them code (ours has none of them).

        An error code we do not know is retried as an alert's is, then taken as a refusal
        of the message (bot.digest halves it, then fails the one story Slack will not take).
        Retried for good, it held the channel's digests forever. Its bounds are counted per
        channel and code, not per key: a half that goes out changes the key, and the next
        half, holding the story Slack refuses, would wait out the bounds again. A digest
        that goes out before the bounds clears them (the code passed); past them, the code
        stays a refusal here until UNKNOWN_FORGET goes by without it."""
        try:
            reply = await self._paced_post(
                channel, text=render.inline(text), metadata=render.digest_metadata(key)
            )
        except SlackError as exc:
            if exc.unknown:
                raise self._unknown_error(channel, (channel, exc.code), exc) from None
            raise
        for passed in [k for k in self._unknown if isinstance(k, tuple) and k[0] == channel]:
            if passed not in self._given_up:
                del self._unknown[passed]
        return MessageRef("slack", channel, reply.get("ts", ""))

    async def post_notice(self, channel: str, text: str, *, key: int | None = None) -> None:
        """In the channel concerned, with `key` in its metadata for `find_notice`; when the
        channel refuses it (it often will), to each moderator by DM. A DeliveryError when
        nobody got it, or when the answer was lost (it may be in the channel: not sent by
        DM too): the outbox tries again later."""
        meta = {} if key is None else {"metadata": notice_metadata(key)}
        try:
            await self._paced_post(channel, text=render.escape(text), **meta)
            return
        except DeliveryError as exc:
            log.warning("slack.notice_failed channel=%s error=%s", channel, exc)
            if not exc.permanent:
                raise
            refused = exc
        if not self.notice_users:
            log.error(
                "slack.notice_undelivered channel=%s: set slack.moderators to receive "
                "notices by DM; text=%s",
                channel,
                text,
            )
        told = 0
        for user in self.notice_users:
            try:
                await self._paced_post(user, text=render.escape(text))
                told += 1
            except DeliveryError as exc:
                log.error("slack.notice_undelivered user=%s error=%s", user, exc)
                refused = exc
        if not told:
            raise refused

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

    async def _post(
        self, channel: str, alert: Alert, blocks: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        fields = dict(text=render.alert_text(alert), metadata=render.metadata(alert), **extra)
        try:
            try:
                data = await self._paced_post(channel, blocks=blocks, **fields)
            except DeliveryError as exc:
                if "invalid_blocks" not in str(exc) and "msg_blocks_too_long" not in str(exc):
                    raise
                log.error(
                    "slack.blocks_refused delivery=%d error=%s: sending text only",
                    alert.delivery_id,
                    exc,
                )
                data = await self._paced_post(channel, **fields)
        except SlackError as exc:
            if exc.unknown:
                raise self._unknown_error(channel, alert.delivery_id, exc) from None
            raise
        self._unknown.pop(alert.delivery_id, None)
        self._given_up.discard(alert.delivery_id)
        return data

    def _unknown_error(self, channel: str, key: UnknownKey, exc: SlackError) -> DeliveryError:
        """An error code we do not know: retried with the outbox's backoff (UNKNOWN_TRIES
        times, for unknown_patience at least), then this alert fails alone with the code
        (`key` its delivery id), or this digest is refused (`key`: its channel and code).
        The log names each such code once, and each alert or digest past its bounds once."""
        now = time.monotonic()
        for old in [k for k, v in self._unknown.items() if now - v[2] > UNKNOWN_FORGET]:
            del self._unknown[old]
            self._given_up.discard(old)
        first, tries, _ = self._unknown.get(key, (now, 0, now))
        tries += 1
        self._unknown[key] = (first, tries, now)
        what = "digest" if isinstance(key, tuple) else "alert"
        if exc.code not in self._unknown_told:
            self._unknown_told.add(exc.code)
            log.warning(
                "slack.unknown_error channel=%s error=%s: an error wirewatch does not know; "
                "retried with backoff for %.0f min, then the %s fails with it",
                channel,
                exc.code,
                self.unknown_patience / 60,
                what,
            )
        if tries < UNKNOWN_TRIES or now - first < self.unknown_patience:
            return exc
        message = (
            f"Slack chat.postMessage refused this {what} with {exc.code}, an error wirewatch "
            f"does not know, {tries} times over {(now - first) / 60:.0f} min"
        )
        if isinstance(key, tuple):
            if key not in self._given_up:
                self._given_up.add(key)
                log.error(
                    "slack.unknown_error_refused channel=%s error=%s: %s; the digest is sent "
                    "in smaller parts and a story Slack will not take is given up on",
                    channel,
                    exc.code,
                    message,
                )
            return SlackError(message, code=exc.code, refused=True)
        message += ": given up"
        if key not in self._given_up:  # the outbox's tries at once say it again
            self._given_up.add(key)
            log.error(
                "slack.unknown_error_gave_up delivery=%d channel=%s: %s", key, channel, message
            )
        return SlackError(message, code=exc.code, refused=True)

    async def _paced_post(self, channel: str, **fields: Any) -> dict[str, Any]:
        # unfurl off: a feed's link must not pull a preview of whatever it points at;
        # link_names/parse never sent: mentions in feed text stay text.
        async with self._pacer.slot(channel):
            return await self._call(
                "chat_postMessage",
                channel=channel,
                unfurl_links=False,
                unfurl_media=False,
                **fields,
            )

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
            if error in TOKEN_REFUSED:
                raise self._token_refused(str(error)) from None
            raise _delivery_error(method, exc) from None
        except aiohttp.ClientConnectorError as exc:  # never reached Slack: nothing was posted
            raise DeliveryError(f"Slack {method}: cannot connect: {exc}") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # sent, answer lost
            raise DeliveryError(
                f"Slack {method}: {type(exc).__name__}: {exc}", maybe_posted=True
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _token_refused(self, error: str) -> DeliveryError:
        """The token is refused: said once in the log, then each alert waits on disk."""
        if self.stopped_by is None:
            log.error("slack.token_refused error=%s: fix SLACK_BOT_TOKEN and restart", error)
        self.stopped_by = f"Slack {error}: {PERMANENT[error]}"
        return DeliveryError(
            f"{self.stopped_by}; alerts wait until wirewatch is restarted with a working token",
            retry_after=TOKEN_WAIT,
        )


class SlackError(DeliveryError):
    """A Slack refusal with its error `code` ("" when Slack gave none) and, for
    missing_scope, the scope Slack says was `needed`: what the callers here decide on."""

    def __init__(self, message: str, *, code: str = "", needed: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.needed = needed

    @property
    def unknown(self) -> bool:
        """An ok:false code in none of the lists here: one Slack added since they were made."""
        known = (*PERMANENT, *REFUSED, *THREAD_GONE, *EDIT_REFUSED, *PASSING)
        return bool(self.code) and self.code not in known


def _delivery_error(method: str, exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "")
    error = code or f"HTTP {status}"
    if status == 429 or error == "ratelimited":
        retry = _seconds(response.headers.get("Retry-After"))
        return SlackError(
            f"Slack rate limit on {method}; retry in {retry:g}s", code=code, retry_after=retry
        )
    if error in PERMANENT:
        needed = str(data.get("needed") or "") if error == "missing_scope" else ""
        lacks = f" ({needed})" if needed else ""
        return SlackError(
            f"Slack {error}{lacks}: {PERMANENT[error]}", code=code, needed=needed, permanent=True
        )
    if error in REFUSED and status < 500:
        return SlackError(f"Slack {method} refused this message: {error}", code=code, refused=True)
    # A 5xx may come from a proxy or a timeout after Slack did the work, and so may the two
    # errors Slack says so of; any other ok:false it did not.
    return SlackError(
        f"Slack {method} failed: {error}",
        code=code if status < 500 else "",
        maybe_posted=status >= 500 or code in AFTER_THE_WORK,
    )


def _dm_unreadable(channel: str, exc: SlackError) -> bool:
    """missing_scope reading a direct message (an id D…, or Slack naming a DM's history
    scope as the one needed): the scopes an older manifest did not ask for."""
    if exc.code != "missing_scope":
        return False
    needed = {scope.strip() for scope in exc.needed.split(",") if scope.strip()}
    return channel.startswith("D") or bool(needed) and needed <= set(DM_HISTORY)


def _rights_unknown(exc: DeliveryError) -> Reply:
    """The answer when users.info failed: the real cause, and what to do about it."""
    if "missing_scope" in str(exc):
        reason = (
            "the app lacks the users:read scope: reinstall it from config/slack-manifest.yml "
            "(or list your member id under `slack: moderators`)"
        )
    else:
        reason = str(exc)
    return Reply(f"wirewatch could not check your rights with Slack: {reason}; try again", ok=False)


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


def _seconds(value: str | None) -> float:
    try:
        return max(1.0, float(value or "1"))
    except ValueError:
        return 30.0


def _ephemeral(reply: Reply) -> list[dict[str, Any]]:
    """The reply as ephemeral messages: as many as a response_url takes, if it needs them."""
    chunks = render.reply_chunks(reply.text, render.RESPONSES)
    return [{"response_type": "ephemeral", "text": chunk} for chunk in chunks]


class _Pacer:
    """At most one message per `interval` seconds per channel (chat.postMessage's limit)."""

    def __init__(self, interval: float):
        self.interval = interval
        self._next: dict[str, float] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        async with self._locks[key]:
            wait = self._next.get(key, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._next[key] = time.monotonic() + self.interval


def _swapped_tokens(bot_token: str, app_token: str | None) -> list[str]:
    """Slack's three token kinds look alike at a glance: one in the other's variable passed
    `check` and failed at `run` with Slack's bare `invalid_auth`. Only a kind known to be
    wrong is refused (a rotated bot token starts `xoxe.xoxb-`)."""
    problems = []
    if bot_token.startswith("xapp-"):
        problems.append(
            "SLACK_BOT_TOKEN: this xapp-… token is the app-level one (SLACK_APP_TOKEN); the "
            "bot token is the xoxb-… Bot User OAuth Token under OAuth & Permissions"
        )
    elif bot_token.startswith("xoxp-"):
        problems.append(
            "SLACK_BOT_TOKEN: this xoxp-… token is a user token; the bot token is the xoxb-… "
            "Bot User OAuth Token under OAuth & Permissions"
        )
    if app_token and app_token.startswith(("xoxb-", "xoxp-", "xoxe.")):
        problems.append(
            "SLACK_APP_TOKEN: the app-level token starts with xapp- (Basic Information → "
            "App-Level Tokens, with connections:write)"
        )
    return problems


def slack_from_env(settings: Settings, env: Mapping[str, str] = os.environ) -> SlackAdapter | None:
    """The adapter when SLACK_BOT_TOKEN is set, else None; tokens never reach the logs."""
    token = env.get("SLACK_BOT_TOKEN")
    if not token:
        return None
    app_token, secret = env.get("SLACK_APP_TOKEN"), env.get("SLACK_SIGNING_SECRET")
    if problems := _swapped_tokens(token, app_token):
        raise ConfigError(problems)
    if not app_token and not secret:
        raise ConfigError(
            [
                "SLACK_SIGNING_SECRET: needed with SLACK_BOT_TOKEN for HTTP mode "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            ]
        )
    base_url = env.get("SLACK_API_URL") or DEFAULT_API_URL
    client = AsyncWebClient(
        token=token, base_url=base_url.rstrip("/") + "/", timeout=API_TIMEOUT, retry_handlers=[]
    )
    return SlackAdapter(
        client,
        signing_secret=secret,
        app_token=app_token,
        notice_users=tuple(settings.slack.moderators),
    )
