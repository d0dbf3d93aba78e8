"""The `wirewatch` command line: demo, run, poll --once, check, topics, feeds, subscriptions,
status, search, eval, db, feedback.

The only place that wires chat adapters into the core. Exit codes: 0 done, 1 a runtime
failure (explained on stderr), 2 invalid configuration or usage.

Here: the arguments (`build_parser`, and its hints for a command typed wrongly), loading
the config, building the adapters, and each command's entry. The larger commands' work is
in modules of their own, called with the config loaded: bot.cli_run (`poll`, `run`),
bot.cli_topics (`topics`), bot.cli_store (`feeds`, `db`), bot.cli_status (`status`,
`search`), bot.cli_feedback (`feedback`, `eval --feedback`), bot.cli_subscriptions
(`subscriptions`).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import os
import re
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bot import heap
from bot.check import TOKEN_VARS, database_here, load_checked, notes, resolved, unserved
from bot.cli_run import _poll, _run, _stoppable
from bot.errors import ConfigError, UsageError, WirewatchError
from bot.gazetteer import Gazetteer
from bot.logs import log_format, setup_logging
from bot.settings import Settings, config_named_by, http_port, known_channel
from bot.wording import counted

if TYPE_CHECKING:
    from bot.chat import ChatAdapter

# Each command imports what only it needs inside its function: `check` or `topics` need not
# load the poller, the web server, or a chat library, and a console-only bot never loads
# slack_bolt or discord (tens of MB of resident memory and ~0.5 s of start-up between them).


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" when a command or action is mistyped (`wirewatch pol`),
    or when a word in the wrong place was read as an unknown option."""

    given: tuple[str, ...] = ()  # the whole command line, set by main(): subparsers see a part

    def error(self, message: str) -> NoReturn:
        wrong = re.search(r"invalid choice: '([^']*)'", message)
        choices = [c for a in self._actions if a.choices for c in a.choices if a.dest != "help"]
        close = difflib.get_close_matches(wrong.group(1), choices, n=1) if wrong else []
        if wrong and (chat := _chat_only(self.prog, wrong.group(1))):
            message = f"{message}; {chat}"  # `wirewatch topic add`: not "did you mean topics?"
        elif wrong and f"not-{wrong.group(1)}" in choices:  # `feedback relevant 12`, as chat
            message = (
                f"{message}; there is no such kind: only what is wrong with an alert is marked"
            )
        elif close:
            message = f"{message}; did you mean {self.prog} {close[0]}?"
        super().error(message + _misplaced(_Parser.given))


