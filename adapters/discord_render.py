"""Alerts as Discord embeds, and feed text made harmless for Discord, within Discord's limits.

Everything from a feed is untrusted: markdown is escaped (no fake bold, no masked phishing
links), mentions are broken with a zero-width space (AllowedMentions.none() is the real
guarantee; this keeps `@everyone` from even looking live), only http(s) URLs become links, and
every text is cut on a grapheme boundary so an emoji ZWJ sequence or a combining accent is
never split. Lengths are counted in UTF-16 code units, which is never less than Discord's
count. This module builds payloads only; it sends nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import discord

from adapters.base import Alert
from adapters.chunks import split_lines
from bot.alerts import brief_why, outlet_count
from bot.feedback import KINDS
from bot.model import Change

try:  # the `regex` module knows every grapheme rule; the fallback below is conservative
    import regex

    _GRAPHEME: regex.Pattern[str] | None = regex.compile(r"\X")
except ImportError:  # pragma: no cover - exercised through `graphemes_fallback` in tests
    _GRAPHEME = None

TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE = 256, 4096, 25, 256, 1024
FOOTER, AUTHOR, TOTAL, CONTENT, THREAD_NAME = 2048, 256, 6000, 2000, 100
SUMMARY = 1500  # a readable alert; Discord would take 4,096
SOURCE_TITLE = 100  # a headline in the sources field: several sources fit in its 1,024
ELLIPSIS = "…"
ZWSP = "\u200b"
COLOUR_NEW, COLOUR_UPDATE = 0xC0392B, 0x7F8C8D
FEEDBACK_PREFIX = "wirewatch:feedback:"  # + "not-relevant:12"

_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>")
# Discord's other <...> markup: a slash command's clickable mention (`</wirewatch feeds
# remove:1>`), a timestamp shown in each reader's zone (`<t:1767225600:R>`, "in 2 days"),
# a link into the server's own pages (`<id:customize>`) and custom emoji (`<:x:1>`). A
# command mention's name holds spaces when it names a subcommand (`</NAME GROUP SUB:ID>`).
_ANGLE_MARKUP = re.compile(r"<(?=/[^<>\n]+:\d+>|t:-?\d+(?::\w)?>|id:\w+>|a?:\w+:\d+>)")
_CODE_SPAN = re.compile(r"(`[^`\n]*`)")
_LIST_MARK = re.compile(r"^\\- ", re.MULTILINE)
_ESCAPED_SPAN = re.compile(r"(?<!\\)`[^`\n]*`")  # a reply's code span, after escaping
# Every character Discord's inline markdown gives a meaning, backslash first: discord.py's
# escape_markdown took "[x](y) ... [label](url)" for one link and escaped nothing between,
# so a feed's text could post a live link labelled "Reuters" to any address. With "[" and
# "]" escaped no masked link can form, so parentheses stay as written.
_MARKDOWN = re.compile(r"[\\*_~`|\[\]]")
# What means something only at a line's start: a quote, a header or subtext, a list.
_LINE_START = re.compile(r"^(\s*)([>#-])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)\.(?=\s)", re.MULTILINE)
# A bare link is left whole (an escaped "_" would cut it short); it stops at the characters
# escaped around it, so no text inside one can open a masked link or a span.
_BARE_LINK = re.compile(r"https?://[^\s<>\[\]\\`|*~]+")
# Not marks by category, yet extending or spacing marks for grapheme purposes.
_EXTEND = "\u200c\u200d\uff9e\uff9f\u0e33\u0eb3"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def units(text: str) -> int:
    """Length as UTF-16 code units: an astral emoji counts 2, so we never exceed a limit."""
    return len(text.encode("utf-16-le")) // 2


def graphemes(text: str) -> Iterator[str]:
    """User-perceived characters: never split a base from its accents or an emoji sequence."""
    if _GRAPHEME is not None:
        return (m.group(0) for m in _GRAPHEME.finditer(text))
    return graphemes_fallback(text)


def _joins_previous(ch: str, prev: str, cluster: str) -> bool:
    """Whether `ch` stays in the cluster that ends with `prev` (conservative: may over-join)."""
    cp, pp = ord(ch), ord(prev)
    if unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in _EXTEND:
        return True
    if prev == "\u200d" or unicodedata.combining(prev) == 9:  # ZWJ; a virama links conjuncts
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # skin tones, flag tags
        return True
    if _regional(cp) and _trailing_regionals(cluster) % 2:
        return True  # the second regional indicator of a flag
    if prev == "\r" and ch == "\n":
        return True
    if 0x0600 <= pp <= 0x0605 or pp in (0x06DD, 0x070F, 0x110BD, 0x110CD):  # prepend marks
        return True
    if _hangul(pp) and _hangul(cp):  # jamo continue a syllable; a leading jamo takes anything
        return not 0xAC00 <= cp <= 0xD7A3 or 0x1100 <= pp <= 0x115F
    return False


def _regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _trailing_regionals(cluster: str) -> int:
    count = 0
    for ch in reversed(cluster):
        if not _regional(ord(ch)):
            break
        count += 1
    return count


def _hangul(cp: int) -> bool:
    return 0x1100 <= cp <= 0x11FF or 0xA960 <= cp <= 0xA97F or 0xAC00 <= cp <= 0xD7FF


def graphemes_fallback(text: str) -> Iterator[str]:
    """Grapheme clusters without the `regex` module; joins at least what Unicode joins."""
    cluster = ""
    for ch in text:
        if cluster and not _joins_previous(ch, cluster[-1], cluster):
            yield cluster
            cluster = ""
        cluster += ch
    if cluster:
        yield cluster


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` units, else its longest whole-grapheme prefix and '…'."""
    if units(text) <= limit:
        return text
    budget, used, kept = limit - units(ELLIPSIS), 0, []
    for g in graphemes(text):
        used += units(g)
        if used > budget:
            break
        kept.append(g)
    while kept and kept[-1].isspace():  # drop whole blank graphemes, never half of one
        kept.pop()
    return "".join(kept) + ELLIPSIS


