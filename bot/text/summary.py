"""An alert's summary: up to three sentences picked from the item's own text, key fact first.

Extractive and pure: sentences are scored by overlap with the title, numbers and attribution
("said", "according to", "told AFP") and position, the lead preferred; the chosen ones keep
their original order. Wire bylines ("AP - "), captions and boilerplate never make it in.

Photo captions are left out here and not in `bot.text.clean`, which also shapes the text
relevance reads: a caption describes the scene of a photo the alert does not show ("Soldiers
board a plane at Ramstein. (Reuters/John Smith)"), so an item whose text is only a caption is
alerted with its headline alone. A text's unfinished last sentence (cut by the feed parser's
cap, or by the outlet: "The minister said that…") is left out too.

Blog and CMS furniture is left out here for the same reason (the matcher reads the feed's
text as stored): WordPress's "The post … appeared first on …" footer, "… Continue reading",
"Related posts:" lists, "click here" links; and entities a feed escaped twice ("&nbsp;")
are shown as the characters they stand for.

Deliberately does not paraphrase, translate, or call any model or service.
"""

from __future__ import annotations

import html
import re

from bot.text.clean import drop_boilerplate, is_boilerplate, is_caption
from bot.text.clip import clip
from bot.text.invisible import strip_invisible
from bot.text.wire import strip_byline

MAX_INPUT_CHARS = 30_000  # the key facts are in the lead; the rest of a long article is context

# Any capitalised tag in brackets at a title's end ("(Reuters)", "(Canadian Press)", "(Xinhua)"):
# broader than `wire.headline`'s known agencies, as the summary only weighs the title's words.
_TITLE_OUTLET = re.compile(r"\s*\([A-Z][\w ]{0,30}\)\s*$")

