"""BERT's uncased WordPiece tokenizer, as `tokenizer.json` describes it, in plain Python.

Written out rather than taken from the `tokenizers` library, which brings a model-hub client
and its dependencies with it; tested equal to that library's ids on the whole labelled
corpus. Steps: clean (drop control characters, whitespace to spaces), space out CJK
ideographs, strip accents, lowercase; split on whitespace and punctuation; then each word
into the longest vocabulary pieces from the left ("##" marks a piece inside a word).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

MAX_WORD = 100  # longer words become [UNK], as in BERT


class WordPiece:
    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self.unk, self.cls, self.sep = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def load(cls, path: Path) -> WordPiece:
        """From a vocab.txt: one piece per line, its id its line number."""
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({piece: i for i, piece in enumerate(lines)})

    def ids(self, text: str, max_tokens: int) -> list[int]:
        """[CLS] pieces [SEP], at most max_tokens in all."""
        out = [self.cls]
        for word in _words(_normalize(text)):
            out.extend(self._word(word))
            if len(out) >= max_tokens - 1:
                break
        return [*out[: max_tokens - 1], self.sep]

    def _word(self, word: str) -> list[int]:
        hit = self._cache.get(word)
        if hit is None:
            hit = self._pieces(word)
            if len(self._cache) < 50_000:
                self._cache[word] = hit
        return hit

    def _pieces(self, word: str) -> list[int]:
        """Longest known piece first, left to right; [UNK] for the whole word if one fails."""
        if len(word) > MAX_WORD:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    start = end
                    break
            else:
                return [self.unk]
        return pieces


def _normalize(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    decomposed = unicodedata.normalize("NFD", "".join(out))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def _words(text: str) -> list[str]:
    words: list[str] = []
    for chunk in text.split():
        current = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                    current = ""
                words.append(ch)
            else:
                current += ch
        if current:
            words.append(current)
    return words


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )
