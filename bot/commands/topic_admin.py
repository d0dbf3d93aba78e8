"""Topics from chat: `topics` (every one with its query, a long one cut), `topics NAME` (that
one whole, in lines a message can carry), `topic add NAME QUERY`, `topic remove`.

A topic added or changed decides the waiting alerts it concerns again, in slices a stop ends
in time (`bot.redecide.save_topic`), then the pipeline gets a new matcher. A topic is saved
only if it compiles next to every other one and breaks none of them; it is removed only when
no channel, topic or filter uses it any more.

Deliberately not here: the query language (bot.topics), deciding alerts again
(bot.redecide), topics from the config (bot.catalog), trying a query (bot.commands.trial).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from bot import metrics
from bot.broken_topics import build_matcher
from bot.clock import iso, utcnow
from bot.commands.echo import dropped, one_line, shown, when
from bot.commands.grammar import Invocation
from bot.commands.lookups import known_topic, live, not_working
from bot.errors import CommandError, StoppingError, StoreError
from bot.gone_topics import give_back, held_for
from bot.model import Added, Topic
from bot.narrow import Redecision, channels_naming, rematch
from bot.opinions import explain
from bot.redecide import NOTHING_CHANGED, save_topic, unfinished_topics, waiting_items
from bot.store import delete_topic, list_topics, subscriptions
from bot.text.clip import clip
from bot.text.invisible import quoted
from bot.topics.refs import users_of
from bot.topics.usable import usable_topics
from bot.wording import counted

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlite_utils import Database

    from bot.commands.calls import StoreCalls
    from bot.gazetteer import Gazetteer
    from bot.runtime import Runtime

TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
QUERY_SHOWN = 200  # characters of a built-in or config topic's query that `topics` shows
QUERY_LINE = 120  # characters a line of `topics NAME`'s query holds at most
# A query's terms as `topics NAME` keeps them whole: runs of non-space, a "quoted phrase"
# with its spaces, a lone quote as itself (nothing of the query is ever dropped).
_TERM = re.compile(r'(?:[^\s"]|"[^"]*"|")+')
_ORIGINS = {
    "builtin": "built-in, shipped with wirewatch (a config topic of the same name replaces it)",
    "config": "from config (the bot's config file, `topics:`), changed there",
    "chat": "from chat (`topic add`)",
}
CONSULT_SLICE = 32  # items whose text the loop prepares before it serves others again
# Which alerts a changed topic query dropped (`topic add`).
WAITING_THROUGH = (
    "waiting to be posted that it (or a topic or filter referring to it) no longer lets through"
)


def list_topics_here(db: Database, rt: Runtime, inv: Invocation, rest: str) -> str:
    """`topics`: every topic, a long query cut; `topics NAME`: that one whole."""
    broken = not_working(db, rt.pipeline.gazetteer)
    if rest:
        return _one_topic(db, rest, broken)
    topics = list_topics(db)
    if not topics:
        return "no topics yet: `/wirewatch topic add NAME QUERY` (moderators of the whole bot)"
    lines = [f"{counted(len(topics), 'topic')}:"]
    for t in topics:
        about = f" ({t.description})" if t.description else ""
        query = one_line(t.query)
        # A chat topic's query came in a chat message, so it fits in one; a built-in or
        # config query may not (troop-deployments': 2,500 characters), and the host has it.
        short = query if t.origin == "chat" else clip(query, QUERY_SHOWN)
        whole = f" (whole: `/wirewatch topics {t.name}`)" if short != query else ""
        skipped = f" NOT WORKING ({broken[t.name]})" if t.name in broken else ""
        lines.append(f"- `{t.name}` [{t.origin}]{skipped}{about}: `{short}`{whole}")
    return "\n".join(lines)


def _one_topic(db: Database, rest: str, broken: Mapping[str, str]) -> str:
    """One topic whole: where it comes from, what it is for, and its query in lines of
    QUERY_LINE characters cut between terms, each its own code span. A reply longer than a
    message is cut by the adapter at line ends (adapters.chunks): troop-deployments' query
    as one line of 1,900 characters would be cut mid-word where Discord's 2,000 fall."""
    name, *more = rest.split()
    if more:
        raise CommandError(f"`topics` takes one topic name, not `{shown(rest)}`")
    t = known_topic(db, name)
    lines = [f"`{t.name}`: {_ORIGINS.get(t.origin, t.origin)}{_added(t)}"]
    if t.name in broken:  # as its channels were told (bot.broken_topics.tell_broken)
        mend = (
            f"`/wirewatch topic add {t.name} QUERY` with a query that works"
            if t.origin == "chat"
            else "the bot's config file"
        )
        lines.append(
            f"NOT WORKING: {broken[t.name]}; it is skipped, so no channel gets alerts "
            f"through it until {mend} mends it"
        )
    if t.description:
        lines.append(f"about: {quoted(t.description)}")
    if t.relevance:
        lines.append(
            f"relevance model `{t.relevance}`: the query finds candidates, the model keeps "
            "the ones that belong"
        )
    query = quoted(t.query)
    parts = query_lines(query)
    spread = f" in {len(parts)} lines, joined by spaces" if len(parts) > 1 else ""
    size = f"{len(query):,} character{'s' if len(query) != 1 else ''}"
    lines.append(f"query ({size}{spread}):")
    return "\n".join(lines + [f"`{part}`" for part in parts])


