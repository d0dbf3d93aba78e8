"""Alerts and replies as Slack sees them: Block Kit blocks, mrkdwn text, message metadata.

Every piece of text that came from a feed (or from a user, in replies) goes through `escape`
at this last step: `&`, `<` and `>` become entities, so `<!channel>`, `<@U123>`,
`<!subteam^S1>` and `<https://evil|click>` arrive as visible text, never as a ping or a
forged link; and every mrkdwn text object is `verbatim`, so Slack parses no bare `@here`.
Links are built here only from http(s) URLs. Nothing here talks to Slack.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.base import Alert
from adapters.chunks import split_lines
from bot.alerts import brief_why, outlet_count
from bot.clock import minute_utc
from bot.feedback import KINDS
from bot.model import Change, Source

METADATA_EVENT = "wirewatch_alert"
FEEDBACK_BLOCK = "wirewatch_feedback"
FEEDBACK_ACTION = "wirewatch_feedback:"  # + the kind: "wirewatch_feedback:not-relevant"
SECTION_MAX = 3000  # Block Kit's limit for a section's text
# A reply message's text: Slack takes 40,000 characters (it truncates the rest), and 12,000
# is its limit for a message's markdown text; a response_url takes 5 posts in 30 minutes.
REPLY_MAX = 12000
RESPONSES = 5
CONTEXT_MAX = 2000
CONTEXT_ELEMENTS = 10  # Block Kit's limit for a context block
TITLE_MAX = 300
LINK_URL_MAX = 1000  # with a title of TITLE_MAX, a link always fits a context element
MAX_SOURCES = 15
_HTTP = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)
# Characters that would end or split Slack's <url|label> syntax, percent-encoded in URLs.
_URL_UNSAFE = {"<": "%3C", ">": "%3E", "|": "%7C", " ": "%20", '"': "%22"}

Block = dict[str, Any]


def escape(text: str) -> str:
    """Text from outside, safe in mrkdwn: the three control characters Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline(text: str) -> str:
    """Feed text set inside or beside our own bold (a headline, an outlet's name): its own
    * ~ ` would close our span or open one; lookalikes stand in for them (as in a diff)."""
    return escape(text).translate(_SPAN_BREAKERS)


def paragraphs(text: str) -> str:
    """A feed's summary as mrkdwn that shows what it says: its own * ~ ` are lookalikes (as
    in a headline), so it can neither strike a word through ("troops ~not~ sent") nor open
    a code block that takes the rest of it, and a line of its own starting with ">" is not
    made a quote."""
    return _QUOTE.sub("\\1›", inline(text))


_QUOTE = re.compile(r"^(\s*)&gt;", re.MULTILINE)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters of mrkdwn, never cut inside a link (`<url|label>`) or an
    entity (`&amp;`): half of either would show as markup, or swallow what follows."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    start = head.rfind("<")
    if start != -1 and ">" not in head[start:]:
        head = head[:start]
    start = head.rfind("&")
    if start != -1 and ";" not in head[start:]:
        head = head[:start]
    return head.rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL as Slack link syntax may carry it, or None when it is not http(s)."""
    if not url or not _HTTP.match(url.strip()) or any(c in url for c in "\r\n\t"):
        return None
    out = url.strip()
    for char, code in _URL_UNSAFE.items():
        out = out.replace(char, code)
    return out.replace("&", "&amp;")


def link(url: str | None, label: str) -> str:
    """`<url|label>` for http(s) URLs; just the escaped label for anything else, and for a
    URL so long that the block's limit would cut the link whole (`clip` never halves one),
    taking the headline with it."""
    target = safe_url(url)
    text = inline(label) or "link"
    return f"<{target}|{text}>" if target and len(target) <= LINK_URL_MAX else text


def when(alert: Alert) -> str:
    """Slack shows the date in each reader's own time zone; the fallback is UTC."""
    stamp = int(alert.published.timestamp())
    fallback = minute_utc(alert.published)
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"


