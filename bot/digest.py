"""Digest subscriptions: their alerts wait as 'digest' deliveries and go out as one message.

Every `digest_every` the run loop gathers each channel's waiting stories into plain-text
messages (the story's number, headline, first outlet, how many more outlets and reports,
link; at most DIGEST_CHARS each) and posts them through the adapter, which escapes them like
any feed text. The number (`ref N`, as under an alert) is the delivery of the item the line
shows: what `feedback KIND N` takes in that channel (bot.feedback), since a digest, one
message for many stories, has no buttons; its closing line, the same on every platform but
for how the command is spelled, says so.

A digest keeps the outbox's promise, nothing lost and nothing twice: its deliveries are
claimed, the message carries the first one's id as its key (`ChatAdapter.post_digest`), and
they are marked sent only once the platform took it. A failure puts them back to wait for
the next digest; one that may have posted (a lost answer, a crash between post and mark)
leaves them in doubt, and the platform is asked for the key (`find_posted`) before anything
of theirs is posted again.

A digest the platform refuses for itself (`DeliveryError.refused`: too long, a field it does
not take) is not an outage of the channel: sent again it is refused again, and held it would
hold every later digest behind it. It is sent again at once in halves, down to one story a
message, so that a message too long for the platform goes out shorter and a story the
platform will not take is found; that one story alone is tried FAULT_ATTEMPTS times, as a
refused alert is (bot.outbox), then failed with the platform's reason (`status` counts it,
`digest 12h` and `search` show it not told), and the channel's next stories go on. An error
the adapter does not know (`DeliveryError.unknown`) is retried at each digest within an
alert's bounds, counted on disk on the stories' deliveries (a try a digest, however many of
its messages held the story), then taken as such a refusal.
"""

from __future__ import annotations

import functools
import logging
import string
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot import metrics
from bot.chat import ChatAdapter, split_channel
from bot.clock import iso, parse_stored, utcnow
from bot.corroboration import is_the_wire
from bot.corroboration_store import outlets_of
from bot.db import write
from bot.delivery_rows import in_doubt_since
from bot.errors import DeliveryError
from bot.failpoints import failpoint
from bot.feedback import KINDS
from bot.model import MessageRef
from bot.send_errors import FAULT_ATTEMPTS, REASON_CHARS, hold_channel, met_unknown
from bot.store import LIVE_SUB, live_sub, skip_muted
from bot.wording import counted

log = logging.getLogger(__name__)

# One message: inside Discord's embed description (4,096) and what Slack shows unfolded.
# A message's size as the strictest platform will count it once escaped (`escaped_size`):
# Discord's embed description holds 4,096 UTF-16 units, and a message cut there would drop
# stories already marked sent.
DIGEST_CHARS = 4000
MAX_MESSAGES = 4  # per channel and digest; the rest wait for the next one
STORIES_READ = 200  # waiting stories read per message at most
# Refused messages sent again in one channel's turn (smaller, or the one story again): enough
# to find and fail a story or two the platform will not take; the rest wait for the next turn.
MAX_REFUSALS = 12


# What a story's report in `digest_text`'s rows holds of its item, beside the delivery's "id",
# "story_id", "topic", "url" and "earlier": the columns `outlets_of` reads, in its order.
REPORT_KEYS = ("outlet", "title", "summary", "wire", "published", "first_seen", "item_id")


def digest_text(topic_rows: list[dict], platform: str = "") -> str:
    """The message for one channel of `platform`: one line per story, oldest first; a story
    an earlier digest listed is marked as a follow-up; a closing line says what the numbers
    are for. Each line opens with our own text (a story's line with the number that labels
    it, the delivery of its first item, whose headline it shows) before any feed text, and
    feed text is kept to one line, so a headline saying "ref 99" cannot pass for ours."""
    topics = sorted({r["topic"] for r in topic_rows})
    stories: dict[int, list[dict]] = defaultdict(list)
    for r in topic_rows:
        stories[r["story_id"]].append(r)
    lines = [_HEAD.format(topics=", ".join(topics), stories=_stories(len(stories)))]
    lines += [_story_line(rows) for rows in stories.values()]
    lines.append(closing_line(platform))
    return "\n".join(lines)