class _Help(argparse.HelpFormatter):
    """argparse measures a command's name one indent short of where it prints it: the
    longest (`subscriptions`) had its help wrapped onto the next line, under the others'."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS and isinstance(action, argparse._SubParsersAction):
            names = [len(self._format_action_invocation(a)) for a in action._get_subactions()]
            deepest = max(names, default=0) + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, deepest)


# Where the host does what a chat-only command does (docs/commands.md lists both).
_ON_THE_HOST = {
    "help": "wirewatch --help, wirewatch COMMAND --help",
    "test": "wirewatch topics test",
    "subscribe": "the config's `subscriptions:`",
    "unsubscribe": "the config's `subscriptions:`; a chat one: wirewatch subscriptions remove",
    "topic": "the config's `topics:`",
    "feeds add": "the config's `feeds:`, or wirewatch feeds import FILE.opml",
    "feeds remove": "the config's `feeds:`",
}


def _chat_only(prog: str, word: str) -> str:
    """The hint for a command of chat's /wirewatch typed at a shell (`wirewatch digest 12h`,
    `wirewatch feeds add URL`): argparse alone listed the choices, as for a typo."""
    from bot.commands.grammar import SUBCOMMANDS

    typed = f"{prog.removeprefix('wirewatch')} {word}".strip()  # "digest", "feeds add"
    if typed == "feeds list":  # chat's other spelling of `feeds` (Discord's only one)
        return "chat's `feeds list` is `wirewatch feeds` on the host"
    if not any(s.name == typed or s.name.startswith(f"{typed} ") for s in SUBCOMMANDS):
        return ""
    host = _ON_THE_HOST.get(typed)
    return (
        f"`{typed}` is a command of chat's /wirewatch: type `/wirewatch {typed} ...` in the "
        f"channel (docs/commands.md, In chat){f'; on the host: {host}' if host else ''}"
    )


def _misplaced(given: tuple[str, ...]) -> str:
    """The hint for an option on the wrong side of the command (`-v` goes before it, the
    others after: `wirewatch --config FILE run` read FILE as the command), or a query of
    `topics test` (or a word of `search`) written `-drill`, which argparse reads as an option
    before the query language (or search) can say what to write instead."""
    at = next((i for i, word in enumerate(given) if word in COMMANDS), None)
    if at is None:  # no command known: only an option before the first word is misplaced
        at = next((i for i, word in enumerate(given) if not word.startswith("-")), len(given))
        given = given[:at]
    command, after = given[at : at + 1], given[at + 1 :]
    if any(word in ("-v", "--verbose") for word in after):
        return f"; -v goes before the command: wirewatch -v {command[0]} ..."
    early = [w for w in given[:at] if w.startswith("--") and w not in ("--verbose", "--version")]
    if early:
        option, name = early[0].split("=")[0], command[0] if command else "COMMAND"
        return f"; {option} goes after the command: wirewatch {name} {option} ..."
    action = after[:1]
    if command in (("topics",), ("db",)) and action and action[0].startswith("--"):
        # `wirewatch topics --config FILE`: argparse took FILE for the action it requires
        return f"; {action[0]} goes after the action: wirewatch {command[0]} ACTION {action[0]} ..."
    searched = command == ("search",)
    if not searched and (command != ("topics",) or action not in (("test",), ("backtest",))):
        return ""
    dashed = [w for w in after if re.fullmatch(r"-[^\d\s-]\S*", w) and w != "-h"]
    if not dashed:
        return ""
    word = dashed[0][1:]
    if searched:  # chat's search refuses `-drill` and `NOT drill` alike, saying why
        return (
            f"; {dashed[0]} was read as an option: search cannot leave words out (it lists the "
            f"stories with all the words), so search without {dashed[0]}"
        )
    return (
        f"; {dashed[0]} was read as an option: to leave a word out, the query says NOT {word} "
        f"(wirewatch topics {action[0]} 'troops NOT {word}' ...)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wirewatch",
        description="Watch news wires; alert chat once per story when a topic fires.",
        formatter_class=_Help,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step (debug)")
    parser.add_argument("--version", action="version", version=f"wirewatch {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="serve bundled sample feeds locally and run two cycles (an edit in the second)",
    )
    demo.add_argument("--json", action="store_true", help="print alerts as JSON lines")

    run = sub.add_parser("run", help="run the bot: poll feeds on schedule, deliver alerts")
    _config_arg(run)

    poll = sub.add_parser("poll", help="one cycle over all feeds, deliver, exit")
    _config_arg(poll)
    poll.add_argument("--once", action="store_true", help="one cycle and exit (the default)")
    poll.add_argument(
        "--json", action="store_true", help="print each delivered alert as one JSON object per line"
    )

    check = sub.add_parser(
        "check",
        help="validate the configuration and this environment; exit 2 when invalid",
    )
    _config_arg(check)
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 on a warning too (a subscribed platform whose token is not set here, a "
        "database the bot could not write or would refuse): for where the bot runs",
    )

    topics = sub.add_parser(
        "topics", help="list topics, test a query against text, or backtest one on the archive"
    )
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    tlist = tsub.add_parser("list", help="every topic with its query")
    _config_arg(tlist)
    ttest = tsub.add_parser("test", help="does QUERY or TOPIC match this text, and why")
    _config_arg(ttest)
    ttest.add_argument(
        "query",
        metavar="QUERY|TOPIC",
        help="a topic's name, or a query (a name-like word as a query: '\"x-ray\"')",
    )
    ttest.add_argument("words", nargs="?", metavar="TEXT", help="the text to test (or --text)")
    src = ttest.add_mutually_exclusive_group()
    src.add_argument("--text", help="the text to test (first line is taken as the title)")
    src.add_argument(
        "--file",
        type=Path,
        help="a file holding the text (first line: the title), or a saved HTML page",
    )
    tback = tsub.add_parser("backtest", help="the alerts TOPIC (or QUERY) would have posted")
    _config_arg(tback)
    tback.add_argument(
        "query",
        metavar="QUERY|TOPIC",
        help="a topic's name, or a query (a name-like word as a query: '\"x-ray\"')",
    )
    tback.add_argument("--since", default="30d", metavar="DURATION", help="how far back (30d)")

    feeds = sub.add_parser("feeds", help="every feed with its health; import/export OPML, enable")
    _config_arg(feeds)
    feeds.add_argument("--json", action="store_true", help="one JSON object per feed")
    # Optional: `wirewatch feeds` alone lists the feeds; the brackets say so in --help.
    fsub = feeds.add_subparsers(dest="feeds_command", metavar="[ACTION]")
    fimport = fsub.add_parser("import", help="add every feed of an OPML file")
    _config_arg(fimport)
    fimport.add_argument("file", type=Path, metavar="FILE.opml", help="the OPML file to read")
    fexport = fsub.add_parser("export", help="write the active feeds as OPML")
    _config_arg(fexport)
    fexport.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE.opml",
        help="where to write (- or left out: stdout)",
    )
    fenable = fsub.add_parser(
        "enable", help="poll again a feed wirewatch disabled after failures (as chat's feeds add)"
    )
    _config_arg(fenable)
    fenable.add_argument("feed", metavar="URL|NAME", help="the feed, as `wirewatch feeds` shows it")

    subs = sub.add_parser(
        "subscriptions",
        help="every channel's subscriptions, paused ones and their held alerts; remove",
    )
    _config_arg(subs)
    subs.add_argument("--json", action="store_true", help="one JSON object per subscription")
    ssub = subs.add_subparsers(dest="subscriptions_command", metavar="[ACTION]")
    sremove = ssub.add_parser(
        "remove",
        help="end a channel's chat subscriptions and their held alerts (a deleted channel's)",
    )
    _config_arg(sremove)
    sremove.add_argument(
        "channel", metavar="CHANNEL", help="as `wirewatch subscriptions` shows it (discord:123)"
    )
    sremove.add_argument("topic", nargs="?", metavar="TOPIC", help="only this one (default: all)")

    status = sub.add_parser(
        "status", help="the bot's health: feeds, polling, alerts waiting, digests, database"
    )
    _config_arg(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    search = sub.add_parser("search", help="stored stories matching WORDS, as chat's search")
    _config_arg(search)
    search.add_argument(
        "words",
        nargs="+",
        metavar="WORDS",
        help="as in chat: words, '\"a phrase\"', OR, outlet:NAME, since:7d, page:2",
    )
    search.add_argument(
        "--channel",
        metavar="CHANNEL",
        type=_channel_arg,
        help="say what this channel got of each (slack:C0123)",
    )
    search.add_argument("--json", action="store_true", help="one JSON object per story")
    search.add_argument(
        "--reports", action="store_true", help="with --json: one object per matching report"
    )

    dbp = sub.add_parser("db", help="database upkeep: backup, prune")
    dsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dback = dsub.add_parser("backup", help="online copy of the database to a new file")
    _config_arg(dback)
    dback.add_argument(
        "path", type=Path, metavar="PATH", help="the copy: a new file, never one that exists"
    )
    dprune = dsub.add_parser("prune", help="delete old items no open story needs")
    _config_arg(dprune)
    dprune.add_argument(
        "--older-than",
        required=True,
        metavar="DURATION",
        help="delete items published longer ago than this, such as 90d (a unit is required)",
    )
    dprune.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; change nothing"
    )
    dprune.add_argument("--force", action="store_true", help="allow --older-than under 1d")
    dprune.add_argument(
        "--no-vacuum", action="store_true", help="skip VACUUM (faster; the file keeps its size)"
    )

    ev = sub.add_parser(
        "eval", help="replay labelled JSONL in publication order: detection, grouping, alerts"
    )
    _config_arg(ev)
    ev.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE.jsonl",
        help="JSONL with title, description, published, label... to measure on",
    )
    ev.add_argument(
        "--feedback",
        type=Path,
        metavar="FILE.jsonl",
        help="instead, write editors' recorded labels of --topic to this file (- for stdout)",
    )
    ev.add_argument("--topic", default="troop-deployments", help="a built-in or config topic")
    ev.add_argument("--positive", default="deploy", help="the label that should match")
    ev.add_argument("--split", choices=("train", "validation", "test"), help="only this split")
    ev.add_argument("--titles-only", action="store_true", help="drop every description first")
    ev.add_argument(
        "--stories",
        action="store_true",
        help="also list each story joined wrongly and each labelled story split",
    )

    fb = sub.add_parser(
        "feedback",
        help="record an editor's label on an alert, as its buttons do",
        usage="%(prog)s [-h] [--config FILE] [--by NAME] not-relevant|wrong-story ALERT",
    )
    _config_arg(fb)
    fb.add_argument(
        "kind",
        choices=("not-relevant", "wrong-story"),
        metavar="not-relevant|wrong-story",
        help="which button: not relevant to its topic, or put in the wrong story",
    )
    fb.add_argument(
        "alert",
        nargs="+",
        metavar="ALERT",
        help="the alert's number as shown: 12, ref 12 or '#12' (quoted: the shell drops #...)",
    )
    fb.add_argument("--by", metavar="NAME", help="who is labelling (default: your login name)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wirewatch")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML config (default: $WIREWATCH_CONFIG or the shipped config)",
    )


def main(argv: list[str] | None = None) -> int:
    _Parser.given = tuple(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    quiet = args.command not in ("run",)
    setup_logging(logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WirewatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """`wirewatch ... | head` closed the pipe: stop quietly, as other Unix tools do."""
    from adapters.console import reader_gone

    return reader_gone()


def _settings(args: argparse.Namespace) -> Settings:
    return load_checked(args.config, Gazetteer.load())


CHAT_PLATFORMS = ("slack", "discord")


def build_adapters(settings: Settings, *, json_lines: bool = False) -> dict[str, ChatAdapter]:
    """Console always; Slack and Discord join when their tokens are in the environment."""
    from adapters.console import ConsoleAdapter

    adapters: dict[str, ChatAdapter] = {"console": ConsoleAdapter(json_lines=json_lines)}
    for platform in CHAT_PLATFORMS:
        if (adapter := _chat_adapter(platform, settings)) is not None:
            adapters[platform] = adapter
    return adapters


def _chat_adapter(platform: str, settings: Settings) -> ChatAdapter | None:
    """The platform's adapter, None when its token variable is not set; a ConfigError when
    the environment around the token is wrong (the module's `*_from_env` decides).

    A platform's module, and its library, is imported only when its token variable is set.
    """
    if not os.environ.get(TOKEN_VARS[platform]):
        return None
    if platform == "slack":
        from adapters.slack_app import slack_from_env

        return slack_from_env(settings)
    from adapters.discord_bot import discord_from_env

    return discord_from_env(settings)


def cmd_check(args: argparse.Namespace) -> int:
    """The config, then what this environment makes of it: the chat adapters `run` would
    build (their variables validated as at start) and the channels none would serve."""
    settings = _settings(args)
    platforms, problems = _platforms_here(settings)
    for read in (http_port, log_format):
        try:
            read()
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    channels = (s.channel for s in settings.subscriptions)
    stored, older = database_here(settings)
    unsent = unserved(channels, settings.ops_channel, platforms)
    warnings = stored + [f"{u} (fine if the bot runs elsewhere, with it)" for u in unsent]
    failed = bool(warnings) and args.strict  # --strict: a warning fails, so no "ok"
    print(
        f"{'error' if failed else 'ok'}: {settings.source}: "
        f"{counted(len(settings.feeds), 'feed')}, "
        f"{counted(len(settings.subscriptions), 'subscription')}"
        + (f"; {counted(len(warnings), 'warning')} below, which --strict refuses" if failed else "")
    )
    for line in resolved(settings, config_named_by(args.config)):
        print(line)
    for warning in warnings:
        print(f"warning: {warning}")
    for note in older + notes(settings):
        print(f"note: {note}")
    return 2 if failed else 0


def _platforms_here(settings: Settings) -> tuple[set[str], list[str]]:
    """The chat platforms `run` would start here, and every problem of their variables:
    built as `run` builds them (never started), so check predicts what `run` will say."""
    platforms: set[str] = set()
    problems: list[str] = []
    for platform in CHAT_PLATFORMS:
        try:
            if _chat_adapter(platform, settings) is not None:
                platforms.add(platform)
        except ConfigError as exc:
            problems += exc.problems
    return platforms, problems


def cmd_poll(args: argparse.Namespace) -> int:
    settings = _settings(args)
    log_format()  # refused, not text logs in place of the JSON a cron's pipeline reads
    return asyncio.run(_stoppable(_poll(settings, build_adapters(settings, json_lines=args.json))))


def cmd_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args.json))


async def _demo(json_lines: bool) -> int:
    from bot.demo.server import serve_demo

    with tempfile.TemporaryDirectory(prefix="wirewatch-demo-") as tmp:
        async with serve_demo(edits=True) as feeds:
            settings = Settings.model_validate(
                {
                    "database": str(Path(tmp) / "demo.db"),
                    "feeds": [{"name": f.name, "url": f.url} for f in feeds],
                    "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
                    # The sample articles are served on 127.0.0.1 too, like the feeds.
                    "network": {"allow_private_addresses": True},
                    "source": "<demo>",
                }
            )
            print(
                f"wirewatch demo: {len(feeds)} sample feeds served on 127.0.0.1, topic "
                "troop-deployments -> console\n",
                file=sys.stderr,
            )
            # The second cycle finds one outlet's story edited since (bot.demo.server.EDITS).
            adapters = build_adapters(settings, json_lines=json_lines)
            code = await _poll(settings, adapters, cycles=2)
    # Typed afterwards, a `feedback:` line's command would label an install's own alert of
    # that ref (or find no database): the demo's are gone with its folder.
    print(
        "\nwirewatch demo: its database was temporary and is gone; the `feedback:` lines show "
        "what an install's alerts carry (typed here they would label that install's alerts)",
        file=sys.stderr,
    )
    return code


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    port = http_port()  # a port that is not one is refused before anything starts
    log_format()  # as is a log format that is not one
    heap.limit_arenas()  # before any thread allocates (bot.heap)
    return asyncio.run(_run(settings, build_adapters(settings), port))


def cmd_topics(args: argparse.Namespace) -> int:
    from bot.cli_topics import topics_command

    return topics_command(args, _settings(args))


def cmd_feeds(args: argparse.Namespace) -> int:
    from bot.cli_store import feeds_command

    return feeds_command(args, _settings(args))


def _channel_arg(text: str) -> str:
    """--channel written as the config writes channels: a name (`#news`) or a bare id matched
    no delivery, and the answer said nothing of the channel, as if it had got nothing."""
    try:
        return known_channel(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_subscriptions(args: argparse.Namespace) -> int:
    from bot.cli_subscriptions import subscriptions_command

    return subscriptions_command(args, _settings(args))


def cmd_status(args: argparse.Namespace) -> int:
    from bot.cli_status import status_command

    return status_command(args, _settings(args))


def cmd_search(args: argparse.Namespace) -> int:
    from bot.cli_status import search_command

    gazetteer = Gazetteer.load()
    return search_command(args, load_checked(args.config, gazetteer), gazetteer)


def cmd_db(args: argparse.Namespace) -> int:
    from bot.cli_store import db_command

    return db_command(args, _settings(args))


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.catalog import configured_topics
    from bot.evaluate import evaluate_file

    settings = _settings(args)
    if args.feedback is not None:
        from bot.cli_feedback import export_command

        return export_command(args, settings)
    if args.file is None:
        raise UsageError("eval needs FILE.jsonl to measure on (or --feedback FILE.jsonl)")
    topics = {t.name: t for t in configured_topics(settings)}
    if args.topic not in topics:
        close = difflib.get_close_matches(args.topic, list(topics), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise UsageError(f"no topic named {args.topic} ({hint}topics: {', '.join(sorted(topics))})")
    print(
        evaluate_file(
            args.file,
            topics[args.topic],
            positive=args.positive,
            split=args.split,
            titles_only=args.titles_only,
            window=timedelta(seconds=settings.story_window),
            stories=args.stories,
        )
    )
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from bot.cli_feedback import feedback_command

    return feedback_command(args, _settings(args))


COMMANDS = {
    "check": cmd_check,
    "poll": cmd_poll,
    "demo": cmd_demo,
    "run": cmd_run,
    "topics": cmd_topics,
    "feeds": cmd_feeds,
    "subscriptions": cmd_subscriptions,
    "status": cmd_status,
    "search": cmd_search,
    "eval": cmd_eval,
    "db": cmd_db,
    "feedback": cmd_feedback,
}

if __name__ == "__main__":
    sys.exit(main())