def _mrkdwn(text: str) -> Block:
    """A mrkdwn text object that Slack takes as written: with `verbatim` false (its default)
    Slack parses "certain mentions" in plain text, so a headline's bare @here or @channel
    could be made live, and links #channel names and bare URLs feed text wrote. Our own
    `<url|label>` and `<!date^...>` are manual parsing strings, which verbatim keeps."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(clip(text, SECTION_MAX))}


def _context(*texts: str) -> Block:
    """At most CONTEXT_ELEMENTS elements (Slack refuses the blocks beyond): the rest are
    joined into the last one."""
    shown = [t for t in texts if t]
    if len(shown) > CONTEXT_ELEMENTS:
        shown[CONTEXT_ELEMENTS - 1 :] = [" · ".join(shown[CONTEXT_ELEMENTS - 1 :])]
    return {
        "type": "context",
        "elements": [_mrkdwn(clip(t, CONTEXT_MAX)) for t in shown],
    }


def _headline(alert: Alert) -> str:
    return f"*{titled_link(alert)}*"


def titled_link(alert: Alert) -> str:
    """The item's title, clipped, as a link to it: an alert's, an update's and an edit's
    alike. Unclipped, an `&`-heavy title beside a long URL passed the section's limit and
    `clip` (never halving a link) dropped the whole headline."""
    return link(alert.url, clip(alert.title, TITLE_MAX))


def _why(alert: Alert) -> list[str]:
    """The topics, the words that fired and the relevance score; the model's features are
    for moderators (`/wirewatch test`), not for the channel."""
    lines = ["Topic " + ", ".join(f"`{escape(t)}`" for t in alert.topics or (alert.topic,))]
    if why := brief_why(alert.explanation, alert.matched):
        lines[0] += f": {escape(why)}"
    if alert.entities:
        lines.append("Entities: " + escape(", ".join(alert.entities)))
    return lines


def _source_line(source: Source) -> str:
    return f"• {link(source.url, source.outlet)}: {inline(clip(source.title, TITLE_MAX))}"


def _sources(alert: Alert) -> list[Block]:
    if len(alert.sources) < 2:
        return []
    lines = [_source_line(s) for s in alert.sources[:MAX_SOURCES]]
    more = len(alert.sources) - MAX_SOURCES
    if more > 0:
        lines.append(f"… and {more} more")
    return [_section(f"*Sources ({len(alert.sources)})*\n" + "\n".join(lines))]


def outlets_line(alert: Alert) -> str:
    """ "3 outlets: Yonhap, via AFP (The Moscow Times), Al Jazeera", marked once corroborated;
    "1 outlet (2 reports): CNA" when the sources listed are more than the outlets."""
    c = alert.corroboration
    if c is None:
        return ""
    mark = ":white_check_mark: *Corroborated* · " if c.corroborated else ""
    return mark + inline(f"{outlet_count(alert)}: {', '.join(c.outlets)}")


def alert_blocks(alert: Alert) -> list[Block]:
    """A story's first message: headline, outlet and time, the independent outlets carrying
    it, summary, why it fired, sources, and the feedback buttons."""
    stamp = f"{inline(alert.outlet)} · {when(alert)} · ref {alert.feedback_id}"
    blocks = [_section(_headline(alert)), _context(stamp)]
    if alert.corroboration:
        blocks.append(_context(outlets_line(alert)))
    if alert.summary:
        blocks.append(_section(paragraphs(alert.summary)))
    blocks.append(_context(*_why(alert)))
    return blocks + _sources(alert) + [feedback_block(alert)]


def top_blocks(alert: Alert) -> list[Block]:
    """A message of its own in the channel: a story's first, or an edit with no thread."""
    return edit_blocks(alert) if alert.kind == "edit" and alert.edit else alert_blocks(alert)