_HEAD = "wirewatch digest · {topics} · {stories}"


def _stories(n: int) -> str:
    return f"{n} {'story' if n == 1 else 'stories'}"


def _story_line(rows: list[dict]) -> str:
    """One story's line; `rows`: its reports, the one it shows first."""
    first = rows[0]
    # A story already listed by an earlier digest: said so, not passed off as news.
    again = "Follow-up: " if first.get("earlier") else ""
    title, url = _one_line(first["title"]), _one_line(first["url"] or "")
    return f"- ref {first['id']} · {again}{title} ({_covers(rows)}) {url}".rstrip()


@functools.lru_cache(maxsize=64)
def _outlets(reports: tuple[tuple, ...]) -> int:
    """How many outlets these reports count as, remembered for the stories of a message or
    two: `fill_message` measures each story's line, then `digest_text` writes the kept ones
    (a story of 60 reports costs some 10 ms to count). The key is the reports' own text, so
    an edited report is counted again."""
    return len(outlets_of(reports))


def _covers(rows: list[dict]) -> str:
    """Which reports a story's line stands for, its outlets counted as its alert counts them
    (`bot.corroboration_store.outlets_of`: wire copy on two sites is one outlet): "Yonhap",
    "Yonhap +2 more outlets", "CNA via Reuters" (the line's report is an agency's copy), and
    the number of reports when the outlets do not tell it ("Yonhap, 2 reports": one outlet's
    two reports; "CNA via Reuters, 2 reports": Reuters copy on two sites), so that every
    report a line holds (each of which `feedback` points back to the line's number) is
    counted on it, and the line says what the story's alert says."""
    outlets = _outlets(tuple(tuple(r[k] for k in REPORT_KEYS) for r in rows))
    first = rows[0]
    covers = _one_line(first["outlet"])
    if first["wire"] and not is_the_wire(first["outlet"], first["wire"]):
        covers += f" via {first['wire']}"
    if outlets > 1:
        covers += f" +{counted(outlets - 1, 'more outlet')}"
    if len(rows) > outlets:
        covers += f", {counted(len(rows), 'report')}"
    return covers


def closing_line(platform: str) -> str:
    """What a line's `ref N` is for, spelled as a reader of `platform` types it: in chat the
    slash command, on the console (the operator's terminal) the command line's. Said in
    every digest, since a digest has no buttons to click."""
    command = "wirewatch feedback" if platform == "console" else "/wirewatch feedback"
    kinds = " · ".join(f"{command} {kind} REF" for kind in KINDS)
    return f"feedback: {kinds} (REF: the number after ref on the story's line)"


def _one_line(text: str) -> str:
    """Feed text on one line: a line break in a stored title must not open a line of its
    own that reads as ours."""
    return " ".join(text.split())


# When a channel's last digest went out: the newest sent delivery a digest carried.
_LAST_DIGEST = (
    "(SELECT max(d.sent_at) FROM deliveries d WHERE d.channel = {channel} "
    "AND d.digest_of IS NOT NULL AND d.status = 'sent')"
)


def next_digest_at(
    db: sqlite_utils.Database,
    every: float,
    now: datetime,
    platforms: Collection[str] | None = None,
) -> datetime:
    """When the first digest of a run is due: `every` after the last one a channel with
    stories waiting was sent (or, none sent there yet, after its oldest story waiting), the
    soonest of those channels, at once when that is past. Counted from the start instead, a
    bot restarted more often than `every` would never send one; counted from the last digest
    of any channel, a moderator's `digest` in one channel would hold back every other's.
    A channel no digest reaches now is left out: a paused one, or one of a platform not in
    `platforms` (no token here): its stories wait past its time, and counted, every cron
    `poll` was a digest time, the other channels' digests going at half of `every`."""
    rows = db.execute(
        f"SELECT w.channel, w.oldest, {_LAST_DIGEST.format(channel='w.channel')} "
        "FROM (SELECT channel, min(created) AS oldest FROM deliveries "
        "WHERE status = 'digest' AND channel NOT IN (SELECT channel FROM subscriptions "
        f"WHERE paused_reason IS NOT NULL AND {LIVE_SUB}) GROUP BY channel) w"
    ).fetchall()
    if platforms is not None:
        rows = [r for r in rows if split_channel(r[0])[0] in platforms]
    if not rows:
        return now + timedelta(seconds=every)
    since = min(parse_stored(last or oldest, now) for _, oldest, last in rows)
    return max(now, since + timedelta(seconds=every))


