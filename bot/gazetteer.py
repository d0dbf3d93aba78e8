"""The gazetteer: which countries, organisations, places and people a text mentions.

Each entity has a canonical name, a kind and aliases (demonyms, capitals used as metonyms,
abbreviations). All aliases go into one Aho-Corasick automaton scanned once per text; a hit
counts only at word boundaries, and overlapping hits keep the leftmost, then longest, one
("Democratic People's Republic of Korea" beats "Republic of Korea").

Case rules, so that ambiguous aliases stay useful without a list of exceptions:
- an alias with no lowercase letters ("US", "U.S.", "DPRK", "NATO") must match exactly, so the
  pronoun "us" is not the United States;
- an alias starting with a capital ("Turkey", "China", "Polish") needs a capital there in the
  text too, the rest compared case-insensitively ("NORTH KOREA" still matches);
- an alias starting lowercase ("al-Qaeda") matches in any case.

Aliases are compared as the query language matches words: accents composed with their letters
(NFC), Latin letters folded to ASCII (an alias "Bogota" matches "Bogotá", and "Bogotá" matches
"Bogota"), a hyphen or dash as a space ("North-Korean troops", "Kim Jong‑un" with a
non-breaking hyphen), any run of spaces or line breaks as one space (`fold`). Offsets stay the
text's own.

This module does not decide what a mention means (Georgia the state or the country); it reports
what the gazetteer says. It knows nothing about topics.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import yaml

from bot.defaults_path import default_file
from bot.errors import ConfigError
from bot.text.fold import LATIN, fold_latin, latin_folds, lowercase, marks

log = logging.getLogger(__name__)

KINDS = ("country", "org", "place", "person")


@dataclass(frozen=True)
class EntityInfo:
    """One gazetteer entry; `aliases` excludes the canonical name, which always matches too."""

    name: str
    kind: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mention:
    """One entity found in a text: `alias` is the text as written there, [start, end) offsets."""

    name: str
    alias: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Alias:
    entity: str
    text: str
    exact: bool  # acronym: exact case (compared in `shape`: "ISIS-K" is "ISIS K")
    capital: bool  # starts with a capital: the text must too
    shape: str  # the text with `fold`'s spaces, dashes and NFC, but its case
    size: int  # characters of its folded form, where the automaton finds it


# One character for one: every dash and every space (line breaks, the non-breaking space...)
# is a space, and the typographic apostrophe the ASCII one. "-", "’" and line breaks are common
# and replaced on their own; the table is only applied to a text with one of the rarer ones.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() and c != 0x20)
_SAME_LENGTH = str.maketrans(dict.fromkeys(_DASHES + _SPACES, " "))
_RARE = re.compile(f"[{re.escape(_DASHES + _SPACES)}]")
# Latin letters as ASCII (`fold_latin`): "á" as "a" keeps the length, one for one.
_LATIN_SAME = {cp: a for cp, a in latin_folds().items() if len(a) == 1}
_LATIN_LONGER = "".join(chr(cp) for cp, a in latin_folds().items() if len(a) > 1)  # ß æ œ þ
# What changes the length: two spaces or more (one is kept), a Latin letter folded to two
# ("ß" as "ss"), and a letter written with its combining marks apart (NFD), composed (NFC) as
# the aliases are, then folded; in a text in NFC, a mark left on an ASCII letter.
_RESHAPE = re.compile(rf" {{2,}}|[{_LATIN_LONGER}]|.[{marks()}\u1160-\u11ff\ud7b0-\ud7ff]+", re.S)
_RESHAPE_NFC = re.compile(rf" {{2,}}|[{_LATIN_LONGER}]|[A-Za-z][{marks()}]+")
_LONGER = re.compile(f"[{_LATIN_LONGER}{marks()}]")  # what needs _RESHAPE_NFC
_RUN = re.compile(" {2,}")  # all a text in NFC may need otherwise


class _Folded:
    """A text as aliases are looked up in it, and the way back to the text's offsets.

    Most texts keep their length (one replacement for one character): then `edits` is empty
    and offsets are the same. Otherwise each edit is (folded start, folded end, text start,
    text end) of a part that changed length; what lies between edits is as in the text.
    """

    __slots__ = ("edits", "starts", "text")

    def __init__(self, text: str, *, lower: bool = True):
        same = (lowercase(text) if lower else text).replace("-", " ").replace("’", "'")
        same = same.replace("\n", " ")
        if _RARE.search(same):
            same = same.translate(_SAME_LENGTH)
        if not same.isascii():
            same = LATIN.sub(_fold_run, same)
        self.edits: list[tuple[int, int, int, int]] = []
        if not unicodedata.is_normalized("NFC", same):
            self.text = self._reshape(same, _RESHAPE)
        elif not same.isascii() and _LONGER.search(same):
            self.text = self._reshape(same, _RESHAPE_NFC)
        elif "  " in same:
            self.text = self._reshape(same, _RUN)
        else:
            self.text = same
        self.starts = [e[0] for e in self.edits]

    def _reshape(self, same: str, changes: re.Pattern[str]) -> str:
        out: list[str] = []
        at = size = 0  # where the text was copied up to, and the folded length so far
        for m in changes.finditer(same):
            part = fold_latin(unicodedata.normalize("NFC", m.group())) if m.group().strip() else " "
            if part == m.group():
                continue
            out.append(same[at : m.start()])
            size += m.start() - at
            out.append(part)
            self.edits.append((size, size + len(part), m.start(), m.end()))
            size += len(part)
            at = m.end()
        out.append(same[at:])
        return "".join(out)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The text's offsets of the folded [start, end)."""
        if not self.edits:
            return start, end
        return self._at(start, False), self._at(end - 1, True)

    def _at(self, i: int, after: bool) -> int:
        k = bisect_right(self.starts, i) - 1
        if k < 0:
            return i + after
        f_start, f_end, t_start, t_end = self.edits[k]
        if i < f_end:  # inside a part that changed length: all of it
            return t_end if after else t_start
        return t_end + (i - f_end) + after