def update_blocks(alert: Alert) -> list[Block]:
    """A later item of the story, posted in the thread of the first message."""
    if alert.kind == "edit" and alert.edit:
        return edit_blocks(alert)
    blocks = [
        _section(f"*Update from {inline(alert.outlet)}:* {titled_link(alert)}"),
        _context(f"{when(alert)} · ref {alert.feedback_id}", outlets_line(alert)),
    ]
    if alert.summary:
        blocks.append(_section(paragraphs(alert.summary)))
    return blocks + [feedback_block(alert)]


def feedback_block(alert: Alert) -> Block:
    """The "Not relevant" and "Wrong story" buttons: a click comes back as `block_actions`
    whose action_id names the kind and whose value is the delivery to label."""
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": f"{FEEDBACK_ACTION}{kind}",
                "text": {"type": "plain_text", "text": label},
                "value": str(alert.feedback_id),
            }
            for kind, label in KINDS.items()
        ],
    }


def feedback_kind(action_id: str) -> str | None:
    """The feedback kind a button's action_id names, or None if it is not one of ours."""
    kind = action_id.removeprefix(FEEDBACK_ACTION)
    return kind if action_id.startswith(FEEDBACK_ACTION) and kind in KINDS else None


def edit_blocks(alert: Alert) -> list[Block]:
    """An outlet changed an item: which (linked, with when it was first published), its words
    deleted (struck) and inserted (bold), the channel's topics it now matches or no longer
    does, and the feedback buttons (a label is about the item as it now reads)."""
    edit = alert.edit
    assert edit is not None
    head = f"*{inline(alert.outlet)} edited:* {titled_link(alert)}"
    blocks = [_section(head)]
    for name, parts in (("Title", edit.title), ("Summary", edit.summary)):
        if parts:
            blocks.append(_section(f"*{name}:* " + diff_mrkdwn(parts, SECTION_MAX - 20)))
    stamp = f"published {when(alert)} · ref {alert.feedback_id}"
    blocks.append(_context(stamp, *(escape(n) for n in edit.notes)))
    return blocks + [feedback_block(alert)]


# Feed text's own ~ * ` would close one of our struck or bold spans, or pair with one to open
# a span of its own (unchanged words too): lookalikes stand in for them in a diff.
_SPAN_BREAKERS = str.maketrans({"~": "∼", "*": "∗", "`": "ˋ"})
_SPAN = {"deleted": "~{}~", "inserted": "*{}*", "same": "{}", "gap": "{}"}


def diff_mrkdwn(parts: tuple[Change, ...], limit: int) -> str:
    """A word diff as mrkdwn, whole parts only, so a cut never leaves a span open."""
    out = ""
    for part in parts:
        piece = _SPAN[part.op].format(escape(part.text).translate(_SPAN_BREAKERS))
        if len(out) + len(piece) + 2 > limit:
            return out + " …"
        out = f"{out} {piece}" if out else piece
    return out


def alert_text(alert: Alert) -> str:
    """The plain fallback: notifications, screen readers, clients without blocks."""
    heads = {"update": "Update:", "edit": "Edited:"}
    head = heads.get(alert.kind, f"[{escape(alert.topic)}]")
    return clip(f"{head} {escape(alert.title)} ({escape(alert.outlet)})", SECTION_MAX)


def metadata(alert: Alert) -> dict[str, Any]:
    """What lets a restart find this message again (see SlackAdapter.find_posted)."""
    return {
        "event_type": METADATA_EVENT,
        "event_payload": {"delivery_id": alert.delivery_id, "story_id": alert.story_id},
    }


