"""Edits of a stored item: is the change worth telling, and which words changed.

Outlets fix typos, add a figure, rewrite a headline. What counts as a change is the words
(`bot.text.versions`): whitespace, punctuation, case and the date line are ignored, both in
the digest that detects a change cheaply and in the word-level diff shown to people. The
diff is difflib's over the words' normalised forms, shown with the words as written, with
long unchanged runs elided.

Not every change is an edit, though: a feed that gives every entry one guid (or one link)
gives a new report under the identity of the last one. `same_report` tells the two apart by
the words they share (`SAME_SHARE`), the way a reader would.

Pure functions over text; storing an edit and telling channels is `bot.edit_store`'s job,
rendering a diff the adapters'.
"""

from __future__ import annotations

import difflib

from bot.model import Change
from bot.stories import terms
from bot.text.versions import without_date_line, word_key

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
