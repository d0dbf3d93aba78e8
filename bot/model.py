"""The shared vocabulary: plain frozen data passed between the pipeline's stages.

No behaviour lives here beyond small derived properties; stages are functions over these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Entry:
    """One item as parsed from a feed, before it is stored.

    `identity` is stable across polls and across the feed moving to a new URL: the guid as
    written (never made absolute), else the canonical link, else a hash of title+summary.
    A guid or link the feed gives to several different reports carries a ` ~<hash>` mark
    after it on all but the first, so that none is lost (`bot.revisions.resolve_identities`).
    """

    identity: str
    url: str | None
    title: str
    summary: str
    published: datetime | None
    author: str | None = None
    # The feed's date when it was not believed (before 1990, or over a day ahead), as UTC
    # ISO text: `published` is then None, and the pipeline says so once, for a new item.
    date_ignored: str | None = None
    # No link of its own: `url`, if any, is its guid. A feed that mints new guids every poll
    # then repeats only its words, which is how the pipeline knows the item again.
    link_is_guid: bool = False
    # What matching and grouping need of title + summary, computed where the entry was
    # parsed (a worker process) so the event loop does not tokenise it; None: not computed.
    prepared: Prepared | None = field(default=None, compare=False, repr=False)
    # What the entry says, as words (`bot.text.versions.digest` of title and summary), given
    # by whoever makes the entry (the parse worker, the replay, an entry read back from the
    # store) so that settling identities, telling new from seen, finding edits and storing
    # read it instead of each computing it on the event loop (0.1-0.7 ms an entry). Made
    # there, not here: the shared vocabulary imports nothing of the text rules. Derived from
    # title and summary: `replace` only other fields.
    digest: str = field(kw_only=True, compare=False, repr=False)


# Word positions between a title and its text, in `Prepared.mentions` and wherever the
# matcher counts words (larger than any NEAR distance, so no phrase or NEAR joins a title's
# end to the text's start): the text's first word is at `title_len + GAP`. Here because both
# the matcher (bot.topics.match) and the relevance features (bot.relevance) read that layout.
GAP = 1000


@dataclass(frozen=True)
class Prepared:
    """The topic-independent work of matching and grouping one text, done once.

    `scan` holds the text's words as the topic automaton reads them (" w1 w2 \\n w3  w4 \\n":
    the title's words, then the text's; a sentence's first word after another sentence has two
    spaces before it, so that no phrase runs across); `mentions` are entity mentions as
    (name, alias as written, first word position, last word position; the text's words
    counted from `title_len + GAP`); `terms` are the story
    index's terms; `opinions` the encoder's probability per relevance model that wanted one
    (`bot.opinions`), added before the item is matched.
    """

    scan: str
    title_len: int
    mentions: tuple[tuple[str, str, int, int], ...]
    names: tuple[str, ...]
    terms: dict[str, float] | None = None
    opinions: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed body yielded; `warning` holds feedparser's bozo text when entries still came."""

    title: str | None
    link: str | None
    entries: tuple[Entry, ...]
    warning: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """One HTTP fetch. status 304 means not modified and `body` is None."""

    url: str
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Added:
    """Who added a chat topic and when: `by` the `platform:user id`, `name` as the platform
    showed the user ("" when it gave none), `at` a stored timestamp."""

    by: str
    name: str
    at: str


@dataclass(frozen=True)
class Topic:
    """A named query; `origin` is 'builtin', 'config' or 'chat'.

    `relevance` names a learned model (bot/relevance/NAME.json) that must also agree before
    the topic matches: the query finds candidates, the model keeps the ones that belong.
    `added`: who added a chat topic, when (None: not recorded, or not a chat topic); not
    part of what the topic is, so two topics of the same query compare equal.
    """

    name: str
    query: str
    description: str = ""
    origin: str = "builtin"
    relevance: str | None = None
    added: Added | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TopicMatch:
    """Why a topic fired on an item: the terms that matched and the entities seen.

    `score` is the relevance model's probability when the topic has one. `strict` is False
    for a match that only clears the topic's relaxed bar: enough to follow up a story a
    channel was already told of, not enough for a new alert.
    """

    topic: str
    matched: tuple[str, ...]
    entities: tuple[str, ...]
    explanation: str = ""
    score: float | None = None
    strict: bool = True


@dataclass(frozen=True)
class Source:
    """One outlet's item inside a story; `published` as the alert's (None: not read)."""

    outlet: str
    title: str
    url: str | None
    published: datetime | None = None


@dataclass(frozen=True)
class Change:
    """One part of a word diff: 'same', 'deleted', 'inserted', or 'gap' (unchanged words left
    out). `text` is feed text: adapters escape it like any other."""

    op: str
    text: str


@dataclass(frozen=True)
class Edit:
    """An outlet changed an item it had published: what changed, and what that changes for
    the channel (`started` / `stopped`: the channel's topics it now matches, or no longer)."""

    title: tuple[Change, ...]
    summary: tuple[Change, ...]
    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What the edit did to the channel's topics, as sentences."""
        out = [f"now matches topic {t}" for t in self.started]
        return (*out, *(f"no longer matches topic {t}" for t in self.stopped))


@dataclass(frozen=True)
class Corroboration:
    """The independent outlets carrying a story so far, first reporter first: a label each
    ("Al Jazeera", "via AFP (The Moscow Times)"). `corroborated`: the story was marked so,
    once, when enough of them reported within the configured window."""

    outlets: tuple[str, ...]
    corroborated: bool = False


@dataclass(frozen=True)
class Alert:
    """What a chat adapter renders: one story as of one delivery.

    `kind` is 'new' (the story's first message), 'update' (a later item, in its thread),
    'edit' (an outlet changed an item: `edit` says how; in the thread) or 'corroborated' (the
    story's first message, to be rewritten with its corroboration mark).
    """

    delivery_id: int
    kind: str
    story_id: int
    topic: str
    channel: str
    title: str
    url: str | None
    outlet: str
    published: datetime
    summary: str
    entities: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    explanation: str = ""
    sources: tuple[Source, ...] = field(default_factory=tuple)
    # Every topic of the channel the item matched, `topic` (the delivery's own) first.
    topics: tuple[str, ...] = ()
    # The delivery whose item this message shows, when that is not `delivery_id`: an edited
    # first message shows the story's first item, while `delivery_id` is the later update
    # (or the corroboration mark) that rewrote it.
    shown_delivery: int | None = None
    corroboration: Corroboration | None = None
    edit: Edit | None = None

    @property
    def feedback_id(self) -> int:
        """What this message's feedback buttons label: the delivery that posted its item."""
        return self.shown_delivery or self.delivery_id


@dataclass(frozen=True)
class MessageRef:
    """Where an adapter put a message, enough to thread under it or edit it later."""

    platform: str
    channel: str
    message_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One alert owed to one channel, as the outbox claimed it (`attempts` includes this one)."""

    id: int
    subscription_id: int
    channel: str
    story_id: int
    item_id: int
    kind: str  # "new", "update", "edit", "corroborated" or "rewrite" (bot.outbox)
    attempts: int
    maybe_posted: bool = False  # the last send's answer was lost: ask the platform first
    faults: int = 0  # failures on our side so far (see bot.send_errors.FAULT_ATTEMPTS)
    event_id: int = 0  # the story event ('edit', 'corroborated') it tells of; 0 for none
