"""Chat commands, written once for every platform: parse, check rights, act, answer.

An adapter turns its platform's invocation (a Slack slash command, a Discord app command)
into an `Invocation`, awaits `Commands.handle` and sends the `Reply` back its own way,
escaping the text there: replies quote feed titles, which are untrusted. A user's mistake is
a `Reply(ok=False)` that says what was wrong and shows the usage line; it changes nothing.

Deliberately not here: any platform syntax or API, acknowledging within 3 seconds (adapters
do that), and the queries themselves (bot.store, bot.status).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urldefrag

from bot import metrics
from bot.app import build_matcher
from bot.catalog import unknown_topic
from bot.clock import iso, iso_short, later, parse_iso, utcnow
from bot.durations import format_duration, parse_duration
from bot.edit_store import edits_enabled, set_edits
from bot.errors import (
    CommandError,
    FeedParseError,
    FetchError,
    QueryError,
    StoppingError,
    StoreError,
    UnsafeURLError,
)
from bot.feedback import (
    KINDS,
    MAX_ALERT,
    TopicWeek,
    alert_number,
    answer,
    last_week,
    record_label,
)
from bot.feeds.guard import check_url
from bot.gone_topics import give_back, gone_line, gone_subscriptions, held_for
from bot.health import describe
from bot.health_store import feeds_health
from bot.model import Topic
from bot.narrow import Redecision, channels_naming, check_filter, effective_query, rematch
from bot.opinions import explain
from bot.outbox import pending_count
from bot.pipeline import poll_feed
from bot.redecide import (
    NOTHING_CHANGED,
    save_topic,
    subscribe,
    unfinished_topics,
    unsubscribe,
    waiting_items,
)
from bot.settings import LINE_BREAKING
from bot.status import health, without_vectors
from bot.store import (
    add_feed,
    delete_topic,
    feed_at,
    feed_item_counts,
    feed_named,
    list_feeds,
    list_topics,
    remove_feed,
    search_items,
    set_muted,
    subscriptions,
)
from bot.text.clean import html_to_text
from bot.text.invisible import strip_invisible
from bot.topics.query import SMART_QUOTES
from bot.topics.refs import names_in, users_of
from bot.topics.usable import usable_topics
from bot.wording import counted
from bot.workers import extract_article_async, parse_feed_async

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils import Database

    from bot.app import Runtime
    from bot.store import FeedRow, SubscriptionRow
    from bot.topics.entities import Gazetteer

log = logging.getLogger(__name__)

TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MODES = ("instant", "digest")
# Commands whose write decides a channel's waiting alerts again, in slices: told of a stop.
_LONG_WRITES = frozenset({"subscribe", "unsubscribe"})
MAX_MUTE = 90 * 86400.0
SEARCH_LIMIT = 10
CONSULT_SLICE = 32  # items whose text the loop prepares before it serves others again
URL_TEXT = re.compile(r"^https?://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Invocation:
    """One command as typed in chat, with who typed it and where."""

    platform: str  # "slack" | "discord" | "console"
    channel: str  # full channel key as stored: "slack:C0123", "discord:123456789"
    user: str
    text: str  # everything after /wirewatch
    platform_admin: bool = False  # may change this channel: Slack admin; Discord: Manage Channels
    # May change what every channel shares (feeds, topics): Slack admin/owner; Discord: Manage
    # Server or Administrator server-wide. One channel's rights must not reach the others.
    bot_admin: bool = False
    roles: tuple[str, ...] = ()  # Discord role ids of the member
    workspace: str | None = None
    # Who may moderate here, as a refusal tells it: the adapter knows its platform's rights.
    moderators: str = "moderators listed in the config"
    bot_moderators: str = "moderators listed in the config"  # who may run bot-wide commands
    # Why wirewatch cannot post in this channel, in the platform's words ("" when it can or
    # nobody could tell), filled by the adapter for commands that need it (`needs_posting`).
    cannot_post: str = ""


@dataclass(frozen=True)
class Reply:
    """Plain text with `code` spans and "- " lists; adapters escape it for their platform."""

    text: str
    ok: bool = True


@dataclass(frozen=True)
class Subcommand:
    name: str
    args: tuple[tuple[str, str, bool], ...]  # (name, kind, required)
    moderator_only: bool
    help: str
    synopsis: str = ""  # the arguments as users type them, e.g. "TOPIC [instant|digest]"
    # Acts on what every channel shares (feeds, topics), not on the channel it is run in:
    # a right over one channel is not enough (`Invocation.bot_admin`).
    bot_wide: bool = False
    # Sets up alerts in the channel it is run in: refused where wirewatch cannot post, or
    # the first alert would pause the channel and nobody who asked would hear of it.
    posts_here: bool = False

    @property
    def usage(self) -> str:
        return f"/wirewatch {self.name} {self.synopsis}".rstrip()


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("help", (), False, "what each command does"),
    Subcommand("topics", (), False, "every topic with its query"),
    Subcommand(
        "subscribe",
        (
            ("topic", "topic", True),
            ("mode", "mode", False),
            ("only", "query", False),
            ("except", "query", False),
        ),
        True,
        # With the rights mark, at most 100 characters: Discord's menu shows no more.
        "alert here when TOPIC fires (or a digest of it); only/except: a QUERY to match, or not",
        "TOPIC [instant|digest] [--only QUERY] [--except QUERY]",
        posts_here=True,
    ),
    Subcommand(
        "unsubscribe",
        (("topic", "topic", True),),
        True,
        "stop alerting this channel for TOPIC",
        "TOPIC",
    ),
    Subcommand(
        "list",
        (),
        False,
        "this channel's subscriptions (muted, paused), each with its effective query; edits on|off",
    ),
    Subcommand("feeds", (), True, "every feed with its health: usual gap between items, state"),
    Subcommand(
        "feeds add",
        (("url", "url", True), ("name", "text", False)),
        True,
        "add a feed and poll it right away",
        "URL [NAME]",
        bot_wide=True,
    ),
    Subcommand(
        "feeds remove",
        (("feed", "text", True),),
        True,
        "stop polling a feed; its items stay searchable",
        "URL|NAME",
        bot_wide=True,
    ),
    Subcommand(
        "topic add",
        (("name", "text", True), ("query", "text", True)),
        True,
        "add (or change) a topic of your own",
        "NAME QUERY",
        bot_wide=True,
    ),
    Subcommand(
        "topic remove",
        (("name", "topic", True),),
        True,
        "remove a topic added from chat",
        "NAME",
        bot_wide=True,
    ),
    Subcommand(
        "test",
        (("query", "text", True), ("text", "text", True)),
        False,
        "would this text or page match, and why (a query of several words goes in backticks)",
        "TOPIC|QUERY TEXT|URL",
    ),
    Subcommand(
        "mute",
        (("duration", "duration", True),),
        True,
        "no alerts in this channel for a while (they are skipped, not saved)",
        "DURATION",
    ),
    Subcommand("unmute", (), True, "end a mute early"),
    Subcommand(
        "edits",
        (("state", "switch", False),),
        True,
        "post outlets' edits of a story in its thread (on by default), or not; alone, say which",
        "[on|off]",
    ),
    Subcommand(
        "search",
        (("words", "text", True),),
        False,
        f"the {SEARCH_LIMIT} most recent stored items with these words",
        "WORDS",
    ),
    Subcommand(
        "status",
        (),
        False,
        "feed health, alerts waiting to be sent, each topic's alerts and editors' clicks "
        "over 7 days",
    ),
    Subcommand(
        "feedback not-relevant",
        (("alert", "alert", True),),
        False,
        "record that alert ALERT (`ref N` under it) is not relevant to its topic (its Not "
        "relevant button)",
        "ALERT",
    ),
    Subcommand(
        "feedback wrong-story",
        (("alert", "alert", True),),
        False,
        "record that alert ALERT was put in a story it does not belong to (its Wrong story button)",
        "ALERT",
    ),
)
_BY_NAME = {s.name: s for s in SUBCOMMANDS}
ONE_WORD = ("topic", "mode", "url", "duration", "switch", "alert")
PUBLIC = ", ".join(s.name for s in SUBCOMMANDS if not s.moderator_only)


TAKES_NOTHING = ("topics", "list", "unmute", "status")
# Other spellings of a subcommand. Discord cannot have a bare `feeds` next to the `feeds add`
# group, so there it is `/wirewatch feeds list` (adapters.discord_commands), and people who
# saw it type that elsewhere too.
ALIASES = {"feeds list": "feeds"}


def rights_mark(sub: Subcommand) -> str:
    """Who may use `sub`, as help lines show it."""
    if sub.bot_wide:
        return " (moderators of the whole bot)"
    return " (moderators)" if sub.moderator_only else ""


def parse(text: str) -> tuple[Subcommand, str]:
    """The subcommand named at the start of `text`, and the rest of the text as typed."""
    words = text.split(None, 2)
    if not words:
        return _BY_NAME["help"], ""
    first = words[0].lower()
    two = f"{first} {words[1].lower()}" if len(words) > 1 else ""
    if two in ALIASES:
        if len(words) > 2:
            raise CommandError(f"`{two}` takes nothing after it, not `{_shown(words[2])}`")
        return _BY_NAME[ALIASES[two]], ""
    if two in _BY_NAME:
        return _BY_NAME[two], (words[2] if len(words) > 2 else "")
    if first == "feeds" and len(words) > 1:
        raise CommandError(
            f"unknown `feeds {_shown(words[1])}`: `feeds` (or `feeds list`) lists them, "
            "`feeds add URL [NAME]` adds one, `feeds remove URL|NAME` removes one"
        )
    if first in _BY_NAME:
        sub = _BY_NAME[first]
        rest = text.split(None, 1)[1] if len(words) > 1 else ""
        if first in TAKES_NOTHING and rest.strip():
            raise CommandError(f"`{first}` takes nothing after it, not `{_shown(rest)}`")
        return sub, rest
    if first in ("topic", "feeds"):
        raise CommandError(f"`{first}` needs add or remove: `/wirewatch {first} add ...`")
    if first == "feedback":
        raise CommandError(f"`feedback` needs one of {', '.join(f'`{k}`' for k in KINDS)}")
    raise CommandError(f"unknown command `{words[0]}`: `/wirewatch help` lists them")


def needs_posting(text: str) -> bool:
    """Whether `text` names a command that needs wirewatch to post in the channel (adapters
    look up `Invocation.cannot_post` only then, when the lookup costs a call)."""
    try:
        return parse(text)[0].posts_here
    except CommandError:
        return False


def requires_moderator(text: str) -> bool:
    """Whether `text` names a moderator-only command (adapters skip the admin lookup if not)."""
    try:
        return parse(text)[0].moderator_only
    except CommandError:
        return False


# A handler answers with text (done), or a Reply of its own when nothing was done and a usage
# line would not help (`feedback` on an alert it cannot label).
Handler = Callable[[Invocation, str], Awaitable[str | Reply]]
# One whose work is all the database's: it runs whole on the store thread, given its connection.
StoreHandler = Callable[["Database", Invocation, str], str | Reply]
R = TypeVar("R")


class Commands:
    """The one implementation of /wirewatch; adapters call `handle` and send its Reply.

    A command's queries never run on the event loop (it polls feeds, sends alerts and
    acknowledges the next command): a command that only reads and writes the database runs
    whole on the runtime's store thread (`bot.db.StoreThread`) with that thread's connection;
    one that also fetches, polls or rebuilds the matcher runs on the loop and hands its
    queries over one by one (`store`). `inline=True` (and a `:memory:` database, which a
    second connection cannot see) keeps them on the loop, as the benchmark's baseline.
    """

    def __init__(self, rt: Runtime, *, inline: bool = False) -> None:
        self.rt = rt
        self._thread = None if inline else rt.store
        self._in_store: dict[str, StoreHandler] = {
            "topics": self._topics,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "list": self._list,
            "feeds": self._feeds,
            "feeds remove": self._feeds_remove,
            "mute": self._mute,
            "unmute": self._unmute,
            "edits": self._edits,
            "search": self._search,
            "status": self._status,
            "feedback not-relevant": self._feedback,
            "feedback wrong-story": self._feedback,
        }
        self._on_loop: dict[str, Handler] = {
            "help": self._help,
            "feeds add": self._feeds_add,
            "topic add": self._topic_add,
            "topic remove": self._topic_remove,
            "test": self._test,
        }

    async def store(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(db, *args)` on the store thread with its connection, the loop serving others
        meanwhile; on the loop with the bot's own connection where there is no such thread."""
        if self._thread is None:
            return fn(self.rt.db, *args)
        return await self._thread.run(fn, *args)

    async def _until_stop(self, fn: Callable[..., R], *args: Any) -> R:
        """`store(fn, *args, stop)`, `stop` set once wirewatch begins to stop (the run's
        `Runtime.stopping`, or the store thread closing): work that only prepares a write,
        deciding waiting alerts again, gives up at its next look (`bot.redecide`), so that
        the moderator is told while the chat connection is still up and the stop keeps to
        its grace."""
        thread = self._thread
        if thread is None:
            return fn(self.rt.db, *args, None)

        def stopped(waited: asyncio.Future[Any]) -> None:
            if not waited.cancelled():
                thread.stopping.set()

        relay = asyncio.ensure_future(self.rt.stopping.wait())
        relay.add_done_callback(stopped)
        try:
            return await thread.run(fn, *args, thread.stopping)
        finally:
            relay.cancel()

    async def _act(self, name: str, inv: Invocation, rest: str) -> str | Reply:
        if name in _LONG_WRITES:  # deciding waiting alerts again: a stop ends it in time
            return await self._until_stop(self._in_store[name], inv, rest)
        if name in self._in_store:
            return await self.store(self._in_store[name], inv, rest)
        return await self._on_loop[name](inv, rest)

    async def handle(self, inv: Invocation) -> Reply:
        """Parse, check rights, act, answer; never raises."""
        sub: Subcommand | None = None
        try:
            sub, rest = parse(inv.text)
            if sub.moderator_only and not self.is_moderator(inv, bot_wide=sub.bot_wide):
                reply = self._refusal(inv, sub)
            elif sub.posts_here and inv.cannot_post:
                reply = Reply(
                    f"`{sub.name}`: wirewatch cannot post in this channel: {inv.cannot_post}. "
                    "Nothing was changed; run it again once that is fixed",
                    ok=False,
                )
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

    def is_moderator(self, inv: Invocation, *, bot_wide: bool = False) -> bool:
        """Whether `inv`'s user may change this channel, or with `bot_wide` every channel's
        shared feeds and topics (the config's moderators may do both)."""
        if inv.platform == "console" or inv.bot_admin:
            return True  # the console is the operator's own terminal
        if inv.platform_admin and not bot_wide:
            return True
        platform = getattr(self.rt.settings, inv.platform, None)
        allowed = set(getattr(platform, "moderators", ()))
        return inv.user in allowed or any(role in allowed for role in inv.roles)

    def topic_names(self, prefix: str = "") -> list[str]:
        """Topic names starting with `prefix`, for autocomplete (at most 25, Discord's cap)."""
        prefix = prefix.lower()
        # On the loop: the topics table is a few rows, and Discord wants choices at once.
        return [t.name for t in list_topics(self.rt.db) if t.name.startswith(prefix)][:25]

    @staticmethod
    def text_for(name: str, options: dict[str, str]) -> str:
        """Typed options (Discord) back to the text form that `handle` parses; CommandError
        for a value that text cannot carry as typed (a name with a space, a backtick in a
        query), which would otherwise be read as something else."""
        sub = _BY_NAME[name]
        parts = [name]
        for arg, kind, _ in sub.args:
            value = str(options.get(arg) or "").strip()
            one_word = kind in ONE_WORD or (name == "topic add" and arg == "name")
            if one_word and len(value.split()) > 1:
                raise CommandError(f"`{arg}` is one word, not `{_shown(value)}`")
            quoted = (name == "test" and arg == "query") or kind == "query"
            if quoted and "`" in value.strip("`"):
                raise CommandError(f"`{arg}`: a query cannot hold a backtick (`)")
            if value and name == "test" and arg == "query":
                value = f"`{value.strip('`')}`"
            elif value and kind == "query":
                value = f"--{arg} `{value.strip('`')}`"
            if value:
                parts.append(value)
        return " ".join(parts)

    def _refusal(self, inv: Invocation, sub: Subcommand) -> Reply:
        log.info("command.refused platform=%s user=%s command=%s", inv.platform, inv.user, sub.name)
        if sub.bot_wide:
            return Reply(
                f"`{sub.name}` changes wirewatch for every channel: only moderators of the "
                f"whole bot may use it: {inv.bot_moderators}. Everyone may use {PUBLIC}.",
                ok=False,
            )
        return Reply(
            f"`{sub.name}`: only moderators may use it: {inv.moderators}. "
            f"Everyone may use {PUBLIC}.",
            ok=False,
        )

    # -- reading -----------------------------------------------------------------------

    async def _help(self, inv: Invocation, rest: str) -> str:
        lines = ["wirewatch watches news feeds and posts an alert here when a topic fires."]
        also = {name: alias for alias, name in ALIASES.items()}  # `feeds list`, as users type it
        for sub in SUBCOMMANDS:
            alias = f" (or `/wirewatch {also[sub.name]}`)" if sub.name in also else ""
            lines.append(f"- `{sub.usage}`{alias}: {sub.help}{rights_mark(sub)}")
        if self.is_moderator(inv, bot_wide=True):
            role = "a moderator of the whole bot"
        elif self.is_moderator(inv):
            role = "a moderator of this channel (not of the whole bot)"
        else:
            role = "not a moderator"
        lines.append(
            f"You are {role} here. DURATION: 30m, 2h, 1d. Queries: "
            '`entity:"North Korea" AND (troops OR soldiers)`, `deploy* NEAR/5 troops`, '
            "`topic:troop-deployments AND NOT drill*` (topic:NAME: the item matches that topic)."
        )
        return "\n".join(lines)

    def _topics(self, db: Database, inv: Invocation, rest: str) -> str:
        topics = list_topics(db)
        if not topics:
            return "no topics yet: `/wirewatch topic add NAME QUERY` (moderators of the whole bot)"
        lines = [f"{counted(len(topics), 'topic')}:"]
        for t in topics:
            about = f" ({t.description})" if t.description else ""
            lines.append(f"- `{t.name}` [{t.origin}]{about}: `{_one_line(t.query)}`")
        return "\n".join(lines)

    def _list(self, db: Database, inv: Invocation, rest: str) -> str:
        subs = _live(subscriptions(db, inv.channel))
        if not subs:
            return (
                "this channel has no subscriptions: `/wirewatch subscribe TOPIC` "
                "(moderators); `/wirewatch topics` lists the topics"
            )
        lines = [f"this channel is subscribed to {len(subs)}:"]
        lines += [
            f"- {_describe_sub(s)}: `{effective_query(s.topic, s.only_query, s.except_query)}`"
            for s in subs
        ]
        lines += [f"- {gone_line(g)}" for g in gone_subscriptions(db, inv.channel)]
        edits = "on" if edits_enabled(db, inv.channel) else "off"
        lines.append(f"edits of stories: {edits} (`/wirewatch edits on|off`)")
        return "\n".join(lines)

    def _feeds(self, db: Database, inv: Invocation, rest: str) -> str:
        feeds = [f for f in list_feeds(db) if f.disabled_reason != "removed"]
        if not feeds:
            return "no feeds yet: `/wirewatch feeds add URL [NAME]`"
        counts = feed_item_counts(db)
        healths = feeds_health(db, self.rt.settings)
        lines = [f"{counted(len(feeds), 'feed')}:"]
        for f in feeds:
            h = healths.get(f.id)
            pace, state = describe(h.state, h.usual_gap, h.quiet_for) if h else describe("ok")
            if f.disabled:
                state = f"DISABLED: {f.disabled_reason}"
            elif f.failures:
                state = f"{counted(f.failures, 'failure')} in a row, last: {f.last_error}"
            lines.append(
                f"- `{f.name}` {f.url} ({f.origin}): {counted(counts.get(f.id, 0), 'item')}, "
                f"{pace}, last poll {_when(f.last_polled)}, {state}"
            )
        return "\n".join(lines)

    def _search(self, db: Database, inv: Invocation, rest: str) -> str:
        rest = _CONTROL.sub(" ", rest).strip()
        if not rest:
            raise CommandError("search needs words to look for")
        rows = search_items(db, rest, limit=SEARCH_LIMIT)
        if not rows:
            return f"nothing stored matches `{_shown(rest)}`"
        lines = [f"{len(rows)} most recent matches:" if len(rows) > 1 else "1 match:"]
        for r in rows:
            url = f" {r['url']}" if r["url"] and URL_TEXT.match(r["url"]) else ""
            lines.append(f"- {_one_line(r['title'])} ({r['outlet']}, {_when(r['published'])}){url}")
        return "\n".join(lines)

    def _status(self, db: Database, inv: Invocation, rest: str) -> str:
        h = health(db, inv.channel)
        lines = [
            f"- feeds: {h.feeds_active} polled, {h.feeds_failing} failing, "
            f"{h.feeds_disabled} disabled; last poll {_when(h.last_poll)}",
            f"- alerts waiting to be sent: {pending_count(db)} "
            f"(this channel: {h.channel_waiting}, held while paused: {h.channel_held})",
        ]
        if h.failed:
            lines.append(
                f"- alerts given up on: {h.failed} (this channel: {h.channel_failed}); "
                f"latest: {_one_line(h.last_failure or '')}"
            )
        subs = _live(subscriptions(db, inv.channel))
        lines.append(
            "- this channel: "
            + ("; ".join(_describe_sub(s) for s in subs) if subs else "no subscriptions")
        )
        lines += [f"- {gone_line(g)}" for g in gone_subscriptions(db, inv.channel)]
        failing = [f for f in list_feeds(db) if f.failures and not f.disabled][:5]
        lines += [f"- failing: `{f.name}`: {f.last_error}" for f in failing]
        open_since = utcnow() - timedelta(seconds=self.rt.settings.story_window)
        missing, looked = without_vectors(db, open_since)
        if missing:
            lines.append(
                f"- grouping by words alone: {missing} of the last {looked} items have no "
                "sentence vector (encoder weights not installed, a worker failing, or "
                "`sentence_vectors: false`; the log says which: `vectors.unavailable`)"
            )
        return "\n".join(lines + _week_lines(last_week(db)))

    def _feedback(self, db: Database, inv: Invocation, rest: str) -> Reply:
        """A button click arrives here as `feedback KIND ALERT`, typed or not; not ok when
        nothing was recorded (an unknown alert, one posted elsewhere or not at all)."""
        kind = parse(inv.text)[0].name.split()[1]
        if not rest:
            raise CommandError(
                "ALERT is the alert's number (`ref 12` under it: 12), and it is missing"
            )
        number = alert_number(rest)
        if number is None or number > MAX_ALERT:
            raise CommandError(
                f"ALERT is the alert's number (`ref 12` under it: 12), not `{_shown(rest)}`"
            )
        outcome = record_label(
            db, kind, number, platform=inv.platform, user=inv.user, channel=inv.channel
        )
        return Reply(answer(outcome), ok=outcome.recorded)

    # -- subscriptions -----------------------------------------------------------------

    def _subscribe(
        self, db: Database, inv: Invocation, rest: str, stop: threading.Event | None = None
    ) -> str:
        head, flags = _narrowing_flags(rest)
        args = head.split()
        if not 1 <= len(args) <= 2:
            raise CommandError("subscribe needs a topic and optionally a mode")
        topic = _known_topic(db, args[0])
        mode = args[1].lower() if len(args) == 2 else "instant"
        if mode not in MODES:
            raise CommandError(f"mode must be instant or digest, not `{_shown(args[1])}`")
        only, except_ = flags.get("only"), flags.get("except")
        for name, query in flags.items():
            try:
                check_filter(query, list_topics(db), self.rt.pipeline.gazetteer)
            except QueryError as exc:
                raise CommandError(f"--{name}: the query does not work: {exc}") from None
        if except_ and topic.name in names_in(except_):
            raise CommandError(
                f"--except names `topic:{topic.name}`, the topic this subscription follows: "
                "every alert it would send matches it. Leave it out of the query"
            )
        removed = _filters_removed(db, inv.channel, topic.name, only, except_)
        done = subscribe(db, inv.channel, topic.name, mode, only, except_, stop)
        metrics.DROPPED.labels("filter changed").inc(done.dropped)
        held = done.resumed
        resumed = (
            f"; {counted(held, 'alert')} held while the channel was paused will now go out"
            if held
            else ""
        )
        narrowed = (
            f", narrowed to `{effective_query(topic.name, only, except_)}`"
            if only or except_
            else ""
        )
        refused = (
            f"; {_dropped(done.dropped, 'waiting to be posted that the new filter refuses')}"
            if done.dropped
            else ""
        )
        return (
            f"this channel now gets `{topic.name}` alerts ({mode}){narrowed}{removed}{refused}"
            f"{resumed}"
        )

    def _unsubscribe(
        self, db: Database, inv: Invocation, rest: str, stop: threading.Event | None = None
    ) -> str:
        if len(rest.split()) != 1:
            raise CommandError("unsubscribe needs one topic name")
        subs = {s.topic for s in _live(subscriptions(db, inv.channel))}
        if rest not in subs:
            listed = ", ".join(f"`{t}`" for t in sorted(subs))
            has = f"its subscriptions: {listed}" if subs else "it has no subscriptions"
            raise CommandError(f"this channel is not subscribed to `{_shown(rest)}` ({has})")
        dropped = unsubscribe(db, inv.channel, rest, stop)
        metrics.DROPPED.labels("unsubscribed").inc(dropped or 0)
        waiting = f"; {_dropped(dropped, 'it still had waiting')}" if dropped else ""
        return f"this channel no longer gets `{rest}` alerts{waiting}"

    def _mute(self, db: Database, inv: Invocation, rest: str) -> str:
        if not rest:
            raise CommandError("mute needs a DURATION, like 30m, 2h or 1d")
        try:
            seconds = parse_duration(rest)
        except ValueError as exc:
            if len(rest) <= SHOWN:  # its own words say what is wrong ("30 has no unit")
                raise CommandError(str(exc)) from None
            raise CommandError(
                f"`{_shown(rest)}` is not a duration: a number and a unit, like 30s, 5m, 24h or 7d"
            ) from None
        if not 1 <= seconds <= MAX_MUTE:
            raise CommandError("a mute lasts at least 1s and at most 90d")
        until = later(seconds)
        if not set_muted(db, inv.channel, until):
            raise CommandError(
                "this channel has no subscriptions to mute: a mute holds back the alerts of "
                "the channel's subscriptions (and of those added while it lasts), so subscribe "
                "first"
            )
        return (
            f"muted until {iso_short(parse_iso(until))} ({format_duration(seconds)}); "
            "alerts meanwhile are skipped. `/wirewatch unmute` ends it early"
        )

    def _unmute(self, db: Database, inv: Invocation, rest: str) -> str:
        if not set_muted(db, inv.channel, None):
            raise CommandError("this channel has no subscriptions")
        reasons = [s.paused_reason for s in subscriptions(db, inv.channel)]
        paused = next((r for r in reasons if r), None)
        if paused:  # unmuting does not resume a channel a platform refused
            return (
                f"unmuted, but alerts here are still paused: {paused}. Fix that, then subscribe "
                "again to resume; held alerts are kept"
            )
        return "unmuted: new alerts come again"

    def _edits(self, db: Database, inv: Invocation, rest: str) -> str:
        word = rest.strip().lower()
        if word not in ("", "on", "off"):
            raise CommandError(f"edits takes on or off, not `{_shown(rest)}`")
        dropped = set_edits(db, inv.channel, word == "on") if word else 0
        on = edits_enabled(db, inv.channel)
        if on:
            return (
                "edits are on here: when an outlet changes an item this channel was told of, "
                "the words it deleted and inserted are posted in the story's thread"
            )
        waiting = f"; {dropped} waiting to be posted were dropped" if dropped else ""
        return f"edits are off here: outlets' changes to items are stored, not posted{waiting}"

    # -- feeds -------------------------------------------------------------------------

    async def _feeds_add(self, inv: Invocation, rest: str) -> str:
        if not rest:
            raise CommandError("feeds add needs the feed's URL")
        url, name = (rest.split(None, 1) + [""])[:2]
        if not URL_TEXT.match(url) and any(URL_TEXT.match(w) for w in name.split()):
            raise CommandError(f"URL first: `feeds add URL [NAME]`, not `{_shown(rest)}`")
        url, name = urldefrag(_guarded_url(self.rt, url)).url, _feed_name(name)
        existing = await self.store(_free_feed_at, url, name)
        if existing and not existing.disabled:
            return f"`{existing.name}` ({url}) is already polled"
        title = await self._trial_fetch(url)
        by = f"{inv.platform}:{inv.user}"
        feed = await self.store(_add_feed_named, url, name, title, by)
        if isinstance(feed, str):  # another command added it meanwhile
            return feed
        return f"added `{feed.name}` ({url}); " + await self._first_poll(feed)

    async def _trial_fetch(self, url: str) -> str | None:
        """Fetch and parse once before storing anything, so a bad URL changes nothing."""
        try:
            fetched = await self.rt.pipeline.fetcher.fetch_feed(url, trusted=False)
            parsed = await parse_feed_async(fetched.body or b"", feed_url=fetched.url)
        except UnsafeURLError as exc:
            raise CommandError(_unsafe(url, exc)) from None
        except FetchError as exc:
            raise CommandError(f"cannot fetch {url}: {exc}") from None
        except FeedParseError as exc:
            raise CommandError(f"{url} is not a feed wirewatch can read: {exc}") from None
        return _title_name(parsed.title or "")

    async def _first_poll(self, feed) -> str:
        try:
            result = await poll_feed(self.rt.pipeline, feed)
        except Exception as exc:  # e.g. the scheduler polled it at the same moment
            log.warning("command.first_poll_failed feed=%s error=%s", feed.name, exc)
            return "it will be polled on schedule"
        if not result.ok:
            return f"its first poll failed ({result.error}); it will be retried"
        stored, queued = counted(result.new_items, "item"), counted(result.deliveries, "alert")
        return f"first poll: {stored} stored, {queued} queued"

    def _feeds_remove(self, db: Database, inv: Invocation, rest: str) -> str:
        if not rest:
            raise CommandError("feeds remove needs the feed's URL or name")
        rest = urldefrag(rest).url if URL_TEXT.match(rest) else rest
        feed = remove_feed(db, rest)
        note = (
            " It is in the config file too: remove it there as well."
            if feed.origin == "config"
            else ""
        )
        return f"removed `{feed.name}` ({feed.url}); its items stay searchable.{note}"

    # -- topics ------------------------------------------------------------------------

    async def _topic_add(self, inv: Invocation, rest: str) -> str:
        if not rest:
            raise CommandError("topic add needs a NAME and a QUERY")
        name, query = (rest.split(None, 1) + [""])[:2]
        query = query.strip().strip("`").strip()
        if not TOPIC_NAME.fullmatch(name):
            raise CommandError(
                f"`{_shown(name)}` is not a topic name: lowercase letters, digits, "
                "'-' or '_', starting with a letter or digit"
            )
        if not query:
            raise CommandError("topic add needs a query after the name")
        topic = Topic(name, query, origin="chat")
        current, topics = await self.store(_checked_topic, topic, self.rt.pipeline.gazetteer)
        others = [t for t in topics if t.name != name]
        if (await explain(query, "-", self.rt.pipeline.gazetteer, topics))[0]:
            raise CommandError(
                "this query matches an item with no words at all, so nearly every item: "
                "name what an item must have, like `troops AND NOT drill*`"
            )
        again = None
        unfinished = name in await self.store(unfinished_topics)  # a try cut short
        # Alerts held since a config topic of this name left: this query decides them.
        held = 0 if current else await self.store(held_for, name)
        if held or (current is not None and (current.query != query or unfinished)):
            again = rematch({name}, [*others, topic], self.rt.pipeline.gazetteer)
            await self._consult(again, [*others, topic])
        try:
            dropped = await self._until_stop(save_topic, topic, again)
        except StoppingError:  # before its first write: nothing stored, nothing to reload
            raise
        except StoreError:
            # A later slice refused: the query is stored (with the first), so polls match
            # with it as `topic list` and the next start do (that start decides the rest).
            await self._reload_topics()
            raise
        metrics.DROPPED.labels("topic changed").inc(dropped)
        await self._reload_topics()
        verb = "changed" if current else "added"
        waiting = f" {_dropped(dropped, WAITING_THROUGH)}." if dropped else ""
        if held:
            back = await self.store(give_back, name, self.rt.settings.max_age)
            waiting += f" {counted(back, 'alert')} held since it left the config given back."
        return (
            f"{verb} topic `{name}`: `{_one_line(query)}`.{waiting} Try it with "
            f"`/wirewatch test {name} TEXT`, then `/wirewatch subscribe {name}`"
        )

    async def _consult(self, again: Redecision, topics: list[Topic]) -> None:
        """The encoder's opinion on the waiting items for the models of the topics decided
        again, asked CONSULT_SLICE items at a time: asking prepares each item's text on the
        loop (0.3 ms; 8,000 waiting alerts held it 2.7 s at once). With no model among
        them nothing is asked: the store thread decides the items (`save_topic`)."""
        if not any(t.relevance for t in topics if t.name in again.affected):
            return
        items = await self._until_stop(waiting_items, again)
        for at in range(0, len(items), CONSULT_SLICE):
            if self.rt.stopping.is_set():  # the encoder's answers would be thrown away
                raise StoppingError(NOTHING_CHANGED)
            await again.consult(items[at : at + CONSULT_SLICE])
            await asyncio.sleep(0)

    async def _topic_remove(self, inv: Invocation, rest: str) -> str:
        name = await self.store(_remove_topic, rest)
        await self._reload_topics()
        return f"removed topic `{name}`"

    async def _reload_topics(self) -> None:
        """A new matcher for the pipeline after a topic changed: built on the store thread
        (compiling the topics loads relevance models, a tenth of a second), swapped in here.
        One store thread: two changes in a row are built, and swapped, in their order."""
        pipeline = self.rt.pipeline
        pipeline.matcher = await self.store(build_matcher, pipeline.gazetteer)

    async def _test(self, inv: Invocation, rest: str) -> str:
        query, text, quoted = _split_test(rest)
        topics = await self.store(list_topics)
        if problem := unknown_topic(query, (t.name for t in topics)):
            raise CommandError(problem)
        url = text if URL_TEXT.match(text) else None
        if url:
            text = await self._page_text(url)
        try:
            matched, why = await explain(query, text, self.rt.pipeline.gazetteer, topics)
        except QueryError as exc:
            # The backticks hint where the query may have been cut at its first word, not
            # for a name it does not know (`topic:nk-rusia`), which backticks do not mend.
            cut = not quoted and not str(exc).startswith("unknown ")
            hint = f"; {SEVERAL_WORDS}" if cut else ""
            raise CommandError(f"the query does not work: {exc}{hint}") from None
        verdict = ("MATCH: " if matched else "no match: ") + why
        # After a list of reasons, a blank line: Discord would read the next line as the
        # last reason's continuation.
        gap = "\n\n" if "\n- " in verdict else "\n"
        return f"{verdict}{gap}{_tested(query, query in {t.name for t in topics}, text, url)}"

    async def _page_text(self, url: str) -> str:
        """Title and main text of a page, fetched like any URL from chat (guarded)."""
        url = _guarded_url(self.rt, url)
        try:
            page = await self.rt.pipeline.fetcher.fetch_page(url, trusted=False)
        except UnsafeURLError as exc:
            raise CommandError(_unsafe(url, exc)) from None
        except FetchError as exc:
            raise CommandError(f"cannot fetch {url}: {exc}") from None
        raw = (page.body or b"").decode("utf-8", errors="replace")
        title = re.search(r"<title[^>]*>(.*?)</title>", raw, re.IGNORECASE | re.DOTALL)
        body = await extract_article_async(raw, url)
        if not body:  # no article found: the page's whole text (a long page: off the loop)
            body = await asyncio.to_thread(html_to_text, raw)
        head = _one_line(html.unescape(title.group(1))) if title else ""
        return f"{head}\n{body}" if head else body


