"""Edits of a stored item: is the change worth telling, and which words changed.

Outlets fix typos, add a figure, rewrite a headline. What counts as a change is the words:
whitespace, punctuation, case and the date line ("SEOUL, Dec. 2 (Yonhap) --", a line that
only says "Updated 2 Dec 2025 10:05 GMT") are ignored, both in the digest that detects a
change cheaply and in the word-level diff shown to people. The diff is difflib's over the
words' normalised forms, shown with the words as written, with long unchanged runs elided.

Not every change is an edit, though: a feed that gives every entry one guid (or one link)
gives a new report under the identity of the last one. `same_report` tells the two apart by
the words they share (`SAME_SHARE`), the way a reader would.

Pure functions over text; storing an edit and telling channels is `bot.edit_store`'s job,
rendering a diff the adapters'.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import unicodedata

from bot.model import Change
from bot.stories import terms

CONTEXT = 6  # unchanged words kept on each side of a change
GAP = "…"
# Two versions of one entry are one report when they share at least this share of the
# distinctive words of the shorter: edits keep most of them (a reworded headline keeps its
# summary, a fixed figure all the rest), while of 84,000 pairs of different stories of one
# outlet in eval/corpus/validation.jsonl, 2 in 1,000 pass for one report (4 in 1,000 with
# headlines alone).
SAME_SHARE = 0.5
# ...and at least this many of them: two short headlines of one desk share two words easily
# ("Russia moves troops west", "Russia withdraws troops from Kherson").
MIN_SHARED = 3
# A version with fewer distinctive words is too short to tell ("Breaking news", "More to
# follow"): a flash completed into a story is an edit of it, as ever.
MIN_TERMS = 4
# Words that say a report is coming, not what it says ("Breaking: warship incident",
# "Developing story, details to follow"): not counted among a version's words.
_NO_NEWS = frozenset(terms("breaking developing update flash urgent details follow soon"))

# In a number, "." "," and ":" are part of it: 2.75 is not 27.5, 10:05 is not 1005.
_NUMBER_NOISE = re.compile(r"(?!(?<=\d)[.,:](?=\d))[^\w+$€£¥%]|_")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"  # Dec., December
# "SEOUL, Dec. 2 (Yonhap) --", "WASHINGTON, Feb 27, 2025 (Reuters) -", "KYIV, 2 March -":
# a place in capitals, a date and/or an agency, then a dash, at the start of a text.
_DATELINE = re.compile(
    r"^\s*[A-Z][A-Z.'’\- ]{1,40}(?:,\s*[A-Z][A-Za-z.\- ]{1,30})?"
    rf"(?:(?:,\s*(?:{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?))"
    r"(?:\s*\([^()\n]{1,40}\))?|\s*\([^()\n]{1,40}\))"
    r"\s*(?:--|[-–—])\s*"
)
# Words a line that only gives a date or time is made of ("Updated: Tue 2 Dec 2025, 10:05 GMT").
_DATE_WORDS = frozenset(
    re.findall(
        r"\w+",
        "updated update published posted last modified on at am pm gmt utc est edt cet kst msk "
        "jan january feb february mar march apr april may jun june jul july aug august sep "
        "sept september oct october nov november dec december mon monday tue tues tuesday wed "
        "wednesday thu thur thurs thursday fri friday sat saturday sun sunday st nd rd th",
    )
)


def without_date_line(text: str) -> str:
    """`text` without its leading dateline and without lines that only give a date or time."""
    lines = [line for line in text.split("\n") if not _only_a_date(line)]
    return _DATELINE.sub("", "\n".join(lines).lstrip(), count=1)


def _only_a_date(line: str) -> bool:
    words = re.findall(r"[^\W\d_]+", line.lower())
    return any(c.isdigit() for c in line) and all(w in _DATE_WORDS for w in words)


def word_key(word: str) -> str:
    """What a word is, for comparing: case and punctuation dropped ("Russia," == "russia")."""
    if any(c.isdigit() for c in word):
        return _NUMBER_NOISE.sub("", word).casefold()
    return word.translate(_punctuation()).casefold()


@functools.cache
def _punctuation() -> dict[int, None]:
    """Unicode punctuation and format characters (soft hyphen, zero-width, bidi controls:
    a feed that starts or stops sending them changed nothing a reader sees), Basic
    Multilingual Plane, for str.translate to delete in C."""
    categories = ((i, unicodedata.category(chr(i))) for i in range(0x10000))
    return dict.fromkeys(i for i, cat in categories if cat[0] == "P" or cat == "Cf")


def words(text: str) -> list[str]:
    """The normalised words of a text, date line left out."""
    return [k for k in (word_key(w) for w in without_date_line(text).split()) if k]


def digest(title: str, summary: str) -> str:
    """A short hash of the words of title and summary: equal when only cosmetics changed."""
    joined = " ".join(words(title)) + "\x1e" + " ".join(words(summary))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()[:20]


def report_words(title: str, summary: str) -> frozenset[str]:
    """What a version says, for `same_report`: its distinctive terms (light-stemmed words
    without stopwords, as the story index reads them), date line and `_NO_NEWS` left out."""
    return frozenset(terms(f"{title}\n{without_date_line(summary)}")) - _NO_NEWS


def shared_share(old: frozenset[str], new: frozenset[str]) -> float | None:
    """The share of the shorter version's distinctive words the other one has too; None
    when either is too short to tell (`MIN_TERMS`)."""
    if min(len(old), len(new)) < MIN_TERMS:
        return None
    return len(old & new) / min(len(old), len(new))


def same_report(old: frozenset[str], new: frozenset[str]) -> bool:
    """Whether a changed entry is the same report, edited, or another report given the same
    guid or link: another one shares less than `SAME_SHARE` of its words, or fewer than
    `MIN_SHARED`. When that cannot be told (too few words) it is the same report, as the
    feed's identity says."""
    share = shared_share(old, new)
    return share is None or (share >= SAME_SHARE and len(old & new) >= MIN_SHARED)


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """Words as written (a lone "--" kept with the word before it) and their keys."""
    shown: list[str] = []
    keys: list[str] = []
    for word in without_date_line(text).split():
        key = word_key(word)
        if key or not shown:
            shown.append(word)
            keys.append(key)
        else:
            shown[-1] += f" {word}"
    return shown, keys