def digest_metadata(key: int) -> dict[str, Any]:
    """A digest's (bot.digest): its key where an alert has its delivery id, so that
    `find_posted` finds it the same way."""
    return {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": key, "digest": True}}


def delivery_of(message: dict[str, Any]) -> int | None:
    """The delivery id a message of ours carries in its metadata, else None."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") != METADATA_EVENT:
        return None
    value = (meta.get("event_payload") or {}).get("delivery_id")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def notice_text(text: str) -> str:
    """A notice (bot.health, bot.gone_channels) as mrkdwn: escaped, and the feed's name it
    quotes shows as written: its * ~ pairs made lookalikes as in a reply (`_plain_spans`), so
    "*Breaking* Wire" is not bold nor "troops ~not~ sent" struck; our `code` spans stand."""
    return escape(_plain_spans(text))


def reply_text(text: str) -> str:
    """A command reply in one message (a button's answer): see `reply_chunks`."""
    return reply_chunks(text, 1)[0]


def reply_chunks(text: str, most: int, limit: int = REPLY_MAX) -> list[str]:
    """A command reply (plain text with `code` and "- " lists) as mrkdwn, in at most `most`
    messages of `limit` characters, cut at line ends (see adapters.chunks). A reply longer
    than that ends with a line saying how many lines were left out: it was cut without a
    word, mid-line, at 12,000 characters (89 of 150 feeds)."""
    lines = [("• " + line[2:]) if line.startswith("- ") else line for line in text.split("\n")]
    chunks = split_lines(escape(_plain_spans("\n".join(lines))), limit, cut=_cut)
    if len(chunks) <= most:
        return chunks
    kept, left = chunks[:most], sum(c.count("\n") + 1 for c in chunks[most:])
    last = kept[-1]
    while True:
        note = f"_… {left} more line{'s' if left != 1 else ''} not shown: too long for Slack_"
        if len(last) + 1 + len(note) <= limit:
            break
        last, _, _ = last.rpartition("\n")
        left += 1
    kept[-1] = f"{last}\n{note}" if last else note
    return kept


def _plain_spans(text: str) -> str:
    """A reply's text outside its `code` spans without bold or struck spans: our replies set
    none, so any there is a stored headline's or an outlet's ("*Breaking*", "troops ~not~
    sent"), and Slack would format it; its two marks become lookalikes. A lone mark ("a
    wildcard * may only end a word") and a query's `troop*` in a span show as typed.
    Backticks from outside are quotes already (`bot.text.invisible`)."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = _BOLD_STRIKE.sub(lambda m: _LOOKALIKE[m[1]] + m[2] + _LOOKALIKE[m[1]], parts[i])
    return "`".join(parts)


# A span Slack formats: a mark, text starting and ending with a non-space, the same mark.
_BOLD_STRIKE = re.compile(r"([*~])(\S(?:[^\n]*?\S)?)\1")
_LOOKALIKE = {"~": "∼", "*": "∗"}


def _cut(text: str, limit: int) -> str:
    """The longest prefix within `limit` that does not end inside an entity (`&amp;`)."""
    head = text[:limit]
    start = head.rfind("&")
    if start > 0 and ";" not in head[start:]:
        head = head[:start]
    return head


_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>", re.IGNORECASE)


_SLACK_LABELLED = re.compile(r"<(?:https?|mailto):[^|>]+\|([^>]*)>", re.IGNORECASE)
_WANT_URLS = re.compile(r"^\s*(feeds\s+add|feeds\s+remove|test)\b", re.IGNORECASE)


def command_text(raw: str) -> str:
    """Slash-command text as the user typed it: Slack wraps links and escapes &, <, >.

    Where a URL is wanted (`feeds add`, `feeds remove`, the page `test` reads) a link is its
    URL; elsewhere what the user typed (the link's label): `reuters.com` in a query or a
    search stays `reuters.com`, not the `http://reuters.com` Slack made of it."""
    if _WANT_URLS.match(raw):
        text = _SLACK_LINK.sub(lambda m: m.group(1), raw)
    else:
        text = _SLACK_LINK.sub(lambda m: m.group(1), _SLACK_LABELLED.sub(lambda m: m.group(1), raw))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
