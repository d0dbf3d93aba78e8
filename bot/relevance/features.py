"""An item's features for the relevance model: words, word classes, and cues near each other.

Pure and cheap (tens of microseconds): it reads the item as the matcher prepared it
(`bot.model.Prepared`: the title's words, then the text's, and the entity mentions), so
training, `wirewatch eval` and the running bot see exactly the same features.

Three kinds of feature, all binary:
- words (lightly stemmed) of the title and of the text's lead, kept apart: a title word
  weighs more than the same word deep in a description;
- short sequences of the title with each word replaced by its class when it has one
  (`<GPE> <SEND> <NUM> <UNIT>`), which generalise across countries, numbers and synonyms;
- cues: two classes close together ("units near a verb of sending", "a refusal before a
  verb of sending", "a verb of withdrawal near units"), in the title or in the text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from bot.model import GAP, Prepared
from bot.relevance.lexicon import CLASSES, COMPUTING, NEG_ONLY_BEFORE, PHRASES
from bot.stories import stem

BODY_WORDS = 12  # the text's first clause: further words of a description cost F1 (validation)
NEAR = 5  # words apart for a cue pair
BEFORE = 3  # a negation or hypothetical this close before a verb of sending qualifies it
AFTER = 4  # ...and this close after it
KINDS = {"country": "GPE", "place": "GPE", "org": "ORG", "person": "PER"}
_NAMES = frozenset(KINDS.values())

# Class pairs whose closeness is a cue, in either order.
PAIRS = (
    ("UNIT", "SEND"),
    ("UNIT", "WITHDRAW"),
    ("UNIT", "COMBAT"),
    ("UNIT", "EXERCISE"),
    ("UNIT", "PLACE"),
    ("UNIT", "GPE"),
    ("UNIT", "NUM"),
    ("UNIT", "MONEY"),
    ("UNIT", "LEGAL"),
    ("POLICE", "SEND"),
    ("SEND", "GPE"),
    ("SEND", "PLACE"),
    ("SEND", "ARMS"),
    ("SEND", "NUM"),
    ("ARMS", "GPE"),
    ("POLITICS", "GPE"),
)
# A qualifier shortly before a verb of sending ("rules out sending", "could deploy").
QUALIFIED = (("NEG", "SEND"), ("HYP", "SEND"), ("NEG", "UNIT"), ("NEG", "WITHDRAW"))


def _entries(kind: str) -> tuple[set[str], tuple[str, ...]]:
    """Exact forms and prefixes; a prefix's stem is exact too, so that "arrive*" takes
    "arriving" (stem "arriv") and "assemble*" takes "assembling", but not "assembly"."""
    words = CLASSES[kind].split()
    prefixes = tuple(w[:-1] for w in words if w[-1] == "*")
    return {w for w in words if not w.endswith("*")} | {stem(p) for p in prefixes}, prefixes


_TABLE = {kind: _entries(kind) for kind in CLASSES}
_PHRASES = {tuple(stem(w) for w in p.split()): c for p, c in PHRASES.items()}
_ONLY_BEFORE = frozenset(stem(w) for w in NEG_ONLY_BEFORE.split())
_PHRASE_LEN = max(len(p) for p in _PHRASES)


_stem = functools.lru_cache(maxsize=1 << 15)(stem)


@functools.lru_cache(maxsize=1 << 15)
def word_class(word: str) -> str | None:
    """The class of one word (its own form or its stem), or None."""
    if word.isdigit():
        return "NUM"
    stemmed = stem(word)
    for kind, (exact, prefixes) in _TABLE.items():
        if word in exact or stemmed in exact or word.startswith(prefixes):
            return kind
    return None


def tokens(
    words: list[str], entity_at: dict[int, str], base: int = 0
) -> list[tuple[str, str | None]]:
    """(stem, class) per word; phrases and entity mentions give their class to every word."""
    out = [(_stem(w), entity_at.get(base + i) or word_class(w)) for i, w in enumerate(words)]
    i = 0
    while i < len(out):
        for n in range(min(_PHRASE_LEN, len(out) - i), 1, -1):
            kind = _PHRASES.get(tuple(s for s, _ in out[i : i + n]))
            if kind:
                out[i : i + n] = [(s, kind) for s, _ in out[i : i + n]]
                i += n - 1
                break
        i += 1
    return out


def featurize(prepared: Prepared, kind_of: Callable[[str], str | None]) -> set[str]:
    """The binary features of a prepared item; `kind_of` gives an entity's kind."""
    words = prepared.scan.split()
    title_len = prepared.title_len
    entity_at = _entity_classes(prepared, kind_of)
    gap = _text_base(prepared)
    title = tokens(words[:title_len], entity_at)
    body = tokens(words[title_len : title_len + BODY_WORDS], entity_at, gap)
    feats: set[str] = {"bias", "has_text" if body else "title_only"}
    _words(feats, "t", title)
    _words(feats, "b", body)
    _sequences(feats, title)
    _cues(feats, "t", title)
    _cues(feats, "b", body)
    if _computing(title):
        feats.add("t!COMPUTING")
    return feats


