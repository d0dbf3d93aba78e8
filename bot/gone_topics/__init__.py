"""Subscriptions whose topic left the config: their alerts held, their channels told.

A channel may follow a config (or built-in) topic from chat; the operator may then remove
that topic from the config. At each start, after the topics are synced, the alerts still
waiting through such a subscription go on through another topic the channel follows that
takes their item (as `unsubscribe` would move them), and the rest are held with the reason
in `error`, never posted nor dropped; the channel is told once, in the channel. When the
topic is back, the held alerts of each story still within `max_age` go out, the others
are cancelled, and the channel is told what came of them: at the next start when it is
back in the config, at once when `topic add` makes a topic of its name from chat
(`give_back`, once that topic's query has decided them again). Back in the config, the
topic as it now reads decides them first (`returning`): what it no longer takes is dropped
and counted, as `topic add` would. A story's corroboration mark queued while its alert was
held goes with that alert: out after it, or dropped with it. At start, holding and giving
back go a story at a time in slices off the event loop, which a stop ends; the next start
finishes them, and the channel is told once, when its give-back is whole, counting all of
it (the counts so far kept with the slices, `_Tally`).

A config topic that takes the name of a topic made from chat (put back after a moderator
made one of its name, or new) replaces it, as the config wins every name it shares (chat's
`topic add` refuses a config topic's name); each channel that follows it is told once
(`tell_replaced`).

Deliberately not here: new alerts (the matcher no longer knows the topic, so none are
queued), a subscription the config itself removed (`sync_config_subscriptions` ends it).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import iso, utcnow
from bot.db import write
from bot.durations import format_duration
from bot.model import Topic
from bot.narrow import Redecision, rematch
from bot.redecide import (
    QUERY_CHANGED,
    _finished,
    _sliced,
    _unfinish,
    _unfinished,
    stored_item,
    taker,
    topic_exists,
)
from bot.store import (
    HELD_FOR_GONE,
    SubscriptionRow,
    queue_notice,
    subscriptions,
    told_story,
)
from bot.topics.entities import Gazetteer
from bot.wording import counted

log = logging.getLogger(__name__)

# The error of an alert held for that reason: what `bot.redecide._resume` leaves held.
GONE = HELD_FOR_GONE.replace("%", "{}")
# What waits through a subscription: a paused channel's held alerts and a send cut short
# (claimed) too.
_WAITING = ("pending", "digest", "claimed", "held")


@dataclass(frozen=True)
class Gone:
    """A channel's subscription to a topic that no longer exists, and what waits for it."""

    channel: str
    topic: str
    held: int


def gone_subscriptions(db: sqlite_utils.Database, channel: str | None = None) -> list[Gone]:
    """Subscriptions in force (of `channel`, else of every channel) whose topic is gone."""
    return [
        Gone(s.channel, s.topic, _held_count(db, s))
        for s in subscriptions(db, channel)
        if s.paused_reason != "unsubscribed" and not topic_exists(db, s.topic)
    ]


def gone_line(g: Gone) -> str:
    """How `status` and the subscription list say it, with the two ways out."""
    return (
        f"`{g.topic}` was removed from the config: {counted(g.held, 'alert')} held for it, "
        f"none posted (put it back in the config, or `/wirewatch unsubscribe {g.topic}`)"
    )


def returning(
    db: sqlite_utils.Database, topics: list[Topic], after: list[Topic], gazetteer: Gazetteer
) -> Redecision | None:
    """At start, before the topics are synced: what decides the alerts held for config
    topics that are back (`topics` has them, alerts are held for them) as they now read,
    among `after` (every topic as the sync leaves them); None when none is back. The
    encoder is asked about their items first, as `topic add` asks it, by the start
    (`bot.app._topics_at_start`: off the loop, a batch at a time, a stop heard). Whether
    the store has them yet does not count: a start stopped after storing the topics and
    before giving back what was held left them stored, their alerts still held."""
    held = {  # one look at the held alerts, not one per config topic
        r[0]
        for r in db.execute(
            "SELECT DISTINCT error FROM deliveries WHERE status = 'held' AND error LIKE ? AND "
            "kind IN ('new', 'update')",
            [HELD_FOR_GONE],
        )
    }
    back = {t.name for t in topics if GONE.format(t.name) in held}
    return rematch(back, after, gazetteer) if back else None


