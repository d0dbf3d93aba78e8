"""A local stand-in for Discord's REST API and gateway, speaking their real wire formats.

`async with DiscordStub() as stub:` serves on 127.0.0.1: REST under `stub.api_url`
(`.../api/v10`, what `discord.http.Route.BASE` becomes) and the gateway at `stub.gateway_url`.
The gateway says HELLO, takes IDENTIFY, sends READY and one GUILD_CREATE, ACKs heartbeats and
compresses every frame with zlib-stream (one compressor per connection, each frame flushed with
Z_SYNC_FLUSH) when the client asks for it. REST answers carry `Content-Type: application/json`
exactly (discord.py parses nothing else) and 429s carry a `Via` header (without one discord.py
assumes a Cloudflare ban). Messages honour `nonce` + `enforce_nonce` for `nonce_window`
seconds (Discord: "the past few minutes"), threads started from a message take the message's
id, and bodies are checked against Discord's embed limits. `lose_response(...)` carries a
request out and then loses its answer (a 5xx, a dropped connection, or silence).

The one guild has a moderator (Manage Channels through a role), a plain member, an editor
whose role grants nothing in Discord, and an administrator. `stub.command(...)` sends an
INTERACTION_CREATE built from the command the bot synced, so a wrong schema fails the test;
`stub.click(...)` sends the component interaction (type 3) of a button the bot really put on
a message. Answers go through the real callback route: an ephemeral one (flags 64) is seen
by the clicker only, anything else appears in the channel, and UPDATE_MESSAGE rewrites the
clicked message for everyone.

Deliberately absent: voice, presences, members chunking, resuming (a RESUME is answered with
INVALID_SESSION, as Discord does for an unknown session), and real rate-limit buckets
(`stub.fail(...)` injects 429s and 5xx instead).

Load as a pytest plugin (`pytest_plugins` in tests/conftest.py) for the `stub` fixture: a
fresh stand-in per test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
VIEW, SEND, EMBED, HISTORY = 1 << 10, 1 << 11, 1 << 14, 1 << 16
MANAGE_CHANNELS, ADMINISTRATOR, USE_COMMANDS = 1 << 4, 1 << 3, 1 << 31
CREATE_PUBLIC_THREADS, SEND_IN_THREADS = 1 << 35, 1 << 38
EVERYONE_PERMS = VIEW | SEND | EMBED | HISTORY | USE_COMMANDS
BOT_PERMS = VIEW | SEND | EMBED | HISTORY | CREATE_PUBLIC_THREADS | SEND_IN_THREADS  # the invite's
ALL_PERMS = (1 << 51) - 1
EPHEMERAL = 64
REPLY_WAIT = 15.0  # seconds a test waits for the bot to answer an interaction
EMBED_LIMITS = {
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field.name": 256,
    "field.value": 1024,
    "footer.text": 2048,
    "author.name": 256,
    "total": 6000,
}
_ids = itertools.count(1)


def snowflake() -> str:
    """A fresh id shaped like Discord's: milliseconds since 2015 in the high bits."""
    return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_ids) & 0x3FFFFF))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(uid: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": uid,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
    }


@dataclass(frozen=True)
class Call:
    """One REST request as the stub saw it."""

    method: str
    path: str  # after /api/v10
    query: dict[str, str]
    body: Any
    content_type: str


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    commit: bool  # act on the request, then answer with the fault (a lost response)
    how: str = ""  # "reset" drops the connection, "timeout" answers nothing for `hang` s
    scope: str = "user"  # a 429's X-RateLimit-Scope: "global" holds every request of the bot
    code: int = 50013  # the JSON error code of another 4xx


@dataclass
class InteractionLog:
    """What the bot answered to one interaction: callbacks and follow-up messages."""

    id: str
    token: str
    type: int = 2  # 2 application command, 3 message component, 4 autocomplete
    channel: str = ""
    message: str | None = None  # the message whose component was clicked (type 3)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def replies(self) -> list[dict[str, Any]]:
        """Visible answers: an immediate message, else the follow-ups after a defer."""
        shown = [c["data"] for c in self.callbacks if c["type"] == 4]
        return shown + self.followups

    def deferred(self) -> bool:
        return any(c["type"] == 5 for c in self.callbacks)