def escaped_size(text: str) -> int:
    """At least the size `text` takes once a platform escapes it: UTF-16 units (an astral
    character counts two), plus one for each ASCII punctuation mark (each may gain a
    backslash; `@` a zero-width space)."""
    return len(text.encode("utf-16-le")) // 2 + sum(ch in string.punctuation for ch in text)


def sent_lately(
    db: sqlite_utils.Database, channel: str, every: float, at: datetime
) -> datetime | None:
    """When `channel`'s last digest went out, if that was less than half of `every` before
    `at` (a moderator's `digest` shortly before the scheduled one), else None."""
    last = db.execute(f"SELECT {_LAST_DIGEST.format(channel='?')}", [channel]).fetchone()[0]
    when = parse_stored(last, None)
    return when if when is not None and at - when < timedelta(seconds=every / 2) else None


def channel_due(db: sqlite_utils.Database, channel: str, every: float, due: datetime) -> datetime:
    """When `channel`'s next digest goes out, the scheduled job's next run being `due`: the
    run after it when that one will find a digest sent here too lately (`send_digests`)."""
    return due + timedelta(seconds=every) if sent_lately(db, channel, every, due) else due


async def send_digests(
    db: sqlite_utils.Database, adapters: dict[str, ChatAdapter], every: float | None = None
) -> int:
    """Post the waiting digests of every channel; returns how many messages were posted.

    With `every` (the scheduled job's interval), a channel whose last digest went out less
    than half of it ago is left for the next run: a moderator's `digest` at 08:55 stands in
    for the 09:00 one, which would list only the story or two come since, and its stories
    go at 10:00. No two digests of a channel come closer than half the interval that way,
    and none later than one and a half after the last."""
    posted = 0
    now = utcnow()
    channels = [  # waiting, in doubt, or left claimed by a stop
        r[0]
        for r in db.execute(
            "SELECT DISTINCT channel FROM deliveries WHERE status = 'digest' "
            "OR (status = 'claimed' AND digest_of IS NOT NULL)"
        )
    ]
    for channel in channels:
        adapter = adapters.get(split_channel(channel)[0])
        if adapter is None:
            continue
        if every is not None and sent_lately(db, channel, every, now):
            log.info("digest.not_yet channel=%s: one went out lately", channel)
            continue
        try:
            posted += (await send_channel(db, adapter, channel)).messages
        except Exception as exc:  # our side failed: nothing is marked, the next digest retries
            log.error("digest.fault channel=%s error=%s", channel, exc, exc_info=exc)
    return posted


@dataclass(frozen=True)
class ChannelDigest:
    """What one channel's turn of the digest did, for whoever asked for it (`digest` in chat
    says so; the scheduled job only counts `messages`)."""

    messages: int = 0  # posted
    stories: int = 0  # the stories their lines listed
    muted: int = 0  # deliveries skipped now because the channel is muted
    unsure: bool = False  # an earlier digest may be posted and the platform could not say
    paused: bool = False  # the channel is paused: its digest waits for it to be resumed
    error: str = ""  # why a post failed and the turn stopped (its stories wait or are held)
    more: bool = False  # more stories wait than this turn posted: the next digest has them
    failed: int = 0  # stories the platform refused alone FAULT_ATTEMPTS times: given up on
    refusal: str = ""  # the platform's reason for those, which a later failure must not hide


