"""What a version of an entry says, as words: for telling a change from cosmetics.

Whitespace, punctuation, case and the date line ("SEOUL, Dec. 2 (Yonhap) --", a line that
only says "Updated 2 Dec 2025 10:05 GMT") are not words, so `digest` is equal when only those
changed. Pure text, used by the feed parser (entries that share one guid) as by edits
(`bot.edits`) and the store.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

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


# Words up to this long are remembered (`word_key`): news words are, and a feed's long
# tokens (a URL, or 2,000 characters without a space) would each keep kilobytes.
REMEMBERED_CHARS = 32


def word_key(word: str) -> str:
    """What a word is, for comparing: case and punctuation dropped ("Russia," == "russia").

    Remembered (news repeats its words): counting a story's outlets compares the words of
    each of its reports, for every digest line and search result (`bot.corroboration`),
    half of whose time was spent here. Only words of up to REMEMBERED_CHARS: every process
    that reads feed text keeps its own memory of them (the parse workers read every entry
    of every feed, `digest`), about 3 MB full of news words, under 6 MB whatever a feed
    sends; remembering any word, a feed of long unique tokens made it 70-135 MB."""
    return _remembered(word) if len(word) <= REMEMBERED_CHARS else _key(word)


@functools.lru_cache(maxsize=16384)
def _remembered(word: str) -> str:
    return _key(word)


def _key(word: str) -> str:
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