def _known_topic(db: Database, name: str) -> Topic:
    if not name:
        raise CommandError("a topic NAME is needed: `/wirewatch topics` lists them")
    topics = {t.name: t for t in list_topics(db)}
    if name not in topics:
        known = ", ".join(f"`{n}`" for n in sorted(topics)) or "none yet"
        raise CommandError(f"no topic `{_shown(name)}` (topics: {known})")
    return topics[name]


def _free_feed_at(db: Database, url: str, name: str) -> FeedRow | None:
    """The feed stored at `url`, if any, once `name` is known to be free."""
    _name_free(db, name, url)
    return feed_at(db, url)


def _add_feed_named(
    db: Database, url: str, name: str, title: str | None, added_by: str
) -> FeedRow | str:
    """Add (or re-enable) the feed at `url` as chat's, named `name`, else as it was, else by
    its own `title`, else by its host; a sentence instead when it is polled already."""
    existing = feed_at(db, url)
    if existing and not existing.disabled:
        return f"`{existing.name}` ({url}) is already polled"
    name = name or (existing.name if existing else title or _host(url))
    _name_free(db, name, url)
    return add_feed(db, url, name, origin="chat", added_by=added_by)


def _name_free(db: Database, name: str, url: str) -> None:
    """No other listed feed has this name (a removed feed's may be taken again)."""
    other = feed_named(db, name) if name else None
    if other and other.url != url and other.disabled_reason != "removed":
        raise CommandError(
            f"another feed is already called `{name}` ({other.url}); choose another NAME"
        )


