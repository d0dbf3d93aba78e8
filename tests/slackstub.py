"""A stand-in for Slack on 127.0.0.1: its Web API wire format, and signed slash commands.

`SlackStub` answers `POST|GET /api/<method>` the way slack.com does: form, query or JSON
arguments, the bot token in `Authorization: Bearer`, `{"ok": false, "error": ...}` with HTTP
200 for API errors, 429 with `Retry-After` when rate limited, an HTML 5xx page when down. It
keeps channels, users and messages (with threads and metadata), records every call as it
arrived, and accepts `response_url` posts. `fail(...)` queues failures for a method,
`refuse_text(...)` refuses its calls whose text holds some words;
`lose_response(...)` carries a call out (the message is stored and shows in history) and then
loses its answer: a 5xx page, a dropped connection, no answer before the client gives up, or
an error Slack says may come after the work was done (`internal_error`, `fatal_error`).
Slack's limits for apps not approved for the Marketplace (May 2025): `history_cap` caps
`limit` of conversations.history / .replies (15), and `limit_rate(...)` answers 429 with
`Retry-After` past N calls of a method per window; `non_marketplace()` sets both.
Socket Mode too: apps.connections.open (app token) hands out a ws:// URL on the stub, which
says hello and lets `socket_command(...)` send a slash-command envelope and read its ack.

`signed_command(...)` builds a slash-command request exactly as Slack signs it (v0 HMAC over
timestamp and body), so tests drive the real bolt app through HTTP. Interactivity too:
`block_actions(...)` builds the payload of a click on a button a stored message really has,
`signed_action(...)` signs it as the `payload=` form Slack POSTs to the request URL, and
`socket_action(...)` sends it as an `interactive` envelope in Socket Mode. A response_url
post answering a click acts as Slack's does: ephemeral shows it to the clicker alone
(`ephemeral_to`), in_channel posts for everyone, replace/delete_original change the message.

Only the methods wirewatch uses are implemented; an unknown method answers `unknown_method`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import math
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest_asyncio
from aiohttp import web

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0TEST"
BOT_USER = "U0BOT"
SECTION_MAX = 3000
TEXT_MAX = 40000
HISTORY_METHODS = ("conversations.history", "conversations.replies")
# Slack's common errors that "it's possible some aspect of the operation succeeded before":
AFTER_THE_WORK = ("internal_error", "fatal_error")
NON_MARKETPLACE_PAGE = 15  # Slack's `limit` maximum and default for those apps since May 2025
# What an install from the manifest before im:history / mpim:history holds (`provided`).
OLD_MANIFEST_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "users:read",
    "channels:read",
    "groups:read",
    "im:read",
    "mpim:read",
)


@dataclass(frozen=True)
class Call:
    """One Web API call as it arrived: method, merged arguments, how they were encoded."""

    method: str
    args: dict[str, Any]
    encoding: str  # "json", "form" or "query"
    at: float
    status: int
    answer: dict[str, Any]
    lost: str | None = None  # how the answer was lost, when it was (see lose_response)

    @property
    def ok(self) -> bool:
        """Slack did it (a lost answer included: the caller just never heard)."""
        return self.status == 200 and bool(self.answer.get("ok"))


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    private: bool = False  # unseen by the app until invited; public ones take chat:write.public
    kind: str = "channel"  # or "im" (a DM with the app), "mpim" (a group DM it is in)


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    needed: str | None = None  # missing_scope: the scope Slack names as needed


class SlackStub:
    """`async with SlackStub() as slack:`; point slack_sdk's base_url at `slack.api_url`."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.port = 0
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, list[Failure]] = {}
        self._losses: dict[str, list[str]] = {}
        self._refusals: dict[str, list[tuple[str, str]]] = {}  # method -> (text, error)
        self.hang = 5.0  # how long a "timeout" loss keeps the caller waiting for nothing
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._socket: web.WebSocketResponse | None = None
        self._socket_ready = asyncio.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._targets: dict[str, tuple[str, str]] = {}  # response_url key -> (channel|ts, user)
        self.ephemeral: list[tuple[str, str, dict[str, Any]]] = []  # (channel, user, payload)
        # A larger `limit` of a history method gets this many (and the default is this).
        self.history_cap: int | None = None
        self._rates: dict[str, tuple[int, float]] = {}  # method -> (calls, per seconds)
        self._served: dict[str, deque[float]] = {}  # when each method was last served

    # -- setup -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{key}"

    def add_channel(
        self,
        id: str,
        name: str = "news",
        *,
        member: bool = True,
        archived: bool = False,
        private: bool = False,
        kind: str = "channel",
    ) -> Channel:
        """`kind` "im": the app's direct message with a user; "mpim": a group DM with it."""
        self.channels[id] = Channel(id, name, member, archived, private=private, kind=kind)
        return self.channels[id]

    def add_user(self, id: str, *, admin: bool = False, owner: bool = False) -> None:
        self.users[id] = {
            "id": id,
            "team_id": TEAM,
            "name": id.lower(),
            "is_admin": admin,
            "is_owner": owner,
            "is_primary_owner": False,
            "is_bot": False,
        }

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        needed: str | None = None,
    ) -> None:
        """The next `times` calls of `method` fail this way instead of running (`needed`:
        the scope a missing_scope answer names, with the token's scopes as `provided`)."""
        self._failures.setdefault(method, []).extend(
            Failure(status, error, retry_after, needed) for _ in range(times)
        )

    def recover(self, method: str) -> None:
        """The failures still queued for `method` are dropped: it works again."""
        self._failures.pop(method, None)
        self._refusals.pop(method, None)

    def refuse_text(self, method: str, needle: str, error: str) -> None:
        """Every call of `method` whose `text` holds `needle` answers `error` (a message
        Slack will not take for what it says), until `recover(method)`."""
        self._refusals.setdefault(method, []).append((needle, error))

    def lose_response(self, method: str, how: str = "503", *, times: int = 1) -> None:
        """The next `times` calls of `method` are carried out, then their answer is lost:
        `how` is a 5xx status ("503"), "reset" (the connection drops), "timeout" (no answer
        for `hang` seconds) or `{"ok": false}` with one of the errors Slack documents as
        possibly coming after "some aspect of the operation succeeded" ("internal_error",
        "fatal_error")."""
        assert how in ("reset", "timeout", *AFTER_THE_WORK) or how.startswith("5"), how
        self._losses.setdefault(method, []).extend([how] * times)

    def limit_rate(self, method: str, calls: int = 1, per: float = 60.0) -> None:
        """At most `calls` calls of `method` are served per `per` seconds (a sliding window);
        the others get 429 `ratelimited` with `Retry-After`: whole seconds until one is
        served again. A refused call is not counted."""
        self._rates[method] = (calls, per)
        self._served.setdefault(method, deque())

    def non_marketplace(self, per: float = 60.0) -> None:
        """conversations.history and .replies as Slack serves an app not approved for the
        Marketplace and distributed to other workspaces: 15 messages a page, one call a
        minute (`per` shortens that minute for a test that must see several)."""
        self.history_cap = NON_MARKETPLACE_PAGE
        for method in HISTORY_METHODS:
            self.limit_rate(method, 1, per)

    # -- what happened -------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[Call]:
        """Successful chat.postMessage calls, oldest first."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if c.ok and (channel is None or c.args.get("channel") == channel)
        ]

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.channels[channel].messages if m.get("thread_ts") in (None, m["ts"])]

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return [
            m for m in self.channels[channel].messages if m.get("thread_ts") == ts and m["ts"] != ts
        ]

    # -- server ------------------------------------------------------------------------

    async def __aenter__(self) -> SlackStub:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _response(self, request: web.Request) -> web.Response:
        key, payload = request.match_info["key"], await request.json()
        self.responses.append((key, payload))
        if key in self._targets:
            self._respond_to_action(*self._targets[key], payload)
        return web.Response(text="ok")

    def _respond_to_action(self, target: str, user: str, payload: dict[str, Any]) -> None:
        """What a response_url post does to the channel an action came from: only an
        ephemeral response (never replacing the original) leaves it as everyone sees it."""
        channel_id, ts = target.split("|", 1)
        channel = self.channels[channel_id]
        if _truthy(payload.get("delete_original")):
            channel.messages = [m for m in channel.messages if m["ts"] != ts]
        elif _truthy(payload.get("replace_original")):
            self._message(channel, ts).update(
                text=payload.get("text", ""), blocks=payload.get("blocks") or []
            )
        elif payload.get("response_type") == "ephemeral":
            self.ephemeral.append((channel_id, user, payload))
        else:  # in_channel: a new message for everyone
            message = {"type": "message", "user": BOT_USER, "ts": self._next_ts()}
            channel.messages.append({**message, "text": payload.get("text", "")})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, encoding = await _arguments(request)
        status, answer, headers = self._answer(method, args, request.headers)
        losses = self._losses.get(method)
        lost = losses.pop(0) if losses and status == 200 else None
        self.calls.append(Call(method, args, encoding, time.monotonic(), status, answer, lost))
        if lost is not None:
            return await self._lose(request, lost)
        if status >= 500:
            return web.Response(
                status=status,
                text="<html><body>Service Unavailable</body></html>",
                content_type="text/html",
            )
        return web.json_response(answer, status=status, headers=headers)

    async def _lose(self, request: web.Request, how: str) -> web.Response:
        """The work is done; the caller never hears of it."""
        if how in AFTER_THE_WORK:
            return web.json_response({"ok": False, "error": how})
        if how == "timeout":
            await asyncio.sleep(self.hang)
        elif how == "reset" and request.transport is not None:
            request.transport.abort()
        status = int(how) if how[0].isdigit() else 504
        return web.Response(
            status=status, text="<html>upstream error</html>", content_type="text/html"
        )

    def _answer(
        self, method: str, args: dict[str, Any], headers: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        queued = self._failures.get(method)
        if queued:
            f = queued.pop(0)
            extra = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
            error = f.error or ("ratelimited" if f.status == 429 else "internal_error")
            answer: dict[str, Any] = {"ok": False, "error": error}
            if f.needed:
                answer.update(needed=f.needed, provided=",".join(OLD_MANIFEST_SCOPES))
            return f.status, answer, extra
        for needle, error in self._refusals.get(method, []):
            if needle in str(args.get("text", "")):
                return 200, {"ok": False, "error": error}, {}
        bearer = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if method == "apps.connections.open":  # the one method that takes the app token
            if bearer != APP_TOKEN:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}, {}
        if (bearer or args.get("token")) != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        wait = self._rate_limited(method)
        if wait is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, {"ok": True, **handler(args)}, {}
        except _ApiError as exc:
            return 200, {"ok": False, "error": str(exc)}, {}

    def _rate_limited(self, method: str) -> int | None:
        """Seconds until `method` is served again when it is over its rate, else None (and
        this call counts)."""
        if method not in self._rates:
            return None
        calls, per = self._rates[method]
        served, now = self._served[method], time.monotonic()
        while served and served[0] <= now - per:
            served.popleft()
        if len(served) >= calls:  # calls=0: every call refused, for a whole window each
            return max(1, math.ceil((served[0] if served else now) + per - now))
        served.append(now)
        return None

    # -- Socket Mode -------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings itself
        await ws.prepare(request)
        self._socket = ws
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0WIRE"}}
        )
        self._socket_ready.set()
        async for message in ws:
            data = json.loads(message.data)
            future = self._acks.pop(data.get("envelope_id", ""), None)
            if future is not None and not future.done():
                future.set_result(data.get("payload") or {})
        return ws

    async def drop_socket(self) -> None:
        """Slack closes the Socket Mode connection (the client is to reconnect by itself)."""
        self._socket_ready.clear()
        if self._socket is not None:
            await self._socket.close()

    async def socket_command(
        self, text: str, *, user: str, channel: str, response_url: str
    ) -> dict[str, Any]:
        """Send /wirewatch over the socket as Slack does; the ack's payload (5 s at most)."""
        await asyncio.wait_for(self._socket_ready.wait(), 5.0)
        assert self._socket is not None
        envelope_id = f"env-{next(self._ts)}"
        self._acks[envelope_id] = asyncio.get_running_loop().create_future()
        payload = command_fields(text, user=user, channel=channel, response_url=response_url)
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        return await asyncio.wait_for(self._acks[envelope_id], 5.0)

    async def socket_action(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an interactive envelope (a button click) over the socket; its ack."""
        await asyncio.wait_for(self._socket_ready.wait(), 5.0)
        assert self._socket is not None
        envelope_id = f"env-{next(self._ts)}"
        self._acks[envelope_id] = asyncio.get_running_loop().create_future()
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": "interactive",
                "payload": payload,
                "accepts_response_payload": False,
            }
        )
        return await asyncio.wait_for(self._acks[envelope_id], 5.0)

    # -- interactivity -------------------------------------------------------------------

    def block_actions(
        self, channel: str, ts: str, action_id: str, *, user: str, key: str
    ) -> dict[str, Any]:
        """The `block_actions` payload of `user` clicking button `action_id` of a message in
        `channel`, as Slack builds it. Slack sends clicks only for buttons the message has,
        so a missing one fails the test; the response_url is this stub's, under `key`."""
        message = self._message(self.channels[channel], ts)
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if block["type"] == "actions" and element.get("action_id") == action_id:
                    self._targets[key] = (f"{channel}|{ts}", user)
                    return _block_actions(self, channel, message, block, element, user, key)
        raise AssertionError(f"message {ts} has no button {action_id!r}")

    def ephemeral_to(self, user: str) -> list[str]:
        """Texts Slack showed `user` alone, in response to their clicks."""
        return [p.get("text", "") for _, u, p in self.ephemeral if u == user]

    # -- methods -----------------------------------------------------------------------

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://stub.slack.test/",
            "team": "Stub",
            "user": "wirewatch",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B0BOT",
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """As Slack answers it: a private channel the app is not in does not exist for it;
        a public one does, with is_member false."""
        channel = self.channels.get(args.get("channel", ""))
        if channel is None or (channel.private and not channel.member):
            raise _ApiError("channel_not_found")
        if channel.kind == "im":  # Slack's IM object: no is_member, is_channel, is_private
            return {
                "channel": {
                    "id": channel.id,
                    "created": 1700000000,
                    "is_im": True,
                    "is_org_shared": False,
                    "user": "U0PERSON",
                    "is_user_deleted": False,
                    "priority": 0,
                }
            }
        if channel.kind == "mpim":  # Slack's MPIM object, likewise
            return {
                "channel": {
                    "id": channel.id,
                    "name": "mpdm-u0person--wirewatch-1",
                    "is_mpim": True,
                    "is_group": False,
                    "created": 1700000000,
                    "creator": "U0PERSON",
                    "members": ["U0PERSON", BOT_USER],
                }
            }
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.private,
                "is_group": False,
                "is_im": False,
                "is_mpim": False,
                "is_private": channel.private,
                "is_archived": channel.archived,
                "is_general": False,
                "is_shared": False,
                "is_org_shared": False,
                "is_ext_shared": False,
                "is_member": channel.member,
                "created": 1700000000,
                "creator": "U0CREATOR",
            }
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args.get("channel", ""))
        _check_content(args)
        message = {
            "type": "message",
            "user": BOT_USER,
            "ts": self._next_ts(),
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
        }
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        if args.get("thread_ts"):
            parent = self._message(channel, args["thread_ts"])
            message["thread_ts"] = parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(args.get("channel", ""))
        _check_content(args)
        message = self._message(channel, args.get("ts", ""))
        message.update(text=args.get("text", ""), blocks=args.get("blocks") or [])
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"]}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, within `oldest`..`latest` (exclusive unless `inclusive`), `limit`
        (default 100, at most 999) a page, the next page (older) by `cursor`."""
        channel = self._readable(args.get("channel", ""))
        top = [m for m in channel.messages if m.get("thread_ts") in (None, m["ts"])]
        return _paged(list(reversed(top)), args, self.history_cap)

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """The thread's parent then its replies, oldest first, paged as history is."""
        channel = self._readable(args.get("channel", ""))
        parent = self._message(channel, args.get("ts", ""))
        thread = [parent] + self.replies(channel.id, parent["ts"])
        return _paged(thread, args, self.history_cap)

    def chatter(
        self, channel: str, count: int, *, thread_ts: str | None = None, later: float = 0.0
    ) -> None:
        """`count` messages from a person (a busy channel, or a busy thread of `thread_ts`),
        `later` seconds from now (the newsroom talking on while the bot was down)."""
        messages = self.channels[channel].messages
        for n in range(count):
            message = {"type": "message", "user": "U0PERSON", "ts": self._next_ts(later)}
            if thread_ts:
                message["thread_ts"] = thread_ts
                parent = self._message(self.channels[channel], thread_ts)
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
            messages.append({**message, "text": f"chatter {n}"})

    # -- helpers -----------------------------------------------------------------------

    def _next_ts(self, later: float = 0.0) -> str:
        return f"{int(time.time() + later)}.{next(self._ts):06d}"

    def _readable(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _ApiError("channel_not_found")
        if not channel.member:
            raise _ApiError("not_in_channel")
        return channel

    def _writable(self, channel_id: str) -> Channel:
        if channel_id in self.users:  # a user id: the app's DM with that user
            return self.channels.setdefault(channel_id, Channel(channel_id, "dm"))
        channel = self.channels.get(channel_id)
        if channel is None or channel.member or channel.private:
            channel = self._readable(channel_id)
        # else a public channel the app is not in: chat:write.public posts there all the same
        if channel.archived:
            raise _ApiError("is_archived")
        return channel

    def _message(self, channel: Channel, ts: str) -> dict[str, Any]:
        for message in channel.messages:
            if message["ts"] == ts:
                return message
        raise _ApiError("message_not_found")


def _block_actions(
    stub: SlackStub,
    channel: str,
    message: dict[str, Any],
    block: dict[str, Any],
    button: dict[str, Any],
    user: str,
    key: str,
) -> dict[str, Any]:
    container = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0WIRE",
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": f"1.2.{next(stub._ts)}",
        "team": {"id": TEAM, "domain": "stub"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": stub.channels[channel].name},
        "message": _shown(message, {}),
        "state": {"values": {}},
        "response_url": stub.response_url(key),
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": block.get("block_id", ""),
                "text": button["text"],
                "value": button.get("value", ""),
                "type": button["type"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def signed_action(
    payload: dict[str, Any], *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """An interactivity POST (`payload=` JSON, form-encoded), signed the way Slack signs it."""
    return _signed(
        urllib.parse.urlencode({"payload": json.dumps(payload)}).encode(), secret, timestamp
    )


def signed_event(
    event: dict[str, Any], *, secret: str = SIGNING_SECRET
) -> tuple[bytes, dict[str, str]]:
    """An Events API POST (`event_callback` JSON around `event`), signed the way Slack signs it."""
    envelope = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0WIRE",
        "type": "event_callback",
        "event": event,
        "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()),
    }
    body, headers = _signed(json.dumps(envelope).encode(), secret, None)
    return body, {**headers, "Content-Type": "application/json"}


def _signed(body: bytes, secret: str, timestamp: int | None) -> tuple[bytes, dict[str, str]]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    return body, headers


class _ApiError(Exception):
    """An `{"ok": false, "error": ...}` answer raised from inside a method."""


async def _arguments(request: web.Request) -> tuple[dict[str, Any], str]:
    """Arguments as Slack reads them: query string, then a form or JSON body."""
    args: dict[str, Any] = dict(request.query)
    encoding = "query"
    if request.can_read_body:
        if request.content_type == "application/json":
            args.update(await request.json())
            encoding = "json"
        else:
            args.update(await request.post())
            encoding = "form" if request.method == "POST" else encoding
    for key in ("blocks", "metadata"):  # form-encoded calls carry these as JSON strings
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args, encoding


def _paged(
    messages: list[dict[str, Any]], args: dict[str, Any], cap: int | None = None
) -> dict[str, Any]:
    """One page of `messages` (in the method's order) as Slack answers it: those within
    `oldest`..`latest` (exclusive unless `inclusive`), from `cursor` on, `limit` of them
    (`cap` at most, silently: a capped app asking for 200 gets 15, `has_more` saying the
    rest is there); `has_more` and `response_metadata.next_cursor` when more follow."""
    limit = str(args.get("limit") or cap or 100)
    if not limit.isdigit() or not 1 <= int(limit) <= 999:
        raise _ApiError("invalid_limit")
    limit = str(min(int(limit), cap or 999))
    inclusive = _truthy(args.get("inclusive"))
    low, high = _ts(args.get("oldest"), "0"), _ts(args.get("latest"), "9999999999")
    within = [
        m
        for m in messages
        if (low <= _ts(m["ts"]) <= high if inclusive else low < _ts(m["ts"]) < high)
    ]
    start = 0
    if args.get("cursor"):
        try:
            after = base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:")
            start = next(i for i, m in enumerate(within) if m["ts"] == after)
        except (ValueError, StopIteration):
            raise _ApiError("invalid_cursor") from None
    page = within[start : start + int(limit)]
    answer: dict[str, Any] = {"messages": [_shown(m, args) for m in page], "has_more": False}
    if start + int(limit) < len(within):
        cursor = base64.b64encode(f"next_ts:{within[start + int(limit)]['ts']}".encode())
        answer.update(has_more=True, response_metadata={"next_cursor": cursor.decode()})
    return answer


def _ts(value: Any, default: str = "0") -> Decimal:
    """A Slack ts (or oldest/latest) as a number, exactly: floats lose its microseconds."""
    try:
        return Decimal(str(value or default))
    except ArithmeticError:
        raise _ApiError("invalid_ts_oldest") from None


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _shown(message: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Slack returns metadata only when asked with include_all_metadata."""
    if _truthy(args.get("include_all_metadata")):
        return dict(message)
    return {k: v for k, v in message.items() if k != "metadata"}


def _check_content(args: dict[str, Any]) -> None:
    """The checks of Slack's that catch a renderer's mistakes."""
    blocks = args.get("blocks") or []
    if not args.get("text") and not blocks:
        raise _ApiError("no_text")
    if len(args.get("text") or "") > TEXT_MAX:
        raise _ApiError("msg_too_long")
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise _ApiError("invalid_blocks")
    for block in blocks:
        texts = [block.get("text") or {}] + list(block.get("elements") or [])
        if block.get("type") not in ("section", "context", "header", "divider", "actions"):
            raise _ApiError("invalid_blocks")
        if block["type"] == "actions":
            _check_actions(block)
            continue
        if any(len(t.get("text", "")) > SECTION_MAX for t in texts if isinstance(t, dict)):
            raise _ApiError("invalid_blocks")
        if block["type"] == "context" and not 0 < len(block.get("elements") or []) <= 10:
            raise _ApiError("invalid_blocks")


def _check_actions(block: dict[str, Any]) -> None:
    """Block Kit's rules for an actions block of buttons: 1 to 25 elements, each with a
    plain_text label (75), an action_id (255) unique in the block, a value (2,000)."""
    buttons = block.get("elements") or []
    ids = [b.get("action_id") for b in buttons]
    if not 0 < len(buttons) <= 25 or len(set(ids)) != len(ids):
        raise _ApiError("invalid_blocks")
    for b in buttons:
        label = b.get("text") or {}
        if b.get("type") != "button" or label.get("type") != "plain_text":
            raise _ApiError("invalid_blocks")
        if not 0 < len(label.get("text", "")) <= 75 or not 0 < len(b.get("action_id") or "") <= 255:
            raise _ApiError("invalid_blocks")
        if len(b.get("value", "")) > 2000 or b.get("style") not in (None, "primary", "danger"):
            raise _ApiError("invalid_blocks")


def signed_command(
    text: str,
    *,
    user: str,
    channel: str,
    response_url: str,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    command: str = "/wirewatch",
) -> tuple[bytes, dict[str, str]]:
    """A slash-command POST body and headers, signed the way Slack signs them."""
    fields = command_fields(
        text, user=user, channel=channel, response_url=response_url, command=command
    )
    return _signed(urllib.parse.urlencode(fields).encode(), secret, timestamp)


def command_fields(
    text: str, *, user: str, channel: str, response_url: str, command: str = "/wirewatch"
) -> dict[str, str]:
    """The fields Slack sends with a slash command."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "stub",
        "channel_id": channel,
        "channel_name": "news",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0WIRE",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


@pytest_asyncio.fixture
async def slack_stub() -> AsyncIterator[SlackStub]:
    async with SlackStub() as stub:
        yield stub