def unmention(text: str) -> str:
    """Break @everyone, @here, <@id>, <@&role> and <#channel> so none can render live, and
    Discord's other <...> markup (command mentions, timestamps, server links, emoji)."""
    unlinked = _ANGLE_MARKUP.sub(f"<{ZWSP}", text)
    return _MENTION.sub(
        lambda m: f"@{ZWSP}{m.group(1)}" if m.group(1) else f"<{m.group(2)}{ZWSP}{m.group(3)}>",
        unlinked,
    )


def feed_text(text: str) -> str:
    """Untrusted text shown as plain text: markdown escaped, mentions broken, one line breaks."""
    flat = unmention(_CONTROL.sub("", text))
    pieces = _BARE_LINK.split(flat)
    links = _BARE_LINK.findall(flat)
    escaped = [_MARKDOWN.sub(r"\\\g<0>", p) for p in pieces]
    out = escaped[0] + "".join(link + rest for link, rest in zip(links, escaped[1:], strict=True))
    return _NUMBERED.sub(r"\1\\.", _LINE_START.sub(r"\1\\\2", out))


def reply_text(text: str) -> str:
    """A command reply: its `code` spans and '- ' lists render; the rest is escaped like feeds
    (a lone backtick between spans too, so `split_text` never takes it for a span's start)."""
    parts = _CODE_SPAN.split(text)
    joined = "".join(p if i % 2 else feed_text(p) for i, p in enumerate(parts))
    return unmention(_LIST_MARK.sub("- ", joined))