_COMPUTING = frozenset(stem(w) for w in COMPUTING.split())


def _computing(toks: list[tuple[str, str | None]]) -> bool:
    """A title that deploys software or equipment: a verb of deploying, a word of computing,
    and no armed force ("hospital deploys patient software across its network")."""
    stems = [s for s, _ in toks]
    return (
        any(s.startswith(("deploy", "redeploy")) for s in stems)
        and not any(kind == "UNIT" for _, kind in toks)
        and any(s in _COMPUTING for s in stems)
    )


def _text_base(prepared: Prepared) -> int:
    """Word position of the text's first word in mention positions (after the matcher's gap)."""
    return prepared.title_len + GAP


def _entity_classes(prepared: Prepared, kind_of: Callable[[str], str | None]) -> dict[int, str]:
    at: dict[int, str] = {}
    for name, _alias, first, last in prepared.mentions:
        kind = KINDS.get(kind_of(name) or "")
        if kind:
            for pos in range(first, last + 1):
                at[pos] = kind
    return at


def _words(feats: set[str], where: str, toks: list[tuple[str, str | None]]) -> None:
    for s, kind in toks:
        feats.add(f"{where}:{s}")
        if kind:
            feats.add(f"{where}#{kind}")


def _sequences(feats: set[str], toks: list[tuple[str, str | None]]) -> None:
    """Bigrams and trigrams of the title, each word as its class when it has one."""
    mixed = ["<s>"]
    for s, k in toks:
        shown = f"<{k}>" if k else s
        if not (k in _NAMES and mixed[-1] == shown):  # "North Korea" is one <GPE>
            mixed.append(shown)
    mixed.append("</s>")
    for a, b in zip(mixed, mixed[1:], strict=False):
        feats.add(f"t2:{a} {b}")
    for a, b, c in zip(mixed, mixed[1:], mixed[2:], strict=False):
        if "<" in a + b + c:  # an all-word trigram is too rare to learn from
            feats.add(f"t3:{a} {b} {c}")


def _cues(feats: set[str], where: str, toks: list[tuple[str, str | None]]) -> None:
    at: dict[str, list[int]] = {}
    for i, (_s, kind) in enumerate(toks):
        if kind:
            at.setdefault(kind, []).append(i)
    for a, b in PAIRS:
        if _close(at.get(a, ()), at.get(b, ()), NEAR):
            feats.add(f"{where}~{a}~{b}")
    for q, v in QUALIFIED:
        if any(0 < j - i <= BEFORE for i in at.get(q, ()) for j in at.get(v, ())):
            feats.add(f"{where}<{q}<{v}")
        # ...or shortly after it: "sending troops is unlikely", "deployment ruled out"; not
        # "against" or "without" there ("troops sent against rebels", "without a mandate")
        after = [i for i in at.get(q, ()) if q != "NEG" or toks[i][0] not in _ONLY_BEFORE]
        if any(0 < i - j <= AFTER for i in after for j in at.get(v, ())):
            feats.add(f"{where}>{v}>{q}")


def _close(xs: Iterable[int], ys: Iterable[int], distance: int) -> bool:
    ys = list(ys)
    return any(abs(x - y) <= distance for x in xs for y in ys)