def _checked_topic(
    db: Database, topic: Topic, gazetteer: Gazetteer
) -> tuple[Topic | None, list[Topic]]:
    """(the stored topic of that name, every stored topic) once `topic` may be saved: not
    a config topic's name, and it compiles next to every other one: its references exist,
    go round in no circle, and no topic that works now stops working because of it."""
    topics = list_topics(db)
    current = {t.name: t for t in topics}.get(topic.name)
    if current and current.origin != "chat":
        raise CommandError(f"`{topic.name}` is a {current.origin} topic; choose another name")
    others = [t for t in topics if t.name != topic.name]
    _, before = usable_topics(others, gazetteer)
    _, after = usable_topics([*others, topic], gazetteer)
    if exc := after.get(topic.name):
        raise CommandError(f"the query does not work: {exc}")
    if broken := sorted(set(after) - set(before)):
        exc = after[broken[0]]
        raise CommandError(f"this would break topic `{broken[0]}`: {exc}")
    return current, topics


def _remove_topic(db: Database, rest: str) -> str:
    """Delete a chat topic nothing uses any more (its checks and the delete, together)."""
    topic = _known_topic(db, rest)
    if topic.origin != "chat":
        raise CommandError(
            f"`{topic.name}` is a {topic.origin} topic: only topics added "
            "from chat can be removed here"
        )
    users = sorted({s.channel for s in _live(subscriptions(db)) if s.topic == topic.name})
    if users:
        raise CommandError(
            f"`{topic.name}` still alerts {', '.join(users)}: unsubscribe there first"
        )
    if referring := users_of(topic.name, list_topics(db)):
        named = ", ".join(f"`{n}`" for n in referring)
        raise CommandError(f"`{topic.name}` is used by topic {named} (`topic:{topic.name}`)")
    if narrowing := channels_naming(topic.name, _live(subscriptions(db))):
        raise CommandError(
            f"`{topic.name}` narrows the subscriptions of {', '.join(narrowing)} "
            f"(`topic:{topic.name}` in --only/--except): subscribe there again without it"
        )
    delete_topic(db, topic.name)
    return topic.name


