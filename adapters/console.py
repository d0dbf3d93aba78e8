"""The console adapter: alerts on stdout, readable or as JSON lines; needs no token.

It is the reference implementation of the adapter interface. Feed text is untrusted here
too: control characters and terminal escape sequences are removed so that a title cannot
rewrite the operator's terminal. Where chat alerts carry "Not relevant" / "Wrong story"
buttons, a printed alert ends with the `wirewatch feedback` commands that do the same (a
digest's text ends with them already, spelled for the console: bot.digest).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime
from typing import TextIO

from adapters.base import Alert, CommandHandler, MessageRef
from bot.alerts import brief_why, outlet_count
from bot.clock import iso_short, minute_utc
from bot.edits import diff_text
from bot.feedback import KINDS
from bot.model import Change, Source

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text safe to print on a terminal: no escapes, no control characters."""
    return _CONTROL.sub("", text)


def plain_url(url: str) -> str:
    """A link on one word: a space in a feed's link (" · ref 99 · https://evil.example")
    would print as more of our own line."""
    return re.sub(r"\s", lambda m: f"%{ord(m.group(0)):02X}", plain(url))


def alert_json(alert: Alert) -> dict[str, object]:
    """The JSON line for one alert, as `poll --once --json` documents it: `why` is the line
    an editor reads, `explanation` the whole reason, model features included."""
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
        "why": brief_why(alert.explanation, alert.matched),
        "explanation": alert.explanation,
        "sources": [_source_json(s) for s in alert.sources],
        "outlets": list(alert.corroboration.outlets) if alert.corroboration else [],
        "corroborated": bool(alert.corroboration and alert.corroboration.corroborated),
        **({"edit": _edit_json(alert)} if alert.edit else {}),
    }


def _source_json(source: Source) -> dict[str, object]:
    when = iso_short(source.published) if source.published else None
    return {"outlet": source.outlet, "title": source.title, "url": source.url, "published": when}


def _edit_json(alert: Alert) -> dict[str, object]:
    edit = alert.edit
    assert edit is not None
    return {
        "title": [{"op": c.op, "text": c.text} for c in edit.title],
        "summary": [{"op": c.op, "text": c.text} for c in edit.summary],
        "started": list(edit.started),
        "stopped": list(edit.stopped),
    }


def alert_text(alert: Alert, story_ref: int | None = None) -> str:
    """A readable block for people watching a terminal. `story_ref`: the ref of the story's
    alert in this channel, for a block that belongs under it (an update, an edit, the mark):
    a terminal has no threads, so its head names the alert it would be threaded under."""
    if alert.kind == "edit" and alert.edit:
        return edit_text(alert, story_ref)
    if alert.kind == "corroborated":
        return mark_text(alert, story_ref)
    lines = [
        _head(alert, story_ref),
        plain(alert.title),
        f"{plain(alert.outlet)} · {_stamp(alert)}",
    ]
    if alert.summary.strip():  # a headline-only feed's item: no blank line inside the block
        lines.append(summary_lines(alert.summary))
    if why := brief_why(alert.explanation, alert.matched):
        lines.append(f"why: {plain(why)}")
    if alert.entities:
        lines.append(f"entities: {', '.join(plain(e) for e in alert.entities)}")
    lines += [outlets_line(alert), feedback_line(alert)]
    return "\n".join(lines) + "\n"


def summary_lines(summary: str) -> str:
    """The summary's paragraphs, each indented: a feed's own line at the start of ours could
    print what reads as another alert ("== NEW ...") or a `feedback:` line with another ref."""
    return "\n".join(f"  {line}" for line in plain(summary).split("\n") if line.strip())


def outlets_line(alert: Alert) -> str:
    """Who carries the story, in one line: the independent outlets (wire copy folded, "via
    AFP (The Moscow Times)"), with the number of reports when it is not theirs, and the
    mark once corroborated. Without corroboration data, the sources' outlets."""
    c = alert.corroboration
    if c is None:
        names = ", ".join(dict.fromkeys(plain(s.outlet) for s in alert.sources))
        return f"sources ({len(alert.sources)}): {names}"
    mark = "corroborated · " if c.corroborated else ""
    return plain(f"{mark}{outlet_count(alert)}: {', '.join(c.outlets)}")


def feedback_line(alert: Alert) -> str:
    """A terminal has no buttons: the commands that record what they would."""
    commands = (f"wirewatch feedback {kind} {alert.feedback_id}" for kind in KINDS)
    return "feedback: " + " · ".join(commands)


def edit_text(alert: Alert, story_ref: int | None = None) -> str:
    """An edit: which outlet changed which item (when it was published, its link and ref),
    its word diff ([-deleted-] {+inserted+})."""
    edit = alert.edit
    assert edit is not None
    lines = [
        _head(alert, story_ref),
        f"{plain(alert.outlet)} changed: {plain(alert.title)}",
        f"published {_stamp(alert)}",
    ]
    lines += [
        f"{name}: {_diff(parts)}"
        for name, parts in (("title", edit.title), ("summary", edit.summary))
        if parts
    ]
    lines += [*edit.notes, feedback_line(alert)]
    return "\n".join(lines) + "\n"