def tell_replaced(db: sqlite_utils.Database, topics: list[Topic]) -> list[str]:
    """At start, before the topics are synced (the sync replaces them): the config topics
    that take the name of a topic made from chat, each channel following it told once with
    the chat query it loses and how to keep it. Their names."""
    chat = dict(db.execute("SELECT name, query FROM topics WHERE origin = 'chat'").fetchall())
    replaced = [t for t in topics if t.name in chat]
    with write(db):
        for t in replaced:
            log.warning("topic.replaced name=%s by=config chat_query=%r", t.name, chat[t.name])
            for sub in subscriptions(db):
                if sub.topic == t.name and sub.paused_reason != "unsubscribed":
                    text = _replaced_text(t, chat[t.name], set(chat))
                    key = f"topic-replaced:{sub.channel}\n{t.name}\n{chat[t.name]}"
                    queue_notice(db, key, text, sub.channel)
    return [t.name for t in replaced]


def settle_gone_topics(
    db: sqlite_utils.Database,
    max_age: float,
    now: datetime | None = None,
    again: Redecision | None = None,
    stop: threading.Event | None = None,
) -> None:
    """At start, once topics and config subscriptions are synced: hold what waits for a
    topic that is gone, give back what was held for one that is back (decided again by
    `again`, from `returning`, first); tell each channel.

    Off the event loop (`bot.app._gone_at_start`), a story at a time in slices (`_sliced`;
    seconds at thousands held): a `stop` ends it between two (StoppingError), and the next
    start finishes it, as an uninterrupted one would have. Each subscription's counts so
    far are kept with the slices (`_Tally`), and its channel is told once, when its hold or
    give-back is whole, with the counts of the whole of it."""
    since = iso((now or utcnow()) - timedelta(seconds=max_age))
    with write(db):
        subs = [s for s in subscriptions(db) if s.paused_reason != "unsubscribed"]
        held = {  # through the status index: a subscription's sent history is not read
            r[0]
            for r in db.execute(
                "SELECT DISTINCT subscription_id FROM deliveries WHERE status = 'held' AND "
                "error LIKE ?",
                [HELD_FOR_GONE],
            )
        }
        marks = {(u["kind"], u["subscription_id"]): u for u in _marks(db)}
        units: list[Callable[[], int]] = []
        lasts: list[Callable[[], None]] = []
        for sub in subs:
            if not topic_exists(db, sub.topic):
                work = _holding(db, sub, subs, _Tally.of(db, marks.pop((HOLDING, sub.id), None)))
            elif (
                sub.id in held
                or (GIVING_BACK, sub.id) in marks
                or _told(db, f"topic-gone:{_departure(db, sub)}")
            ):
                mark = marks.pop((GIVING_BACK, sub.id), None)
                tally = _Tally.of(db, mark, GIVING_BACK, sub.id)
                work = _giving_back(db, sub, since, max_age, IN_CONFIG, again, tally)
            else:
                continue
            units += work[0]
            lasts.append(work[1])
        # A hold or give-back cut short whose topic went the other way (or whose
        # subscription ended) since: its channel was told nothing of it, and is not.
        _finished(db, *(u["id"] for u in marks.values()))

    def last() -> int:
        for finish in lasts:
            finish()
        return 0

    _sliced(db, units, last, stop)


# A start's hold or give-back of a subscription's alerts under way (`unfinished_writes`),
# its counts so far kept with it (in `topics`, as JSON): a start cut short between two
# slices left it, and the next finishes it.
HOLDING, GIVING_BACK = "topic-gone", "topic-back"