_FLAG = re.compile(r"(?:^|\s)(?:--|[—–])([A-Za-z]+)(?=\s|$)")  # a typed "--" may become a dash
FLAGS = ("only", "except")


def _narrowing_flags(rest: str) -> tuple[str, dict[str, str]]:
    """`TOPIC [mode] --only QUERY --except QUERY` -> ("TOPIC [mode]", {"only": ..., ...})."""
    head, *pairs = _FLAG.split(rest)
    flags: dict[str, str] = {}
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = name.lower()
        if name not in FLAGS:
            raise CommandError(f"unknown option `--{name}`: subscribe takes --only and --except")
        if name in flags:
            raise CommandError(f"--{name} is given twice")
        query = value.strip().strip("`").strip().translate(SMART_QUOTES)
        last = value.split()[-1].lower() if value.split() else ""
        if last in ("instant", "digest") and not value.rstrip().endswith("`"):
            raise CommandError(
                f"is `{last}` the mode or part of the --{name} query? Put the mode first "
                f"(`subscribe TOPIC {last} --{name} QUERY`), or the query in backticks"
            )
        if not query:
            raise CommandError(f"--{name} needs a query, like --{name} `entity:Russia`")
        flags[name] = query
    return head, flags


SEVERAL_WORDS = "a query of several words goes in backticks: test `QUERY` TEXT"
# How a query goes on and a text hardly ever starts: `test deploy* NEAR/5 troops TEXT`
# without backticks would test `deploy*` alone, on "NEAR/5 troops TEXT".
# Also the search-engine habits the query language refuses (`troops or soldiers`, `troops
# -drill`): typed without backticks they would test `troops` alone and answer MATCH.
_QUERY_GOES_ON = re.compile(
    r"(?:AND|OR|NOT)(?=[\s(\"]|$)|(?i:near/\d*)(?=\s|$)|(?i:title|entity|topic):\S"
    r"|(?:or|and|not)\s|[-+\u2010-\u2015\u2212][^\W_]"
)


