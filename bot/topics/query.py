"""The topic query language: text -> a small tree of frozen dataclasses, or a QueryError.

Syntax, loosest binding first (precedence NOT > NEAR > AND > OR):

    a OR b            either side
    a AND b, a b      both sides (adjacent terms mean AND)
    a NEAR/n b        both sides, at most n words apart (n words may stand between them)
    NOT a             a must not appear
    ( ... )           grouping
    word              a whole word, case-insensitive; `deploy*` is any word starting with "deploy"
    "two words"       a phrase: the words in this order, nothing between them
    title:x           x (a word, phrase, entity or group) must be in the title
    entity:Russia     an entity of the gazetteer, through any alias (entity:"North Korea")
    topic:NAME        the item matches topic NAME (as the matcher decides it; not inside title:)

Keywords are uppercase only; a lowercase `or`, `and` or `not` between two terms (and a `not`
after AND, OR, NOT, `(` or `title:`), `near/5`, `NEAR5`, and `-word` or `+word` are refused
(read as words they would quietly invert the query: quote a word to search it). So are a comma
between words outside double quotes (`troops, soldiers` read as an AND, where a list of
alternatives was meant; a number's "1,500" stays) and words in single quotes (`'aircraft
carrier'` read as two words: a phrase takes double quotes). Words are
compared the way the text is tokenised: lowercase, punctuation dropped, "U.S." read as "us", a
trailing "'s" dropped, hyphens splitting words (so `court-martial` is the phrase "court
martial"), a number one word ("1,500" is `1500`, and "2,5" with a decimal comma `2.5`), accents
composed (NFC) and combining marks part of their word. The matcher then compares words with
their Latin letters folded to ASCII (`bot.text.fold.fold_latin`: `bogota` finds "Bogotá",
`bogotá` finds "Bogota"); the words themselves keep their accents, as explanations show them. A
phrase does not run from one sentence into the next (`sentence_starts`). There is no stemming:
write `deploy*` to allow "deploys", "deployed", "deployment" (predictable beats clever).

This module only parses. Entity names and topic references are resolved in `compile.py`, and
texts matched in `match.py` (references between topics are ordered and checked for cycles in
`refs.py`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.errors import QueryError
from bot.text.fold import lowercase, marks

MAX_QUERY_CHARS = 20_000
MAX_DEPTH = 60
MAX_NEAR = 100
SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
MIN_PREFIX = 3


# A word is letters and digits with the combining marks among them. An acronym written with
# dots ("U.S.", "U.N.") is one word; so is a number written with separators ("1,500", "2.5",
# which must not read as "1" "500" or "2" "5"). Inner apostrophes are kept ("o'clock") so that
# only a trailing "'s" is dropped below.
# (All marks are past U+02FF: the lookahead spares the big class to every ASCII word's end.)
_PART = rf"[^\W_]+(?:(?=[^\x00-\u02ff])[{marks()}]+[^\W_]*)*"
_WORD = re.compile(rf"(?:[^\W\d_]\.){{2,}}|\d+(?:[.,]\d+)+[^\W_]*|{_PART}(?:['’]{_PART})*")
# A number's separators: "1,500,000" (English thousands) is `1500000`, "1.500.000,5" (two
# groups or more of dotted thousands, which cannot be a decimal) is `1500000.5`, as is
# "1.500,5" (dotted thousands before a decimal comma), so the query `1500` finds "1,500". A
# single comma not before exactly three digits is a decimal comma, as European copy writes
# it: "2,5" is `2.5`, as "2.5" is. "1.500" (an English 1.5 or a European 1500) stays `1.500`.
_SEPARATED = re.compile(r"\d+(?:[.,]\d+)+")
_COMMAS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DOTS = re.compile(r"\d{1,3}(?:(?:\.\d{3}){2,}(?:,\d+)?|(?:\.\d{3})+,\d+)")
_DECIMAL_COMMA = re.compile(r"\d+,(?:\d{1,2}|\d{4,})")
# Hangul, kana and CJK ideographs: one of them carries about a syllable, as much as three
# letters, so a prefix of one is long enough (`북한*` for 북한이, 북한의; `朝鲜*`).
_WIDE = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
# Arabic short vowels and other harakat, written in the Quran and in teaching, seldom in news:
# a word is the same word without them (`كوريا` finds "كُورِيَا").
_HARAKAT = dict.fromkeys([*range(0x064B, 0x0660), 0x0670])


class Token(NamedTuple):
    """One normalised word of a text and where it was (character offsets).

    A tuple, not a dataclass: every word of every item becomes one, and building a frozen
    dataclass costs several times more.
    """

    word: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """The words of a text as the matcher sees them; queries use the same rules."""
    return [Token(w, m.start(), m.end()) for w, m in zip(*word_matches(text), strict=True)]


def word_matches(text: str) -> tuple[list[str], list[re.Match[str]]]:
    """The normalised words of a text and the matches they came from (offsets into `text`).

    The hot path of matching: one regex pass over a lowercased copy of the same length, and
    the per-word normalising only for the few words that need it (acronyms, apostrophes,
    numbers, combining marks; every word when the text is not in NFC, as a Mac may send).
    """
    low = lowercase(text)
    found = list(_WORD.finditer(low))
    words = [m.group() for m in found]
    if unicodedata.is_normalized("NFC", low):
        return [w if w.isalnum() else normal_word(w) for w in words], found
    return [normal_word(w) for w in words], found


def normal_word(word: str) -> str:
    """A lowercased word as compared: "U.S." is "us", "Korea’s" is "korea", "1,500" is
    "1500", any accent composed with its letter (NFC: "é" however it was typed), Arabic
    without its vowel marks."""
    if not word.isascii():
        word = unicodedata.normalize("NFC", word).replace("i\u0307", "i")  # NFD "İ", lowered
        word = word.translate(_HARAKAT)
    if word[:1].isdigit() and (number := _SEPARATED.match(word)):
        return _number(number.group()) + word[number.end() :]
    if "." in word or "’" in word:
        word = word.replace("’", "'").replace(".", "")
    return word[:-2] if word.endswith("'s") else word


def _number(number: str) -> str:
    if _COMMAS.fullmatch(number):
        return number.replace(",", "")
    if _DOTS.fullmatch(number):
        return number.replace(".", "").replace(",", ".")
    if _DECIMAL_COMMA.fullmatch(number):
        return number.replace(",", ".")
    return number


def words_of(text: str) -> tuple[str, ...]:
    return tuple(t.word for t in tokenize(text))


# Where a sentence may end: . ! ? then a space and a word (closing quotes or brackets between),
# or ; or a full stop of a script that needs no space after it (Chinese, Japanese, Devanagari,
# Arabic, Urdu). One class of characters first, which `re` looks for fastest: this runs on
# every text.
_END = re.compile(
    r"[.!?;。！？।؟۔](?:(?<=[.!?])[.!?]*[\"'”’»)\]]*\s+[\"'“‘«(\[]*(?=[^\W_])|(?<=[;。！？।؟۔]))"
)
# Words that end with a full stop without ending the sentence ("Gen. Smith", "St. Petersburg",
# "No. 10", "Calif. (AP)"); a single letter is an initial ("George W. Bush").
_ABBREVIATED = """
    mr mrs ms dr prof rev hon sen rep gov pres gen lt col maj capt cpt cmdr cdr adm brig sgt
    cpl pvt lieut st mt ft jr sr no nos vol vols vs etc inc corp co ltd bros dept est approx
    jan feb mar apr jun jul aug sep sept oct nov dec ala ariz ark calif colo conn del fla ga
    ill ind kan kans ky la md mass mich minn miss mo mont neb nev okla ore pa tenn tex va vt
    wash wis wyo"""
_ABBREVIATIONS = frozenset(_ABBREVIATED.split())


def sentence_starts(text: str, found: list[re.Match[str]]) -> list[int]:
    """The indexes in `found` (`word_matches(text)`) of the words that begin a sentence after
    the first, so that phrases do not run on from one sentence into the next ("North Korea.
    Russia said" has no "korea russia"). After . ! ? only before a word not in lowercase, and
    not after an abbreviation or an initial: a break missed keeps the old behaviour, a break
    invented would lose a real match. A full stop inside a word ("U.S.", "2.5") is not one."""
    heads: list[int] = []
    starts: list[int] | None = None
    for mark in _END.finditer(text):
        at, end = mark.span()
        stop = mark.group()[0] in ".!?"
        if stop and text[end].islower():
            continue
        if starts is None:
            starts = list(map(re.Match.start, found))
        # The next word: the one at `end` after . ! ?, the first after the mark otherwise.
        i = bisect_left(starts, end) if stop else bisect_right(starts, at)
        if i == 0 or i == len(found) or found[i - 1].end() > at or i in heads[-1:]:
            continue  # before the first word, after the last, inside a word ("U.S."), or seen
        if mark.group()[0] == "." and _abbreviation(found[i - 1].group()):
            continue
        heads.append(i)
    return heads


def _abbreviation(word: str) -> bool:
    """Whether a (lowercased) word before a full stop is an abbreviation or an initial."""
    return len(word) == 1 or word in _ABBREVIATIONS


@dataclass(frozen=True)
class Term:
    """A word or phrase; `prefix` lets the last word be any word starting with it."""

    words: tuple[str, ...]
    prefix: bool = False

    def __hash__(self) -> int:
        # Terms key the matcher's hit tables; hashing a tuple of tuples on every lookup showed
        # up in profiles, so the hash is computed once (frozen: it cannot change).
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash((self.words, self.prefix))
        return cached

    def __str__(self) -> str:
        text = " ".join(self.words) + ("*" if self.prefix else "")
        return text if len(self.words) == 1 else f'"{text}"'


@dataclass(frozen=True)
class Entity:
    """An entity by name or alias, as written; `position` only serves error messages."""

    name: str
    position: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        return f'entity:"{self.name}"'


@dataclass(frozen=True)
class TopicRef:
    """`topic:NAME`: holds when topic NAME holds; `position` only serves error messages."""

    name: str
    position: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        return f"topic:{self.name}"


@dataclass(frozen=True)
class Title:
    child: Node

    def __str__(self) -> str:
        return f"title:{_wrap(self.child, (Term, Entity))}"


@dataclass(frozen=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {_wrap(self.child, (Term, Entity, TopicRef, Title, Not))}"


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int

    def __str__(self) -> str:
        left = _wrap(self.left, (Term, Entity, TopicRef, Title, Near))
        return f"{left} NEAR/{self.distance} {_wrap(self.right, (Term, Entity, TopicRef, Title))}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        bare = (Term, Entity, TopicRef, Title, Not, Near)
        return " AND ".join(_wrap(c, bare) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        bare = (Term, Entity, TopicRef, Title, Not, Near, And)
        return " OR ".join(_wrap(c, bare) for c in self.children)


class Leaf:
    """A leaf a compiler puts into a parsed tree in place of a part of it (in `compile.py`: a
    bound topic reference, the plain words of one OR); the parser never makes one."""

    __slots__ = ()


Node = Term | Entity | TopicRef | Title | Not | Near | And | Or | Leaf


def _wrap(node: Node, bare: tuple[type, ...]) -> str:
    """Parenthesise a child unless it binds at least as tightly as its parent needs."""
    return str(node) if isinstance(node, bare) else f"({node})"


def parse_query(text: str) -> Node:
    """Parse a query; raises QueryError naming the problem and its position. Curly quotes
    (chat apps and word processors "correct" them) and guillemets (French, Russian) are
    quotes: read as words, a phrase would turn into an AND of its words, and an entity name
    into an unknown one."""
    text = text.translate(SMART_QUOTES)  # one character for one: positions stay true
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is too long ({len(text):,} characters; at most {MAX_QUERY_CHARS:,})",
            text,
        )
    parser = _Parser(text, list(_lex(text)))
    if not parser.lexemes:
        raise QueryError("the query is empty", text)
    return parser.parse()


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # WORD PHRASE AND OR NOT NEAR FIELD ( )
    text: str
    pos: int
    value: int = 0  # NEAR's distance


_BARE_END = re.compile(r'[\s()"]')
_FIELD = re.compile(r"([A-Za-z]+):")
_NEAR = re.compile(r"NEAR(?:/(\d+))?$")
_LOWER_NEAR = re.compile(r"near/(\d+)?", re.IGNORECASE)
# -drill, +troops, and a "-" a chat app or word processor turned into a dash (–drill)
_SIGNED = re.compile(r"[-+\u2010-\u2015\u2212][^\W_]")


def _lex(query: str) -> Iterator[_Lexeme]:
    """The query's lexemes; a lowercase `or`, `and` or `not` between two terms is refused,
    because read as a word it quietly turns the query into something else."""
    lexemes = list(_lexemes(query))
    _refuse_commas(query, lexemes)
    _refuse_single_quotes(query, lexemes)
    for before, lex, after in zip(lexemes, lexemes[1:], lexemes[2:], strict=False):
        if (
            lex.kind == "WORD"
            and lex.text.upper() in _KEYWORDS
            and (before.kind in _ENDS_OPERAND or _negates(before, lex))
            and after.kind in _STARTS_TERM
        ):
            raise QueryError(
                f"keywords are uppercase: did you mean {lex.text.upper()}? (to search for the "
                f'word itself, put it in quotes: "{lex.text}")',
                query,
                lex.pos,
            )
    yield from lexemes


_KEYWORDS = ("AND", "OR", "NOT")
_ENDS_OPERAND = {"WORD", "PHRASE", ")"}
_STARTS_TERM = {"WORD", "PHRASE", "FIELD", "("}


# Commas a moderator lists words with: ASCII, full-width and ideographic (CJK), Arabic.
_COMMA = re.compile("[,\uff0c\u3001\u060c]")


def _refuse_commas(query: str, lexemes: list[_Lexeme]) -> None:
    """A comma between two words outside double quotes: read as punctuation, `troops,
    soldiers, marines` was an AND (and `troops,soldiers` a phrase) that matched almost
    nothing, where a list of alternatives was meant. A comma inside a number ("1,500",
    "2,5") is part of the number's word and stays; one with no word on a side (`troops,`
    at the end, `troops, OR soldiers`) joins nothing and stays too."""
    for i, lex in enumerate(lexemes):
        if lex.kind != "WORD" or not _COMMA.search(lex.text):
            continue
        commas = _loose_commas(lex.text)
        edges = [-1, *commas, len(lex.text)]
        pieces = [lex.text[a + 1 : b] for a, b in zip(edges, edges[1:], strict=False)]
        words = [p if tokenize(p) else None for p in pieces]
        lefts, rights = _nearest(words), _nearest(words[::-1])[::-1]
        for n, at in enumerate(commas):
            left, right = lefts[n], rights[n + 1]
            if left is None:
                left = _neighbour(lexemes, i - 1, _ENDS_OPERAND, last=True)
            if right is None:
                right = _neighbour(lexemes, i + 1, _STARTS_TERM, last=False)
            if left is None or right is None:
                continue  # nothing on one side: the comma joins nothing
            if left and right:
                how = f"write `{left} OR {right}` for either, `{left} {right}` for both"
            else:
                how = (
                    "write OR between alternatives, as in `troops OR soldiers` (a space "
                    "between words requires both)"
                )
            raise QueryError(f"a comma is not an operator: {how}", query, lex.pos + at)


def _loose_commas(text: str) -> list[int]:
    """The offsets of the commas in a bare word that are not inside a word (a number's)."""
    tokens = tokenize(text)
    starts = [t.start for t in tokens]
    loose = []
    for m in _COMMA.finditer(text):
        i = bisect_right(starts, m.start()) - 1  # the last word starting at or before it
        if i < 0 or tokens[i].end <= m.start():
            loose.append(m.start())
    return loose


def _nearest(words: list[str | None]) -> list[str | None]:
    """At each place, the last word up to it: the word nearest a comma on its side, whatever
    empty pieces stand between (`troops,,soldiers`), in one pass (a hostile query has
    thousands of commas)."""
    kept: str | None = None
    nearest = []
    for word in words:
        kept = word or kept
        nearest.append(kept)
    return nearest


def _neighbour(lexemes: list[_Lexeme], i: int, kinds: set[str], *, last: bool) -> str | None:
    """The text of the operand next to a comma's word as written, "" when it is not a plain
    word or phrase, None when there is no operand there (the comma then stands next to `)`,
    an operator or the end, and joins nothing)."""
    if not 0 <= i < len(lexemes) or lexemes[i].kind not in kinds:
        return None
    lex = lexemes[i]
    if lex.kind == "PHRASE":
        return f'"{lex.text}"'
    if lex.kind != "WORD":
        return ""
    commas = _loose_commas(lex.text)
    word = lex.text[commas[-1] + 1 :] if last and commas else lex.text
    word = word[: commas[0]] if not last and commas else word
    return word if tokenize(word) else ""


# Single quotes around words: `'aircraft carrier'` read as two ANDed words ("carrier
# aircraft" matched). They are not read as a phrase, since ' is also an apostrophe ('90s,
# 'til, soldiers'), and a guess would silently build a phrase nobody wrote.
_OPENS = ("'", "\u2018")
_CLOSES = ("'", "\u2019")


def _refuse_single_quotes(query: str, lexemes: list[_Lexeme]) -> None:
    """Words in single quotes, `'aircraft carrier'` or the typographic ‘aircraft carrier’,
    are refused: use double quotes for a phrase. An apostrophe in or at the edge of one word
    (`O'Brien`, `Korea's`, `'90s`, `'carrier'`) stays as it was: it changes nothing."""
    opening: _Lexeme | None = None  # the first word of a run that starts with a quote
    for lex in lexemes:
        if lex.kind != "WORD":
            opening = None  # an operator, a group or a phrase between: not one quoted run
            continue
        text = lex.text.rstrip("*")
        if opening is not None and text.endswith(_CLOSES):
            inner = query[opening.pos + 1 : lex.pos + len(text) - 1]
            raise QueryError(
                "single quotes do not make a phrase: use double quotes for a phrase, "
                f'as in "{inner.strip()}"',
                query,
                opening.pos,
            )
        one_word = len(text) > 1 and text.endswith(_CLOSES)  # `'carrier'`: that word
        if opening is None and text.startswith(_OPENS) and not one_word:
            opening = lex


def _negates(before: _Lexeme, lex: _Lexeme) -> bool:
    """A lowercase `not` after AND, OR, NOT, `(` or `title:`, where NOT may stand: `troops
    AND not drill` meant NOT, and read as a word it asked for "not" (after NEAR, which
    cannot join a NOT, it can only be the word)."""
    return lex.text.upper() == "NOT" and (
        before.kind in ("AND", "OR", "NOT", "(")
        or (before.kind == "FIELD" and before.text == "title")
    )


def _lexemes(query: str) -> Iterator[_Lexeme]:
    i = 0
    while i < len(query):
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            yield _Lexeme(ch, ch, i)
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unclosed quote", query, i)
            yield _Lexeme("PHRASE", query[i + 1 : end], i)
            i = end + 1
        else:
            field_match = _FIELD.match(query, i)
            if field_match:
                yield _field(query, field_match)
                i = field_match.end()
                continue
            m = _BARE_END.search(query, i)
            end = m.start() if m else len(query)
            yield _bare(query, query[i:end], i)
            i = end


def _field(query: str, m: re.Match[str]) -> _Lexeme:
    name = m.group(1).lower()
    if name not in ("title", "entity", "topic"):
        raise QueryError(
            f"unknown field '{m.group(0)}' (use title:, entity: or topic:)", query, m.start()
        )
    return _Lexeme("FIELD", name, m.start())


def _bare(query: str, text: str, pos: int) -> _Lexeme:
    if text in _KEYWORDS:
        return _Lexeme(text, text, pos)
    if _SIGNED.match(text):  # a search engine's -word and +word: read as words, -drill is drill
        word = text[1:]
        if text[0] == "+":
            raise QueryError(f"{text}: no + is needed (every word is required): {word}", query, pos)
        raise QueryError(f"{text}: use NOT {word} to exclude a word", query, pos)
    lower_near = _LOWER_NEAR.match(text)
    if lower_near and not text.startswith("NEAR"):
        distance = lower_near.group(1) or "5"
        raise QueryError(f"keywords are uppercase: did you mean NEAR/{distance}?", query, pos)
    near = _NEAR.match(text)
    if near:
        if near.group(1) is None:
            raise QueryError("NEAR needs a distance, like NEAR/5", query, pos)
        distance = int(near.group(1))
        if distance > MAX_NEAR:
            raise QueryError(f"NEAR/{distance} is too far (at most NEAR/{MAX_NEAR})", query, pos)
        return _Lexeme("NEAR", text, pos, distance)
    if text.startswith("NEAR/"):  # meant as the operator, its distance mistyped (NEAR/x)
        raise QueryError(f"{text}: NEAR's distance is a number of words, like NEAR/5", query, pos)
    if (slashless := re.fullmatch(r"NEAR(\d+)", text)) is not None:
        # Read as the word "near5", a topic would be saved that can never match.
        raise QueryError(f"{text}: did you mean NEAR/{slashless.group(1)}?", query, pos)
    return _Lexeme("WORD", text, pos)


_TOPIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_STARTS_OPERAND = {"WORD", "PHRASE", "FIELD", "(", "NOT"}


class _Parser:
    """Recursive descent over the lexemes, one method per precedence level."""

    def __init__(self, query: str, lexemes: list[_Lexeme]):
        self.query = query
        self.lexemes = lexemes
        self.i = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self.or_expr()
        if self.i < len(self.lexemes):
            lex = self.lexemes[self.i]
            if lex.kind == ")":
                raise self.error("unmatched ')'", lex.pos)
            raise self.error(f"unexpected {lex.text!r}", lex.pos)
        return node

    def error(self, message: str, pos: int | None) -> QueryError:
        return QueryError(message, self.query, pos)

    def peek(self) -> _Lexeme | None:
        return self.lexemes[self.i] if self.i < len(self.lexemes) else None

    def take(self) -> _Lexeme:
        lex = self.lexemes[self.i]
        self.i += 1
        return lex

    def operand_after(self, op: _Lexeme, parse) -> Node:
        """The right-hand side of `op`, or a clear error when there is none."""
        nxt = self.peek()
        if nxt is None or nxt.kind not in _STARTS_OPERAND:
            raise self.error(f"{op.kind} needs something on its right", op.pos)
        return parse()

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (lex := self.peek()) is not None and lex.kind == "OR":
            children.append(self.operand_after(self.take(), self.and_expr))
        return _flat(Or, children)

    def and_expr(self) -> Node:
        children = [self.near_expr()]
        while (lex := self.peek()) is not None and lex.kind in _STARTS_OPERAND | {"AND"}:
            if lex.kind == "AND":
                children.append(self.operand_after(self.take(), self.near_expr))
            else:
                children.append(self.near_expr())
        return _flat(And, children)

    def near_expr(self) -> Node:
        left = self.unary()
        chained = 0  # each NEAR nests the chain so far one level deeper (a left-deep tree)
        while (lex := self.peek()) is not None and lex.kind == "NEAR":
            op = self.take()
            self.enter(op)
            chained += 1
            right = self.operand_after(op, self.unary)
            if isinstance(left, Not) or isinstance(right, Not):
                raise self.error("NEAR cannot join a NOT; write NOT (a NEAR/5 b)", op.pos)
            left = Near(left, right, op.value)
        self.depth -= chained
        return left

    def unary(self) -> Node:
        lex = self.peek()
        if lex is not None and lex.kind == "NOT":
            op = self.take()
            self.enter(op)
            node = Not(self.operand_after(op, self.unary))
            self.depth -= 1
            return node
        return self.primary()

    def enter(self, lex: _Lexeme) -> None:
        """Count nesting so a hostile query fails cleanly instead of exhausting the stack.

        Matching, explaining and printing a query all recurse over its tree, so every level
        counts: parentheses, NOT, title: and each NEAR of a chain.
        """
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the query is nested too deeply (at most {MAX_DEPTH} levels of parentheses, "
                "NOT, title: and chained NEAR)",
                lex.pos,
            )

    def primary(self) -> Node:
        lex = self.peek()
        if lex is None:
            raise self.error("the query ends where a word was expected", len(self.query))
        if lex.kind in ("AND", "OR", "NEAR"):
            raise self.error(f"{lex.kind} needs something on its left", lex.pos)
        if lex.kind == ")":
            raise self.error("unmatched ')'", lex.pos)
        self.take()
        if lex.kind == "(":
            return self.group(lex)
        if lex.kind == "FIELD":
            return self.field(lex)
        return self.term(lex)

    def group(self, opening: _Lexeme) -> Node:
        self.enter(opening)
        nxt = self.peek()
        if nxt is not None and nxt.kind == ")":
            raise self.error("empty parentheses", opening.pos)
        node = self.or_expr()
        nxt = self.peek()
        if nxt is None or nxt.kind != ")":
            raise self.error("unclosed '('", opening.pos)
        self.take()
        self.depth -= 1
        return node

    def field(self, lex: _Lexeme) -> Node:
        nxt = self.peek()
        if lex.text == "title":
            if nxt is None or nxt.kind not in _STARTS_OPERAND:
                raise self.error("title: needs a word, phrase or group after it", lex.pos)
            self.enter(lex)
            node = Title(self.unary())
            self.depth -= 1
            if any(isinstance(n, TopicRef) for n in walk(node.child)):
                raise self.error("topic: cannot be inside title: (a topic is not a word)", lex.pos)
            return node
        if lex.text == "topic":
            return self.topic_ref(lex, nxt)
        if nxt is not None and nxt.kind == "(":  # title:(a OR b) works, so this is tried
            raise self.error(
                "entity: takes one name, not a group: write (entity:Russia OR entity:Ukraine)",
                lex.pos,
            )
        if nxt is None or nxt.kind not in ("WORD", "PHRASE"):
            raise self.error(
                'entity: needs a name, like entity:Russia or entity:"North Korea"', lex.pos
            )
        name = self.take().text.strip()
        if not name:
            raise self.error(
                'entity: needs a name, like entity:Russia or entity:"North Korea"', lex.pos
            )
        if "*" in name:
            raise self.error(
                "entity: takes no wildcard * (an entity is found by any of its names)", lex.pos
            )
        return Entity(name, lex.pos)

    def topic_ref(self, lex: _Lexeme, nxt: _Lexeme | None) -> TopicRef:
        name = self.take().text if nxt is not None and nxt.kind == "WORD" else ""
        if not _TOPIC_NAME.fullmatch(name):
            raise self.error("topic: needs a topic's name, like topic:troop-deployments", lex.pos)
        return TopicRef(name, lex.pos)

    def term(self, lex: _Lexeme) -> Term:
        raw = lex.text.strip()
        prefix = raw.endswith("*")
        body = raw.rstrip("*")
        if "*" in body:
            end = "a phrase" if lex.kind == "PHRASE" else "a word"
            raise self.error(f"a wildcard * may only end {end}", lex.pos)
        words = words_of(body)
        if not words:
            what = "empty phrase" if lex.kind == "PHRASE" else f"nothing to match in {raw!r}"
            raise self.error(what, lex.pos)
        if prefix and len(words[-1]) < MIN_PREFIX and not _WIDE.search(words[-1]):
            need = f"at least {MIN_PREFIX} letters, or one Hangul or CJK character, before *"
            if len(words_of(body.split()[-1])) > 1:  # `F-16*` is "f" "16*": name the short one
                raise self.error(
                    f"the prefix in {raw!r} is too short: its last word is {words[-1]!r} "
                    f"(hyphens and punctuation split words), and a prefix needs {need} "
                    '(write each form in full instead, as in "F-16" OR "F-16s")',
                    lex.pos,
                )
            raise self.error(f"the prefix in {raw!r} is too short ({need})", lex.pos)
        return Term(words, prefix)


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    """One child is itself; nested same-kind groups merge, so `a AND (b AND c)` is one And."""
    if len(children) == 1:
        return children[0]
    merged: list[Node] = []
    for child in children:
        merged.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(merged))


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents first."""
    yield node
    if isinstance(node, Title | Not):
        yield from walk(node.child)
    elif isinstance(node, Near):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