def _marks(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return _unfinished(db, HOLDING) + _unfinished(db, GIVING_BACK)


@dataclass
class _Tally:
    """A subscription's hold or give-back: what came of its alerts so far. With a mark (at
    start), written to it with each story, in that story's transaction: a stop between two
    slices loses none, and the channel's notice, at the end, counts the whole of it."""

    db: sqlite_utils.Database
    mark: int | None
    counts: dict[str, int]

    @classmethod
    def of(
        cls,
        db: sqlite_utils.Database,
        mark: dict[str, Any] | None,
        kind: str = HOLDING,
        sub_id: int | None = None,
    ) -> _Tally:
        """The tally a cut-short start left in `mark`, else a new one (marked only when
        `sub_id` is given: a hold's is marked once it has stories to move)."""
        if mark is not None:
            return cls(db, mark["id"], json.loads(mark["topics"] or "{}"))
        tally = cls(db, None, {})
        if sub_id is not None:
            tally.marked(kind, sub_id)
        return tally

    def marked(self, kind: str, sub_id: int) -> None:
        if self.mark is None:
            self.mark = _unfinish(self.db, kind, kind, subscription_id=sub_id)
            self._save()

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self[what] + n
            self._save()

    def __getitem__(self, what: str) -> int:
        return self.counts.get(what, 0)

    def _save(self) -> None:
        if self.mark is not None:
            self.db.execute(
                "UPDATE unfinished_writes SET topics = ? WHERE id = ?",
                [json.dumps(self.counts), self.mark],
            )

    def done(self) -> None:
        if self.mark is not None:
            _finished(self.db, self.mark)


def held_for(db: sqlite_utils.Database, topic: str) -> int:
    """How many story alerts, in every channel, are held since a topic of this name left."""
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'held' AND error = ? AND kind IN "
            "('new', 'update')",
            [GONE.format(topic)],
        ).fetchone()[0]
    )


def give_back(
    db: sqlite_utils.Database, topic: str, max_age: float, now: datetime | None = None
) -> int:
    """A chat topic now has the name of a config topic that left: what each channel following
    it had held for it is given back as at a start with the topic back (`_giving_back`), in
    one write (on the store thread), and the channel told. How many alerts were given back."""
    since = iso((now or utcnow()) - timedelta(seconds=max_age))
    back = 0
    with write(db):
        marks = {(u["kind"], u["subscription_id"]): u for u in _marks(db)}
        for sub in subscriptions(db):
            if sub.topic == topic and sub.paused_reason != "unsubscribed":
                tally = _Tally.of(db, marks.get((GIVING_BACK, sub.id)))
                units, last = _giving_back(db, sub, since, max_age, FROM_CHAT, None, tally)
                for unit in units:
                    unit()
                last()
                back += tally["back"]
    return back


def _held_count(db: sqlite_utils.Database, sub: SubscriptionRow) -> int:
    """The story alerts held for its topic (their edits and marks not counted)."""
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE subscription_id = ? AND status = 'held' "
            "AND error = ? AND kind IN ('new', 'update')",
            [sub.id, GONE.format(sub.topic)],
        ).fetchone()[0]
    )