class GatewaySession:
    """One websocket connection; frames go out compressed when the client asked for it."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None):
        self.ws = ws
        self.compress = compress
        self.seq = 0
        self.identified = False
        self.identify: dict[str, Any] | None = None
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None

    async def send(self, op: int, d: Any, t: str | None = None) -> None:
        if op == 0:
            self.seq += 1
        frame = json.dumps({"op": op, "d": d, "s": self.seq if op == 0 else None, "t": t})
        if self._zlib is None:
            await self.ws.send_str(frame)
            return
        data = self._zlib.compress(frame.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        await self.ws.send_bytes(data)


class DiscordStub:
    """One bot, one application, one guild; every call and message kept for assertions."""

    def __init__(self, token: str = "stub-bot-token"):
        self.token = token
        self.app_id, self.bot_id, self.guild_id = snowflake(), snowflake(), snowflake()
        self.general, self.alerts, self.locked = snowflake(), snowflake(), snowflake()
        self.mod_role, self.editor_role = snowflake(), snowflake()
        self.moderator, self.member, self.editor, self.admin = (snowflake() for _ in range(4))
        self.forbidden: set[str] = {self.locked}  # the bot may not post there
        # Forums where only staff start posts: the bot lacks Send Messages there (a forum's
        # "Create Posts") and Create Public Threads, yet posts in their posts.
        self.staff_posts: set[str] = set()
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self._closed: dict[str, int] = {}  # locked threads -> the code a post there gets
        self.calls: list[Call] = []
        self.commands: list[dict[str, Any]] = []
        self.interactions: dict[str, InteractionLog] = {}
        self.sessions: list[GatewaySession] = []
        # Cleared: IDENTIFY and RESUME wait for an answer (Discord slow to take a reconnect).
        self.gateway_open = asyncio.Event()
        self.gateway_open.set()
        self.reconnects_waiting = 0  # IDENTIFYs and RESUMEs held by `gateway_open` now
        # True: a RESUME of a session this stand-in began gets RESUMED, as Discord answers
        # one in time; False (the default): INVALID_SESSION, and the client identifies anew.
        self.resumes = False
        self._session_ids: set[str] = set()
        self._faults: list[Fault] = []
        self._nonces: dict[tuple[str, str], tuple[str, float]] = {}
        self.nonce_window = 300.0
        self.hang = 5.0
        self._runner: web.AppRunner | None = None
        self.base = ""
        for cid, name in (
            (self.general, "general"),
            (self.alerts, "alerts"),
            (self.locked, "locked"),
        ):
            self.channels[cid] = {
                "id": cid,
                "type": 0,
                "guild_id": self.guild_id,
                "name": name,
                "position": len(self.channels),
                "permission_overwrites": [],
                "nsfw": False,
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "parent_id": None,
                "flags": 0,
            }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/gateway"

    async def __aenter__(self) -> DiscordStub:
        app = web.Application(middlewares=[self._record_and_fault])
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for s in self.sessions:
            await s.ws.close()
        if self._runner:
            await self._runner.cleanup()

    # -- what tests use ----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 0.1,
        commit: bool = False,
        scope: str = "user",
        code: int = 50013,
    ) -> None:
        """Answer the next `times` matching requests with `status` (429 carries retry_after,
        and `scope` "global" for the bot-wide limit; another 4xx carries `code`); `commit`
        carries the request out first, as when only the response is lost."""
        fault = Fault(
            method, re.compile(pattern), status, times, retry_after, commit, scope=scope, code=code
        )
        self._faults.append(fault)

    def lose_response(self, method: str, pattern: str, how: str = "503", *, times: int = 1) -> None:
        """The next `times` matching requests are carried out (a message is stored and shows
        in history), then their answer is lost: `how` is a 5xx status ("503"), "reset" (the
        connection drops) or "timeout" (no answer for `hang` seconds)."""
        assert how in ("reset", "timeout") or how.startswith("5"), how
        status = int(how) if how[0].isdigit() else 504
        self._faults.append(Fault(method, re.compile(pattern), status, times, 0.0, True, how))

    def posts(self) -> list[Call]:
        """Every message body the bot sent or edited, wherever it went."""
        kinds = ("/messages", "/callback", "/webhooks/")
        return [
            c
            for c in self.calls
            if c.method in ("POST", "PATCH")
            and any(k in c.path for k in kinds)
            and "/threads" not in c.path
        ]

    def chatter(self, channel_id: str, count: int) -> None:
        """`count` messages from a member in a channel or thread (a busy channel): they are
        not the bot's, and follow whatever is there."""
        for n in range(count):
            mid = self._message(channel_id, {"content": f"chatter {n}"})["id"]
            self.messages[mid]["author"] = user_payload(self.member, "member")

    def close_thread(self, thread_id: str, code: int = 50083) -> None:
        """A moderator archives and locks a thread: the bot (no Manage Threads) can no longer
        post there, and Discord says so with `code` (50083 "Thread is archived", or 160005
        "Thread is locked")."""
        meta = self.channels[thread_id]["thread_metadata"]
        meta.update(archived=True, locked=True, archive_timestamp=now_iso())
        self._closed[thread_id] = code

    async def delete_channel(self, channel_id: str) -> None:
        """A moderator deletes a channel: it is gone for REST (10003 Unknown Channel), and
        every identified gateway session gets CHANNEL_DELETE, as Discord sends it; for a
        thread (a forum's post), THREAD_DELETE with its ids and type only."""
        channel = self.channels.pop(channel_id)
        event, data = "CHANNEL_DELETE", channel
        if channel["type"] in (10, 11, 12):
            event = "THREAD_DELETE"
            data = {k: channel[k] for k in ("id", "guild_id", "parent_id", "type")}
        for s in [s for s in self.sessions if s.identified]:
            await s.send(0, data, event)

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == channel_id]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def _thread(
        self, tid: str, parent: str, owner: str, name: str, archive_after: int
    ) -> dict[str, Any]:
        """A public thread (type 11) as Discord sends it, open: a forum's post, or the thread
        the bot starts from a message."""
        return {
            "id": tid,
            "type": 11,
            "guild_id": self.guild_id,
            "parent_id": parent,
            "owner_id": owner,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": archive_after,
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
            },
        }

    def add_forum_post(
        self, name: str = "wire-desk", *, staff_posts: bool = False
    ) -> tuple[str, str]:
        """A forum channel (type 15, known from GUILD_CREATE: add it before the bot starts)
        and a post in it, a public thread (type 11). The forum takes no message of its own
        (50008), its posts do, as threads: commands are typed in a post. `staff_posts`: the
        bot may not start posts there (`staff_posts`)."""
        forum = snowflake()
        if staff_posts:
            self.staff_posts.add(forum)
        self.channels[forum] = {
            **self.channels[self.general],
            "id": forum,
            "type": 15,
            "name": name,
            "position": len(self.channels),
            "available_tags": [],
            "default_reaction_emoji": None,
            "default_sort_order": None,
            "default_forum_layout": 0,
        }
        post = snowflake()
        self.channels[post] = self._thread(post, forum, self.moderator, "wire alerts", 10080)
        return forum, post

    def add_voice_channel(self, name: str = "voice", *, stage: bool = False) -> str:
        """A voice (type 2) or stage (type 13) channel: its text chat takes messages and
        app commands, yet no message there can start a thread (error 50024)."""
        cid = snowflake()
        self.channels[cid] = {
            **self.channels[self.general],
            "id": cid,
            "type": 13 if stage else 2,
            "name": name,
            "position": len(self.channels),
            "bitrate": 64000,
            "user_limit": 0,
            "rtc_region": None,
        }
        return cid

    async def command(
        self, *path: str, user: str, channel: str | None = None, **options: str
    ) -> InteractionLog:
        """Run `/wirewatch PATH... option=value` as `user`; wait for its visible reply."""
        log = await self._interact(2, path, options, None, user, channel)
        await self._wait(log, lambda: bool(log.replies()))
        return log

    async def stale_command(
        self, *path: str, user: str, channel: str | None = None, **options: str
    ) -> InteractionLog:
        """Run `/wirewatch PATH... option=value` as a client still showing another schema
        sends it: not checked against the synced command (Discord does not either, for a
        client that has not reloaded); wait for the bot's reply."""
        command = next(c for c in self.commands if c["name"] == "wirewatch")
        leaf = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        tree: list[dict[str, Any]] = leaf
        for depth, name in reversed(list(enumerate(path))):
            kind = 1 if depth == len(path) - 1 else 2
            tree = [{"name": name, "type": kind, "options": tree}]
        data = {"id": command["id"], "name": "wirewatch", "type": 1, "options": tree}
        log = await self._send_interaction(2, {**data, "guild_id": self.guild_id}, user,
                                           channel or self.general)  # fmt: skip
        await self._wait(log, lambda: bool(log.replies()))
        return log

    async def click(self, message_id: str, custom_id: str, *, user: str) -> InteractionLog:
        """Click the button `custom_id` of a message the bot posted, as `user` (a member of
        the guild, who can see the channel); wait for the bot's answer. Discord sends clicks
        only for components the message really has, so a missing button fails the test."""
        msg = self.messages[message_id]
        buttons = [c for row in msg.get("components") or [] for c in row.get("components", [])]
        button = next((b for b in buttons if b.get("custom_id") == custom_id), None)
        assert button is not None, f"message {message_id} has no button {custom_id!r}"
        data = {"custom_id": custom_id, "component_type": button["type"]}
        log = await self._send_interaction(3, data, user, msg["channel_id"], message=msg)
        await self._wait(log, lambda: bool(log.replies()) or _updated(log))
        return log

    async def autocomplete(
        self, *path: str, focused: str, value: str, user: str, channel: str | None = None
    ) -> list[dict[str, Any]]:
        """Type `value` into option `focused` (in `channel`, #general unless told); the
        choices the bot offered."""
        log = await self._interact(4, path, {focused: value}, focused, user, channel)
        await self._wait(log, lambda: bool(log.callbacks))
        return log.callbacks[0]["data"]["choices"]

    # -- gateway -----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        if request.query.get("v") != "10" or request.query.get("encoding") != "json":
            raise web.HTTPBadRequest(text="v=10&encoding=json expected")
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            raise web.HTTPBadRequest(text=f"stub speaks zlib-stream only, not {compress}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = GatewaySession(ws, compress)
        self.sessions.append(session)
        await session.send(10, {"heartbeat_interval": 41250})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            await self._on_frame(session, json.loads(msg.data))
        self.sessions.remove(session)
        return ws

    async def _on_frame(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op in (2, 6) and not self.gateway_open.is_set():
            self.reconnects_waiting += 1
            try:
                await self.gateway_open.wait()
            finally:
                self.reconnects_waiting -= 1
        if op == 1:
            await session.send(11, None)
        elif op == 2:
            if d.get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return
            session.identify, session.identified = d, True
            ready = self._ready()
            self._session_ids.add(ready["session_id"])
            await session.send(0, ready, "READY")
            await session.send(0, self._guild_create(), "GUILD_CREATE")
        elif op == 6 and self.resumes and d.get("session_id") in self._session_ids:
            session.identified, session.seq = True, int(d.get("seq") or 0)
            await session.send(0, {}, "RESUMED")
        elif op == 6:
            await session.send(9, False)

    def _ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self._bot_user(),
            "guilds": [{"id": self.guild_id, "unavailable": True}],
            "session_id": snowflake(),
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": self.app_id, "flags": 0},
            "auth": {},
        }

    def _guild_create(self) -> dict[str, Any]:
        roles = [
            self._role(self.guild_id, "@everyone", EVERYONE_PERMS, 0),
            self._role(self.mod_role, "Moderators", MANAGE_CHANNELS, 2),
            self._role(self.editor_role, "Wire editors", 0, 1),
        ]
        bot_member = {
            "user": self._bot_user(),
            "roles": [],
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        return {
            "id": self.guild_id,
            "name": "Newsroom",
            "icon": None,
            "owner_id": self.admin,
            "roles": roles,
            "channels": [c for c in self.channels.values() if c["type"] in (0, 15)],
            "threads": [],
            "members": [bot_member],
            "member_count": 5,
            "large": False,
            "unavailable": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": now_iso(),
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "system_channel_id": self.general,
            "system_channel_flags": 0,
            "afk_timeout": 300,
            "afk_channel_id": None,
            "application_id": None,
            "description": None,
            "banner": None,
            "splash": None,
            "discovery_splash": None,
            "vanity_url_code": None,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "max_members": 500000,
        }

    @staticmethod
    def _role(rid: str, name: str, perms: int, position: int) -> dict[str, Any]:
        return {
            "id": rid,
            "name": name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(perms),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _bot_user(self) -> dict[str, Any]:
        return user_payload(self.bot_id, "wirewatch", bot=True)

    # -- interactions ------------------------------------------------------------------------

    def overwrite(self, channel: str, target: str, *, allow: int = 0, deny: int = 0) -> None:
        """A channel permission overwrite as Discord stores it: `target` is a member's id
        (type 1) or a role's (type 0); it applies in that channel and its threads only."""
        kind = 0 if target in (self.guild_id, self.mod_role, self.editor_role) else 1
        self.channels[channel]["permission_overwrites"].append(
            {"id": target, "type": kind, "allow": str(allow), "deny": str(deny)}
        )

    def _resolved(self, uid: str, roles: list[str], base: int, cid: str) -> int:
        """Discord's order: @everyone's overwrite, then the roles' (deny, allow), then the
        member's own; Administrator and the owner see everything whatever the overwrites."""
        if base & ADMINISTRATOR or uid == self.admin:
            return ALL_PERMS
        channel = self.channels.get(cid) or {}
        channel = self.channels.get(channel.get("parent_id") or "", channel)
        overwrites = {o["id"]: o for o in channel.get("permission_overwrites") or []}
        perms = base
        for target in (self.guild_id, None, uid):
            if target is None:  # the member's roles, together
                found = [overwrites[r] for r in roles if r in overwrites]
            else:
                found = [overwrites[target]] if target in overwrites else []
            deny = allow = 0
            for o in found:
                deny |= int(o["deny"])
                allow |= int(o["allow"])
            perms = (perms & ~deny) | allow
        return perms

    def _app_permissions(self, cid: str) -> int:
        """The bot's permissions in the channel, as every interaction carries them: in a
        `forbidden` one (or its threads) it may not post."""
        parent = (self.channels.get(cid) or {}).get("parent_id") or cid
        if parent in self.forbidden:
            return BOT_PERMS & ~(SEND | CREATE_PUBLIC_THREADS | SEND_IN_THREADS)
        if parent in self.staff_posts:
            return BOT_PERMS & ~(SEND | CREATE_PUBLIC_THREADS)
        return BOT_PERMS

    def _member(self, uid: str, cid: str = "") -> dict[str, Any]:
        """The member as Discord sends it: roles, and permissions resolved for the channel
        (its overwrites included, a thread's being its parent's)."""
        roles = {self.moderator: [self.mod_role], self.editor: [self.editor_role]}.get(uid, [])
        base = EVERYONE_PERMS | (MANAGE_CHANNELS if self.mod_role in roles else 0)
        perms = self._resolved(uid, roles, base, cid)
        names = {
            self.moderator: "mod",
            self.member: "member",
            self.editor: "editor",
            self.admin: "admin",
        }
        return {
            "user": user_payload(uid, names.get(uid, "someone")),
            "roles": roles,
            "permissions": str(perms),
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "pending": False,
            "communication_disabled_until": None,
        }

    async def _interact(
        self,
        kind: int,
        path: tuple[str, ...],
        options: dict[str, str],
        focused: str | None,
        user: str,
        channel: str | None,
    ) -> InteractionLog:
        command = next((c for c in self.commands if c["name"] == "wirewatch"), None)
        assert command is not None, "the bot has not synced /wirewatch"
        data = {
            "id": command["id"],
            "name": "wirewatch",
            "type": 1,
            "guild_id": self.guild_id,
            "options": _option_tree(command, path, options, focused),
        }
        return await self._send_interaction(kind, data, user, channel or self.general)

    async def _send_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user: str,
        cid: str,
        *,
        message: dict[str, Any] | None = None,
    ) -> InteractionLog:
        """INTERACTION_CREATE as Discord sends it over the gateway."""
        log = InteractionLog(snowflake(), "itok-" + snowflake(), kind, cid)
        log.message = message["id"] if message else None
        self.interactions[log.id] = log
        payload = {
            "id": log.id,
            "application_id": self.app_id,
            "type": kind,
            "data": data,
            "guild_id": self.guild_id,
            "channel_id": cid,
            "channel": self.channels[cid],
            "member": self._member(user, cid),
            "token": log.token,
            "version": 1,
            "app_permissions": str(self._app_permissions(cid)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "context": 0,
            "authorizing_integration_owners": {"0": self.guild_id},
            "attachment_size_limit": 8 * 2**20,
        }
        if message is not None:
            payload["message"] = _public(message)
        sessions = [s for s in self.sessions if s.identified]
        assert sessions, "no identified gateway session"
        for s in sessions:
            await s.send(0, payload, "INTERACTION_CREATE")
        return log

    @staticmethod
    async def _wait(log: InteractionLog, done: Any) -> None:
        async with asyncio.timeout(REPLY_WAIT):
            while not done():
                log.changed.clear()
                await log.changed.wait()

    # -- REST --------------------------------------------------------------------------------

    @web.middleware
    async def _record_and_fault(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/api/v10/"):
            return await handler(request)
        path = request.path[len("/api/v10") :]
        ctype = request.headers.get("Content-Type", "")
        raw = await request.read()
        body = json.loads(raw) if raw and ctype == "application/json" else None
        self.calls.append(Call(request.method, path, dict(request.query), body, ctype))
        for fault in self._faults:
            if fault.times > 0 and fault.method == request.method and fault.pattern.search(path):
                fault.times -= 1
                if fault.commit:
                    await handler(request)
                if fault.how == "timeout":
                    await asyncio.sleep(self.hang)
                elif fault.how == "reset" and request.transport is not None:
                    request.transport.abort()
                return _fault_response(fault)
        return await handler(request)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len("/api/v10") :]
        body = self.calls[-1].body
        for method, pattern, name in _ROUTES:
            m = re.fullmatch(pattern, path)
            if m and method == request.method:
                if not name.startswith("hook_") and not self._authorized(request):
                    return jsonr({"message": "401: Unauthorized", "code": 0}, 401)
                return await getattr(self, "_" + name)(request, body, *m.groups())
        return jsonr({"message": "404: Not Found", "code": 0}, 404)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _users_me(self, request: web.Request, body: Any) -> web.Response:
        return jsonr(self._bot_user())

    async def _app_me(self, request: web.Request, body: Any) -> web.Response:
        return jsonr(
            {
                "id": self.app_id,
                "name": "wirewatch",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "flags": 0,
                "owner": user_payload(self.admin, "admin"),
                "verify_key": "00" * 32,
                "team": None,
                "summary": "",
                "rpc_origins": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "bot": self._bot_user(),
            }
        )

    async def _gateway_bot(self, request: web.Request, body: Any) -> web.Response:
        return jsonr(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_commands(self, request: web.Request, body: Any, app: str) -> web.Response:
        return jsonr(self.commands)

    async def _put_commands(self, request: web.Request, body: Any, app: str) -> web.Response:
        if app != self.app_id or not isinstance(body, list):
            return jsonr({"message": "Invalid Form Body", "code": 50035}, 400)
        self.commands = [
            {**c, "id": snowflake(), "application_id": app, "version": snowflake()} for c in body
        ]
        return jsonr(self.commands)

    async def _get_channel(self, request: web.Request, body: Any, cid: str) -> web.Response:
        if cid not in self.channels:
            return jsonr({"message": "Unknown Channel", "code": 10003}, 404)
        return jsonr(self.channels[cid])

    async def _history(self, request: web.Request, body: Any, cid: str) -> web.Response:
        """GET /channels/{id}/messages as Discord answers it: `limit` 1 to 100 (default 50),
        at most one of `before`, `after`, `around`; always newest first, `after` giving the
        `limit` messages just after that id (so a client pages forward from the newest of
        them), `before` and none the ones just before it or the newest."""
        if cid not in self.channels:
            return jsonr({"message": "Unknown Channel", "code": 10003}, 404)
        query = request.query
        limit = query.get("limit", "50")
        anchors = [k for k in ("before", "after", "around") if k in query]
        ids = [query[k] for k in anchors]
        if not limit.isdigit() or not 1 <= int(limit) <= 100 or not all(i.isdigit() for i in ids):
            return jsonr({"message": "Invalid Form Body", "code": 50035}, 400)
        newest = sorted(self.channel_messages(cid), key=lambda m: int(m["id"]), reverse=True)
        found = _page(
            newest, int(limit), anchors[0] if anchors else "", int(ids[0] or 0) if ids else 0
        )
        return jsonr([_public(m) for m in found])

    async def _create_message(self, request: web.Request, body: Any, cid: str) -> web.Response:
        if refused := self._refuse(cid) or _invalid_message(body):
            return refused
        if self.channels[cid]["type"] in (4, 15, 16):  # a category, a forum, a media channel
            text = "Cannot send messages in a non-text channel"
            return jsonr({"message": text, "code": 50008}, 400)
        if cid in self._closed:
            text = "Thread is locked" if self._closed[cid] == 160005 else "Thread is archived"
            return jsonr({"message": text, "code": self._closed[cid]}, 400)
        key = (cid, str(body.get("nonce")))
        seen, at = self._nonces.get(key, ("", 0.0))
        if body.get("enforce_nonce") and seen and time.monotonic() - at < self.nonce_window:
            return jsonr(self.messages[seen])
        msg = self._message(cid, body)
        if body.get("nonce") is not None:
            self._nonces[key] = (msg["id"], time.monotonic())
        return jsonr(msg)

    async def _edit_message(
        self, request: web.Request, body: Any, cid: str, mid: str
    ) -> web.Response:
        if refused := self._refuse(cid) or _invalid_message(body, edit=True):
            return refused
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != cid:
            return jsonr({"message": "Unknown Message", "code": 10008}, 404)
        msg.update(
            {k: body[k] for k in ("content", "embeds") if k in body}, edited_timestamp=now_iso()
        )
        return jsonr(msg)

    async def _start_thread(
        self, request: web.Request, body: Any, cid: str, mid: str
    ) -> web.Response:
        if refused := self._refuse(cid):
            return refused
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != cid:
            return jsonr({"message": "Unknown Message", "code": 10008}, 404)
        if self.channels[cid]["type"] not in (0, 5):  # only text and announcement channels
            return jsonr(
                {"message": "Cannot execute action on this channel type", "code": 50024}, 400
            )
        name = (body or {}).get("name") or ""
        if not 1 <= len(name) <= 100:
            return jsonr({"message": "Invalid Form Body", "code": 50035}, 400)
        if mid in self.channels:
            return jsonr(
                {"message": "A thread has already been created for this message", "code": 160004},
                400,
            )
        thread = self._thread(mid, cid, self.bot_id, name, body.get("auto_archive_duration", 1440))
        self.channels[mid] = thread
        msg["flags"] |= 1 << 5  # HAS_THREAD
        return jsonr(thread, 201)

    async def _hook_callback(
        self, request: web.Request, body: Any, iid: str, token: str
    ) -> web.StreamResponse:
        log = self.interactions.get(iid)
        if log is None or log.token != token:
            return jsonr({"message": "Unknown interaction", "code": 10062}, 404)
        if log.callbacks:
            return jsonr(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        kind, data = body.get("type"), body.get("data") or {}
        if kind in (6, 7) and log.type != 3:
            return jsonr({"message": "Invalid interaction application command", "code": 50035}, 400)
        if kind in (4, 7) and (refused := _invalid_message(data, edit=kind == 7)):
            return refused
        log.callbacks.append(body)
        log.changed.set()
        shown = self._show_callback(log, kind, data)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        answer: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": log.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if shown is not None:
            answer["interaction"]["response_message_id"] = shown["id"]
            answer["resource"]["message"] = shown
        return jsonr(answer)

    def _show_callback(
        self, log: InteractionLog, kind: int, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        """What everyone else sees: a message that is not ephemeral appears in the channel,
        and UPDATE_MESSAGE (7) rewrites the clicked message for everyone."""
        if kind == 7 and log.message in self.messages:
            msg = self.messages[log.message]
            msg.update({k: data[k] for k in ("content", "embeds", "components") if k in data})
            msg["edited_timestamp"] = now_iso()
            return _public(msg)
        if kind not in (4, 5):
            return None
        if kind == 4 and not data.get("flags", 0) & EPHEMERAL:
            return self._message(log.channel, data)  # in the channel, for everyone
        return self._message(None, data, interaction=log.id)

    async def _hook_followup(
        self, request: web.Request, body: Any, app: str, token: str
    ) -> web.StreamResponse:
        log = next((i for i in self.interactions.values() if i.token == token), None)
        if log is None or app != self.app_id or not log.callbacks:
            return jsonr({"message": "Unknown Webhook", "code": 10015}, 404)
        if refused := _invalid_message(body):
            return refused
        log.followups.append(body)
        log.changed.set()
        if request.query.get("wait") in ("1", "true", "True"):
            return jsonr(self._message(None, body, interaction=log.id))
        return web.Response(status=204)

    def _refuse(self, cid: str) -> web.Response | None:
        if cid not in self.channels:
            return jsonr({"message": "Unknown Channel", "code": 10003}, 404)
        parent = self.channels[cid].get("parent_id") or cid
        if parent in self.forbidden:
            return jsonr({"message": "Missing Permissions", "code": 50013}, 403)
        return None

    def _message(
        self, cid: str | None, body: dict[str, Any], *, interaction: str | None = None
    ) -> dict[str, Any]:
        mid = snowflake()
        msg = {
            "id": mid,
            "channel_id": cid or self.general,
            "guild_id": self.guild_id,
            "author": self._bot_user(),
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0 if interaction is None else 20,
            "flags": body.get("flags", 0),
            "components": body.get("components") or [],
            "nonce": body.get("nonce"),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        if interaction is None:
            self.messages[mid] = msg
            if cid in self.channels:
                self.channels[cid]["last_message_id"] = mid
        return _public(msg)


# (method, path regex, handler name); `hook_` routes authenticate with the token in the path.
_ROUTES = [
    ("GET", r"/users/@me", "users_me"),
    ("GET", r"/(?:oauth2/)?applications/@me", "app_me"),
    ("GET", r"/gateway/bot", "gateway_bot"),
    ("GET", r"/applications/(\d+)/commands", "get_commands"),
    ("PUT", r"/applications/(\d+)/commands", "put_commands"),
    ("GET", r"/channels/(\d+)", "get_channel"),
    ("GET", r"/channels/(\d+)/messages", "history"),
    ("POST", r"/channels/(\d+)/messages", "create_message"),
    ("PATCH", r"/channels/(\d+)/messages/(\d+)", "edit_message"),
    ("POST", r"/channels/(\d+)/messages/(\d+)/threads", "start_thread"),
    ("POST", r"/interactions/(\d+)/([^/]+)/callback", "hook_callback"),
    ("POST", r"/webhooks/(\d+)/([^/]+)", "hook_followup"),
]


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[DiscordStub]:
    """A fresh stand-in for Discord, serving for one test."""
    async with DiscordStub() as s:
        yield s


def jsonr(data: Any, status: int = 200) -> web.Response:
    """JSON with the exact content type discord.py checks for (no charset parameter)."""
    headers = {
        "Content-Type": "application/json",
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset-After": "1.0",
        "X-RateLimit-Bucket": "stub-bucket",
    }
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)


def _fault_response(fault: Fault) -> web.Response:
    if fault.status == 429:
        resp = jsonr(
            {
                "message": "You are being rate limited.",
                "retry_after": fault.retry_after,
                "global": fault.scope == "global",
                "code": 0,
            },
            429,
        )
        resp.headers.update(
            {
                "Via": "1.1 google",
                "Retry-After": str(fault.retry_after),
                "X-RateLimit-Scope": fault.scope,
                "X-RateLimit-Remaining": "0",
            }
        )
        if fault.scope == "global":
            resp.headers["X-RateLimit-Global"] = "true"
        return resp
    if fault.status >= 500:
        return web.Response(
            status=fault.status, text="<html>upstream error</html>", content_type="text/html"
        )
    if fault.status == 401:  # what Discord answers a token it no longer accepts
        return jsonr({"message": "401: Unauthorized", "code": 0}, 401)
    text = {50035: "Invalid Form Body", 50006: "Cannot send an empty message"}
    return jsonr(
        {"message": text.get(fault.code, "Missing Permissions"), "code": fault.code}, fault.status
    )


def _page(newest: list[dict[str, Any]], limit: int, anchor: str, at: int) -> list[dict[str, Any]]:
    """One page of history (`newest`: the channel's messages, newest first), newest first."""
    if anchor == "after":
        return [m for m in newest if int(m["id"]) > at][-limit:]
    if anchor == "before":
        return [m for m in newest if int(m["id"]) < at][:limit]
    if anchor == "around":  # the closest newer ones, then that id and older
        newer = [m for m in newest if int(m["id"]) > at][::-1][: limit // 2][::-1]
        return newer + [m for m in newest if int(m["id"]) <= at][: limit - len(newer)]
    return newest[:limit]


def _public(msg: dict[str, Any]) -> dict[str, Any]:
    """The message as Discord returns it: request-only keys are not echoed back."""
    return {k: v for k, v in msg.items() if k != "allowed_mentions"}


def _invalid_message(body: Any, *, edit: bool = False) -> web.Response | None:
    """Discord's form checks: not empty, content 2,000, embed limits and http(s) urls."""
    problems = []
    if not isinstance(body, dict):
        return jsonr({"message": "Cannot send an empty message", "code": 50006}, 400)
    content, embeds = body.get("content") or "", body.get("embeds") or []
    if not edit and not content and not embeds:
        return jsonr({"message": "Cannot send an empty message", "code": 50006}, 400)
    if len(content) > 2000:
        problems.append("content: Must be 2000 or fewer in length.")
    problems += component_problems(body.get("components") or [])
    for i, embed in enumerate(embeds):
        problems += [f"embeds.{i}.{p}" for p in embed_problems(embed)]
    if problems:
        return jsonr({"message": "Invalid Form Body", "code": 50035, "errors": problems}, 400)
    return None


def component_problems(rows: Any) -> list[str]:
    """Discord's checks on message components: at most 5 action rows of at most 5 buttons;
    a button has a label (80) and, unless it is a link, a custom_id (100) unique in the
    message; a link button has an http(s) url and no custom_id."""
    if not isinstance(rows, list) or len(rows) > 5:
        return ["components: Must be 5 or fewer in length."]
    out, seen = [], set()
    for i, row in enumerate(rows):
        items = row.get("components") if isinstance(row, dict) else None
        if row.get("type") != 1 or not isinstance(items, list) or not 1 <= len(items) <= 5:
            out.append(f"components.{i}: an action row holds 1 to 5 components")
            continue
        for j, b in enumerate(items):
            where, cid = f"components.{i}.components.{j}", b.get("custom_id")
            if b.get("type") != 2 or not 1 <= len(b.get("label") or "") <= 80:
                out.append(f"{where}: a button needs a label of 1 to 80 characters")
            if b.get("style") == 5:
                if cid is not None or not re.match(r"^https?://", b.get("url") or ""):
                    out.append(f"{where}: a link button has an http(s) url, no custom_id")
            elif b.get("style") not in (1, 2, 3, 4) or not 1 <= len(cid or "") <= 100:
                out.append(f"{where}: custom_id must be 1 to 100 characters")
            elif cid in seen:
                out.append(f"{where}: custom_id must be unique in the message")
            seen.add(cid)
    return out


def _updated(log: InteractionLog) -> bool:
    return any(c.get("type") in (6, 7) for c in log.callbacks)


def embed_problems(embed: dict[str, Any]) -> list[str]:
    """Where an embed breaks Discord's limits (lengths in characters)."""
    out = []
    sizes = {
        "title": len(embed.get("title") or ""),
        "description": len(embed.get("description") or ""),
        "footer.text": len((embed.get("footer") or {}).get("text") or ""),
        "author.name": len((embed.get("author") or {}).get("name") or ""),
    }
    fields = embed.get("fields") or []
    if len(fields) > EMBED_LIMITS["fields"]:
        out.append("fields: Must be 25 or fewer in length.")
    for f in fields:
        for part in ("name", "value"):
            if not f.get(part) or len(f[part]) > EMBED_LIMITS[f"field.{part}"]:
                out.append(f"fields.{part}: empty or too long")
    out += [f"{k}: too long" for k, n in sizes.items() if n > EMBED_LIMITS[k]]
    total = sum(sizes.values()) + sum(
        len(f.get("name", "")) + len(f.get("value", "")) for f in fields
    )
    if total > EMBED_LIMITS["total"]:
        out.append("Embed size exceeds maximum size of 6000")
    url = embed.get("url")
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        out.append("url: Scheme must be one of ('http', 'https').")
    return out


def _option_tree(
    command: dict[str, Any], path: tuple[str, ...], options: dict[str, str], focused: str | None
) -> list[dict[str, Any]]:
    """Interaction options for `path`, checked against the synced schema as Discord does."""
    level = command.get("options") or []
    chain: list[dict[str, Any]] = []
    for name in path:
        found = next((o for o in level if o["name"] == name and o["type"] in (1, 2)), None)
        assert found is not None, f"no subcommand {name!r} in the synced /wirewatch"
        chain.append({"name": name, "type": found["type"]})
        level = found.get("options") or []
    assert chain and chain[-1]["type"] == 1, f"{path} does not end at a subcommand"
    known = {o["name"]: o for o in level}
    leaf = []
    for name, value in options.items():
        assert name in known, f"option {name!r} is not declared for {path}"
        opt = {"name": name, "type": known[name]["type"], "value": value}
        if name == focused:
            assert known[name].get("autocomplete"), f"{name!r} has no autocomplete"
            opt["focused"] = True
        leaf.append(opt)
    missing = [o["name"] for o in level if o.get("required") and o["name"] not in options]
    assert focused or not missing, f"required options missing: {missing}"
    chain[-1]["options"] = leaf
    for outer, inner in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        outer["options"] = [inner]
    return [chain[0]]