def _split_test(rest: str) -> tuple[str, str, bool]:
    """`test` arguments: a topic name or a word, or a `backticked query`, then the text;
    and whether the query was in backticks."""
    if rest.startswith("`"):
        end = rest.find("`", 1)
        if end < 0:
            raise CommandError("the query's closing ` is missing")
        query, text = rest[1:end].strip(), rest[end + 1 :].strip()
    else:
        query, _, text = rest.partition(" ")
        text = text.strip()
    if not query or not text:
        raise CommandError("test needs a topic or `query`, then the text or URL to try")
    quoted = rest.startswith("`")
    if not quoted and _QUERY_GOES_ON.match(text):
        word = _shown(text.split()[0], 30)
        # The suggestion as it will parse: keywords are uppercase (`near/5` is refused).
        fixed = word.upper() if re.fullmatch(r"(?i:near/\d*|or|and|not)", word) else word
        raise CommandError(
            f"only `{_shown(query)}` would be tested, on a text starting with `{word}` (a word "
            f"of the query language): put a query of several words in backticks, like "
            f"test `{_shown(query)} {fixed} …` TEXT"
        )
    return query, text, quoted


def _tested(query: str, is_topic: bool, text: str, url: str | None) -> str:
    """What was tested, as the answer's last line: a query cut at its first word (typed
    without backticks) shows here, not only as a surprising MATCH."""
    what = f"topic `{query}`" if is_topic else f"the query `{_shown(query)}`"
    page = f"the page {_shown(url, 200)}: " if url else ""
    return f'(tested {what} on {page}"{_shown(text)}")'


def _filters_removed(
    db: sqlite_utils.Database, channel: str, topic: str, only: str | None, except_: str | None
) -> str:
    """Subscribing again replaces the narrowing: a filter the channel had and the new
    command leaves out is dropped, and the reply says so rather than doing it silently."""
    before = next((s for s in _live(subscriptions(db, channel)) if s.topic == topic), None)
    if before is None:
        return ""
    old_new = (("only", before.only_query, only), ("except", before.except_query, except_))
    gone = [f"--{name}" for name, old, new in old_new if old and not new]
    if not gone:
        return ""
    return f"; its {'/'.join(gone)} filter{'s are' if len(gone) > 1 else ' is'} removed"


def _guarded_url(rt: Runtime, url: str) -> str:
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
        raise CommandError(
            f"`{_shown(url)}` needs http:// or https:// in front, like `https://{_shown(url)}`"
        )
    try:
        return check_url(url, allow_private=rt.settings.network.allow_private_addresses)
    except UnsafeURLError as exc:
        raise CommandError(_unsafe(url, exc)) from None


def _unsafe(url: str, exc: UnsafeURLError) -> str:
    return (
        f"cannot use {url}: {exc}. URLs from chat must be http(s) on public addresses "
        "(ops may set `network: {allow_private_addresses: true}` in the config)"
    )