def _holding(
    db: sqlite_utils.Database, sub: SubscriptionRow, subs: list[SubscriptionRow], tally: _Tally
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """Its waiting alerts (not a digest's in doubt) go on through another subscription of
    the channel whose topic takes the item, else are held; one claimed by a send cut short,
    or in a digest in doubt, is held in doubt (the platform is asked before any resend, once
    the topic is back: `bot.digest` would have posted the digest again without it). All
    held in the caller's write; then a unit per story moving on what another takes, and
    the last that tells the channel."""
    others = [s for s in subs if s.channel == sub.channel and s.id != sub.id]
    takers = [s for s in others if topic_exists(db, s.topic)]
    # as they were: `_move` keeps a claim or a pause (none to read when nothing takes them)
    waiting = _waiting(db, sub.id) if takers else []
    db.execute(  # first, so that they tell the channel of no story (`told_story`)
        "UPDATE deliveries SET status = 'held', error = ?, maybe_posted = CASE WHEN status = "
        "'claimed' THEN 1 ELSE maybe_posted END WHERE subscription_id = ? AND status IN "
        f"({','.join('?' * len(_WAITING))})",
        [GONE.format(sub.topic), sub.id, *_WAITING],
    )
    stories: dict[int, list[dict[str, Any]]] = {}
    for d in waiting:
        stories.setdefault(d["story_id"], []).append(d)
    if stories:
        tally.marked(HOLDING, sub.id)

    def story(ds: list[dict[str, Any]]) -> int:
        tally.add("moved", sum(_move_on(db, d, takers, sub.channel) for d in ds))
        return 0

    def last() -> None:
        held, moved = _held_count(db, sub), tally["moved"]
        if held or moved:
            log.warning(
                "topic.gone channel=%s topic=%s held=%d moved=%d",
                sub.channel,
                sub.topic,
                held,
                moved,
            )
        _tell(db, sub, "gone", _gone_text(sub, held, moved))
        tally.done()

    return [functools.partial(story, ds) for ds in stories.values()], last


def _waiting(db: sqlite_utils.Database, sub_id: int) -> list[dict[str, Any]]:
    """The subscription's waiting story alerts (not edits or marks), oldest first."""
    return list(
        db.query(
            "SELECT id, subscription_id, story_id, item_id, kind, status FROM deliveries WHERE "
            "subscription_id = ? AND "
            f"status IN ({','.join('?' * len(_WAITING))}) AND digest_of IS NULL AND "
            "event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [sub_id, *_WAITING],
        )
    )


def _move_on(
    db: sqlite_utils.Database, d: dict[str, Any], takers: list[SubscriptionRow], channel: str
) -> int:
    """Under the first of `takers` that takes it as `bot.ingest` would queue its item now
    (`bot.redecide.taker`): an update of a story the channel is told of by an alert that
    goes out, else the story's first alert here (its topic matched strictly)."""
    item = stored_item(db, d["item_id"])
    for to in takers:
        status = "digest" if to.mode == "digest" else "pending"
        told = told_story(db, channel, d["story_id"], status, before=d["id"])
        # one claimed by a send cut short may be out as it was: it stays that
        kind = d["kind"] if d["status"] == "claimed" else "update" if told else "new"
        if taker([to], item, {**d, "kind": kind}) is not None:
            return _move(db, d, to, kind)
    return 0


def _move(db: sqlite_utils.Database, d: dict[str, Any], to: SubscriptionRow, kind: str) -> int:
    """Under `to`, as it takes alerts now; one held while the channel is paused, or claimed
    by a send cut short, stays so, without the gone topic's reason (held at an earlier
    start), which a resume would leave held."""
    status = d["status"]
    if status not in ("claimed", "held") or (status == "held" and not to.paused_reason):
        status = "digest" if to.mode == "digest" else "pending"
    return db.execute(
        "UPDATE deliveries SET subscription_id = ?, status = ?, kind = ?, error = CASE WHEN "
        "error LIKE ? THEN NULL ELSE error END WHERE id = ?",
        [to.id, status, kind, HELD_FOR_GONE, d["id"]],
    ).rowcount


# How the channel is told where the topic came back from.
IN_CONFIG, FROM_CHAT = "in wirewatch's config", "(made again from chat)"


def _giving_back(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    since: str,
    age: float,
    how: str,
    again: Redecision | None,
    tally: _Tally,
) -> tuple[list[Callable[[], int]], Callable[[], None]]:
    """The topic is back: each story's held alerts go out as the subscription takes them
    now (or wait for a paused channel's resume) if one of its items is within `max_age`,
    else are cancelled, as an item that old is never alerted; with `again`, first only
    those the topic as it now reads still takes. A unit per story (`_give_back_story`),
    and the last, which tells the channel what came of them all (`tally`)."""
    reason = GONE.format(sub.topic)
    _adopt_marks(db, sub, reason)
    tally.add("refused", _refused_from_chat(db, sub))
    redecide = again if again is not None and sub.topic in again.affected else None
    others = _others(db, sub) if redecide is not None else []
    stories = [
        r[0]
        for r in db.execute(f"{_HELD_STORIES} GROUP BY story_id ORDER BY min(id)", [sub.id, reason])
    ]

    def last() -> None:
        _drop_untold_rest(db, sub, reason)
        _release(db, sub)  # edits and marks of a story the channel is told of otherwise
        back, dropped, refused = tally["back"], tally["dropped"], tally["refused"]
        log.info("topic.back channel=%s topic=%s resumed=%d dropped=%d refused=%d", sub.channel,
                 sub.topic, back, dropped, refused)  # fmt: skip
        _tell(db, sub, "back", _back_text(sub, back, (dropped, refused), age, how))
        tally.done()

    units: list[Callable[[], int]] = [
        functools.partial(_give_back_story, db, sub, story, since, redecide, others, tally)
        for story in stories
    ]
    return units, last


def _refused_from_chat(db: sqlite_utils.Database, sub: SubscriptionRow) -> int:
    """The alerts held for it that `topic add` of its name refused, deciding them before
    they are given back (`bot.redecide._held_reason`): counted once, for the notice, as the
    config's return counts those it refuses (`_decide_again`)."""
    t = sub.topic
    return int(
        db.execute(
            "UPDATE deliveries SET error = ? WHERE subscription_id = ? AND status = 'cancelled' "
            "AND error = ?",
            [
                f"topic {t} came back from chat no longer taking it",
                sub.id,
                f"{GONE.format(t)}; {QUERY_CHANGED.format(t)}",
            ],
        ).rowcount  # fmt: skip
    )


def _give_back_story(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    story: int,
    since: str,
    again: Redecision | None,
    others: list[SubscriptionRow],
    tally: _Tally,
) -> int:
    """One story's held alerts (`_giving_back`): decided again by `again` (what the topic no
    longer takes counted as refused), then cancelled if none of its held items is within
    `max_age` (counted as dropped), else given back with their edits and marks (counted as
    back) in story order."""
    reason = GONE.format(sub.topic)
    if again is not None:
        tally.add("refused", _decide_again(db, sub, again, others, story))
    # Through the index on the story (its few rows), not the subscription's or the status's
    # (thousands held: a story at a time, they made the give-back seven times slower).
    mine = "+subscription_id = ? AND +status = 'held' AND error = ? AND story_id = ?"
    newest = db.execute(
        "SELECT max(i.published) FROM deliveries d JOIN items i ON i.id = d.item_id WHERE "
        "+d.subscription_id = ? AND +d.status = 'held' AND d.error = ? AND d.story_id = ?",
        [sub.id, reason, story],
    ).fetchone()[0]
    alerts = f"{mine} AND event_id = 0 AND kind IN ('new', 'update')"
    if newest is not None and newest < since:
        tally.add(
            "dropped",
            db.execute(
                f"UPDATE deliveries SET status = 'cancelled', error = ? WHERE {alerts}",
                [f"{reason}; older than max_age when it came back", sub.id, reason, story],
            ).rowcount,
        )
        db.execute(  # their edits and marks go with them, not counted
            f"UPDATE deliveries SET status = 'cancelled' WHERE {mine}", [sub.id, reason, story]
        )
        return 0
    back = db.execute(f"SELECT count(*) FROM deliveries WHERE {alerts}", [sub.id, reason, story])
    if n := back.fetchone()[0]:
        tally.add("back", n)
        _release(db, sub, story)
        _in_story_order(db, sub.channel, story)
    return 0


def _release(db: sqlite_utils.Database, sub: SubscriptionRow, story: int | None = None) -> None:
    """What is held for its topic (of `story`, if given) goes out as the subscription takes
    it now, or waits for a paused channel's resume."""
    which = "+subscription_id = ? AND +status = 'held' AND error = ? AND story_id = ?"
    if story is None:
        which = "subscription_id = ? AND status = 'held' AND error = ?"
    db.execute(
        "UPDATE deliveries SET error = NULL, status = CASE WHEN ? THEN 'held' WHEN ? AND "
        f"event_id = 0 THEN 'digest' ELSE 'pending' END WHERE {which}",
        [bool(sub.paused_reason), sub.mode == "digest", sub.id, GONE.format(sub.topic),
         *([] if story is None else [story])],
    )  # fmt: skip


# A subscription's delivery that is not a story's alert: an edit, a corroboration mark.
_NOT_ALERT = "NOT (event_id = 0 AND kind IN ('new', 'update'))"
# The stories of a subscription's alerts held for its gone topic (parameters: its id, reason).
_HELD_STORIES = (
    "SELECT story_id FROM deliveries WHERE subscription_id = ? AND status = 'held' AND "
    "error = ? AND event_id = 0 AND kind IN ('new', 'update')"
)


def _in_story_order(db: sqlite_utils.Database, channel: str, story: int) -> None:
    """The story's alerts waiting in the channel, those given back among them: each starts
    the story here unless one out already (or maybe out: in doubt) or an older one waiting
    tells of it, then it is an update. They go out by id, and a report held here is older
    than one of its story queued meanwhile through another topic, which started the story
    as nothing told of it then: the held one starts it now, that one is its update. (Told
    by the younger one, the held report went out first as an update of a message the
    channel did not have yet.) One in doubt keeps its kind: it may be out as it is."""
    out = db.execute(
        "SELECT 1 FROM deliveries WHERE channel = ? AND story_id = ? AND digest_of IS NULL AND "
        "(status IN ('sent', 'claimed') OR (maybe_posted = 1 AND status IN ('pending', "
        "'held') AND coalesce(error, '') NOT LIKE ?)) LIMIT 1",
        [channel, story, HELD_FOR_GONE],
    ).fetchone()
    for d_id, status in db.execute(
        "SELECT id, status FROM deliveries WHERE channel = ? AND story_id = ? AND "
        "event_id = 0 AND kind = 'new' AND status IN ('pending', 'digest', 'held') AND "
        "maybe_posted = 0 AND coalesce(error, '') NOT LIKE ? ORDER BY id",
        [channel, story, HELD_FOR_GONE],
    ).fetchall():
        if out or told_story(db, channel, story, status, before=d_id):
            db.execute("UPDATE deliveries SET kind = 'update' WHERE id = ?", [d_id])


def _adopt_marks(db: sqlite_utils.Database, sub: SubscriptionRow, reason: str) -> None:
    """A mark queued while its story's first alert was held (`bot.corroboration_store`
    holds it with that alert, without the reason) is held for the topic too: it goes out
    after that alert, or is dropped with it, and meanwhile tells the channel of nothing."""
    db.execute(
        "UPDATE deliveries SET error = ? WHERE subscription_id = ? AND status = 'held' AND "
        f"error IS NULL AND {_NOT_ALERT} AND story_id IN ({_HELD_STORIES})",
        [reason, sub.id, sub.id, reason],
    )


def _drop_untold_rest(db: sqlite_utils.Database, sub: SubscriptionRow, reason: str) -> None:
    """The held edits and marks of a story none of whose held alerts goes out, and of which
    the channel is not told otherwise: cancelled with it (not counted)."""
    stories = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT story_id FROM deliveries WHERE subscription_id = ? AND "
            f"status = 'held' AND error = ? AND {_NOT_ALERT} AND story_id NOT IN "
            f"({_HELD_STORIES})",
            [sub.id, reason, sub.id, reason],
        )
    ]
    for story in stories:
        if not told_story(db, sub.channel, story, "pending"):
            db.execute(
                "UPDATE deliveries SET status = 'cancelled' WHERE subscription_id = ? AND "
                f"status = 'held' AND error = ? AND story_id = ? AND {_NOT_ALERT}",
                [sub.id, reason, story],
            )


