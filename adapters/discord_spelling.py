"""The commands our own text suggests, spelled as a Discord member types them.

The core writes one spelling for every platform (`/wirewatch feeds add URL [NAME]`), which a
Discord member cannot type as shown; spelled from the same layout and options as the synced
payload (discord_schema), it is `/wirewatch feeds add url:URL [name:NAME]`, the command as
Discord's client shows it filled in. `discord_spans` does that to each `code` span of a reply
or notice that is one whole command, and `discord_digest` to a digest's closing line;
anything else (an unknown word, a part missing, free text, every story line of a digest)
stays exactly as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from adapters.discord_schema import COMMAND, layout, ordered
from bot.commands import Subcommand, parse
from bot.commands.grammar import one_word
from bot.digest import closing_line
from bot.errors import CommandError

# A part of a command as the core writes it: `[...]` (an optional part of a synopsis,
# `[NAME]`, `[--only QUERY]`) or a word.
_PART = re.compile(r"\[(?P<optional>[^\[\]\n]*)\]|\S+")
_SPAN = re.compile(r"`([^`\n]*)`")
_SAID_TWICE = re.compile(r"(`[^`\n]*`) \(or (`[^`\n]*`)\)")  # "`a` (or `a`)"


@dataclass(frozen=True)
class _Given:
    value: str
    optional: bool  # written in brackets, as a synopsis marks an optional part


@cache
def _paths() -> dict[str, tuple[str, ...]]:
    """The core's subcommand name -> its Discord path (`feeds` -> ('feeds', 'list'))."""
    return {sub.name: path for path, sub in layout().items()}


def discord_command(command: str) -> str | None:
    """A command as the core spells it, `/wirewatch feedback not-relevant REF`, as Discord's
    client shows it filled in: `/wirewatch feedback not-relevant alert:REF` (options by
    name, required first, optional ones kept in brackets; the bare `feeds` is `feeds list`).
    None when it is not one whole command of this version: an unknown word, a required part
    missing or a word too many; read by the core's own parser."""
    prefix = f"/{COMMAND} "
    typed = command[len(prefix) :] if command.startswith(prefix) else ""
    if not typed.strip() or "`" in typed:
        return None
    try:
        sub, rest = parse(typed)
    except CommandError:
        return None
    given = _given(sub, rest)
    if given is None:
        return None
    chips = [(f"{n}:{given[n].value}", given[n].optional) for n, _, _ in ordered(sub) if n in given]
    return " ".join([f"/{COMMAND}", *_paths()[sub.name], *(f"[{c}]" if o else c for c, o in chips)])


def _given(sub: Subcommand, rest: str) -> dict[str, _Given] | None:
    """Which option each part of `rest` fills, as `text_for` would have written them: a
    query option after its flag (`--only QUERY`), the others in order, each one word but the
    last, which takes the rest unless it is one word too."""
    flags = {f"--{name}": name for name, kind, _ in sub.args if kind == "query"}
    parts = list(_PART.finditer(rest))
    given: dict[str, _Given] = {}
    loose: list[re.Match[str]] = []
    i = 0
    while i < len(parts):
        inner = parts[i]["optional"]
        flag, _, value = (parts[i][0] if inner is None else inner.strip()).partition(" ")
        if flag not in flags:
            loose.append(parts[i])
            i += 1
            continue
        end = i + 1
        if inner is None:  # `--only` then its words, up to the next flag
            while end < len(parts) and parts[end][0] not in flags:
                end += 1
            value = rest[parts[i + 1].start() : parts[end - 1].end()] if end > i + 1 else ""
        if not value.strip() or flags[flag] in given:
            return None
        given[flags[flag]] = _Given(value.strip(), inner is not None)
        i = end
    positional = [a for a in sub.args if a[1] != "query"]
    for n, (name, kind, required) in enumerate(positional):
        rest_of_it = n == len(positional) - 1 and not one_word(sub.name, name, kind)
        taken, loose = (loose, []) if rest_of_it else (loose[:1], loose[1:])
        if not taken:
            if required:
                return None
            continue
        optional = len(taken) == 1 and taken[0]["optional"] is not None
        value = taken[0]["optional"] if optional else rest[taken[0].start() : taken[-1].end()]
        if not value.strip() or (optional and required):
            return None
        given[name] = _Given(value.strip(), optional)
    return None if loose else given


def discord_spans(text: str) -> str:
    """Our text (a reply, a notice) with each `code` span that is one whole command spelled
    as Discord takes it; every other span and all text around them as written. A command
    the core gives two spellings of that are one on Discord (`feeds`, or `feeds list`) is
    said once."""
    spelled = _SPAN.sub(lambda m: f"`{discord_command(m[1]) or m[1]}`", text)
    return _SAID_TWICE.sub(lambda m: m[1] if m[1] == m[2] else m[0], spelled)


def discord_digest(text: str) -> str:
    """A digest (bot.digest.digest_text) whose closing line, ours alone, spells its commands
    as Discord takes them; its story lines, feed text, stay as written whatever they say."""
    head, newline, last = text.rpartition("\n")
    if last != closing_line("discord"):
        return text
    return head + newline + _spell_line(last)


def _spell_line(line: str) -> str:
    """Each `/wirewatch ...` in a line of our own, as long a run of its words as reads as one
    whole command, in Discord's spelling."""
    starts = [m.start() for m in re.finditer(re.escape(f"/{COMMAND} "), line)]
    out, done = [], 0
    for n, start in enumerate(starts):
        segment = line[start : starts[n + 1] if n + 1 < len(starts) else len(line)]
        for cut in reversed([m.end() for m in re.finditer(r"\S+", segment)][1:]):
            if spelled := discord_command(segment[:cut]):
                out += [line[done:start], spelled]
                done = start + cut
                break
    return "".join([*out, line[done:]])