async def send_channel(
    db: sqlite_utils.Database, adapter: ChatAdapter, channel: str
) -> ChannelDigest:
    """Post `channel`'s waiting digest now, as the scheduled job does: the same messages,
    marks and failure handling. The caller holds the platform's drain lock (bot.loop), so
    that no other digest or outbox drain claims the same deliveries meanwhile."""
    ident = split_channel(channel)[1]
    if not await _settle_doubts(db, adapter, channel, ident):
        return ChannelDigest(unsure=True)
    if _paused(db, channel):
        return ChannelDigest(paused=True)
    muted = skip_muted(db, "digest", utcnow(), channel)  # as the outbox skips a muted one's
    posted = stories = failed = 0
    cap: int | None = None  # stories a message holds at most, after a refusal
    refusal = ""  # why a story was given up on
    met: set[int] = set()  # deliveries an unknown error met in this digest: one try each
    for _ in range(MAX_MESSAGES + MAX_REFUSALS):
        rows = _waiting(db, channel, cap)
        if not rows or posted == MAX_MESSAGES:
            break
        key = rows[0]["id"]  # the oldest waiting delivery: the same key however many join
        _claim(db, [r["id"] for r in rows], key)
        try:
            ref = await adapter.post_digest(ident, digest_text(rows, adapter.platform), key)
        except DeliveryError as exc:
            if exc.unknown:  # past its bounds, a refusal of this message
                exc = _unknown(db, rows, exc, met)
            _release(db, key, maybe_posted=exc.maybe_posted and not exc.refused)
            log.warning("digest.failed channel=%s key=%d error=%s", channel, key, exc)
            if exc.refused:  # this message, not the channel: smaller, or its one story fails
                cap, gave_up = _after_refusal(db, rows, str(exc), adapter.platform)
                failed, refusal = failed + gave_up, str(exc) if gave_up else refusal
                continue
            if exc.permanent:  # as an alert's: pause the channel, tell moderators, keep these
                hold_channel(db, channel, str(exc), exc.gone)
            return ChannelDigest(
                posted, stories, muted, error=str(exc), paused=exc.permanent, failed=failed,
                refusal=refusal,
            )  # fmt: skip
        except (TimeoutError, OSError) as exc:  # the post may have got through: ask first
            _release(db, key, maybe_posted=True)
            log.warning("digest.failed channel=%s key=%d error=%s", channel, key, exc)
            error = str(exc) or type(exc).__name__
            return ChannelDigest(
                posted, stories, muted, error=error, failed=failed, refusal=refusal
            )
        except BaseException:  # cancelled, or an adapter bug: it may have posted
            _release(db, key, maybe_posted=True)
            raise
        failpoint("after_send")
        _mark_sent(db, key, ref)
        log.info("digest.sent channel=%s key=%d deliveries=%d", channel, key, len(rows))
        posted += 1
        stories += len({r["story_id"] for r in rows})
    more = _any_waiting(db, channel)
    return ChannelDigest(posted, stories, muted, more=more, failed=failed, refusal=refusal)


def _unknown(
    db: sqlite_utils.Database, rows: list[dict], exc: DeliveryError, met: set[int]
) -> DeliveryError:
    """A message met by an error the adapter does not know: tried again at each digest
    within an alert's bounds, counted on disk on its stories' deliveries (`met_unknown`),
    then taken as the platform's refusal of it (sent in halves, the story the platform will
    not take failed). Counted in memory, by the adapter, a bot restarted more often than
    5 digests took (a crash loop; each start sends the overdue digest at once) tried the
    same stories forever, nothing behind them going out. Counted per delivery, the bounds
    go with a story into the halves: a half holding the one refused is refused at once.

    A try is a digest, however many of its messages held the story (`met`, this digest's
    deliveries already counted): counted per message, the halves and the story sent alone
    made a moderator read "8 times" of a story that met the error in 5 digests."""
    ids = [r["id"] for r in rows]
    past = met_unknown(db, ids, utcnow(), counted=met)
    met.update(ids)
    if past is None:
        return exc
    tries, waited = past
    reason = (
        f"{exc}, an error wirewatch does not know, in {counted(tries, 'digest')} over "
        f"{waited / 60:.0f} min"
    )
    return DeliveryError(reason, refused=True)


