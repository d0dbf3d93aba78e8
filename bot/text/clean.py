"""HTML to plain text: feed snippets (`html_to_text`) and a page's main article (`extract_article`).

Also the boilerplate filter both use (`drop_boilerplate`): paywall, donation and newsletter
boxes, "Related Stories"/"Read more" links, app promos and photo captions or credits.

Deliberately does not fetch, execute scripts, follow links or resolve external entities; the
caller hands in bytes it already has. Input and output are capped, and hostile markup (broken,
deeply nested, NUL bytes, control characters) degrades to a linear fallback, never to an error.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from collections.abc import Iterable

from lxml import etree

from bot.text.invisible import INVISIBLE as _CONTROL

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 5_000_000
MAX_ARTICLE_CHARS = 100_000
MAX_PAGE_ELEMENTS = 20_000  # about 2 s of trafilatura; news pages have a few thousand

# Content of these never reaches a reader.
_SKIP_TAGS = frozenset(
    "script style iframe noscript template object embed svg math head select button".split()  # noqa: SIM905
)
_BLOCK_TAGS = frozenset(
    """p div br li ul ol dl dt dd h1 h2 h3 h4 h5 h6 tr table thead tbody tfoot blockquote pre
    section article header footer nav aside figure figcaption hr main address form fieldset
    details summary caption center""".split()  # noqa: SIM905
)
_HAS_MARKUP = re.compile(r"<[a-zA-Z/!?]")
_FALLBACK_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*>?")
# Entities that lost their "&" on some pipeline's way ("Iraq #39;s", "quot;No troops,quot;"),
# as in AG News and other scraped wire copy. Read as words, "#39;s" adds a number ("39") that
# unrelated stories then share: with validation's apostrophes and quotes written so, pairwise
# grouping precision fell 0.894 -> 0.865. Only punctuation and spaces (a literal "#100;" stays);
# the space such copy puts before an apostrophe goes with it ("Iraq #39;s" -> "Iraq's").
_BARE_ENTITY = re.compile(
    r"(?<![&#\w])(#(?:3[4-9]|160|82(?:1[1-9]|2[0-2]|30))|quot|amp|apos|nbsp);"
)
_SPACED_APOSTROPHE = re.compile(r"(?<=\w) #(?:39|8217);(?=(?:s|t|re|ll|ve|d|m)\b)")


def html_to_text(html: str) -> str:
    """Readable text from an HTML snippet or page: paragraphs on their own lines, no markup."""
    if not html:
        return ""
    html = _CONTROL.sub("", html[:MAX_INPUT_CHARS].replace("\r\n", "\n").replace("\r", "\n"))
    html = _BARE_ENTITY.sub(r"&\1;", _SPACED_APOSTROPHE.sub("'", html))
    if not _HAS_MARKUP.search(html):
        return _tidy(htmllib.unescape(html), keep_lines=True)
    pieces = _lxml_pieces(html)
    if pieces is None:
        pieces = _fallback_pieces(html)
    return _tidy("".join(pieces), keep_lines=False)


def _lxml_pieces(html: str) -> list[str] | None:
    """Text pieces via lxml, or None when libxml2 gave up (e.g. nesting past its depth limit)."""
    parser = etree.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, recover=True, encoding="utf-8"
    )
    try:
        root = etree.fromstring(html.encode("utf-8"), parser)
    except (etree.LxmlError, ValueError) as exc:
        log.debug("html_parse_failed error=%r", exc)
        return None
    if any(e.level_name == "FATAL" for e in parser.error_log):
        log.debug("html_parse_fatal fallback=linear")
        return None
    return [] if root is None else _walk(root)


def _walk(root: etree._Element) -> list[str]:
    """Text and tails in document order, skipping hidden subtrees; iterative, so depth is safe."""
    pieces: list[str] = []
    skipping = 0
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _SKIP_TAGS:
                skipping += 1
            elif not skipping:
                pieces.append("\n" if tag in _BLOCK_TAGS else "")
                pieces.append(_spaces(el.text))
            continue
        if tag in _SKIP_TAGS:
            skipping -= 1
        if not skipping:
            pieces.append("\n" if tag in _BLOCK_TAGS else "")
            pieces.append(_spaces(el.tail))
    return pieces


def _fallback_pieces(html: str) -> list[str]:
    """A linear tag stripper for markup lxml refuses; never builds a tree, never backtracks."""
    lower = html.lower()
    pieces: list[str] = []
    pos, end = 0, len(html)
    while pos < end:
        lt = html.find("<", pos)
        if lt < 0:
            lt = end
        pieces.append(_spaces(htmllib.unescape(html[pos:lt])))
        if lt == end:
            break
        pos = _skip_markup(html, lower, lt, pieces)
    return pieces


def _skip_markup(html: str, lower: str, lt: int, pieces: list[str]) -> int:
    """Consume the markup starting at `lt`; return where text resumes."""
    if html.startswith("<!--", lt):
        close = html.find("-->", lt + 4)
        return len(html) if close < 0 else close + 3
    m = _FALLBACK_TAG.match(html, lt)
    if m is None:
        if html.startswith(("<!", "<?"), lt):
            close = html.find(">", lt)
            return len(html) if close < 0 else close + 1
        pieces.append("<")
        return lt + 1
    name = m.group(2).lower()
    if name in _BLOCK_TAGS:
        pieces.append("\n")
    if name in _SKIP_TAGS and not m.group(1):
        close = lower.find("</" + name, m.end())
        return len(html) if close < 0 else close
    return m.end()


def _spaces(text: str | None) -> str:
    """Inside markup a newline is just a space; only block elements break lines."""
    if not text:
        return ""
    return text.replace("\n", " ").replace("\t", " ")


def _tidy(text: str, *, keep_lines: bool) -> str:
    """Collapse spaces, drop empty lines; `keep_lines` keeps plain-text line breaks."""
    text = _CONTROL.sub("", text)  # again: entities ("&shy;", "&#8203;") are decoded by now
    if not keep_lines:
        text = text.replace("\xa0", " ")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def extract_article(html: bytes | str, url: str | None = None) -> str | None:
    """The article's main text from a whole page, boilerplate removed; None if there is none."""
    if not html:
        return None
    if len(html) > MAX_INPUT_CHARS:
        log.info("article_truncated url=%s size=%d", url, len(html))
        html = html[:MAX_INPUT_CHARS]
    if isinstance(html, str):
        html = _CONTROL.sub("", html)
    text = _trafilatura_text(html, url)
    if not text:
        return None
    paragraphs = drop_boilerplate(text.split("\n"))
    if not any(_is_sentence(p) for p in paragraphs):
        return None  # only labels and headings left: no article on this page
    return "\n".join(paragraphs)[:MAX_ARTICLE_CHARS].strip()


# Each looked for once, from where the last ended: one `(.*?)</title>` pattern rescanned the
# page from each `<title` (hours for 5 MB of unclosed ones, on the event loop).
_TITLE_OPEN = re.compile(r"<title[^<>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title>", re.IGNORECASE)
# A whole web page, as saved from a browser (an XHTML one after its XML declaration): not
# text with a tag or two in it. A comment ends at its first `-->`: `<!--.*?-->` could also
# end at any later one, 2^n ways to fail.
_PAGE = re.compile(
    r"\ufeff?\s*(?:<\?xml[^<>]*>\s*)?(?:<!--(?:(?!-->).)*-->\s*)*"
    r"<(?:!doctype\s+html|html[\s>])",
    re.I | re.S,
)


def is_page(text: str) -> bool:
    """Whether `text` is a whole HTML page (`<!DOCTYPE html>` or `<html>` first, after an
    XML declaration and comments)."""
    return _PAGE.match(text[:10_000]) is not None


def page_title(html: str) -> str:
    """A page's `<title>`, on one line ("" without one): the headline a page is read by."""
    opened = _TITLE_OPEN.search(html)
    closed = _TITLE_CLOSE.search(html, opened.end()) if opened else None
    if opened is None or closed is None:
        return ""
    return " ".join(htmllib.unescape(html[opened.end() : closed.start()]).split())


def page_text(html: str, url: str | None = None) -> str:
    """A page as `test` reads it: its title on the first line, then the article's main text
    (the page's whole text when no article is found). Markup read as words would make
    "<!DOCTYPE html>" the headline and the relevance model say no to any page."""
    body = extract_article(html, url) or html_to_text(html)
    head = page_title(html)
    return f"{head}\n{body}" if head else body


def _is_sentence(paragraph: str) -> bool:
    return len(paragraph.split()) >= 5 and _SENTENCE_END.search(paragraph) is not None


def _trafilatura_text(html: bytes | str, url: str | None) -> str | None:
    # Imported here: trafilatura costs ~0.1 s and ~7 MB of RSS, and only this function needs it.
    import trafilatura

    source = _within_size(html, url)
    if source is None:
        return None
    try:
        text = trafilatura.extract(
            source,
            url=url,
            include_comments=False,
            include_tables=False,
            include_images=False,
            fast=True,
            deduplicate=False,
            output_format="txt",
        )
    except Exception as exc:  # trafilatura raises assorted errors on hostile pages
        log.warning("article_extract_failed url=%s error=%r", url, exc)
        return None
    return _CONTROL.sub("", text) if text else None


def _within_size(html: bytes | str, url: str | None) -> bytes | str | None:
    """The page, or only its <article>/<main> when the whole has too many elements.

    trafilatura's time grows faster than the element count (50k elements take ~15 s), so a
    bloated page is cut to its main element or refused.
    """
    parser = etree.HTMLParser(no_network=True, recover=True, remove_comments=True)
    try:
        root = etree.fromstring(html.encode("utf-8") if isinstance(html, str) else html, parser)
    except (etree.LxmlError, ValueError):
        return html  # let trafilatura's own decoding have a go
    if root is None or sum(1 for _ in root.iter()) <= MAX_PAGE_ELEMENTS:
        return html
    for main in root.iter("article", "main"):
        if sum(1 for _ in main.iter()) <= MAX_PAGE_ELEMENTS:
            log.info("article_page_cut url=%s to=%s", url, main.tag)
            inner = etree.tostring(main, encoding="unicode", method="html")
            return f"<html><body>{inner}</body></html>"
    log.warning("article_page_too_big url=%s", url)
    return None