def _added(t: Topic) -> str:
    """ ", added by @ann on 2026-12-05 09:12 UTC" for a chat topic: whom to ask about it;
    the user's id when the platform gave no name."""
    if t.origin != "chat":
        return ""
    if t.added is None:
        return ", added before this was recorded"
    who = f"@{quoted(t.added.name)}" if t.added.name else quoted(t.added.by)
    return f", added by {who} on {when(t.added.at)}"


def query_lines(query: str, width: int = QUERY_LINE) -> list[str]:
    """`query` (one line) as lines of at most `width` characters, cut only between terms:
    never inside a word or a "quoted phrase" (`entity:"North Korea"` stays whole); a
    term longer than `width` is a line of its own. Joined with spaces they are `query` with
    the runs of spaces between its terms as one."""
    lines: list[str] = []
    for term in _TERM.findall(query):
        if lines and len(lines[-1]) + 1 + len(term) <= width:
            lines[-1] += " " + term
        else:
            lines.append(term)
    return lines


async def topic_add(calls: StoreCalls, inv: Invocation, rest: str) -> str:
    if not rest:
        raise CommandError("topic add needs a NAME and a QUERY")
    name, query = (rest.split(None, 1) + [""])[:2]
    query = query.strip().strip("`").strip()
    if not TOPIC_NAME.fullmatch(name):
        raise CommandError(
            f"`{shown(name)}` is not a topic name: lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    if not query:
        raise CommandError("topic add needs a query after the name")
    rt = calls.rt
    added = Added(f"{inv.platform}:{inv.user}", inv.user_name, iso(utcnow()))
    topic = Topic(name, query, origin="chat", added=added)
    current, topics = await calls.run(_checked_topic, topic, rt.pipeline.gazetteer)
    if current is not None:  # a new query: who added the topic stays who added it
        topic = Topic(name, query, origin="chat")
    others = [t for t in topics if t.name != name]
    unfinished = name in await calls.run(unfinished_topics)  # a try cut short
    if current is not None and current.query == query and not unfinished:
        # "changed" where nothing was read as if the waiting alerts had been decided again.
        return (
            f"topic `{name}` is unchanged: it already has this query. Try it with "
            f"`/wirewatch test {name} TEXT`"
        )
    if (await explain(query, "-", rt.pipeline.gazetteer, topics))[0]:
        raise CommandError(
            "this query matches an item with no words at all, so nearly every item: "
            "name what an item must have, like `troops AND NOT drill*`"
        )
    again = None
    # Alerts held since a config topic of this name left: this query decides them.
    held = 0 if current else await calls.run(held_for, name)
    if held or (current is not None and (current.query != query or unfinished)):
        again = rematch({name}, [*others, topic], rt.pipeline.gazetteer)
        await _consult(calls, again, [*others, topic])
    try:
        gone = await calls.until_stop(save_topic, topic, again)
    except StoppingError:  # before its first write: nothing stored, nothing to reload
        raise
    except StoreError:
        # A later slice refused: the query is stored (with the first), so polls match
        # with it as `topic list` and the next start do (that start decides the rest).
        await _reload_topics(calls)
        raise
    metrics.DROPPED.labels("topic changed").inc(gone)
    await _reload_topics(calls)
    verb = "changed" if current else "added"
    waiting = f" {dropped(gone, WAITING_THROUGH)}." if gone else ""
    if held:
        back = await calls.run(give_back, name, rt.settings.max_age)
        waiting += f" {counted(back, 'alert')} held since it left the config given back."
    return (
        f"{verb} topic `{name}`: `{one_line(query)}`.{waiting} Try it with "
        f"`/wirewatch test {name} TEXT`, then `/wirewatch subscribe {name}`"
    )


async def topic_remove(calls: StoreCalls, inv: Invocation, rest: str) -> str:
    name = await calls.run(_remove_topic, rest)
    await _reload_topics(calls)
    return f"removed topic `{name}`"


async def _consult(calls: StoreCalls, again: Redecision, topics: list[Topic]) -> None:
    """The encoder's opinion on the waiting items for the models of the topics decided
    again, asked CONSULT_SLICE items at a time: asking prepares each item's text on the
    loop (0.3 ms; 8,000 waiting alerts held it 2.7 s at once). With no model among
    them nothing is asked: the store thread decides the items (`save_topic`)."""
    if not any(t.relevance for t in topics if t.name in again.affected):
        return
    items = await calls.until_stop(waiting_items, again)
    for at in range(0, len(items), CONSULT_SLICE):
        if calls.rt.stopping.is_set():  # the encoder's answers would be thrown away
            raise StoppingError(NOTHING_CHANGED)
        await again.consult(items[at : at + CONSULT_SLICE])
        await asyncio.sleep(0)


async def _reload_topics(calls: StoreCalls) -> None:
    """A new matcher for the pipeline after a topic changed: built on the store thread
    (compiling the topics loads relevance models, a tenth of a second), swapped in here.
    One store thread: two changes in a row are built, and swapped, in their order."""
    pipeline = calls.rt.pipeline
    pipeline.matcher = await calls.run(build_matcher, pipeline.gazetteer)


def _checked_topic(
    db: Database, topic: Topic, gazetteer: Gazetteer
) -> tuple[Topic | None, list[Topic]]:
    """(the stored topic of that name, every stored topic) once `topic` may be saved: not
    a config topic's name, and it compiles next to every other one: its references exist,
    go round in no circle, and no topic that works now stops working because of it."""
    topics = list_topics(db)
    current = {t.name: t for t in topics}.get(topic.name)
    if current and current.origin != "chat":
        raise CommandError(f"`{topic.name}` is a {current.origin} topic; choose another name")
    others = [t for t in topics if t.name != topic.name]
    _, before = usable_topics(others, gazetteer)
    _, after = usable_topics([*others, topic], gazetteer)
    if exc := after.get(topic.name):
        raise CommandError(f"the query does not work: {exc}")
    if broken := sorted(set(after) - set(before)):
        exc = after[broken[0]]
        raise CommandError(f"this would break topic `{broken[0]}`: {exc}")
    return current, topics


def _remove_topic(db: Database, rest: str) -> str:
    """Delete a chat topic nothing uses any more (its checks and the delete, together)."""
    topic = known_topic(db, rest)
    if topic.origin != "chat":
        raise CommandError(
            f"`{topic.name}` is a {topic.origin} topic: only topics added "
            "from chat can be removed here"
        )
    users = sorted({s.channel for s in live(subscriptions(db)) if s.topic == topic.name})
    if users:
        raise CommandError(
            f"`{topic.name}` still alerts {', '.join(users)}: unsubscribe there first"
        )
    if referring := users_of(topic.name, list_topics(db)):
        named = ", ".join(f"`{n}`" for n in referring)
        raise CommandError(f"`{topic.name}` is used by topic {named} (`topic:{topic.name}`)")
    if narrowing := channels_naming(topic.name, live(subscriptions(db))):
        raise CommandError(
            f"`{topic.name}` narrows the subscriptions of {', '.join(narrowing)} "
            f"(`topic:{topic.name}` in --only/--except): subscribe there again without it"
        )
    delete_topic(db, topic.name)
    return topic.name
