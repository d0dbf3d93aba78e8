"""`digest`: this channel's waiting digest posted now; `digest SINCE`: what it was told since.

`digest` alone posts what the scheduled digest would post next, through the digest's own
code (`bot.digest.send_channel`: the same text, the same marks, the same handling of a
platform's refusal), holding the platform's drain lock as the scheduled job and the outbox
do: two moderators asking at once, or the job running meanwhile, post it once, and the job
then finds nothing of it left to post. `digest 12h` answers the asker alone with the stories
the channel heard of in that window and those its topics matched that it was not told of
(muted, paused, still waiting for a digest); it marks and posts nothing.

Deliberately not here: a digest's text and bookkeeping (bot.digest), the recap's queries
(bot.told), any platform.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.chat import split_channel
from bot.clock import iso, utcnow
from bot.commands.echo import one_line, when
from bot.commands.grammar import Invocation, Reply
from bot.commands.lookups import bad_option, read_page
from bot.commands.subscriptions import next_digest
from bot.commands.switches import read_duration, refuse_two_durations
from bot.digest import ChannelDigest, send_channel
from bot.durations import format_duration
from bot.errors import CommandError
from bot.feedback import KINDS
from bot.store import subscriptions
from bot.text.clip import clip
from bot.told import REACH, ToldStory, last_digest, told_since
from bot.wording import counted

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.commands.calls import StoreCalls
    from bot.runtime import Runtime

MAX_SINCE = REACH  # what a morning after a weekend needs; `db prune` keeps that much
RECAP_STORIES = 50  # lines of a recap's page: on Discord already a dozen messages
# Pages of a recap: its 1,000 newest stories. A window with more is a week of a busy
# channel, which a shorter window (or `search`) reads better than page:21 would.
LAST_PAGE = 20
TITLE_CHARS = 200
# An alert waiting this long (or past its first try) is stuck, said by a recap (`_unsent`).
STUCK_AFTER = 60.0
_SINCE_RANGE = "a recap reaches back at least 1m and at most 7d"
# How a story the channel was not told of is marked (bot.told.STATES).
_UNTOLD = {
    "waiting": "waiting for the next digest",
    "paused": "NOT TOLD: held, alerts here are paused",
    "gone": "NOT TOLD: held, its topic left the config",
    "failed": "NOT TOLD: given up on (`status` says why)",
    "muted": "NOT TOLD: skipped while muted",
}


async def digest(calls: StoreCalls, inv: Invocation, rest: str) -> str | Reply:
    if rest:
        window, page = _window_and_page(rest)
        seconds = read_duration(window, 60, MAX_SINCE, _SINCE_RANGE)
        return await calls.run(recap, calls.rt, inv, seconds, page, window)
    return await _send_now(calls, inv)


def _window_and_page(rest: str) -> tuple[str, int]:
    """`12h page:2` as the window and the page of a recap, as `search` reads its pages."""
    words = rest.split()
    for word in words:  # `page:-1` read as part of the window: "not a duration"
        if word.lower().startswith("page:") and (problem := bad_option(word)):
            raise CommandError(problem)
    pages = [page for w in words if (page := read_page(w)) is not None]
    window = " ".join(w for w in words if read_page(w) is None)
    if not window:
        raise CommandError("a recap's page needs its window first: `/wirewatch digest 12h page:2`")
    refuse_two_durations(window, "digest", "window")  # `12h 12h` read as one window of 1d
    if len(pages) > 1:
        raise CommandError("one page at a time: `/wirewatch digest 12h page:2`")
    page = pages[0] if pages else 1
    if page > LAST_PAGE:
        raise CommandError(
            f"a recap's pages go as far as page:{LAST_PAGE} (its {LAST_PAGE * RECAP_STORIES} "
            "newest stories); for older ones ask for a shorter window, or `/wirewatch search`"
        )
    return window, page


async def _send_now(calls: StoreCalls, inv: Invocation) -> str | Reply:
    rt = calls.rt
    subs = await calls.run(lambda db: subscriptions(db, inv.channel))
    if not any(s.mode == "digest" for s in subs):
        raise CommandError(
            "this channel has no digest subscription: its alerts come one by one as they "
            "are found (`/wirewatch subscribe TOPIC digest` gathers a topic's into a digest). "
            "`/wirewatch digest 12h` recaps what it was told"
        )
    platform = split_channel(inv.channel)[0]
    adapter = rt.adapters.get(platform)
    if adapter is None or rt.stopping.is_set():  # a command from a platform not posted to
        raise CommandError("wirewatch cannot post here now; the next digest goes out as usual")
    async with rt.drain_lock(platform):  # the scheduled digest's and the outbox's: one at a time
        sent = await send_channel(rt.db, adapter, inv.channel)
    return await calls.run(_answer, rt, inv, sent)


def _answer(db: Database, rt: Runtime, inv: Invocation, sent: ChannelDigest) -> str | Reply:
    """What the asker is told of the digest they asked for: sent, or why not."""
    due = when(iso(next_digest(db, rt, inv.channel)))
    if sent.messages:
        said = f"digest sent: {counted(sent.stories, 'story', 'stories')}"
        if sent.messages > 1:
            said += f" in {sent.messages} messages"
        if sent.error and sent.paused:  # a later message refused for good: as the notice says
            return Reply(
                f"{said}; the rest was refused: {sent.error}. Alerts here are now paused and "
                "moderators told; the stories not posted are kept. Fix that, then subscribe "
                "again to resume",
                ok=False,
            )
        said += _given_up(sent)
        if sent.more:
            said += f"; more wait for the next digest ({due})"
        if sent.error:  # a later message of it failed, for now
            said += f"; the rest was refused: {sent.error}"
        return said
    if sent.error and sent.paused:
        return Reply(
            f"the digest was refused: {sent.error}. Alerts here are paused and moderators "
            "told; its stories are kept. Fix that, then subscribe again to resume",
            ok=False,
        )
    if sent.failed:
        more = f"; more wait for the next digest ({due})" if sent.more else ""
        if sent.error:  # then a post failed for another reason: those stories wait
            more = (
                f"; the rest could not be posted now: {sent.error}. It waits for the next "
                f"digest ({due})"
            )
        return Reply(f"nothing was posted{_given_up(sent)}{more}", ok=False)
    if sent.error:
        return Reply(
            f"the digest could not be posted now: {sent.error}. Its stories wait for the "
            f"next digest ({due})",
            ok=False,
        )
    if sent.unsure:
        return Reply(
            "an earlier digest here may have been posted, and it could not be checked now: "
            f"nothing was posted, so as not to post it twice. The next digest ({due}) "
            "checks again",
            ok=False,
        )
    return _nothing_sent(db, inv, sent, due)


def _given_up(sent: ChannelDigest) -> str:
    """The stories the platform refused even alone: failed, said with the platform's reason
    (`status` counts them, a recap marks them), not left to wait and be refused again."""
    if not sent.failed:
        return ""
    were = "was" if sent.failed == 1 else "were"
    stories = counted(sent.failed, "story", "stories")
    return f"; {stories} {were} refused by the platform and given up on: {sent.refusal}"


def _nothing_sent(db: Database, inv: Invocation, sent: ChannelDigest, due: str) -> str:
    subs = subscriptions(db, inv.channel)
    paused = next((s.paused_reason for s in subs if s.paused_reason), None)
    if sent.paused and paused:
        return (
            f"nothing was posted: alerts here are paused ({paused}); the digest waits. Fix "
            "that, then subscribe again to resume"
        )
    now = iso(utcnow())
    muted = max((s.muted_until for s in subs if s.muted_until and s.muted_until > now), default="")
    if muted:
        skipped = "; the stories waiting for it were skipped" if sent.muted else ""
        return (
            f"nothing was posted: this channel is muted until {when(muted)}{skipped}, as a "
            "mute skips alerts. `/wirewatch unmute` ends it"
        )
    last = last_digest(db, inv.channel)
    since = f" since the last one ({when(last)})" if last else ""
    return f"no digest waiting here: nothing new{since}. The next is due {due}"


def recap(
    db: Database, rt: Runtime, inv: Invocation, seconds: float, page: int = 1, window: str = ""
) -> str:
    """The stories of the last `seconds` here, newest first, one line each, RECAP_STORIES
    a page; `window`: the window as typed, for the next page's command."""
    since = utcnow() - timedelta(seconds=seconds)
    span = f"the last {format_duration(seconds)} (since {when(iso(since))})"
    skip = (page - 1) * RECAP_STORIES
    stories, counts = told_since(db, inv.channel, since, RECAP_STORIES, skip)
    total = sum(counts.values())
    unsent = _unsent(db, inv.channel)
    if not total:
        if unsent:  # not "nothing": the channel's alerts are there, they wait to be posted
            return f"nothing was told here in {span}, but {unsent}"
        return (
            f"nothing here in {span}: no story this channel follows was alerted, listed "
            "in a digest, or held back"
        )
    if not stories:
        pages = -(-min(total, LAST_PAGE * RECAP_STORIES) // RECAP_STORIES)
        return (
            f"page {page} of the recap of {span} is past the last: "
            f"{counted(total, 'story', 'stories')}, {counted(pages, 'page')}"
        )
    told = counted(counts["told"], "story told", "stories told")
    others = [f"{counts[k]} {label.lower()}" for k, label in _UNTOLD.items() if counts[k]]
    which = "" if skip == 0 and len(stories) == total else f"; {skip + 1}-{skip + len(stories)}"
    lines = [f"this channel over {span}, newest first: {', '.join([told, *others])}{which}"]
    lines += [_line(s) for s in stories]
    if skip + len(stories) < total:
        lines.append(_older(total - skip - len(stories), window or format_duration(seconds), page))
    if unsent:
        lines.append(f"also {unsent}")
    if any(s.state == "told" for s in stories):
        kinds = " or ".join(f"`/wirewatch feedback {k} ALERT`" for k in KINDS)
        lines.append(f"to mark one: {kinds} (ALERT: the number after ref)")
    return "\n".join(lines)


def _unsent(db: Database, channel: str) -> str:
    """The channel's alerts stuck on their way out (no token for the platform, an outage):
    a recap lists a story once it is told, so without this it said "nothing here" while
    they waited. Only those past their first try, or waiting (or in flight) over
    STUCK_AFTER: a fresh alert, or a digest being posted, is seconds from being sent, and
    "the log says why it cannot post" sent moderators looking for a fault there was not.
    "" when none are stuck. One read of the open deliveries' index (`deliveries_open`):
    `status`'s other counts read the channel's every delivery and every failed one, on the
    store thread every command waits for (0.85 s with a million deliveries)."""
    before = iso(utcnow() - timedelta(seconds=STUCK_AFTER))
    stuck = db.execute(
        "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'claimed') AND "
        "channel = ? AND (attempts > 0 OR coalesce(claimed_at, created) < ?)",
        [channel, before],
    ).fetchone()[0]
    if not stuck:
        return ""
    alerts = counted(stuck, "alert")
    have = "has" if stuck == 1 else "have"
    return (
        f"{alerts} {have} waited over a minute to be sent here, not posted yet: "
        "`/wirewatch status` names the latest failure; wirewatch's log says why it cannot post"
    )


def _older(left: int, window: str, page: int) -> str:
    """What the next page holds and what to type for it, as `search` says it."""
    older = f"{left} older"
    if page >= LAST_PAGE:
        return (
            f"{older} not shown: a recap pages as far as page:{LAST_PAGE}; ask for a shorter "
            "window, or `/wirewatch search`"
        )
    return f"{older}: `/wirewatch digest {window} page:{page + 1}`"


def _line(s: ToldStory) -> str:
    """Our own words first (time, number or mark), then the feed's, kept to one line."""
    mark = f"ref {s.ref}" if s.ref is not None else _UNTOLD[s.state]
    if s.told_before:  # the story was told here earlier: only a later report was not
        mark = f"told before; a later report {_UNTOLD[s.state].removeprefix('NOT TOLD: ')}"
    link = s.url if s.url.startswith(("https://", "http://")) else ""
    title = clip(one_line(s.title), TITLE_CHARS)
    outlets = counted(s.outlets, "outlet")
    if s.reports > s.outlets:  # as an alert's count and a digest line say it
        outlets += f", {counted(s.reports, 'report')}"
    return f"- {when(s.at)} · {mark} · {title} ({outlets}) {one_line(link)}".rstrip()