def http_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link Discord will accept, else None."""
    if not url or len(url) > 2048 or re.search(r"[\s\x00-\x1f<>]", url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def masked_link(label: str, url: str | None) -> str:
    """`[label](url)` with the label escaped and the URL unable to close the link early."""
    safe = feed_text(label)
    link = http_url(url)
    return f"[{safe}]({quote(link, safe=':/?#[]@!$&*+,;=%~')})" if link else safe


def split_text(text: str, limit: int = CONTENT) -> list[str]:
    """Message-sized chunks, cut at line ends when possible and never inside a grapheme; a
    `code` span cut in two is closed and reopened, so each chunk renders on its own."""
    return split_lines(text, limit, cut=_cut, size=units, spans=_ESCAPED_SPAN)


def _cut(text: str, limit: int) -> str:
    """The longest whole-grapheme prefix of `text` within `limit` units (never empty)."""
    return clip(text, limit)[:-1] or _hard_cut(text, limit)


def _hard_cut(text: str, limit: int) -> str:
    """The longest prefix within `limit` units, for a single grapheme larger than a message."""
    out = text[:limit]
    while units(out) > limit:
        out = out[:-1]
    return out


def sources_field(alert: Alert, limit: int = FIELD_VALUE) -> str:
    """One line per report so far, its outlet linked and its headline (what each reported,
    as Slack and the console list them), as many as fit, then how many more."""
    lines = [f"- {masked_link(s.outlet, s.url)}{_headline(s.title)}" for s in alert.sources]
    kept: list[str] = []
    for i, line in enumerate(lines):
        rest = f"\n… and {len(lines) - i} more" if i < len(lines) - 1 else ""
        if units("\n".join([*kept, line]) + rest) > limit:
            return "\n".join(kept) + f"\n… and {len(lines) - i} more"
        kept.append(line)
    return "\n".join(kept) or "-"


def _headline(title: str) -> str:
    """ ": headline" for a source's line, one line and short; nothing for a blank one."""
    flat = " ".join(title.split())
    return f": {feed_text(clip(flat, SOURCE_TITLE))}" if flat else ""


def _fields(alert: Alert) -> list[tuple[str, str, bool]]:
    """In Slack's order: who carries the story (the corroboration mark) under the outlet,
    then why it fired, the entities, and the sources once there are two: a lone source is
    the embed's own author and title again."""
    why = brief_why(alert.explanation, alert.matched)  # the model's features: `/wirewatch test`
    fields = [
        ("Topic", clip(", ".join(f"`{t}`" for t in alert.topics or (alert.topic,)), 200), True),
        ("Outlet", clip(feed_text(alert.outlet), FIELD_VALUE), True),
    ]
    if outlets := outlets_field(alert):
        fields.append(outlets)
    if why:
        fields.append(("Why it fired", clip(feed_text(why), FIELD_VALUE), False))
    if alert.entities:
        fields.append(("Entities", clip(feed_text(", ".join(alert.entities)), FIELD_VALUE), False))
    if len(alert.sources) > 1:
        fields.append((f"Sources ({len(alert.sources)})", sources_field(alert), False))
    return [f for f in fields if f[1].strip()][:FIELDS]  # Discord refuses empty values


def outlets_field(alert: Alert) -> tuple[str, str, bool] | None:
    """How many independent outlets carry the story (and reports, when more), and which, as
    Slack and the console say it ("1 outlet: CBC", "2 outlets (3 reports): ..."): the count
    names the field, the outlets are its value; marked once corroborated. (A find after a
    restart reads the footer's ref, never this field: its name may change.)"""
    c = alert.corroboration
    if c is None or not c.outlets:
        return None
    count = outlet_count(alert)
    name = f"✅ Corroborated · {count}" if c.corroborated else count
    return (name, clip(feed_text(", ".join(c.outlets)), FIELD_VALUE), False)


def alert_embed(alert: Alert, *, as_update: bool = False, ref: bool = True) -> discord.Embed:
    """The story's embed; `as_update` for a later outlet in the thread; `ref` marks the
    message's delivery id in the footer (`ref 12`), so a restart can find what it already
    posted and an editor can name the alert to `/wirewatch feedback`."""
    title = clip(feed_text(alert.title) or "(untitled)", TITLE)
    embed = discord.Embed(
        title=title,
        url=http_url(alert.url),
        timestamp=alert.published,
        colour=COLOUR_UPDATE if as_update else COLOUR_NEW,
    )
    outlet = unmention(" ".join(alert.outlet.split())) or "(unnamed outlet)"
    embed.set_author(name=clip(f"{outlet} · also reporting" if as_update else outlet, AUTHOR))
    outlets = outlets_field(alert)
    shown = ("Why it fired", outlets[0] if outlets else None)
    fields = [f for f in _fields(alert) if not as_update or f[0] in shown]
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)
    footer = "wirewatch"  # no story id: every stored item starts a story, so they say nothing
    embed.set_footer(text=f"{footer} · {ref_marker(alert.feedback_id)}" if ref else footer)
    fixed = embed_size(embed)
    embed.description = clip(feed_text(alert.summary), max(0, min(SUMMARY, TOTAL - fixed)))
    return embed