def _fold_run(run: re.Match[str]) -> str:
    return run.group().translate(_LATIN_SAME)


def fold(text: str) -> str:
    """An alias or a text as aliases are compared: lowercase ("İ" as "I"), composed (NFC),
    Latin letters as ASCII ("Bogotá" as "bogota", `fold_latin`), every dash and run of spaces
    one space, "’" as "'"."""
    return _Folded(text).text


def _alias(entity: str, text: str) -> _Alias:
    exact = any(c.isupper() for c in text) and not any(c.islower() for c in text)
    shape = _Folded(text, lower=False).text
    return _Alias(entity, text, exact, text[:1].isupper(), shape, len(fold(text)))


class Gazetteer:
    """Entity lookup over texts; build once (loading the YAML), then share freely."""

    def __init__(self, entities: Iterable[EntityInfo]):
        self.entities: dict[str, EntityInfo] = {}
        self._lookup: dict[str, str] = {}
        self._automaton = ahocorasick.Automaton()
        problems: list[str] = []
        for info in entities:
            self._add(info, problems)
        if problems:
            raise ConfigError(problems)
        if self._lookup:
            self._automaton.make_automaton()

    def _add(self, info: EntityInfo, problems: list[str]) -> None:
        self.entities[info.name] = info
        for text in dict.fromkeys((info.name, *info.aliases)):
            key = fold(text)
            owner = self._lookup.setdefault(key, info.name)
            if owner != info.name:
                problems.append(
                    f"{info.name}: alias {text!r} is already an alias of {owner}"
                    " (case, accents and hyphens do not tell aliases apart: remove it from"
                    " one of them)"
                )
                continue
            existing = self._automaton.get(key, [])
            self._automaton.add_word(key, [*existing, _alias(info.name, text)])

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """The gazetteer from a YAML file (default: the shipped config/entities.yaml)."""
        path = path or default_file("entities.yaml")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or exc
            raise ConfigError([f"{where}: not valid YAML: {problem}"]) from None
        gazetteer = cls.from_mapping(data, str(path))
        log.debug("gazetteer.loaded path=%s entities=%d", path, len(gazetteer.entities))
        return gazetteer

    @classmethod
    def from_mapping(cls, data: object, where: str = "entities") -> Gazetteer:
        """Build from `{name: {kind: ..., aliases: [...]}}`, reporting every problem at once."""
        if not isinstance(data, dict) or not data:
            raise ConfigError([f"{where}: expected a mapping of entity name -> kind and aliases"])
        problems: list[str] = []
        infos = [
            info
            for name, entry in data.items()
            if (info := _entry(str(name), entry, problems)) is not None
        ]
        if problems:
            raise ConfigError([f"{where}: {p}" for p in problems])
        try:
            return cls(infos)
        except ConfigError as exc:
            raise ConfigError([f"{where}: {p}" for p in exc.problems]) from None

    def find(self, text: str) -> list[Mention]:
        """Every entity mention, left to right, overlaps resolved leftmost-longest."""
        if not self._lookup or not text:
            return []
        folded = _Folded(text)
        # A text with no capital at all (a feed that lowercases its headlines) gives no case to
        # go by: names are then matched in any case, acronyms ("US" is not "us") still exactly.
        caseless = not any(c.isupper() for c in text)
        found: list[Mention] = []
        for end, aliases in self._automaton.iter(folded.text):
            start = end - aliases[0].size + 1
            if not _bounded(folded.text, start, end + 1):
                continue
            start, stop = folded.span(start, end + 1)
            surface = text[start:stop]
            for alias in aliases:
                if _case_ok(alias, surface) or (caseless and not alias.exact):
                    found.append(Mention(alias.entity, surface, start, stop))
                    break
        return _leftmost_longest(found)

    def names(self, text: str) -> tuple[str, ...]:
        """Canonical names mentioned, in order of first mention, each once."""
        return tuple(dict.fromkeys(m.name for m in self.find(text)))

    def named(self, text: str) -> str:
        """The text with each mention written as its entity's name ("Pyongyang's soldiers"
        -> "North Korea's soldiers"): two outlets' words for one actor become one word."""
        out, at = [], 0
        for m in self.find(text):
            out += [text[at : m.start], m.name]
            at = m.end
        return "".join(out) + text[at:] if out else text

    def canonical(self, name_or_alias: str) -> str | None:
        """The canonical name for a name or alias in any case (queries are typed by people)."""
        return self._lookup.get(fold(name_or_alias.strip()))

    def kind(self, name: str) -> str | None:
        info = self.entities.get(name)
        return info.kind if info else None