def _week_lines(weeks: list[TopicWeek]) -> list[str]:
    if not weeks:
        return ["- last 7 days: no alerts posted"]
    return [
        f"- last 7 days, `{w.topic}` (every channel): {counted(w.alerts, 'alert')} posted, "
        f"{w.not_relevant} marked not relevant, {w.wrong_story} marked wrong story"
        for w in weeks
    ]


# Which alerts a changed topic query dropped (`topic add`).
WAITING_THROUGH = (
    "waiting to be posted that it (or a topic or filter referring to it) no longer lets through"
)


def _dropped(n: int, which: str) -> str:
    """How many alerts were dropped, said right for one ("1 alert ... was dropped")."""
    return f"{n} alert {which} was dropped" if n == 1 else f"{n} alerts {which} were dropped"


def _live(subs: list[SubscriptionRow]) -> list[SubscriptionRow]:
    return [s for s in subs if s.paused_reason != "unsubscribed"]


def _describe_sub(s: SubscriptionRow) -> str:
    parts = [f"`{s.topic}` ({s.mode}"]
    if s.origin == "config":
        parts.append(", from the config")
    if s.muted_until and s.muted_until > _now_iso():
        parts.append(f", muted until {_when(s.muted_until)}")
    if s.paused_reason:
        parts.append(f", PAUSED: {s.paused_reason}")
    return "".join(parts) + ")"