_SPANS = {"deleted": "~~{}~~", "inserted": "**{}**", "same": "{}", "gap": "{}"}


def diff_markdown(parts: tuple[Change, ...], limit: int) -> str:
    """A word diff as Discord markdown: deleted words struck, inserted bold, the words
    themselves escaped; whole parts only within `limit`, so a cut never leaves a span open."""
    out = ""
    for part in parts:
        piece = _SPANS[part.op].format(feed_text(" ".join(part.text.split())))
        if units(out) + units(piece) + 2 > limit:
            return out + " " + ELLIPSIS
        out = f"{out} {piece}" if out else piece
    return out


def edit_embed(alert: Alert) -> discord.Embed:
    """An outlet changed an item of the story: its word diff, and what that changes for the
    channel's topics; the footer carries the delivery id like any alert."""
    edit = alert.edit
    assert edit is not None
    embed = discord.Embed(
        title=clip(feed_text(alert.title) or "(untitled)", TITLE),
        url=http_url(alert.url),
        timestamp=alert.published,
        colour=COLOUR_UPDATE,
    )
    outlet = unmention(" ".join(alert.outlet.split())) or "(unnamed outlet)"
    embed.set_author(name=clip(f"{outlet} · edited", AUTHOR))
    if edit.notes:
        embed.add_field(name="Topics", value=clip(feed_text("; ".join(edit.notes)), FIELD_VALUE))
    embed.set_footer(text=f"wirewatch · {ref_marker(alert.delivery_id)}")
    budget = max(0, min(DESCRIPTION, TOTAL - embed_size(embed)) - 40)
    lines = [(name, parts) for name, parts in (("Title", edit.title), ("Summary", edit.summary))]
    shown = [(n, p) for n, p in lines if p]
    each = budget // max(1, len(shown))
    embed.description = "\n".join(f"**{n}:** {diff_markdown(p, each)}" for n, p in shown)
    return embed


def digest_embed(text: str, key: int) -> discord.Embed:
    """A digest (bot.digest): its first line the title, its story lines the description; the
    footer carries its key as an alert's carries its delivery id, for `find_posted`."""
    first, _, rest = text.partition("\n")
    embed = discord.Embed(title=clip(feed_text(first), TITLE), colour=COLOUR_UPDATE)
    embed.set_footer(text=f"wirewatch digest · {ref_marker(key)}")
    budget = max(0, min(DESCRIPTION, TOTAL - embed_size(embed)))
    embed.description = clip(feed_text(rest), budget) if rest else None
    return embed


def ref_marker(delivery_id: int) -> str:
    return f"ref {delivery_id}"


def feedback_view(alert: Alert) -> discord.ui.View:
    """The "Not relevant" and "Wrong story" buttons; a click comes back as a component
    interaction whose custom_id names the kind and the delivery to label.

    The view is only a carrier of components: it is stopped before sending, so discord.py
    keeps nothing in memory per alert, and clicks are read in `on_interaction` instead.
    """
    view = discord.ui.View(timeout=None)
    for kind, label in KINDS.items():
        custom_id = f"{FEEDBACK_PREFIX}{kind}:{alert.feedback_id}"
        view.add_item(discord.ui.Button(label=label, custom_id=custom_id))
    view.stop()
    return view


def feedback_command(custom_id: str) -> str | None:
    """A feedback button's custom_id as the shared command (`feedback KIND ALERT`), or
    None when it is not one of ours."""
    kind, _, alert = custom_id.removeprefix(FEEDBACK_PREFIX).partition(":")
    if not custom_id.startswith(FEEDBACK_PREFIX) or kind not in KINDS:
        return None
    return f"feedback {kind} {alert}"


def embed_size(embed: discord.Embed) -> int:
    """What Discord counts toward the 6,000 total (in UTF-16 units, to be safe)."""
    parts = [
        embed.title or "",
        embed.description or "",
        embed.footer.text or "",
        embed.author.name or "",
    ]
    parts += [f"{f.name}{f.value}" for f in embed.fields]
    return sum(units(p) for p in parts)


def thread_name(alert: Alert) -> str:
    """Threads are named after the story; names show no markdown, so only length matters."""
    plain = re.sub(r"\s+", " ", alert.title).strip() or "(untitled)"  # as its embed says
    return clip(unmention(plain), THREAD_NAME)
