"""/wirewatch on Slack: the command and the feedback buttons under alerts, answered.

HTTP mode mounts POST /slack/events on the caller's aiohttp app (`routes()`), checking
Slack's signature before bolt sees the request (401 for anything unsigned, badly signed or
older than five minutes); Socket Mode is used when an app token is given (the adapter
connects it). Each command is acknowledged within 3 s, run by the shared bot.commands,
answered ephemerally. The feedback buttons arrive the same ways (`block_actions`); a click
runs the shared `feedback KIND ALERT` command as the clicker, and the answer goes to the
clicker alone through the action's response_url, never replacing the message. Who is a
Slack admin is asked of users.info, whether alerts could be posted in the channel of
conversations.info.

`SlackCommands` is a part of `slack_app.SlackAdapter`, which gives it the bolt app, its
Web API calls (`_call`) and the command runner it was started with. Deliberately not
here: what a command does and who is a moderator (bot.commands), how text is escaped and
cut (slack_render), alerts and the connection (slack_app).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from adapters import slack_render as render
from adapters.base import DeliveryError
from bot.commands import Invocation, Reply, needs_posting, requires_moderator

log = logging.getLogger("adapters.slack_app")  # one logger for the adapter's lines


EVENTS_PATH = "/slack/events"
ACK_BUDGET = 2.0  # Slack waits 3 s for the ack; a reply ready by then goes in the ack itself
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

CommandRunner = Callable[[Invocation], Awaitable[Reply]]


class SlackCommands:
    """The adapter's command handling (a part of `SlackAdapter`)."""

    app: AsyncApp
    notice_users: tuple[str, ...]
    _verifier: SignatureVerifier | None
    _commands: CommandRunner | None
    _running: set[asyncio.Future[Reply]]
    _call: Callable[..., Awaitable[dict[str, Any]]]
    stopped_by: str | None
    _own_team: frozenset[str] = frozenset()  # `_is_admin`'s workspace, asked once

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
        or a DM the app is not in, or an archived one; "" when they can (a DM Slack shows
        the app is one it is in), or when Slack could not say (an install without
        channels:read): subscribing then stays possible."""
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
        if info.get("is_im") or info.get("is_mpim"):
            # Slack shows the app only the DMs it is in, and says no is_member of any.
            return ""
        public = info.get("is_channel") and not info.get("is_private")
        return "" if info.get("is_member") or public else NOT_INVITED

    async def _is_admin(self, user: str) -> bool:
        """Admins and owners of the app's own workspace may change things (users.info, asked
        each time): in a Slack Connect channel, another organisation's admin is one too in
        users.info, and was let moderate ours. DeliveryError when Slack could not say: a
        refusal then would tell an admin, wrongly, that they lack the right."""
        try:
            data = await self._call("users_info", user=user)
            ours = self._own_team or await self._team()
        except DeliveryError as exc:
            log.warning("slack.users_info_failed user=%s error=%s", user, exc)
            raise
        info = data.get("user") or {}
        grid = info.get("enterprise_user") or {}  # Enterprise Grid: the org and its workspaces
        theirs = {info.get("team_id"), grid.get("enterprise_id"), *(grid.get("teams") or ())}
        if not ours & theirs:
            log.info("slack.admin_of_another_workspace user=%s team=%s", user, info.get("team_id"))
            return False
        return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))

    async def _team(self) -> frozenset[str]:
        """The app's own workspace (and Enterprise Grid org), from auth.test, asked once."""
        data = await self._call("auth_test")
        self._own_team = frozenset(
            str(v) for v in (data.get("team_id"), data.get("enterprise_id")) if v
        )
        return self._own_team

    async def _on_uninstalled(self, event: dict[str, Any]) -> None:
        """The app was removed, or its bot token revoked (tokens_revoked also names user
        tokens alone): /healthz and /readyz say so now, not when an alert next meets the
        refusal, which on a quiet topic could be days later."""
        kind = str(event.get("type"))
        if kind == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            log.info("slack.tokens_revoked bot=none: the bot token stands")
            return
        log.error("slack.uninstalled event=%s: alerts will fail until the app is reinstalled", kind)
        self.stopped_by = (
            f"Slack {kind}: the app was removed or its bot token revoked (reinstall it, put "
            "its bot token in SLACK_BOT_TOKEN and restart)"
        )


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


def _ephemeral(reply: Reply) -> list[dict[str, Any]]:
    """The reply as ephemeral messages: as many as a response_url takes, if it needs them."""
    chunks = render.reply_chunks(reply.text, render.RESPONSES)
    return [{"response_type": "ephemeral", "text": chunk} for chunk in chunks]
