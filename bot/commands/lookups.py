"""What several commands look up and show alike: a channel's live subscriptions, a topic by
the name a user typed, what a `search` asks for.

Deliberately not here: the queries themselves (bot.store), and changing anything.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.commands.echo import now_iso, shown, when
from bot.durations import parse_duration
from bot.errors import CommandError
from bot.search_store import SearchTerms
from bot.store import list_topics
from bot.topics.usable import usable_topics

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.gazetteer import Gazetteer
    from bot.gone_topics import Gone
    from bot.model import Topic
    from bot.settings import Settings, SubscriptionSettings
    from bot.store import SubscriptionRow


def live(subs: list[SubscriptionRow]) -> list[SubscriptionRow]:
    return [s for s in subs if s.paused_reason != "unsubscribed"]


def without_gone(subs: list[SubscriptionRow], gone: list[Gone]) -> list[SubscriptionRow]:
    """`subs` but those whose topic left the config (`gone`), which `list` and `status`
    tell on lines of their own (`bot.gone_topics.gone_line`)."""
    names = {g.topic for g in gone}
    return [s for s in subs if s.topic not in names]


def not_working(db: Database, gazetteer: Gazetteer) -> dict[str, str]:
    """Why each stored topic the matcher skips does not compile (a topic it refers to left
    the config, a query an older version took): its channels were told once, and `list`,
    `status` and `topics` must not show it as working."""
    return dict(_not_working(tuple(list_topics(db)), gazetteer))


@functools.lru_cache(maxsize=8)
def _not_working(topics: tuple[Topic, ...], gazetteer: Gazetteer) -> tuple[tuple[str, str], ...]:
    """Kept while the topics are the same: every query compiled again took ~1 s of a busy
    bot's GIL with many topics, and `list` answered a moderator in 1.5 s during a poll."""
    _, problems = usable_topics(topics, gazetteer, stored=True)
    return tuple((name, str(exc).replace("`", "'")) for name, exc in problems.items())


def describe_sub(
    s: SubscriptionRow, settings: Settings | None = None, broken: Mapping[str, str] | None = None
) -> str:
    """How `list` and `status` name a subscription. One from the config that chat changed
    says so: the config's mode and filters come back at the next start (`chat_changed`);
    one whose topic does not compile (`broken`, from `not_working`) says it gets nothing."""
    parts = [f"`{s.topic}` ({s.mode}"]
    if broken and s.topic in broken:
        parts.append(
            f", NOT WORKING: {broken[s.topic]}; no alerts until it is mended, "
            f"`/wirewatch topics {s.topic}` says how"
        )
    if s.origin == "config":
        parts.append(", from the config")
    config = in_config(settings, s.channel, s.topic) if settings else None
    if config is not None and chat_changed(config, s.mode, s.only_query, s.except_query):
        parts.append(f", changed from chat: the next start sets back the config's {as_set(config)}")
    if s.muted_until and s.muted_until > now_iso():
        parts.append(f", muted until {when(s.muted_until)}")
    if s.paused_reason:
        parts.append(f", PAUSED: {s.paused_reason}")
    return "".join(parts) + ")"


def in_config(settings: Settings, channel: str, topic: str) -> SubscriptionSettings | None:
    """The config file's subscription of `channel` to `topic`, which every start writes
    back over what chat made of it (`bot.redecide.sync_config_subscriptions`)."""
    return next(
        (c for c in settings.subscriptions if (c.channel, c.topic) == (channel, topic)), None
    )


def chat_changed(
    config: SubscriptionSettings, mode: str, only: str | None, except_: str | None
) -> bool:
    """Whether a subscription of this mode and filters is not as `config` writes it (chat's
    `subscribe` changed them): true until the next start sets it back."""
    return (config.mode, config.only, config.except_) != (mode, only, except_)


def as_set(config: SubscriptionSettings) -> str:
    """A config subscription's mode and filters as an answer names them: `instant`,
    `digest, only `X``; "unfiltered" said only to tell it from a filtered one."""
    filters = [
        f"{name} `{q}`" for name, q in (("only", config.only), ("except", config.except_)) if q
    ]
    return ", ".join([config.mode, *filters]) if filters else f"{config.mode}, unfiltered"


def known_topic(db: Database, name: str) -> Topic:
    if not name:
        raise CommandError("a topic NAME is needed: `/wirewatch topics` lists them")
    topics = {t.name: t for t in list_topics(db)}
    if name not in topics:
        known = ", ".join(f"`{n}`" for n in sorted(topics)) or "none yet"
        # As `test` and the command line answer a mistyped name (bot.catalog.unknown_topic).
        raise CommandError(
            f"no topic `{shown(name)}`{did_you_mean(name, topics)} (topics: {known})"
        )
    return topics[name]