def _decide_again(
    db: sqlite_utils.Database,
    sub: SubscriptionRow,
    again: Redecision,
    others: list[SubscriptionRow],
    story: int,
) -> int:
    """The topic came back to the config with another query (or model): the story's held
    alerts, oldest first, stay held for the give-back if the topic as it now reads takes
    their item (strictly for the story's first alert here), else go on through another
    topic of the channel that takes it (`others`), else are cancelled (the item stays in
    the archive). The first kept starts the story unless the channel was told of it otherwise. Not
    `bot.redecide._redecide`: what the topic keeps stays held here for the give-back's
    `max_age` look, and what it refuses is counted apart for the channel's notice. How
    many were cancelled."""
    reason = f"topic {sub.topic} came back to the config no longer taking it"
    held = list(
        db.query(
            "SELECT id, subscription_id, channel, story_id, item_id, kind, status FROM "
            "deliveries WHERE +subscription_id = ? AND +status = 'held' AND error = ? AND "
            "story_id = ? AND event_id = 0 AND kind IN ('new', 'update') ORDER BY id",
            [sub.id, GONE.format(sub.topic), story],
        )
    )
    status = "digest" if sub.mode == "digest" else "pending"
    told: set[int] = set()
    refused = 0
    for d in held:
        story = d["story_id"]
        if story not in told and told_story(db, sub.channel, story, status, before=d["id"]):
            told.add(story)
        kind = "update" if story in told else "new"
        if taker([sub], again(stored_item(db, d["item_id"])), {**d, "kind": kind}) is not None:
            db.execute("UPDATE deliveries SET kind = ? WHERE id = ?", [kind, d["id"]])
            told.add(story)
        elif _move_on(db, d, others, sub.channel):
            told.add(story)
        else:
            refused += db.execute(
                "UPDATE deliveries SET status = 'cancelled', error = ? WHERE id = ?",
                [reason, d["id"]],
            ).rowcount
    return refused