def _now_iso() -> str:
    return iso(utcnow())


def _when(stamp: str | None) -> str:
    if not stamp:
        return "never"
    try:
        return iso_short(parse_iso(stamp))
    except ValueError:
        return stamp


def _one_line(text: str) -> str:
    return " ".join(text.split())


SHOWN = 80  # characters of a user's input echoed back in an answer


def _shown(text: str, limit: int = SHOWN) -> str:
    """A user's input as an answer repeats it: one line, cut (a 100 KB argument must not
    come back as a 100 KB reply), no backtick to break the code span it is shown in, no
    invisible or bidi control to reorder the rest of the line."""
    line = _one_line(strip_invisible(text)).replace("`", "'")
    return line if len(line) <= limit else line[: limit - 1] + "…"


_CONTROL = LINE_BREAKING
FEED_NAME_CHARS = 80


def _feed_name(name: str) -> str:
    """A feed's name as typed, refused where it would break the lists it is shown in."""
    name = name.strip()
    if _CONTROL.search(name) or "`" in name:
        raise CommandError("a feed's NAME is one line of text, without backticks")
    if len(name) > FEED_NAME_CHARS:
        raise CommandError(f"a feed's NAME is at most {FEED_NAME_CHARS} characters")
    if "://" in name:
        raise CommandError("a feed's NAME is not a URL: `feeds add URL [NAME]`")
    return name


def _title_name(title: str) -> str | None:
    """A feed's own <title> as its name, held to the rules a typed NAME meets (`_feed_name`):
    the feed chose it, and it is shown in every list and as every alert's outlet. One line,
    no backticks or control characters, at most 80 characters; None (the host stands in)
    for a title that holds a URL."""
    name = _one_line(strip_invisible(title).replace("`", ""))[:FEED_NAME_CHARS].strip()
    return None if not name or "://" in name else name


def _host(url: str) -> str:
    return re.sub(r"^https?://", "", url, flags=re.IGNORECASE).split("/", 1)[0]