def mark_text(alert: Alert, story_ref: int | None = None) -> str:
    """What a terminal shows where a chat message would be rewritten with the mark: the
    story's first alert (outlet, time, ref, link), the outlets, and what each reported, one
    line per report, as the rewritten chat message lists them: a mark that rests on a report
    of something else shows it."""
    lines = [
        _head(alert, story_ref or alert.feedback_id),
        plain(alert.title),
        f"{plain(alert.outlet)} · {_stamp(alert)}",
        outlets_line(alert),
    ]
    lines += [f"- {_source_line(s)}" for s in alert.sources]
    return "\n".join(lines) + "\n"


def _source_line(source: Source) -> str:
    """ "Al Jazeera · 2026-12-06 09:30 UTC · headline · link", on one line whatever the feed
    put in its title."""
    when = _when(source.published) if source.published else ""
    parts = (plain(source.outlet), when, plain(source.title), plain_url(source.url or ""))
    return " · ".join(" ".join(p.split()) for p in parts if p.strip())


def _head(alert: Alert, story_ref: int | None) -> str:
    """ "== UPDATE · troop-deployments · story of ref 2": what the block is, for which topics,
    and (for a block that belongs under a story's alert) that alert's ref, a number the
    reader has seen. Not the story's id: every stored item starts a story, matched or not,
    so a fresh install's first alert read "story 11"."""
    of = f" · story of ref {story_ref}" if story_ref is not None else ""
    return f"== {alert.kind.upper()} · {_topics(alert)}{of}"


def _ref_of(message: MessageRef) -> int | None:
    """The ref a console message was printed with (its id is its delivery's): None for a
    message id that is not one."""
    return int(message.message_id) if message.message_id.isdigit() else None


def _stamp(alert: Alert) -> str:
    """ "2026-12-06 07:40 UTC · ref 1 · https://...": the number `wirewatch feedback` takes
    is the one chat shows after `ref`."""
    link = f" · {plain_url(alert.url)}" if alert.url else ""
    return f"{_when(alert.published)} · ref {alert.feedback_id}{link}"


def _when(moment: datetime) -> str:
    return minute_utc(moment)


def _topics(alert: Alert) -> str:
    return ", ".join(alert.topics or (alert.topic,))


def _diff(parts: tuple[Change, ...]) -> str:
    return plain(diff_text(parts))


class ReaderGone(SystemExit):
    """`wirewatch demo | head` closed the pipe: stop as other Unix tools do, with 141 (128 +
    SIGPIPE). An OSError would be a send in doubt, retried for as long as the bot runs, with
    nobody left to read it; a SystemExit passes the outbox's handlers and ends the run (the
    alert in flight is printed again at the next start, as after any crash)."""

    def __init__(self) -> None:
        super().__init__(reader_gone())


def reader_gone() -> int:
    """stdout's reader has gone: point stdout at /dev/null, so that flushing it at exit
    raises nothing more, and give the exit status of a tool a closed pipe stopped."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


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
        self._write(alert, _ref_of(parent))
        return MessageRef("console", parent.channel, str(alert.delivery_id), parent.message_id)

    async def edit_alert(self, ref: MessageRef, alert: Alert) -> None:
        # A terminal cannot rewrite what it printed (updates carry the sources); the
        # corroboration mark, which chat shows by rewriting, is printed as a line.
        if alert.kind == "corroborated":
            self._write(alert, _ref_of(ref))

    async def find_posted(
        self,
        channel: str,
        delivery_id: int,
        thread: MessageRef | None = None,
        *,
        since: datetime | None = None,
    ) -> MessageRef | None:
        return None  # stdout keeps no record: after a crash the alert is printed again

    async def post_digest(self, channel: str, text: str, key: int) -> MessageRef:
        if self.json_lines:
            line = {"kind": "digest", "channel": channel, "key": key, "text": plain(text)}
            self._out(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            self._out(f"== DIGEST\n{plain(text)}\n\n")
        return MessageRef("console", channel, f"digest-{key}")

    async def post_notice(self, channel: str, text: str, *, key: int | None = None) -> None:
        print(f"wirewatch notice: {plain(text)}", file=sys.stderr)

    async def find_notice(self, channel: str, key: int, *, since: datetime | None = None) -> bool:
        return False  # stderr keeps no record: a notice cut short is printed again

    def _write(self, alert: Alert, story_ref: int | None = None) -> None:
        if alert.explanation:  # the whole reason, model features included: `wirewatch -v`
            log.debug("console.why delivery=%d %s", alert.delivery_id, plain(alert.explanation))
        if self.json_lines:
            self._out(json.dumps(alert_json(alert), ensure_ascii=False) + "\n")
        else:
            self._out(alert_text(alert, story_ref) + "\n")

    def _out(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            if self.stream is not sys.stdout:  # another file's failure is a failed send
                raise
            raise ReaderGone() from None
