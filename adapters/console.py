"""The console adapter: alerts on stdout, readable or as JSON lines; needs no token.

It is the reference implementation of the adapter interface. Feed text is untrusted here
too: control characters and terminal escape sequences are removed so that a title cannot
rewrite the operator's terminal. Where chat alerts carry "Not relevant" / "Wrong story"
buttons, a printed alert ends with the `wirewatch feedback` commands that do the same.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TextIO

from adapters.base import Alert, CommandHandler, MessageRef
from bot.clock import iso_short
from bot.edits import diff_text
from bot.feedback import KINDS
from bot.model import Change

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text safe to print on a terminal: no escapes, no control characters."""
    return _CONTROL.sub("", text)


def alert_json(alert: Alert) -> dict[str, object]:
    """The JSON line for one alert, as `poll --once --json` documents it."""
    return {
        "delivery_id": alert.feedback_id,
        "kind": alert.kind,
        "story_id": alert.story_id,
        "topic": alert.topic,
        "topics": list(alert.topics or (alert.topic,)),
        "channel": alert.channel,
        "title": alert.title,
        "url": alert.url,
        "outlet": alert.outlet,
        "published": iso_short(alert.published),
        "summary": alert.summary,
        "entities": list(alert.entities),
        "matched": list(alert.matched),
        "sources": [{"outlet": s.outlet, "title": s.title, "url": s.url} for s in alert.sources],
        "outlets": list(alert.corroboration.outlets) if alert.corroboration else [],
        "corroborated": bool(alert.corroboration and alert.corroboration.corroborated),
        **({"edit": _edit_json(alert)} if alert.edit else {}),
    }


def _edit_json(alert: Alert) -> dict[str, object]:
    edit = alert.edit
    assert edit is not None
    return {
        "title": [{"op": c.op, "text": c.text} for c in edit.title],
        "summary": [{"op": c.op, "text": c.text} for c in edit.summary],
        "started": list(edit.started),
        "stopped": list(edit.stopped),
    }


def alert_text(alert: Alert) -> str:
    """A readable block for people watching a terminal."""
    if alert.kind == "edit" and alert.edit:
        return edit_text(alert)
    if alert.kind == "corroborated":
        return mark_text(alert)
    lines = [
        f"== {alert.kind.upper()} · {_topics(alert)} · story {alert.story_id}",
        plain(alert.title),
        f"{plain(alert.outlet)} · {alert.published:%Y-%m-%d %H:%M} UTC · {plain(alert.url or '')}",
        plain(alert.summary),
    ]
    if alert.explanation:
        lines.append(f"why: {plain(alert.explanation)}")
    if alert.entities:
        lines.append(f"entities: {', '.join(plain(e) for e in alert.entities)}")
    outlets = ", ".join(dict.fromkeys(plain(s.outlet) for s in alert.sources))
    lines.append(f"sources ({len(alert.sources)}): {outlets}")
    if alert.corroboration:
        lines.append(plain(alert.corroboration.line))
    lines.append(feedback_line(alert))
    return "\n".join(lines) + "\n"


def feedback_line(alert: Alert) -> str:
    """A terminal has no buttons: the commands that record what they would."""
    commands = (f"wirewatch feedback {kind} {alert.feedback_id}" for kind in KINDS)
    return "feedback: " + " · ".join(commands)


def edit_text(alert: Alert) -> str:
    """An edit: which outlet changed which item, its word diff ([-deleted-] {+inserted+})."""
    edit = alert.edit
    assert edit is not None
    lines = [
        f"== EDIT · {_topics(alert)} · story {alert.story_id}",
        f"{plain(alert.outlet)} changed: {plain(alert.title)}",
    ]
    lines += [
        f"{name}: {_diff(parts)}"
        for name, parts in (("title", edit.title), ("summary", edit.summary))
        if parts
    ]
    lines += [*edit.notes, feedback_line(alert)]
    return "\n".join(lines) + "\n"


def mark_text(alert: Alert) -> str:
    """What a terminal shows where a chat message would be rewritten with the mark."""
    lines = [f"== CORROBORATED · {_topics(alert)} · story {alert.story_id}", plain(alert.title)]
    if alert.corroboration:
        lines.append(plain(alert.corroboration.line))
    return "\n".join(lines) + "\n"


def _topics(alert: Alert) -> str:
    return ", ".join(alert.topics or (alert.topic,))


def _diff(parts: tuple[Change, ...]) -> str:
    return plain(diff_text(parts))


class ConsoleAdapter:
    platform = "console"

    def __init__(self, stream: TextIO | None = None, *, json_lines: bool = False):
        self.stream = stream or sys.stdout
        self.json_lines = json_lines

    connected = True  # stdout needs no connection

    async def start(self, commands: CommandHandler | None) -> None:
        return None

    async def stop(self) -> None:
        self.stream.flush()

    async def post_alert(self, channel: str, alert: Alert) -> MessageRef:
        self._write(alert)
        return MessageRef("console", channel, str(alert.delivery_id))

    async def post_update(self, parent: MessageRef, alert: Alert) -> MessageRef:
        self._write(alert)
        return MessageRef("console", parent.channel, str(alert.delivery_id), parent.message_id)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        # A terminal cannot rewrite what it printed (updates carry the sources); the
        # corroboration mark, which chat shows by rewriting, is printed as a line.
        if alert.kind == "corroborated":
            self._write(alert)

    async def find_posted(
        self, channel: str, delivery_id: int, thread: MessageRef | None = None
    ) -> MessageRef | None:
        return None  # stdout keeps no record: after a crash the alert is printed again

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        if self.json_lines:
            line = {"kind": "digest", "channel": channel, "key": key, "text": plain(text)}
            self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            self.stream.write(f"== DIGEST\n{plain(text)}\n\n")
        self.stream.flush()
        return MessageRef("console", channel, f"digest-{key}")

    async def post_notice(self, channel: str, text: str) -> None:
        print(f"wirewatch notice: {plain(text)}", file=sys.stderr)

    def _write(self, alert: Alert) -> None:
        if self.json_lines:
            self.stream.write(json.dumps(alert_json(alert), ensure_ascii=False) + "\n")
        else:
            self.stream.write(alert_text(alert) + "\n")
        self.stream.flush()
