"""Per-entry work that depends on nothing but the entry, done in the parse workers.

Tokenising for the topic automaton, finding entity mentions and computing the story
index's terms are pure functions of an entry's title and summary. They run in the parse
worker processes (`prepare_entries`, for the entries a poll found new), so the event loop
keeps only what needs shared state: scanning for the current topics, scoring against the
story index, and the SQLite write.

Deliberately does not evaluate topics (they change at runtime, workers would go stale) and
does not touch the database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.gazetteer import Gazetteer, shipped
from bot.model import Entry, Prepared
from bot.stories import StoryDoc, doc_terms
from bot.text.wire import headline, strip_byline
from bot.topics.match import prepare

_EPOCH = datetime.fromtimestamp(0, UTC)  # doc_terms never reads the date


def prepared_of(entry: Entry, gazetteer: Gazetteer) -> Prepared:
    """The entry's prepared text: from the parse worker, or computed here when it is missing."""
    return entry.prepared or _prepare(entry, gazetteer)


def feed_names(title: str, summary: str) -> tuple[str, ...]:
    """The names the story index files an item under: those the shipped gazetteer finds in
    the feed's own title and summary. The join model learned from those (`bot.grouping`);
    an article page's names (its dateline's city, say) would make one outlet's unrelated
    reports look alike, and a deployment's own entities would make the stored terms
    (`bot.storyterms`) depend on its settings.

    Exactly `prepare(title, summary, shipped()).names` (tested), at a quarter of the cost:
    every shipped alias holds a letter or digit, so each mention covers one of the words
    `prepare` keeps mentions for, and its words need not be read (166 -> 45 us an item).
    """
    gazetteer = shipped()
    found = [*gazetteer.names(headline(title)), *gazetteer.names(strip_byline(summary))]
    return tuple(dict.fromkeys(found))


def feed_terms(doc: StoryDoc) -> dict[str, float]:
    """The story index's terms of a doc whose title and text are the feed's: with the names
    `feed_names` finds there, whatever `doc.entities` holds (the stored item's own names may
    come from its article page)."""
    return doc_terms(replace(doc, entities=feed_names(doc.title, doc.text)))


def _prepare(entry: Entry, gazetteer: Gazetteer) -> Prepared:
    prepared = prepare(entry.title, entry.summary, gazetteer)
    names = prepared.names if gazetteer is shipped() else feed_names(entry.title, entry.summary)
    doc = StoryDoc(0, entry.title, entry.summary, names, entry.published or _EPOCH)
    return replace(prepared, terms=doc_terms(doc))


def prepare_entries(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """Every entry prepared, with the shipped gazetteer (loaded once per worker)."""
    gazetteer = shipped()
    return tuple(replace(e, prepared=_prepare(e, gazetteer)) for e in entries)
