"""What a /wirewatch command is, and how the text typed after /wirewatch becomes one.

`SUBCOMMANDS` is the one list every adapter builds its commands from (help lines, app
commands with typed options); `parse` reads typed text, and `text_for` turns typed options
back into that text, so every platform runs the same words through the same parser.

Deliberately not here: who may run a command (bot.commands.rights), what one does (the
handler modules), and any platform syntax.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from bot.commands.echo import shown
from bot.durations import meant
from bot.errors import CommandError
from bot.feedback import KINDS
from bot.text.invisible import strip_invisible

SEARCH_LIMIT = 10


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
    # The user's name as the platform shows it ("ann"), kept with what they add (`topics
    # NAME`: "added by @ann"); "" when the platform gave none.
    user_name: str = ""


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
    # Moderators' alone; with arguments it only reads, answering the asker alone, and
    # anyone may run it (`digest` posts the channel's digest, `digest 12h` recaps).
    public_with_args: bool = False

    @property
    def usage(self) -> str:
        return f"/wirewatch {self.name} {self.synopsis}".rstrip()


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("help", (), False, "what each command does"),
    Subcommand(
        "topics",
        (("topic", "topic", False),),
        False,
        # With the rights mark, at most 100 characters: Discord's menu shows no more.
        "every topic with its query; with TOPIC, its whole query and where it comes from",
        "[TOPIC]",
    ),
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
        "digest",
        (("since", "duration", False),),
        True,
        # With the rights mark, at most 100 characters: Discord's menu shows no more.
        "post this channel's digest now; SINCE (12h, 2d page:2): recap what it was told",
        "[SINCE]",
        public_with_args=True,
    ),
    Subcommand(
        "search",
        (("words", "text", True),),
        False,
        f"the {SEARCH_LIMIT} newest stories with these words "
        '("a phrase", OR, outlet:NAME, since:7d, page:2)',
        "WORDS",
    ),
    Subcommand(
        "status",
        (),
        False,
        "feed health, alerts waiting to be sent, each topic's alerts and what editors marked "
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


TAKES_NOTHING = ("list", "unmute", "status")
# Other spellings of a subcommand. Discord cannot have a bare `feeds` next to the `feeds add`
# group, so there it is `/wirewatch feeds list` (adapters.discord_schema), and people who
# saw it type that elsewhere too.
ALIASES = {"feeds list": "feeds"}


def parse(text: str) -> tuple[Subcommand, str]:
    """The subcommand named at the start of `text`, and the rest of the text as typed."""
    text = _seen_start(text)
    words = text.split(None, 2)
    if not words:
        return _BY_NAME["help"], ""
    first = words[0].lower()
    two = f"{first} {words[1].lower()}" if len(words) > 1 else ""
    if two in ALIASES:
        if len(words) > 2:
            raise CommandError(f"`{two}` takes nothing after it, not `{shown(words[2])}`")
        return _BY_NAME[ALIASES[two]], ""
    if two in _BY_NAME:
        return _BY_NAME[two], (words[2] if len(words) > 2 else "")
    if first == "feeds" and len(words) > 1:
        raise CommandError(
            f"unknown `feeds {shown(words[1])}`: `feeds` (or `feeds list`) lists them, "
            "`feeds add URL [NAME]` adds one, `feeds remove URL|NAME` removes one"
        )
    if first in _BY_NAME:
        sub = _BY_NAME[first]
        rest = text.split(None, 1)[1] if len(words) > 1 else ""
        if first in TAKES_NOTHING and rest.strip():
            raise CommandError(f"`{first}` takes nothing after it, not `{shown(rest)}`")
        return sub, rest
    if first in ("topic", "feeds"):
        raise CommandError(f"`{first}` needs add or remove: `/wirewatch {first} add ...`")
    if first == "feedback":
        raise CommandError(_feedback_meant(text.split()[1:]))
    guess = _closest(first)
    if guess:
        rest = text.split(None, 1)[1] if len(words) > 1 else ""
        command = shown(f"/wirewatch {guess} {rest}".rstrip())
        raise CommandError(
            f"unknown command `{shown(words[0])}`: did you mean `{command}`? "
            "`/wirewatch help` lists them"
        )
    raise CommandError(f"unknown command `{shown(words[0])}`: `/wirewatch help` lists them")


# Direction marks a phone's keyboard may put first (LRM, RLM, ALM): not in `INVISIBLE`,
# which feed text is swept of, yet no reader sees them either.
_MARKS = re.compile("[\u200e\u200f\u061c]")


def _seen_start(text: str) -> str:
    """`text` from the first word a reader sees, read without its invisible characters:
    "\u200bhelp" (a zero-width space, a BOM pasted in) was "unknown command `help`: did
    you mean `/wirewatch help`?". The rest stays as typed."""
    words = text.split(None, 1)
    while words and not _seen(words[0]):  # "\u200e help": a word no one sees
        words = words[1].split(None, 1) if len(words) > 1 else []
    return " ".join((_seen(words[0]), *words[1:])) if words else ""