# Words that end in a full stop without ending a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof gen lt col maj sgt capt cmdr adm gov sen rep rev st sr jr pres
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    no nos vs v inc corp co ltd bros dept est fig approx ave blvd mt ft
    ala ariz ark calif colo conn del fla ga ill ind kan ky la md mass mich minn miss mo mont
    neb nev okla ore pa tenn tex va vt wash wis wyo""".split()  # noqa: SIM905
)
# After a dotted acronym ("U.S.") a sentence only ends if one of these opens the next one.
_SENTENCE_OPENERS = frozenset(
    """the a an in on at but and he she it they we i this that these those its his her their
    there however meanwhile officials police after before when while""".split()  # noqa: SIM905
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_ATTRIBUTION = re.compile(
    r"\b(said|says|told|according to|reported|announced|confirmed|quoted|stated|estimated)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(dozens|hundreds|thousands|millions|two|three|four|five|six|seven|eight|nine|ten"
    r"|eleven|twelve|twenty|fifty|hundred|thousand|million|billion)\b",
    re.IGNORECASE,
)
_NEEDS_CONTEXT = re.compile(
    r"^(he|she|it|they|this|that|these|those|but|however|also|and|still|yet)\b", re.I
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+|\d[\d,.]*")
# A photo credit in brackets: "(John Smith/Reuters)", "(AP Photo/Jane Doe)", "(AFP via Getty
# Images)", "(Corporal Jo Bloggs, Canadian Armed Forces Photo)": a slash, "via" or "photo" and
# a credit's word; "(Postgres/Haskell/Elm)" and "(Sept/March)" have none, and a wire story's
# "(Reporting by …/Editing by …)" credits the text, not a photo.
_CREDIT_WORDS = (
    r"photo|photograph|image|images|picture|pics?|getty|reuters|afp|ap|epa|efe|xinhua|yonhap"
    r"|kyodo|tass|anadolu|sipa|dpa|ansa|pa|cp|press|media|handout|pool|courtesy|screenshot"
    r"|str|staff|file|times|news|agency|shutterstock|alamy|bloomberg"
)
_CREDIT = re.compile(
    r"\((?!\s*(?:reporting|writing|editing|additional|compiled)\b)"
    r"(?=[^()]*(?:/|\bvia\b|\bphoto|\bscreenshot|\bcourtesy))"
    rf"(?=[^()]*\b(?:{_CREDIT_WORDS})\b)[^()]{{2,120}}\)"
    # "Photo: Yonhap", "Photo by Jane Doe/AFP", "Photo credit: ..." ending the paragraph
    r"|\b(?:photo|photograph|image|picture)s?(?: credit)?(?::| by) [^()]{2,80}$"
    r"|\bcredit: [^()]{2,80}$"
    # Reuters' and the agencies' caption credit: "REUTERS/John Smith/File Photo"
    r"|(?-i:\b(?:REUTERS|AFP|AP|EPA|XINHUA|YONHAP|KYODO|TASS|ANADOLU|SIPA|EFE|DPA)"
    r"(?: PHOTO)?/[^()]{2,80})$",
    re.IGNORECASE,
)
# A sentence that describes a photo: "FILE PHOTO: ...", AP's "FILE - ...", "... in a file photo."
_CAPTION_SENTENCE = re.compile(
    r"^(?-i:FILE(?: PHOTO| PICTURE| IMAGE)?|PHOTO|IMAGE|PICTURE)\s*[:\-–—]\s"
    r"|^file (?:photo|picture|image)\b"
    r"|\bin (?:a|an|this) (?:(?:undated|aerial|file|handout|still) )+"
    r"(?:photo|photograph|image|picture)\b"
    r"|\bin this (?:photo|photograph|image|picture)\b"
    r"|^(?:(?:this|a|an) )?(?:video )?(?:frame|screen|video) ?grab\b",
    re.IGNORECASE,
)
# A link's own words, not the story's: "Click here for the other sessions.", "To subscribe,
# click here or fill out the box below."
_LINK_TEXT = re.compile(r"\b(?:click|tap) here\b", re.IGNORECASE)
# A photo reference inside a story's sentence: "Putin (pictured) said", "the ships (stock image)".
_PHOTO_REFERENCE = re.compile(
    r"\s*\((?:pictured|(?:file|stock|library|archive) (?:image|photo|picture|pic)s?)\b"
    r"[^()]{0,40}\)",
    re.IGNORECASE,
)
# A wiki image ("[[Image:Gilad Shalit.jpeg|thumb|Photo of Cpl. Gilad Shalit.") up to its "]]".
_WIKI_IMAGE = re.compile(r"^\[\[(?:image|file):[^\]]*(?:\]\]|$)", re.IGNORECASE)
# The Guardian's link at a text's end, "Continue reading...", and WordPress's after an
# excerpt's ellipsis, "… Continue reading TITLE": not a sentence of the story. Left in, the
# latter hid the excerpt's broken-off sentence ("magnets to the bottom a …") from `_unfinished`.
_READ_ON = re.compile(
    r"\s*(?:Continue reading|Read more)(?:\.\.\.|…)$"
    r"|(?:(?<=…)|(?<=\.\.\.)|(?<=\]))\s*(?:Continue reading|Read more|Keep reading)\b.{0,300}$"
)
# WordPress's feed footer, a paragraph of its own: "The post TITLE appeared first on SITE."
# Left in, it was the whole summary of an item whose excerpt has no full stop.
_WP_FOOTER = re.compile(r"^The post .{1,400} appeared first on .{1,200}$")
# The heading of a list of links to other posts, WordPress's "Related posts:" (its plugins
# put one after every excerpt): the headlines under it are not this story's, and one of them
# after a cut excerpt hid its broken-off sentence ("images built upon […]") from `_unfinished`.
_LINK_LIST = re.compile(
    r"^(?:related|see also|read (?:more|also)|also read|more (?:from|on|stories)"
    r"|you (?:may|might) also like)\b[^.!?:]{0,40}:$",
    re.IGNORECASE,
)
# Entity references a feed escaped twice, left in its decoded text: Blogger's plain-text
# summaries read "author of&nbsp;The Forgotten Sense", "Smell &amp; Tell". Not "&lt;", "&gt;"
# or an "&amp;" before a name: decoded once already, those are what a writer typed (an HTML
# lesson's "&lt;p&gt;"); an "&amp;" between words is an "and".
_LEFTOVER_ENTITY = re.compile(
    r"&(?!(?:lt|gt|amp);)[a-zA-Z][a-zA-Z0-9]{1,7};|&#(?:\d{1,7}|[xX][0-9a-fA-F]{1,6});|&amp;(?=\s)"
)
_CAPTION_WORDS = 60  # a caption's length at most, as bot.text.clean.is_caption has it
_ELLIPSIS_END = re.compile(r"\s*\[?(?:…|\.\.\.)\]?[\"'”’)\]]*$")
_STOP = frozenset(
    """the a an and or of to in on at for from by with as is are was were be been has have had
    that this it its their his her they he she we which who will would could should may might
    not but after before over into than then about said says new more""".split()  # noqa: SIM905
)


def summarize(title: str, text: str, *, max_sentences: int = 3, max_chars: int = 500) -> str:
    """Up to `max_sentences` of the text's own sentences, the key fact first, within max_chars.

    The text's last sentence when it ends in "…" or "..." is unfinished, whether the feed
    parser's 2,000-character cap cut it ("…82nd Airborne Div…") or the outlet did ("The
    minister said that…"): a reader sees the same broken-off sentence. It is left out when
    there are other sentences; else it is cut back to its last whole word when the "…"
    touches a word (the parser's cut does, and may have halved that word), and kept as the
    outlet wrote it when three dots or a space show the word before them is whole.
    """
    text = decode_leftover_entities(text[:MAX_INPUT_CHARS])
    sentences = _story_sentences(clean_body(text)) or _story_sentences(clean_body(_unboxed(text)))
    title_words = _content_words(strip_outlet(title))
    # Headlines repeated in the body and subheads are a last resort, never a first choice.
    reporting = [
        s for s in sentences if not _is_heading(s) and not _is_title_copy(s, title_words)
    ] or sentences
    reporting = list(dict.fromkeys(reporting))  # pull quotes and scrapes repeat sentences
    if sentences and sentences[-1] in reporting and (end := _unfinished(sentences[-1])):
        if len(reporting) > 1:
            reporting.remove(sentences[-1])
        else:
            reporting = [_cut_back(sentences[-1], end)]
    if len(reporting) <= 1:
        return clip(reporting[0], max_chars) if reporting else ""
    chosen = _choose(title_words, reporting, max_sentences, max_chars)
    return " ".join(reporting[i] for i in sorted(chosen))


def _unfinished(sentence: str) -> re.Match[str] | None:
    """Its closing ellipsis when the sentence trails off ("said that…"), not after a full stop."""
    m = _ELLIPSIS_END.search(sentence)
    return m if m and m.start() > 0 and sentence[m.start() - 1] not in ".!?" else None


def _cut_back(sentence: str, end: re.Match[str]) -> str:
    """An unfinished sentence without the word the ellipsis may have cut ("Airborne Div…")."""
    body = sentence[: end.start()]
    if end.group()[0] == "…" and " " in body:  # touching the word, as the feed parser cuts
        return clip(body, len(body) - 1)
    return sentence  # "over again..." or "a less ...": the outlet stopped after a whole word


def decode_leftover_entities(text: str) -> str:
    """`text` with the entities a feed escaped twice read as what they stand for (a no-break
    space as a space): "&nbsp;" is never what a reader should see."""
    if "&" not in text:
        return text
    return "\n".join(
        " ".join(line.split()) for line in _LEFTOVER_ENTITY.sub(_entity, text).split("\n")
    )


def _entity(m: re.Match[str]) -> str:
    char = html.unescape(m.group())
    if char in ("<", ">", "&") and m.group() != "&amp;":
        return m.group()  # "&#60;": as "&lt;", what was typed
    if char == "\ufffd":
        return ""  # "&#0;", a surrogate: no character a writer meant
    return strip_invisible(char.replace("\xa0", " "))


def _unboxed(text: str) -> str:
    """`text` with each boilerplate paragraph's sentences on lines of their own, to be judged
    one by one: a paragraph is boilerplate for one promo sentence in it ("…host my
    newsletter"), and an item whose text is that paragraph was alerted with no summary.
    Captions stay whole: their credit is what shows them to be captions."""
    return "\n".join(
        "\n".join(split_sentences(p)) if is_boilerplate(p) and not is_caption(p) else p
        for p in text.split("\n")
    )


def clean_body(text: str) -> str:
    """The plain text without byline, captions or boilerplate paragraphs.

    Plain text only (a feed's cleaned summary, an extracted article): decoding markup again
    would read "A<B and C>D" as a tag and "&lt;" as "<".
    """
    lines = [p.strip() for p in text.split("\n")]
    ends = next((i for i, p in enumerate(lines) if _LINK_LIST.match(p)), len(lines))
    paragraphs = drop_boilerplate(strip_byline(p) for p in lines[:ends] if not _WP_FOOTER.match(p))
    return "\n".join(paragraphs)


def _story_sentences(text: str) -> list[str]:
    """The text's sentences without photo captions, credits, photo references or read-on links.

    A credit closes its caption: the sentences before it back to the paragraph's start or
    the previous credit are the caption when they are a caption's length, else the last one.
    """
    sentences: list[str] = []
    for raw in text.split("\n"):
        paragraph = _WIKI_IMAGE.sub("", _PHOTO_REFERENCE.sub("", _READ_ON.sub("", raw))).strip()
        start = 0
        for m in _CREDIT.finditer(paragraph):
            before = paragraph[start : m.start()].strip()
            closes = m.group().startswith("(") and not paragraph[m.end() :].strip()
            if before and not _SENTENCE_END.search(before) and not closes:
                continue  # inside a sentence ("the photo: a welcome"): not a credit
            caption = split_sentences(before)
            if len(before.split()) > _CAPTION_WORDS:
                sentences.extend(caption[:-1])
            start = m.end()
        sentences.extend(split_sentences(paragraph[start:]))
    return [s for s in sentences if not _CAPTION_SENTENCE.search(s) and not _LINK_TEXT.search(s)]


def strip_outlet(title: str) -> str:
    """A wire title without its trailing "(Reuters)"/"(AP)" tag."""
    return _TITLE_OUTLET.sub("", " ".join(title.split()))


def split_sentences(text: str) -> list[str]:
    """Sentences of a text; knows abbreviations ("Gen.", "Jan."), initials and "U.S."."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        start = 0
        for m in _BOUNDARY.finditer(paragraph):
            if _is_boundary(paragraph, m) and not _inside_quote(paragraph, start, m):
                sentences.append(paragraph[start : m.end()].strip())
                start = m.end()
        sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _inside_quote(paragraph: str, start: int, m: re.Match[str]) -> bool:
    """True when the full stop falls inside a quotation that closes before the next one:
    '“I’ll be involved, indirectly. And they’ll be very important,” Trump told reporters.'
    is one sentence; split, an alert showed a quote opened and never closed. A quotation
    that runs on for sentences (or into the next paragraph) is split as any text."""
    said = paragraph[start : m.end()]
    if said.count("“") > said.count("”"):
        close = "”"
    elif said.count('"') % 2:
        close = '"'
    else:
        return False
    following = _BOUNDARY.search(paragraph, m.end())
    return close in paragraph[m.end() : following.end() if following else len(paragraph)]


def _is_boundary(paragraph: str, m: re.Match[str]) -> bool:
    """False when the full stop closes an abbreviation, an initial or a dotted acronym."""
    if paragraph[m.start()] != ".":
        return True
    before = paragraph[max(0, m.start() - 40) : m.start()].rsplit(None, 1)
    word = before[-1].lstrip('"“‘(') if before else ""
    if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
        return False
    if "." in word and word.replace(".", "").isalpha():  # U.S., N.J., p.m.
        following = paragraph[m.end() : m.end() + 40].split(None, 1)
        return bool(following) and following[0].strip('"“‘(').lower() in _SENTENCE_OPENERS
    return True


def _choose(title_words: set[str], sentences: list[str], k: int, max_chars: int) -> list[int]:
    """Indexes of the best-scoring sentences that fit in max_chars together."""
    ranked = sorted(range(len(sentences)), key=lambda i: -_score(i, sentences[i], title_words))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        size = len(sentences[i]) + (1 if chosen else 0)
        if len(chosen) < k and used + size <= max_chars:
            chosen.append(i)
            used += size
    if not chosen:  # even the best sentence is too long: cut it
        sentences[ranked[0]] = clip(sentences[ranked[0]], max_chars)
        chosen = [ranked[0]]
    return chosen


def _score(i: int, sentence: str, title_words: set[str]) -> float:
    """Higher for the lead, title overlap, numbers and attribution; lower for fragments."""
    words = _content_words(sentence)
    overlap = len(words & title_words) / len(title_words) if title_words else 0.0
    score = overlap + 1.5 / (1 + i) + (0.8 if i == 0 else 0.0)
    score += 0.3 if _NUMBER.search(sentence) else 0.0
    score += 0.3 if _ATTRIBUTION.search(sentence) else 0.0
    n_words = len(sentence.split())
    score -= 1.0 if n_words < 6 else 0.3 if n_words > 60 else 0.0
    score -= 0.4 if _NEEDS_CONTEXT.match(sentence) else 0.0
    score -= 0.2 if sentence[:1] in '"“‘' else 0.0
    return score


def _is_title_copy(sentence: str, title_words: set[str]) -> bool:
    """The headline again (scraped pages repeat it), maybe with a word or two changed."""
    words = _content_words(sentence)
    union = words | title_words
    return bool(union) and len(words & title_words) / len(union) >= 0.75


def _is_heading(sentence: str) -> bool:
    """A line with no closing punctuation: a headline or subhead, not reporting."""
    return _SENTENCE_END.search(sentence) is None


def _content_words(text: str) -> set[str]:
    """Lowercased words without stopwords, cut to 5 letters so troops/troop meet."""
    return {w.lower()[:5] for w in _WORD.findall(text) if w.lower() not in _STOP}