def did_you_mean(typed: str, names: Iterable[str]) -> str:
    """`: did you mean `x`?` for the names `typed` most likely meant, or "". Names are
    lowercase, so a name typed in capitals (`TROOP-DEPLOYMENTS`, a phone's `Nk-russia`)
    is compared as lowercase: unchanged, difflib found nothing close in capitals."""
    close = difflib.get_close_matches(typed.lower(), sorted(names), n=2, cutoff=0.6)
    hint = " or ".join(f"`{n}`" for n in close)
    return f": did you mean {hint}?" if close else ""


# A search's words: "a phrase" (typographic quotes too), entity:NAME or entity:"A NAME",
# outlet:NAME or outlet:"A NAME", since:7d, page:N, OR between two terms; an unclosed
# quote runs to the end.
_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u00ab\u00bb", '"'))
_TOKEN = re.compile(r'(entity:|outlet:)?"([^"]*)"?|(\S+)', re.I)
_PAGE = re.compile(r"page:(\d+)", re.I)
_PAGE_DIGITS = 6  # more is past any last page (and int() refuses thousands of digits)
_SINCE = re.compile(r"since:(.+)", re.I)
# A word to leave out, as search engines take it (`-drill`, a dash a phone made of it too),
# and an option of the command line's `wirewatch search` typed in chat (`--channel`).
_LEFT_OUT = re.compile(r"[-\u2010-\u2015\u2212][^\W\d_]\S*")
_OPTION = re.compile(r"--[^\W\d_][\w-]*(?:=\S*)?")  # `--channel=C1` too
# The command line's options (`wirewatch search --help`) with the one long dash a phone makes
# of `--` (`—channel`): an option typed in chat, refused as `--channel` is, not a word to
# leave out, which "search cannot leave words out" said.
CLI_OPTIONS = ("channel", "config", "json", "reports", "help")
_DASHED_OPTION = re.compile(rf"[\u2012-\u2015\u2212]({'|'.join(CLI_OPTIONS)})(?:=\S*)?", re.I)
# How each search option is written, said when one is typed wrong (`page:-1`) or with
# nothing after it (`outlet:`, `entity:`): searched as words, those found nothing, or other
# stories (an empty `entity:` was dropped, and the search ran without it).
_OPTION_FORMS = {
    "page:": "a page is a number from 1, like `page:2`",
    "outlet:": 'an outlet is a feed\'s name, like `outlet:Reuters` or `outlet:"Al Jazeera"`',
    "entity:": 'an entity is a name, like `entity:Russia` or `entity:"North Korea"`',
    "since:": "since: takes a duration, like `since:7d` (the last 7 days)",
}
_Term = tuple[str, str]  # (text, how it was typed: "word", "phrase" or "entity")
_Run = _Term | str  # a term, or "OR" / "AND" between two


@dataclass(frozen=True)
class SearchQuery:
    """What a typed search asks: `terms` for the store; `page` (1: the newest); `entities`:
    the terms read as an entity (DPRK: North Korea), to say so in the answer; `outlet`: the
    feed name typed after outlet:, if any; `since`: seconds back from now (since:7d)."""

    terms: SearchTerms
    page: int = 1
    entities: tuple[str, ...] = ()
    outlet: str | None = None
    since: float | None = None


def read_page(word: str) -> int | None:
    """The page `word` asks for (`page:N`, at least 1), or None when it is no page. Any
    number of digits is a page: read only to four, `page:12345` was a search word, or a
    recap's window, and the answer spoke of that instead of the page."""
    paged = _PAGE.fullmatch(word)
    if paged is None:
        return None
    digits = paged.group(1).lstrip("0")
    return max(int(digits or "1"), 1) if len(digits) <= _PAGE_DIGITS else 10**_PAGE_DIGITS


def bad_option(word: str) -> str | None:
    """Why `word` is refused when it is a search option typed wrong (`page:-1`, `page:`) or
    with nothing after it (`outlet:`, `since:`, `entity:`), saying what to write; else None."""
    name, colon, value = word.partition(":")
    key = name.lower() + colon
    if key not in _OPTION_FORMS or (value and (key != "page:" or _PAGE.fullmatch(word))):
        return None
    return _written(word, key)


def _written(word: str, key: str) -> str:
    return f"`{shown(word)}`: {_OPTION_FORMS[key]}"