def _others(db: sqlite_utils.Database, sub: SubscriptionRow) -> list[SubscriptionRow]:
    """The channel's other subscriptions in force whose topic exists: what a held alert the
    topic back no longer takes may go on through."""
    return [
        s
        for s in subscriptions(db, sub.channel)
        if s.id != sub.id and s.paused_reason != "unsubscribed" and topic_exists(db, s.topic)
    ]


def _tell(db: sqlite_utils.Database, sub: SubscriptionRow, what: str, text: str) -> None:
    """Once per departure of the topic; a return only where its departure was told."""
    departure = _departure(db, sub)
    if what == "back" and not _told(db, f"topic-gone:{departure}"):
        return
    queue_notice(db, f"topic-{what}:{departure}", text, sub.channel)


def _departure(db: sqlite_utils.Database, sub: SubscriptionRow) -> str:
    """The notices' key of the topic's current departure from this channel: its returns
    told so far tell one departure from the next."""
    prefix = f"topic-back:{sub.channel}\n{sub.topic}\n"
    returns = db.execute(  # a range of the unique index on the key, not a scan
        "SELECT count(*) FROM notices WHERE key >= ? AND key < ?", [prefix, prefix + "\uffff"]
    )
    return f"{sub.channel}\n{sub.topic}\n{returns.fetchone()[0]}"


