"""Chat commands, written once for every platform: parse, check rights, act, answer.

An adapter turns its platform's invocation (a Slack slash command, a Discord app command)
into an `Invocation`, awaits `Commands.handle` and sends the `Reply` back its own way,
escaping the text there: replies quote feed titles, which are untrusted. A user's mistake is
a `Reply(ok=False)` that says what was wrong and shows the usage line; it changes nothing.

The package, a module a job: grammar (what a command is, how text parses into one), rights
(who may run it), dispatch (`Commands`: the entry point), calls (where its queries run),
then the handlers: subscriptions, switches (mute, edits), feeds and feed_names, topics,
trial (`test`), overview (help, status, search), labels (`feedback`), recap (`digest`);
echo, lookups and urls hold what several of them share.

Deliberately not here: any platform syntax or API, acknowledging within 3 seconds (adapters
do that), and the queries themselves (bot.store, bot/*_store.py, bot.status).
"""

from bot.commands.dispatch import Commands
from bot.commands.grammar import (
    SUBCOMMANDS,
    Invocation,
    Reply,
    Subcommand,
    needs_posting,
    parse,
    requires_moderator,
)
from bot.commands.rights import rights_mark
from bot.commands.topic_admin import WAITING_THROUGH

__all__ = [
    "SUBCOMMANDS",
    "WAITING_THROUGH",
    "Commands",
    "Invocation",
    "Reply",
    "Subcommand",
    "needs_posting",
    "parse",
    "requires_moderator",
    "rights_mark",
]