def _after_refusal(
    db: sqlite_utils.Database, rows: list[dict], reason: str, platform: str
) -> tuple[int | None, int]:
    """A message the platform refused: (how many stories the next may hold, how many
    stories were given up on). Of several stories, the next holds half of them: a message
    too long goes out shorter, and halving finds a story the platform will not take. One
    story refused alone counts a fault on its deliveries; at FAULT_ATTEMPTS it is failed
    with the platform's reason, and the next message is of any size again."""
    story_ids = {r["story_id"] for r in rows}
    if len(story_ids) > 1:
        return len(story_ids) // 2, 0
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    with write(db):
        db.execute(
            f"UPDATE deliveries SET faults = faults + 1, error = ? WHERE id IN ({marks}) "
            "AND status = 'digest'",
            [reason[:REASON_CHARS], *ids],
        )
        gone = db.execute(
            f"UPDATE deliveries SET status = 'failed' WHERE id IN ({marks}) "
            "AND status = 'digest' AND faults >= ?",
            [*ids, FAULT_ATTEMPTS],
        ).rowcount
    if not gone:
        return 1, 0
    metrics.FAILED.labels(platform).inc(gone)
    log.error("digest.gave_up story=%d deliveries=%d error=%s", rows[0]["story_id"], gone, reason)
    return None, 1


async def _settle_doubts(
    db: sqlite_utils.Database, adapter: ChatAdapter, channel: str, ident: str
) -> bool:
    """Digests that may have been posted (a lost answer, or claimed when the bot stopped):
    marked sent when the platform has them, else back to waiting. False: it cannot tell
    now, and nothing of the channel's is posted on a guess."""
    keys = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT digest_of FROM deliveries WHERE channel = ? AND digest_of IS NOT NULL "
            "AND (status = 'claimed' OR (status = 'digest' AND maybe_posted = 1))",
            [channel],
        )
    ]
    for key in keys:
        try:
            ref = await adapter.find_posted(ident, key, since=in_doubt_since(db, key))
        except DeliveryError as exc:
            log.warning("digest.in_doubt channel=%s key=%d error=%s", channel, key, exc)
            return False
        if ref is not None:
            _mark_sent(db, key, ref)
            log.info("digest.found_posted channel=%s key=%d", channel, key)
        else:
            _release(db, key, maybe_posted=False)
    return True


def _paused(db: sqlite_utils.Database, channel: str) -> bool:
    """Paused after a permanent error: its digests wait until a moderator resumes it. Not
    a subscription that ended (`unsubscribe`, gone from the config): its row stays, its
    reason in `paused_reason`, as long as deliveries refer to it."""
    return bool(
        db.execute(
            "SELECT 1 FROM subscriptions WHERE channel = ? AND paused_reason IS NOT NULL AND "
            f"{LIVE_SUB} LIMIT 1",
            [channel],
        ).fetchone()
    )


def _claim(db: sqlite_utils.Database, ids: list[int], key: int) -> None:
    marks = ",".join("?" * len(ids))
    with write(db):
        db.execute(
            f"UPDATE deliveries SET status = 'claimed', digest_of = ?, claimed_at = ?, "
            f"attempts = attempts + 1 WHERE id IN ({marks}) AND status = 'digest'",
            [key, iso(utcnow()), *ids],
        )


def _release(db: sqlite_utils.Database, key: int, *, maybe_posted: bool) -> None:
    """Back to waiting; in doubt (`maybe_posted`), still together under their key. Sure it
    was not posted, one whose subscription ended meanwhile (`unsubscribe` while the digest
    was on its way) is cancelled with the reason it ended, as everything else waiting for
    it was (`bot.delivery_rows.mark_retry` does so for an alert)."""
    with write(db):
        db.execute(
            f"UPDATE deliveries SET status = CASE WHEN ? OR {_ENDED} IS NULL THEN 'digest' "
            f"ELSE 'cancelled' END, error = coalesce(CASE WHEN ? THEN NULL ELSE {_ENDED} END, "
            "error), maybe_posted = ?, digest_of = CASE WHEN ? THEN digest_of END "
            "WHERE digest_of = ? AND status IN ('claimed', 'digest')",
            [int(maybe_posted), int(maybe_posted), int(maybe_posted), int(maybe_posted), key],
        )