def _told(db: sqlite_utils.Database, key: str) -> bool:
    return db.execute("SELECT 1 FROM notices WHERE key = ?", [key]).fetchone() is not None


def _gone_text(sub: SubscriptionRow, held: int, moved: int) -> str:
    t, back = sub.topic, f"ask whoever runs wirewatch to put `{sub.topic}` back in its config"
    went_on = (
        f" {counted(moved, 'alert')} waiting for it went on through another topic this "
        "channel follows."
        if moved
        else ""
    )
    rest = (
        f" {counted(held, 'alert')} waiting for it {'is' if held == 1 else 'are'} held, not "
        f"posted: to get them, {back} (those still recent then go out); to drop them, "
        if held
        else f" To follow it again, {back}; to stop following it, "
    )
    return (
        f"wirewatch: topic `{t}` was removed from wirewatch's config, so this channel gets "
        f"no more `{t}` alerts.{went_on}{rest}`/wirewatch unsubscribe {t}`."
    )


def _replaced_text(topic: Topic, chat_query: str, taken: set[str]) -> str:
    """The channel's notice: the config's query now decides its `topic.name` alerts; the
    chat one may be added again under a free name, with a command that works as shown."""
    name, theirs, ours = topic.name, shown_query(chat_query), shown_query(topic.query)
    keep = f"{name}-chat"
    again = (
        f" To keep the chat one, add it under another name and follow that: "
        f"`/wirewatch topic add {keep} {theirs}`, then `/wirewatch subscribe {keep}`."
        if keep not in taken and len(keep) <= 64 and "`" not in chat_query
        else ""
    )
    return (
        f"wirewatch: wirewatch's config now has a topic `{name}`, which replaces the `{name}` "
        f"made from chat (the config wins a name both have): this channel's `{name}` alerts, "
        f"those waiting too, now follow the config's query `{ours}`, not `{theirs}`.{again}"
    )


def shown_query(query: str) -> str:
    """A query on one line, its backticks made quotes (they would pair ours in a notice)."""
    return " ".join(query.split()).replace("`", "'")


def _back_text(
    sub: SubscriptionRow, back: int, dropped: tuple[int, int], age: float, how: str
) -> str:
    """`dropped`: (older than `max_age`, no longer taken by the topic as it now reads)."""
    old, refused = dropped
    gone = "".join(
        f"; {counted(n, 'alert')} {why} {'was' if n == 1 else 'were'} dropped"
        for n, why in (
            (old, f"older than {format_duration(age)}"),
            (refused, "its query no longer takes"),
        )
        if n
    )
    one = back == 1
    going = (
        f"{'waits' if one else 'wait'} with the channel's paused alerts"
        if sub.paused_reason
        else f"{'goes' if one else 'go'} out now"
    )
    return (
        f"wirewatch: topic `{sub.topic}` is back {how}: "
        f"{counted(back, 'alert')} held for it {going}{gone}."
    )