# --- boilerplate -------------------------------------------------------------------------


def _any_of(*alternatives: str, whole: bool = False) -> re.Pattern[str]:
    """One case-insensitive pattern from readable alternatives (spaces in them are literal)."""
    body = "|".join(f"(?:{a})" for a in alternatives)
    return re.compile(f"^(?:{body})[.!:]?$" if whole else body, re.IGNORECASE)


_ALWAYS = _any_of(
    r"\bdear (readers?|subscribers?)\b",
    r"\bremind me later\b",
    r"\bnot ready to (support|give)\b",
    r"\balready (a|an) (member|subscriber)\b",
    r"\bsign (up|in) (here|now|to (read|continue))\b",
    r"\b(100|hundreds)['’]?s? of (premium )?(titles|sites|sources)\b",
    r"\b\d+\+? (trusted|premium) (global )?(titles|sites|sources|publications)\b",
    r"\ball your news in one place\b",
    r"\b(download|get) (the|our) app\b",
    r"^one app\b",
    r"\bcurated (specifically )?for you\b",
    r"\bsubscribers agree\b",
    r"\bby (signing up|subscribing)\b",
    r"\bin your (in|mail)box\b",
    r"\bnewsletters?\b",
    r"\bsubscribe (now|today|to (our|the))\b",
    r"\bfree trial\b",
    r"\bunlimited access\b",
    r"\bpa(y|i)ments? methods?\b",
    r"\bsupport (us|our (work|journalism|newsroom)|independent journalism)\b",
    r"\b(make|making) a (one-time |monthly |annual )?(donation|contribution|gift)\b",
    r"\bevery contribution\b",
    r"\bdonate (now|today|here)\b",
    r"\bjavascript\b.*\b(enable|disabled)\b",
)
# Whole-paragraph labels of navigation and promo boxes.
_LABEL = _any_of(
    r"related( stories| articles| coverage| content| news| posts| topics)?",
    r"read more.*",
    r"more (stories|from|on this|news).*",
    r"top stories.*",
    r"(our|editor['’]?s) picks",
    r"most (read|popular|viewed|shared)",
    r"recommended( for you)?",
    r"you (may|might) also like.*",
    r"advertisement|sponsored( content)?",
    r"share( this( article| story)?| on \w+)?",
    r"follow us.*",
    r"trending( now)?|latest( news)?",
    r"see also.*|continue reading.*|tags?:.*|comments?",
    r"support (the|us|our) .{0,40}",
    r"a message from .{0,60}",
    r"start reading|sign (up|in).*",
    whole=True,
)
# Paragraphs after which only the outlet's own matter follows (donation boxes and the like).
_TAIL = _any_of(
    r"dear (readers?|subscribers?),?",
    r"a message from .{0,60}",
    r"before you go",
    r"help us .{0,60}",
    whole=True,
)
_CAPTION_END = re.compile(
    "(?:"
    + "|".join(
        (
            r"\[[^\[\]/]{2,60}/[^\[\]]{1,40}\]",
            r"\(?\bCC[ -]BY(-[A-Z]{2})*( \d\.\d)?\)?",
            r"\((photo|image|picture|file photo|photograph)[^()]{0,80}\)",
            r"\b(photo|photograph|image|picture|credit|source)s?: [^.]{2,80}",
            r"\b(getty images|shutterstock|afp|ap|reuters|epa|efe|anadolu|xinhua|tass|sipa)"
            r"( ?photo)?(/[\w .'’-]{2,40})?",
        )
    )
    + r")\s*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def is_caption(paragraph: str) -> bool:
    """A photo caption or credit line: short, and ends with a credit instead of a full stop."""
    words = len(paragraph.split())
    return words <= 60 and _CAPTION_END.search(paragraph) is not None


def is_boilerplate(paragraph: str) -> bool:
    """Paywall, donation, newsletter, promo or navigation text rather than reporting."""
    p = paragraph.strip()
    if not p:
        return True
    words = len(p.split())
    if words <= 12 and _LABEL.match(p):
        return True
    if words < 4 and not _SENTENCE_END.search(p):
        return True  # UI labels: "Once", "Monthly", "Continue", "World"
    return words <= 80 and _ALWAYS.search(p) is not None


def drop_boilerplate(paragraphs: Iterable[str]) -> list[str]:
    """Reporting paragraphs only; stops at an end-of-article box such as "Dear readers,"."""
    kept: list[str] = []
    for raw in paragraphs:
        p = " ".join(raw.split())
        if kept and len(p.split()) <= 10 and _TAIL.match(p):
            break
        if p and not is_boilerplate(p) and not is_caption(p):
            kept.append(p)
    return kept