def word_diff(old: str, new: str, context: int = CONTEXT) -> tuple[Change, ...]:
    """The words deleted and inserted between `old` and `new`, in reading order, with up to
    `context` unchanged words around each change; () when only cosmetics changed."""
    a_shown, a_keys = _tokens(old)
    b_shown, b_keys = _tokens(new)
    if a_keys == b_keys:
        return ()
    matcher = difflib.SequenceMatcher(None, a_keys, b_keys, autojunk=False)
    codes = matcher.get_opcodes()
    out: list[Change] = []
    for n, (op, i1, i2, j1, j2) in enumerate(codes):
        if op == "equal":
            out += _context(b_shown[j1:j2], first=n == 0, last=n == len(codes) - 1, keep=context)
            continue
        if i2 > i1:
            out.append(Change("deleted", " ".join(a_shown[i1:i2])))
        if j2 > j1:
            out.append(Change("inserted", " ".join(b_shown[j1:j2])))
    return tuple(out)


def _context(run: list[str], *, first: bool, last: bool, keep: int) -> list[Change]:
    """An unchanged run: all of it when short, else its ends next to changes and a gap."""
    if len(run) <= keep * (1 if first or last else 2) + 2:  # eliding one or two words: no
        return [Change("same", " ".join(run))]
    head = [] if first else [Change("same", " ".join(run[:keep]))]
    tail = [] if last else [Change("same", " ".join(run[-keep:]))]
    return [*head, Change("gap", GAP), *tail]


def diff_text(parts: tuple[Change, ...]) -> str:
    """A diff as plain text, git's word-diff style: [-deleted-] {+inserted+}."""
    marks = {"deleted": "[-{}-]", "inserted": "{{+{}+}}", "same": "{}", "gap": "{}"}
    return " ".join(marks[p.op].format(p.text) for p in parts)