def _seen(word: str) -> str:
    return _MARKS.sub("", strip_invisible(word))


def _feedback_meant(words: list[str]) -> str:
    """`feedback` without a kind it knows: the kinds, the kind a near miss meant
    (`not relevant`, `wrong`: that command with its ALERT), and the usage. `relevant` is
    no near miss of `not-relevant` but its opposite: no command is offered for it."""
    kinds = ", ".join(f"`{k}`" for k in KINDS)
    joined = "-".join(words[:2]).lower()
    typed = words[:1]
    word = words[0].lower() if words else ""
    opposite = f"not-{word}" in KINDS  # "relevant 12": the label offered would invert it
    if joined in KINDS:  # "not relevant 12"
        guess, typed, after = joined, words[:2], words[2:]
    elif opposite:
        guess, after = "", words[1:]
    else:
        near = difflib.get_close_matches(word, KINDS, n=1, cutoff=0.6)
        guess = next((k for k in KINDS if word and word in k), near[0] if near else "")
        after = words[1:]
    said = f", not `{shown(' '.join(typed))}`" if typed else ""
    if opposite:
        said += " (there is no such kind: only what is wrong with an alert is marked)"
    alert = shown(" ".join(after)) or "ALERT"
    guessed = f": did you mean `/wirewatch feedback {guess} {alert}`?" if guess else ""
    usage = ", ".join(f"`/wirewatch feedback {k} ALERT`" for k in KINDS)
    return f"`feedback` needs one of {kinds}{said}{guessed}\nusage: {usage}"


def _closest(word: str) -> str:
    """The command a mistyped first word most likely meant (`subcribe`: `subscribe`), or ""."""
    firsts = sorted({s.name.split()[0] for s in SUBCOMMANDS})
    close = difflib.get_close_matches(word, firsts, n=1, cutoff=0.75)
    return close[0] if close else ""


def needs_posting(text: str) -> bool:
    """Whether `text` names a command that needs wirewatch to post in the channel (adapters
    look up `Invocation.cannot_post` only then, when the lookup costs a call)."""
    try:
        return parse(text)[0].posts_here
    except CommandError:
        return False


def requires_moderator(text: str) -> bool:
    """Whether `text` is a command only moderators may run (adapters skip the admin lookup
    if not)."""
    try:
        return moderator_needed(*parse(text))
    except CommandError:
        return False


def moderator_needed(sub: Subcommand, rest: str) -> bool:
    """Whether `sub`, run with `rest` after it, is for moderators: `digest` posts into the
    channel, `digest 12h` only answers the asker."""
    return sub.moderator_only and not (sub.public_with_args and rest.strip() != "")


def one_word(name: str, arg: str, kind: str) -> bool:
    """Whether option `arg` of subcommand `name` is a single word (`text_for` refuses more):
    adapters that spell a command their own way read it here too."""
    return kind in ONE_WORD or (name == "topic add" and arg == "name")


def text_for(name: str, options: dict[str, str]) -> str:
    """Typed options (Discord) back to the text form that `Commands.handle` parses; CommandError
    for a value that text cannot carry as typed (a name with a space, a backtick in a
    query), which would otherwise be read as something else."""
    sub = _BY_NAME[name]
    parts = [name]
    for arg, kind, _ in sub.args:
        value = str(options.get(arg) or "").strip()
        if one_word(name, arg, kind) and len(value.split()) > 1:
            hint = meant(value) if kind == "duration" else ""
            also = f": did you mean `{hint}`?" if hint else ""
            raise CommandError(f"`{arg}` is one word, not `{shown(value)}`{also}")
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
