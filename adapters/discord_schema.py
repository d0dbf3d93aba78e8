"""/wirewatch's shape on Discord: the command bulk-overwrite sync sends, and its options read back.

`command_payload` is the JSON that bulk-overwrite sync sends: one `wirewatch` command whose
subcommands and typed options come from `bot.commands.SUBCOMMANDS` (a topic option has
autocomplete, a mode option has choices). Two-word commands become groups (`feeds add`);
Discord forbids a group and a command of the same name side by side, so the bare `feeds`
becomes `feeds list` (`layout`). `read_options` walks an interaction's options back to the
core's subcommand name and a plain {option: value} dict for `Commands.text_for`. The
command sets no `default_member_permissions` (discord_commands says why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.commands import SUBCOMMANDS, Subcommand, rights_mark

COMMAND = "wirewatch"
SUB_COMMAND, SUB_COMMAND_GROUP, STRING = 1, 2, 3
GUILD_CONTEXT, GUILD_INSTALL = 0, 0
BARE = "list"  # what the bare `feeds` is called next to `feeds add`
_NAME = re.compile(r"[-_a-z0-9]{1,32}")
_KIND_HELP = {
    "topic": "topic name",
    "mode": "instant (one alert each) or digest",
    "url": "feed URL (http or https)",
    "duration": "how long, e.g. 30m, 2h, 1d",
    "query": 'a query, e.g. entity:"North Korea" AND NOT drill*',
    "text": "text",
    "alert": "the alert's number: ref N under it",
    "switch": "on or off",
}

# Options whose kind ("text") says nothing of what to type: Discord shows this under the box.
_ARG_HELP = {
    ("topics", "topic"): "a topic's name, for its whole query (empty: every topic)",
    ("test", "query"): "a topic's name, or a query like deploy* NEAR/5 troops",
    ("test", "text"): "the text to try, or a page's URL",
    ("topic add", "name"): "the topic's name: lowercase letters, digits, - or _",
    ("topic add", "query"): _KIND_HELP["query"],
    ("feeds add", "name"): "a name for the feed (else its own title)",
    ("feeds remove", "feed"): "the feed's URL or name (see /wirewatch feeds list)",
    ("digest", "since"): (
        "how far back to recap: 12h, 2d; 2d page:2 for the next 50 (empty: post the digest now)"
    ),
    ("search", "words"): 'words the items must have; "a phrase", OR, outlet:NAME, since:7d, page:2',
}


@dataclass(frozen=True)
class Invoked:
    """What an interaction asked for, in the core's terms."""

    name: str  # the core's subcommand name, e.g. "feeds add"
    options: dict[str, str]
    focused: str | None = None  # the option being typed (autocomplete)
    kind: str | None = None  # the focused option's kind


def layout(subcommands: Iterable[Subcommand] = SUBCOMMANDS) -> dict[tuple[str, ...], Subcommand]:
    """Discord path -> subcommand: ('subscribe',), ('feeds', 'add'), ('feeds', 'list')."""
    subs = list(subcommands)
    groups = {s.name.split()[0] for s in subs if " " in s.name}
    paths: dict[tuple[str, ...], Subcommand] = {}
    for s in subs:
        words = tuple(s.name.split())
        path = (*words, BARE) if len(words) == 1 and words[0] in groups else words
        if len(path) > 2 or not all(_NAME.fullmatch(w) for w in path) or path in paths:
            raise ValueError(f"subcommand {s.name!r} cannot be a Discord command")
        paths[path] = s
    return paths


def _option(name: str, kind: str, required: bool, sub: str = "") -> dict[str, Any]:
    if not _NAME.fullmatch(name):
        raise ValueError(f"option {name!r} cannot be a Discord option name")
    option: dict[str, Any] = {
        "type": STRING,
        "name": name,
        "required": required,
        "description": _ARG_HELP.get((sub, name)) or _KIND_HELP.get(kind, name),
    }
    if kind == "topic":
        option["autocomplete"] = True
    elif kind == "mode":
        option["choices"] = [{"name": m, "value": m} for m in ("instant", "digest")]
    elif kind == "switch":
        option["choices"] = [{"name": m, "value": m} for m in ("on", "off")]
    return option


def ordered(sub: Subcommand) -> list[tuple[str, str, bool]]:
    """Its options as Discord lists them: Discord wants required options first; the core
    reads them by name, so order is free."""
    return sorted(sub.args, key=lambda a: not a[2])


def _subcommand(name: str, sub: Subcommand) -> dict[str, Any]:
    args = ordered(sub)
    help_text = sub.help + rights_mark(sub)
    return {
        "type": SUB_COMMAND,
        "name": name,
        "description": help_text[:100],
        "options": [_option(*a, sub=sub.name) for a in args],
    }


def command_payload(subcommands: Iterable[Subcommand] = SUBCOMMANDS) -> dict[str, Any]:
    """The /wirewatch command for bulk overwrite: shown to every member (wirewatch checks
    rights itself, see the module docstring), in servers only."""
    options: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for path, sub in layout(subcommands).items():
        if len(path) == 1:
            options.append(_subcommand(path[0], sub))
            continue
        if path[0] not in groups:
            groups[path[0]] = {
                "type": SUB_COMMAND_GROUP,
                "name": path[0],
                "description": f"{path[0]} commands",
                "options": [],
            }
            options.append(groups[path[0]])
        groups[path[0]]["options"].append(_subcommand(path[1], sub))
    return {
        "name": COMMAND,
        "type": 1,
        "description": "wirewatch: news alerts for this channel",
        "options": options,
        "contexts": [GUILD_CONTEXT],
        "integration_types": [GUILD_INSTALL],
        "nsfw": False,
    }


class UnknownCommand(Exception):
    """A /wirewatch path or option this version does not have: a Discord client may show
    an older schema for a while after an upgrade renamed or removed one."""


def read_options(
    data: Mapping[str, Any], subcommands: Iterable[Subcommand] = SUBCOMMANDS
) -> Invoked | None:
    """An interaction's `data` as the core's subcommand and options; None if not ours,
    UnknownCommand if ours but not as this version declares it (an option dropped
    silently would run the command as something else)."""
    if data.get("name") != COMMAND:
        return None
    path: list[str] = []
    level = data.get("options") or []
    while level and level[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
        path.append(str(level[0].get("name")))
        level = level[0].get("options") or []
    sub = layout(subcommands).get(tuple(path))
    if sub is None:
        raise UnknownCommand(f"`/{' '.join([COMMAND, *path])}`")
    kinds = {name: kind for name, kind, _ in sub.args}
    if unknown := [str(o.get("name")) for o in level if o.get("name") not in kinds]:
        raise UnknownCommand(f"`/{COMMAND} {' '.join(path)}` with `{'`, `'.join(unknown)}`")
    values = {o["name"]: str(o.get("value", "")) for o in level}
    focused = next((o["name"] for o in level if o.get("focused")), None)
    return Invoked(sub.name, values, focused, kinds.get(focused) if focused else None)
