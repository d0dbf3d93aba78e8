"""What `search` answers: one line per story the words found, newest first.

An editor asking "what did we get on X?" wants the stories, not every outlet's copy of one:
five reports of one story made five near-identical lines. A line shows the story's first
headline (the one its alert and digest line showed, so it is recognised), its outlets, its
time span, what this channel got of it and its first report's link; pages and the count
are of stories. An item no story holds (stored before the story index) is a line of its own.

Deliberately not here: reading what was typed (bot.commands.lookups), the queries
(bot.search_store, bot.search_count_store, bot.story_store), and changing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.clock import iso, utcnow
from bot.commands.echo import shown, when
from bot.commands.grammar import SEARCH_LIMIT
from bot.commands.lookups import SearchQuery, search_query
from bot.commands.urls import URL_TEXT
from bot.errors import CommandError
from bot.feed_store import list_feeds
from bot.search_count_store import COUNT_CAP, count_stories, search_matches
from bot.search_store import Hit, search_stories
from bot.settings import LINE_BREAKING
from bot.story_store import Told, reports_shown, stories_told, story_deliveries
from bot.text.invisible import quoted
from bot.wording import counted

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.gazetteer import Gazetteer

_Got = list[tuple[int, str, int | None]]  # a channel's deliveries of a story, oldest first
_PAGE_WORD = re.compile(r"page:\d+", re.I)
SHOWN_OUTLETS = 2  # "Yonhap, AFP and 3 more"
# The count stops at COUNT_CAP, so no answer names a page past this one; and each page
# before the one asked for is walked and held (page:9999 on 60,000 items: 52 s of the
# command thread, every channel's commands waiting).
LAST_PAGE = COUNT_CAP // SEARCH_LIMIT
_NARROW = "more words, outlet:NAME"


@dataclass(frozen=True)
class Scope:
    """What a search typed as `rest` asks of the store: its words, its outlet's feeds, its
    start (ISO 8601) and how many lines the pages before this one hold."""

    query: SearchQuery
    feeds: set[int] | None
    since: str | None
    skip: int


def search_scope(db: Database, gazetteer: Gazetteer, rest: str, *, command: str) -> Scope:
    """`rest` read as chat's `search` reads it (CommandError for what it refuses); `command`
    is how the refusal spells the command (`/wirewatch search`, `wirewatch search`)."""
    query = search_query(rest, gazetteer)
    if not query.terms and not query.outlet:
        raise CommandError(f"search needs words to look for: `{command} Niger troops`")
    if query.page > LAST_PAGE:
        raise CommandError(
            f"search pages go as far as page:{LAST_PAGE} (the newest {COUNT_CAP} stories); "
            f"for older ones narrow it ({_NARROW})"
        )
    feeds = outlet_feeds(db, query.outlet) if query.outlet else None
    since = iso(utcnow() - timedelta(seconds=query.since)) if query.since is not None else None
    return Scope(query, feeds, since, (query.page - 1) * SEARCH_LIMIT)


@dataclass(frozen=True)
class Found:
    """One page of a search as both its answers tell it (chat's lines, `wirewatch search
    --json`'s objects): the stories, how many in all, each told whole, what the channel
    got of each (by story id, or minus the id of an item no story holds), and the hits
    whose story's first headline lacks the words (the report that has them is named)."""

    scope: Scope
    hits: list[Hit]
    total: int
    told: dict[int, Told]
    got: dict[int, _Got]
    later: set[int]


def search_found(
    db: Database, gazetteer: Gazetteer, channel: str, rest: str, command: str
) -> Found:
    """The page `search REST` typed in `channel` shows (CommandError for what it refuses)."""
    scope = search_scope(db, gazetteer, rest, command=command)
    query, feeds, since, skip = scope.query, scope.feeds, scope.since, scope.skip
    hits = search_stories(db, query.terms, SEARCH_LIMIT, skip, feeds, since)
    total = count_stories(db, query.terms, feeds, since) if hits or skip else 0
    if not hits:
        return Found(scope, hits, total, {}, {}, set())
    told = stories_told(db, hits)
    got = story_deliveries(
        db,
        channel,
        [h.story for h in hits if h.story is not None],
        [h.item for h in hits if h.story is None],
    )
    later = {h.item: t.item for h in hits if (t := told.get(h.item)) and t.item != h.item}
    first_match = search_matches(db, query.terms, list(later.values()), feeds, since)
    return Found(
        scope, hits, total, told, got, {h for h, first in later.items() if first not in first_match}
    )


def search_reply(db: Database, gazetteer: Gazetteer, channel: str, rest: str) -> str:
    """The answer to `search REST` typed in `channel`."""
    rest = LINE_BREAKING.sub(" ", rest).strip()
    found = search_found(db, gazetteer, channel, rest, "/wirewatch search")
    query, since, skip, hits = found.scope.query, found.scope.since, found.scope.skip, found.hits
    total = found.total
    words = " ".join(w for w in rest.split() if not _PAGE_WORD.fullmatch(w))
    if not hits and total:
        return f"page {query.page} of `{shown(words)}` is past the last: {_matches(total, query)}"
    if not hits:
        return f"nothing stored matches `{shown(words)}`{_as_entities(query)}"
    aside = _matched_aside(db, found.later)
    lines = [_found(total, skip, len(hits), query, since)]
    lines += [
        _line(h, found.told.get(h.item), aside.get(h.item, ""), found.got.get(h.story or -h.item))
        for h in hits
    ]
    if skip + len(hits) < total:
        lines.append(_older(words, query.page + 1))
    return "\n".join(lines)


def _matched_aside(db: Database, later: set[int]) -> dict[int, str]:
    """Per hit whose story's first headline is not a match (the words came in a later
    report, or another outlet's): that report's headline, so the line shows why it is
    listed."""
    return {
        h: f' · matched in "{quoted(r["title"])}" ({quoted(r["outlet"])})'
        for h, r in reports_shown(db, sorted(later)).items()
    }


def here(got: _Got | None) -> str:
    """What the channel got of a story, as its search line says it ("" for nothing)."""
    return _here(got).removeprefix(" · ")


def _line(hit: Hit, told: Told | None, aside: str, got: _Got | None) -> str:
    """ "- Headline (Yonhap, AFP and 3 more; 7 reports, 2026-12-01 08:10 UTC to 12-02 14:00
    UTC) · alerted here, ref 8 https://..."; a story of one report as an item was shown."""
    if told is None:  # its reports pruned between the two queries
        return f"- (a story no longer stored, {when(hit.published)})"
    url = f" {told.url}" if told.url and URL_TEXT.match(told.url) else ""
    if told.reports == 1:
        about = f"{quoted(told.outlets[0])}, {when(told.first)}"
    else:
        about = f"{_outlets(told.outlets)}; {counted(told.reports, 'report')}, {_span(told)}"
    return f"- {quoted(told.title)} ({about}){aside}{_here(got)}{url}"


def _outlets(names: tuple[str, ...]) -> str:
    """ "Yonhap and AFP", "Yonhap, AFP and Reuters", "Yonhap, AFP and 3 more"."""
    said = [quoted(n) for n in names]
    if len(said) > SHOWN_OUTLETS + 1:
        said[SHOWN_OUTLETS:] = [f"{len(said) - SHOWN_OUTLETS} more"]
    return " and ".join(filter(None, [", ".join(said[:-1]), said[-1]]))


def _span(told: Told) -> str:
    """ "2026-12-01 08:10 to 14:00 UTC" within a day, else both times whole."""
    first, last = when(told.first), when(told.last)
    if first == last:
        return first
    if first[:10] == last[:10]:
        return f"{first.removesuffix(' UTC')} to {last[11:]}"
    return f"{first} to {last}"


def _here(got: _Got | None) -> str:
    """What this channel got of a story: an editor asking "what did we get on X" wants the
    alerts told from the stories that never reached them. The most it got says it (an
    alert, else a digest line, else one waiting); reports a mute kept back are added."""
    if not got:
        return ""
    muted = sum(1 for _, status, _ in got if status == "muted")
    said = next((s for s in map(_state, _ranked(got)) if s), "")
    if not said:
        return " · not sent here: the channel was muted" if muted else ""
    if muted:
        said += f"; {counted(muted, 'report')} skipped while muted"
    return f" · {said}"


_RANK = {"sent": 0, "pending": 1, "claimed": 1, "held": 1, "digest": 2, "failed": 3}


def _ranked(got: _Got) -> _Got:
    """The channel's deliveries of a story, the most it got first (an alert over a digest
    line), the oldest first among equals (the story's alert, not an update in its thread)."""
    sent_alone = [g for g in got if g[1] == "sent" and g[2] is None]
    rest = sorted((g for g in got if g[1] in _RANK), key=lambda g: _RANK[g[1]])
    return sent_alone + rest


def _state(got: tuple[int, str, int | None]) -> str:
    ref, status, digest = got
    if status == "sent":
        return "in a digest here" if digest is not None else f"alerted here, ref {ref}"
    if status == "digest":
        return "waiting for this channel's next digest"
    if status in ("pending", "claimed", "held"):
        return f"alert waiting to be sent here, ref {ref}"
    if status == "failed":
        return f"alert given up on here, ref {ref}"
    return ""


def outlet_feeds(db: Database, typed: str) -> set[int]:
    """The feeds an editor means by an outlet's name: those so named, in any case, else
    those whose name has it as a word ("Reuters": "Reuters World" and "Reuters Business");
    removed feeds too, as their items stay searchable."""
    want = typed.casefold()
    feeds = list_feeds(db)
    named = {f.id for f in feeds if f.name.casefold() == want}
    within = {f.id for f in feeds if re.search(rf"\b{re.escape(want)}\b", f.name.casefold())}
    if named or within:
        return named or within
    raise CommandError(f"no feed is called `{shown(typed)}`: `/wirewatch feeds` lists them")


def _found(total: int, skip: int, count: int, query: SearchQuery, since: str | None) -> str:
    """ "3 stories, newest first:"; of more than a page, which: "45 stories; 11-20, newest
    first:"; with how an entity was read: "13 stories (North Korea under any of its
    names)"; since:7d as the time it stands for. Stories, not reports: a story's reports
    are one line."""
    after = f" since {when(since)}" if since else ""
    if total == 1:
        return f"1 story{after}{_as_entities(query)}:"
    many = f"more than {COUNT_CAP}" if total > COUNT_CAP else str(total)
    which = "" if skip == 0 and count == total else f"; {skip + 1}-{skip + count}"
    return f"{many} stories{after}{_as_entities(query)}{which}, newest first:"


def _matches(total: int, query: SearchQuery) -> str:
    """How many pages a search has, for a page asked past them."""
    many = f"more than {COUNT_CAP}" if total > COUNT_CAP else str(total)
    pages = -(-min(total, COUNT_CAP) // SEARCH_LIMIT)
    noun = "story" if total == 1 else "stories"
    return f"{many} {noun}{_as_entities(query)}, {counted(pages, 'page')}"


def _as_entities(query: SearchQuery) -> str:
    """Why "DPRK" lists stories that never say it: the entity is looked for by all its names."""
    if not query.entities:
        return ""
    return " (" + "; ".join(f"{n} under any of its names" for n in query.entities) + ")"


def _older(words: str, page: int) -> str:
    """What to type for the next page: the whole command when it fits in an answer."""
    if page > LAST_PAGE:
        return f"older: narrow the search ({_NARROW}); pages go as far as page:{LAST_PAGE}"
    if shown(words) == words:
        return f"older: `/wirewatch search {words} page:{page}`"
    return f"older: the same search with `page:{page}` added"
