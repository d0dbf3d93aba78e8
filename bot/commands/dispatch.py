"""`Commands`, the one entry point of /wirewatch: parse, check rights, run the handler, answer.

Each subcommand is a plain function in the module of its job; the tables here say which runs
whole on the store thread (`_IN_STORE`: all its work is the database's), which decides waiting
alerts again and is told of a stop (`_LONG_WRITES`), and which runs on the loop, handing its
queries over one by one (`_ON_LOOP`: it also fetches, polls or rebuilds the matcher).

Deliberately not here: what a command does (its module), who may run it (bot.commands.rights),
how text parses (bot.commands.grammar), any platform.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.commands import feed_admin, overview, recap, subscriptions, switches, topic_admin
from bot.commands.calls import StoreCalls
from bot.commands.grammar import Invocation, Reply, Subcommand, parse, text_for
from bot.commands.labels import feedback
from bot.commands.lookups import live
from bot.commands.rights import is_moderator, refusal
from bot.commands.trial import try_query
from bot.errors import CommandError, StoreError
from bot.store import list_topics
from bot.store import subscriptions as subscriptions_in

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# A handler answers with text (done), or a Reply of its own when nothing was done and a usage
# line would not help (`feedback` on an alert it cannot label).
Handler = Callable[[StoreCalls, Invocation, str], Awaitable[str | Reply]]
# One whose work is all the database's: it runs whole on the store thread, given its connection.
StoreHandler = Callable[["Database", "Runtime", Invocation, str], str | Reply]
# One that decides a channel's waiting alerts again, in slices: told of a stop.
LongWrite = Callable[["Database", "Runtime", Invocation, str, threading.Event | None], str]

_IN_STORE: dict[str, StoreHandler] = {
    "topics": topic_admin.list_topics_here,
    "list": subscriptions.list_here,
    "feeds": feed_admin.list_feeds_here,
    "feeds remove": feed_admin.feeds_remove,
    "mute": switches.mute,
    "unmute": switches.unmute,
    "edits": switches.edits,
    "search": overview.search,
    "status": overview.status,
    "feedback not-relevant": feedback,
    "feedback wrong-story": feedback,
}
_LONG_WRITES: dict[str, LongWrite] = {
    "subscribe": subscriptions.subscribe_here,
    "unsubscribe": subscriptions.unsubscribe_here,
}
_ON_LOOP: dict[str, Handler] = {
    "help": overview.show_help,
    "feeds add": feed_admin.feeds_add,
    "topic add": topic_admin.topic_add,
    "topic remove": topic_admin.topic_remove,
    "test": try_query,
    "digest": recap.digest,  # posts through the adapter; a recap runs on the store thread
}


class Commands:
    """The one implementation of /wirewatch; adapters call `handle` and send its Reply.

    A command's queries never run on the event loop (`bot.commands.calls`). `inline=True`
    (and a `:memory:` database, which a second connection cannot see) keeps them on the
    loop, as the benchmark's baseline.
    """

    def __init__(self, rt: Runtime, *, inline: bool = False) -> None:
        self.rt = rt
        self._calls = StoreCalls(rt, inline=inline)

    async def handle(self, inv: Invocation) -> Reply:
        """Parse, check rights, act, answer; never raises."""
        sub: Subcommand | None = None
        try:
            sub, rest = parse(inv.text)
            refused = refusal(self.rt.settings, inv, sub, rest)
            if refused:
                reply = refused
            else:
                done = await self._act(sub.name, inv, rest.strip())
                reply = done if isinstance(done, Reply) else Reply(done)
        except CommandError as exc:
            usage = f"\nusage: `{sub.usage}`" if sub else ""
            reply = Reply(f"{exc}{usage}", ok=False)
        except StoreError as exc:  # the database refused (locked, full, stopping): say why
            log.warning("command.store_error command=%s error=%s", sub.name if sub else "?", exc)
            reply = Reply(f"`{sub.name if sub else inv.text}`: {exc}", ok=False)
        except Exception:  # a bug must not take the adapter down; the user gets a short answer
            log.exception("command.crashed platform=%s channel=%s", inv.platform, inv.channel)
            reply = Reply(
                "something went wrong on wirewatch's side; the logs have details", ok=False
            )
        log.info(
            "command.done platform=%s channel=%s user=%s command=%s ok=%s",
            inv.platform,
            inv.channel,
            inv.user,
            sub.name if sub else "?",
            reply.ok,
        )
        return reply

    async def _act(self, name: str, inv: Invocation, rest: str) -> str | Reply:
        calls = self._calls
        if name in _LONG_WRITES:  # deciding waiting alerts again: a stop ends it in time
            return await calls.until_stop(_LONG_WRITES[name], self.rt, inv, rest)
        if name in _IN_STORE:
            return await calls.run(_IN_STORE[name], self.rt, inv, rest)
        return await _ON_LOOP[name](calls, inv, rest)

    def is_moderator(self, inv: Invocation, *, bot_wide: bool = False) -> bool:
        """Whether `inv`'s user may change this channel, or with `bot_wide` every channel's
        shared feeds and topics (`bot.commands.rights.is_moderator`)."""
        return is_moderator(self.rt.settings, inv, bot_wide=bot_wide)

    def topic_names(self, prefix: str = "", *, command: str = "", channel: str = "") -> list[str]:
        """Topic names starting with `prefix` that `command` would take in `channel`, for
        autocomplete (at most 25, Discord's cap): offering a name the command then refuses
        wastes the moderator's turn. `unsubscribe`: the channel's subscriptions;
        `topic remove`: topics added from chat; any other: every topic."""
        prefix = prefix.lower()
        # On the loop: the topics table and a channel's subscriptions are a few rows each,
        # and Discord wants choices at once.
        db = self.rt.db
        if command == "unsubscribe":  # as unsubscribe_here checks; without a channel, none
            names = [s.topic for s in live(subscriptions_in(db, channel))] if channel else []
        elif command == "topic remove":  # config and builtin topics are refused
            names = [t.name for t in list_topics(db) if t.origin == "chat"]
        else:
            names = [t.name for t in list_topics(db)]
        return [n for n in names if n.startswith(prefix)][:25]

    text_for = staticmethod(text_for)
