"""How words are compared whatever their case, accents and marks: pure text.

The query language reads words so (`bot.topics.query`), and the gazetteer compares aliases so
(`bot.gazetteer`): both fold a text here, so that a word and an entity's alias are the same
word whichever of them a moderator typed with accents. Offsets are kept: a folded text's
words stay where they were. Deliberately not here: what a word is (the query language's
tokeniser).
"""

from __future__ import annotations

import functools
import re
import unicodedata


@functools.cache
def marks() -> str:
    """The inside of a regex class of every combining mark (Unicode categories Mn, Mc, Me):
    an accent written apart from its letter (NFD "é"), a Devanagari vowel sign, an Arabic
    haraka. They belong to the word they follow; `re` has no class of them, so it is built
    here, once (all marks lie below U+20000 but the variation selectors at U+E0100)."""
    cps = [
        cp
        for cp in (*range(0x20000), *range(0xE0100, 0xE01F0))
        if unicodedata.category(chr(cp))[0] == "M"
    ]
    runs: list[list[int]] = []
    for cp in cps:
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in runs)


_DOTTED_I = str.maketrans({"İ": "I"})  # "İ".lower() is "i" + U+0307: two characters


def lowercase(text: str) -> str:
    """`text.lower()` with the same length, so offsets into it are offsets into `text`: the
    Turkish "İ" is lowered as "I" ("İncirlik" is `incirlik`; its own lowercase has two
    characters). The only such character in Unicode, but checked in case a later one comes."""
    low = text.translate(_DOTTED_I).lower() if "İ" in text else text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low


# Latin letters that are not an ASCII letter with marks, as search engines' ASCII folding
# writes them; a letter that is one of these with marks ("ǿ", "ǽ") folds the same way.
_LATIN_LETTERS = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH",
    "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "ı": "i",
    "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŀ": "l", "Ŀ": "L", "ĳ": "ij", "Ĳ": "IJ",
}  # fmt: skip
# Where the letters of `latin_folds` are (a text of other scripts skips the table); and a
# combining mark left on an ASCII letter once the text is composed ("q̃" has no NFC form).
LATIN = re.compile("[\u00c0-\u024f\u1e00-\u1eff]+")
MARK = re.compile(f"[{marks()}]")
_STRAY_MARKS = re.compile(rf"([A-Za-z])[{marks()}]+")


@functools.cache
def latin_folds() -> dict[int, str]:
    """Each Latin letter with a diacritic (Latin-1, Latin Extended-A and -B, Latin Extended
    Additional: "á" "ç" "ș" "ệ") as its ASCII letter, and the letters of `_LATIN_LETTERS`;
    case is kept. Greek, Cyrillic and other scripts are not here: "й" stays "й"."""
    table: dict[int, str] = {}
    for cp in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFD", chr(cp))[0]
        if base.isascii() and base.isalpha() and base != chr(cp):
            table[cp] = base
        elif base in _LATIN_LETTERS:
            table[cp] = _LATIN_LETTERS[base]
    return table


def fold_latin(text: str) -> str:
    """Text in NFC with its Latin letters as ASCII ("bogotá" -> "bogota", "straße" ->
    "strasse", "søren" -> "soren"): how the matcher compares words and entity aliases, since
    wire copy often drops the accents a moderator types, and a moderator the ones it keeps.
    Only letters change, never a space: a scan keeps its words and their places."""
    if text.isascii():
        return text
    folded = LATIN.sub(_fold_run, text)
    return _STRAY_MARKS.sub(r"\1", folded) if MARK.search(folded) else folded


def _fold_run(run: re.Match[str]) -> str:
    return run.group().translate(latin_folds())