# Why a delivery's subscription ended (`unsubscribed`, gone from the config), or NULL.
_ENDED = (
    "(SELECT s.paused_reason FROM subscriptions s WHERE s.id = deliveries.subscription_id "
    f"AND NOT {live_sub('s')})"
)


def _mark_sent(db: sqlite_utils.Database, key: int, ref: MessageRef) -> None:
    with write(db):
        db.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, message_id = ?, maybe_posted = 0, "
            "error = NULL WHERE digest_of = ? AND status IN ('claimed', 'digest')",
            [iso(utcnow()), ref.message_id, key],
        )


def _any_waiting(db: sqlite_utils.Database, channel: str) -> bool:
    """Whether a story still waits for the channel's digest (`_waiting` is never empty then):
    asked without filling a message, whose lines count every story's outlets."""
    return (
        db.execute(
            "SELECT 1 FROM deliveries WHERE channel = ? AND status = 'digest' "
            "AND digest_of IS NULL LIMIT 1",
            [channel],
        ).fetchone()
        is not None
    )


def _waiting(db: sqlite_utils.Database, channel: str, cap: int | None = None) -> list[dict]:
    """The oldest waiting stories' deliveries that fit in one message (at least one story;
    `cap` stories at most)."""
    platform = split_channel(channel)[0]
    story_ids = [
        r[0]
        for r in db.execute(
            "SELECT story_id FROM deliveries WHERE channel = ? AND status = 'digest' "
            "AND digest_of IS NULL GROUP BY story_id ORDER BY min(id) LIMIT ?",
            [channel, min(cap or STORIES_READ, STORIES_READ)],
        )
    ]
    if not story_ids:
        return []
    marks = ",".join("?" * len(story_ids))
    rows = list(
        db.query(
            "SELECT d.id, d.story_id, s.topic, i.title, i.url, f.name AS outlet, i.summary, "
            "i.wire, i.published, i.first_seen, i.id AS item_id, EXISTS (SELECT "
            "1 FROM deliveries e WHERE e.channel = d.channel AND e.story_id = d.story_id AND "
            "e.status = 'sent' AND e.digest_of IS NOT NULL) AS earlier FROM deliveries d "
            "JOIN subscriptions s ON s.id = d.subscription_id JOIN items i ON i.id = d.item_id "
            "JOIN feeds f ON f.id = i.feed_id WHERE d.channel = ? AND d.status = 'digest' "
            f"AND d.digest_of IS NULL AND d.story_id IN ({marks}) ORDER BY d.id",
            [channel, *story_ids],
        )
    )
    by_story: dict[int, list[dict]] = {sid: [] for sid in story_ids}
    for r in rows:  # in id order: a story's first report first
        by_story[r["story_id"]].append(r)
    kept = fill_message([by_story[sid] for sid in story_ids], platform)
    kept.sort(key=lambda r: r["id"])
    return kept


def fill_message(stories: list[list[dict]], platform: str) -> list[dict]:
    """The rows of the leading stories whose `digest_text` stays within DIGEST_CHARS once
    escaped (the first story always, however long). The size is kept as stories are added,
    not measured again on the whole text each time: `escaped_size` counts character by
    character, so a text's size is the sum of its lines' and of the line breaks between them,
    and only the head line (its topics and its count of stories) changes as stories join."""
    kept: list[dict] = []
    topics: set[str] = set()
    topic_size = lines_size = n = 0  # the topics as joined in the head; the story lines
    fixed = escaped_size(_HEAD.format(topics="", stories="") + "\n" + closing_line(platform))
    comma = escaped_size(", ")
    for rows in stories:
        new = {r["topic"] for r in rows} - topics
        # ", " before every topic but the first: the same sum in any order
        grown = topic_size + sum(escaped_size(t) + comma for t in new)
        line = escaped_size(_story_line(rows)) + 1 if rows else 0  # and its line break
        size = fixed + grown - comma * bool(topics or new) + lines_size + line
        if kept and size + escaped_size(_stories(n + bool(rows))) > DIGEST_CHARS:
            break
        kept += rows
        topics |= new
        topic_size, lines_size, n = grown, lines_size + line, n + bool(rows)
    return kept