def _entry(name: str, entry: object, problems: list[str]) -> EntityInfo | None:
    if not isinstance(entry, dict):
        problems.append(f"{name}: expected kind and aliases, got {type(entry).__name__}")
        return None
    unknown = set(entry) - {"kind", "aliases"}
    if unknown:
        problems.append(f"{name}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    kind = entry.get("kind")
    if kind not in KINDS:
        problems.append(f"{name}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        problems.append(f"{name}: aliases must be a list of non-empty strings")
        return None
    return EntityInfo(name, str(kind), tuple(a.strip() for a in aliases))


def _bounded(text: str, start: int, end: int) -> bool:
    """True when [start, end) is not part of a longer word (a combining mark, such as a
    Devanagari vowel sign, is part of the word before it)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not _in_word(before) and not _in_word(after)


def _in_word(c: str) -> bool:
    return c.isalnum() or (not c.isascii() and unicodedata.category(c)[0] == "M")


def _case_ok(alias: _Alias, surface: str) -> bool:
    if alias.exact:
        return surface == alias.text or _Folded(surface, lower=False).text == alias.shape
    return not alias.capital or surface[:1].isupper()


def _leftmost_longest(found: list[Mention]) -> list[Mention]:
    found.sort(key=lambda m: (m.start, -m.end))
    kept: list[Mention] = []
    for m in found:
        if not kept or m.start >= kept[-1].end:
            kept.append(m)
    return kept


@functools.cache
def shipped() -> Gazetteer:
    """The shipped gazetteer, loaded once per process: what the pipeline, the parse workers
    and the story index share (the index's stored terms depend on it: `bot.stories.named`)."""
    return Gazetteer.load()
