"""The Slack adapter: alerts through the Web API, /wirewatch through a bolt AsyncApp.

Posting: one chat.postMessage per alert (Block Kit + plain fallback, metadata carrying the
delivery id), updates in the story's thread, chat.update on the first message to list every
source. At most one message per `pace` seconds per channel. Slack errors become
DeliveryError (slack_errors sorts them): an alert meeting an error code in none of our lists
(Slack adds new ones) fails alone after UNKNOWN_TRIES tries and UNKNOWN_PATIENCE of backoff,
counted by the outbox on disk (a digest: bot.digest counts it on disk too, then takes it as a
refusal, which it halves until the one story is found). A send that may have reached Slack before
its answer was lost is marked `maybe_posted`, and the outbox looks for the message
(`find_posted`, slack_lookups) before sending it again. The outbox does the retrying, on
disk; slack_sdk's own retry handlers are off. A refused bot token stops every send until a
restart (`stopped_by`).

Commands and the feedback buttons (HTTP or Socket Mode) are slack_commands'; the adapter
connects Socket Mode when an app token is given.

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
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters.base import Alert, DeliveryError, MessageRef
from adapters.slack_commands import CommandRunner, SlackCommands
from adapters.slack_errors import (
    EDIT_REFUSED,
    PERMANENT,
    THREAD_GONE,
    TOKEN_REFUSED,
    TOKEN_WAIT,
    SlackError,
    _delivery_error,
)
from adapters.slack_history import HistoryReader
from adapters.slack_lookups import API_TIMEOUT, SlackLookups, notice_metadata
from bot.commands import Reply
from bot.errors import ConfigError
from bot.send_errors import UNKNOWN_PATIENCE, UNKNOWN_TRIES
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
# How long a start waits on Slack's answer about the app-level token (seconds): a refusal
# comes at once; a Slack that does not answer is left to the background connection.
APP_TOKEN_CHECK = 5.0


class SlackAdapter(SlackCommands, SlackLookups):
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
        self._connecting: asyncio.Task[None] | None = None  # Socket Mode's first connection
        self._session: aiohttp.ClientSession | None = None
        self._pacer = _Pacer(pace)
        self._history = HistoryReader(self._call)
        self._unknown_told: set[str] = set()  # unknown codes already named in the log
        self._unreadable_told: set[str] = set()  # DMs the app may not read, named in the log
        self._running: set[asyncio.Future[Reply]] = set()
        # Why Slack refused the bot token mid-run, if it did: nothing goes out until a
        # restart with a working one (bot.readiness.broken turns /healthz red with it).
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
        return self._socket_up() if self._app_token and self._commands else True

    def _socket_up(self) -> bool:
        """The Socket Mode connection is open. slack_sdk reconnects a dropped one by itself,
        and while it cannot (Slack unreachable, the app token revoked: retried for good)
        no command or button click reaches wirewatch; /readyz said "ok" all along."""
        session = self._socket.client.current_session if self._socket else None
        return session is not None and not session.closed

    @property
    def down_reason(self) -> str:
        """Why the adapter is not connected, for /readyz ("" when unknown or connected)."""
        if self.stopped_by or self.connected:
            return self.stopped_by or ""
        if self._socket is not None:
            return (
                "reconnecting: the Socket Mode connection is down, so /wirewatch and the "
                "buttons fail (alerts still go out); invalid_auth in the log: check "
                "SLACK_APP_TOKEN"
            )
        return ""

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
            url = await self._check_app_token(self._app_token)
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            # The check's URL is the connection's: one apps.connections.open a start, not
            # two (Slack allows about one a minute; a restart loop met its rate limit, and
            # /wirewatch was dead for its 30 s Retry-After).
            self._socket.client.wss_uri = url
            # In the background: slack_sdk asks Slack again every 10 s until it answers, and
            # a start held that long polled nothing, posted nothing and ignored SIGTERM.
            self._connecting = asyncio.create_task(
                self._socket.connect_async(), name="slack-socket-mode"
            )
        log.info("slack.started mode=%s api=%s", self.mode, self.client.base_url)

    async def _check_app_token(self, token: str) -> str | None:
        """A ConfigError when Slack refuses the app-level token itself (revoked, mistyped,
        lacking connections:write), which slack_sdk would take as passing and ask again
        about for good; else the socket URL Slack handed out (None when it did not).
        Slack unreachable, failing or slow (APP_TOKEN_CHECK s: the start waits on it) is
        left to the background connection."""
        try:
            async with asyncio.timeout(APP_TOKEN_CHECK):
                response = await self.client.apps_connections_open(app_token=token)
            url = response.data.get("url") if isinstance(response.data, dict) else None
            return url if isinstance(url, str) and url else None
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or "")
            if error in (*TOKEN_REFUSED, "missing_scope", "not_allowed_token_type"):
                raise ConfigError(
                    [
                        f"SLACK_APP_TOKEN: Slack refuses this app-level token ({error}): "
                        "generate one under Basic Information → App-Level Tokens, with "
                        "connections:write, and restart"
                    ]
                ) from None
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        return None

    async def stop(self, grace: float = 5.0) -> None:
        """Let commands in progress finish (briefly), then disconnect."""
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace)
            for task in late:
                task.cancel()
        self._commands = None
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
            self._connecting = None
        if self._socket is not None:
            with suppress(Exception):  # already gone is fine when stopping
                await self._socket.close_async()
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self.client.session = None
            self._session = None

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

        An error code we do not know is raised as `unknown`: bot.digest bounds it on disk
        as an alert's, then takes it as a refusal of the message (halved, then the one story
        Slack will not take failed). Retried for good, it held the channel's digests forever;
        counted here, in memory, a restart started the bounds again."""
        try:
            reply = await self._paced_post(
                channel, text=render.inline(text), metadata=render.digest_metadata(key)
            )
        except SlackError as exc:
            if exc.unlisted:
                self._tell_unknown(channel, exc.code, "digest")
                raise SlackError(str(exc), code=exc.code, unknown=True) from None
            raise
        return MessageRef("slack", channel, reply.get("ts", ""))

    async def post_notice(self, channel: str, text: str, *, key: int | None = None) -> None:
        """In the channel concerned, with `key` in its metadata for `find_notice`; when the
        channel refuses it (it often will), to each moderator by DM. A DeliveryError when
        nobody got it, or when the answer was lost (it may be in the channel: not sent by
        DM too): the outbox tries again later."""
        meta = {} if key is None else {"metadata": notice_metadata(key)}
        try:
            await self._paced_post(channel, text=render.notice_text(text), **meta)
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
                await self._paced_post(user, text=render.notice_text(text))
                told += 1
            except DeliveryError as exc:
                log.error("slack.notice_undelivered user=%s error=%s", user, exc)
                refused = exc
        if not told:
            raise refused

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
            if exc.unlisted:  # bounded on disk: bot.send_errors.retry_unknown_or_fail
                self._tell_unknown(channel, exc.code, "alert")
                raise SlackError(str(exc), code=exc.code, unknown=True) from None
            raise
        return data

    def _tell_unknown(self, channel: str, code: str, what: str) -> None:
        """The log names each error code we do not know once, and what becomes of the
        message: an alert fails with it; a digest is sent in halves, and only a story
        Slack still refuses alone fails (bot.digest), the channel's others go out."""
        if code in self._unknown_told:
            return
        self._unknown_told.add(code)
        patience = f"{UNKNOWN_PATIENCE / 60:.0f} min"
        if what == "digest":
            then = (
                f"the digest is sent again at each digest for {patience} and {UNKNOWN_TRIES} "
                "digests at least, then in halves: a story Slack still refuses alone fails "
                "with it, the others go out"
            )
        else:
            then = (
                f"retried with backoff, {UNKNOWN_TRIES} times and for {patience} at least, "
                "then the alert fails with it"
            )
        log.warning(
            "slack.unknown_error channel=%s error=%s: an error wirewatch does not know; %s",
            channel,
            code,
            then,
        )

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
        if self.stopped_by:
            self._token_taken(method)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _token_taken(self, method: str) -> None:
        """Slack took the token it had refused (it has refused good ones during its own
        incidents): /healthz and /readyz said "restart" for good while alerts went out."""
        log.warning("slack.token_accepted_again method=%s after: %s", method, self.stopped_by)
        self.stopped_by = None

    def _token_refused(self, error: str) -> DeliveryError:
        """The token is refused: said once in the log, then each alert waits on disk (asked
        again each TOKEN_WAIT: a refusal Slack takes back turns health green again)."""
        if self.stopped_by is None:
            log.error("slack.token_refused error=%s: fix SLACK_BOT_TOKEN and restart", error)
        self.stopped_by = f"Slack {error}: {PERMANENT[error]}"
        return DeliveryError(
            f"{self.stopped_by}; alerts wait until wirewatch is restarted with a working token",
            retry_after=TOKEN_WAIT,
        )


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