def search_query(text: str, gazetteer: Gazetteer) -> SearchQuery:
    """Read a search as an editor types it. A term that names an entity (by its name or an
    alias, in the gazetteer's case rules: "DPRK", "north korea", `entity:"North Korea"`) is
    looked for under all its names, as topics match entities; words naming one together
    ("North Korea") are that one term, not two words anywhere in the text."""
    page, runs, outlet, since = 1, list[_Run](), None, None
    for token in _TOKEN.finditer(text.translate(_QUOTES)):
        prefix, phrase, word = token.groups()
        if word is None and (prefix or "").lower() == "outlet:":
            if not phrase.strip():  # `outlet:""`: no outlet named, not every outlet
                raise CommandError(_written(token.group(0), "outlet:"))
            outlet = phrase.strip()
        elif word is None:
            if prefix and not phrase.strip():  # `entity:""`: no entity named, dropped unsaid
                raise CommandError(_written(token.group(0), "entity:"))
            if phrase.strip():  # `""` is no words: "nothing stored matches" misled
                runs.append((phrase, "entity" if prefix else "phrase"))
        elif dashed := _DASHED_OPTION.fullmatch(word):
            raise CommandError(_cli_option(word, f"`--{dashed.group(1).lower()}` with a long dash"))
        elif word == "NOT" or _LEFT_OUT.fullmatch(word):
            raise CommandError(_cannot_leave_out(word, text))
        elif _OPTION.fullmatch(word):
            raise CommandError(_cli_option(word, "not a word to look for"))
        elif problem := bad_option(word):
            raise CommandError(problem)
        elif word.lower().startswith("outlet:") and word[7:]:
            outlet = word[7:]
        elif back := _SINCE.fullmatch(word):
            since = _duration(back.group(1))
        elif (asked := read_page(word)) is not None:
            page = asked
        elif word in ("OR", "AND"):
            runs.append(word)
        elif word.lower().startswith("entity:"):
            runs.append((word[7:], "entity"))
        elif word.strip("()"):
            runs.append((word.strip("()"), "word"))
    terms: list[list[str]] = []
    entities: list[str] = []
    join = False
    for term in _named(runs, gazetteer):
        if isinstance(term, str):  # OR joins the terms either side; AND is what space means
            join = term == "OR" and bool(terms)
            continue
        group, name = _group(term, gazetteer)
        entities += [name] if name and name not in entities else []
        if join:
            terms[-1] += group
        else:
            terms.append(group)
        join = False
    terms_read = tuple(tuple(dict.fromkeys(g)) for g in terms)
    return SearchQuery(terms_read, page, tuple(entities), outlet, since)


def _cli_option(word: str, what: str) -> str:
    return (
        f"`{shown(word)}` is an option of `wirewatch search` on the bot's host ({what}); "
        "chat's search answers for the channel it is typed in"
    )


def _cannot_leave_out(word: str, text: str) -> str:
    """Search has no NOT: `troops NOT drill` looked for the word "not" too and found
    nothing, and `-drill` looked for "drill", the opposite of what was asked."""
    tokens = [t.group(0) for t in _TOKEN.finditer(text.translate(_QUOTES))]
    at = tokens.index(word)  # the word itself: not `NOTAM`, not a phrase `"NOT"`
    after = tokens[at + 1 : at + 2] if word == "NOT" else []
    typed = shown(" ".join([word, *after]))
    return (
        f"search cannot leave words out (`{typed}`): it lists the stories with all the "
        "words (OR: either of two), so search without it"
    )


def _duration(typed: str) -> float:
    try:
        return parse_duration(typed)
    except ValueError as exc:
        raise CommandError(f"since:{shown(typed)}: {exc} (since:7d: the last 7 days)") from None


def _named(runs: list[_Run], gazetteer: Gazetteer) -> list[_Run]:
    """`runs` with each stretch of typed words that names an entity as one term."""
    out: list[_Run] = []
    words: list[str] = []
    for run in [*runs, None]:
        if isinstance(run, tuple) and run[1] == "word":
            words.append(run[0])
            continue
        out += _merge(words, gazetteer)
        words = []
        if run is not None:
            out.append(run)
    return out


def _merge(words: list[str], gazetteer: Gazetteer) -> list[_Term]:
    """Words typed in a row: those an entity mention spans exactly, joined into one term."""
    starts: dict[int, int] = {}
    at = 0
    for i, w in enumerate(words):
        starts[at] = i
        at += len(w) + 1
    ends = {start + len(words[i]): i for start, i in starts.items()}
    spans = {
        starts[m.start]: ends[m.end]
        for m in gazetteer.find(" ".join(words))
        if m.start in starts and m.end in ends
    }
    out, i = [], 0
    while i < len(words):
        j = spans.get(i, i)
        out.append((" ".join(words[i : j + 1]), "entity" if i in spans else "word"))
        i = j + 1
    return out


def _group(term: _Term, gazetteer: Gazetteer) -> tuple[list[str], str | None]:
    """A term's phrases: itself, or an entity's every name; and that entity."""
    text, how = term
    name = gazetteer.canonical(text) if how == "entity" else None
    if name is None and how == "phrase":  # a quoted name: the entity, in its case rules
        found = gazetteer.find(text)
        whole = len(found) == 1 and (found[0].start, found[0].end) == (0, len(text))
        name = found[0].name if whole else None
    if name is None:
        return [text], None
    info = gazetteer.entities[name]
    return [text, info.name, *info.aliases], name
