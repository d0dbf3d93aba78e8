"""A channel's waiting alerts decided again, as `bot.ingest` would queue them now, when what
let them through changed: a topic's query (`topic add` of a changed query, a config topic
changed at start), a subscription's --only/--except (`subscribe`), or the subscription
itself (`unsubscribe`, a config subscription removed). Each goes on through a subscription
of its channel that still takes it, else it is cancelled with the reason; the stories they
started there start with their next alert that may.

A command's long write goes in slices (`sliced`) that a poll's writes go between, with a
row in `unfinished_writes` that a start finds and finishes (`sync_topics`,
`sync_config_subscriptions`); so does a start's own, after the config changed a topic or a
subscription's only/except, which a stop ends between two slices. `topic add`, and a start
after the config changed a topic, decide the items before their first write (seconds at
thousands waiting); a stop meanwhile ends them there, nothing written
(`_waiting_batches`), or between two slices. The plain queries on feeds, topics and
subscriptions are `bot.feed_store`'s and `bot.store`'s; nothing here matches text itself
(`bot.narrow`) or sends.

The package, a module per job:
- `channel`: one channel's queued alerts decided again, a story at a time (`taker`);
- `slices`: a long write in slices, and the `unfinished_writes` marks a start finishes;
- `topic_changes`: a topic's query changed (`save_topic`, `sync_topics` at start);
- `chat_subscriptions`: chat's `subscribe` and `unsubscribe`;
- `config_subscriptions`: the config's subscriptions at start;
- `leftovers`: what a chat subscription change cut short left, finished;
- `finishing`: a subscription change's last step (an ended one's rest, a channel resumed).

Every name the rest of the code uses is importable from here, as when this was one module.
A constant set to another value (a test, a benchmark) must be set on the module that reads
it (`bot.redecide.slices.WRITE_SLICE`, `bot.redecide.topic_changes.DECIDE_BATCH`): setting
the name re-exported here changes nothing the writes read.
"""

from bot.redecide.channel import QUEUED, WAITING, Rematch, stored_item, taker, topic_exists
from bot.redecide.chat_subscriptions import Subscribed, subscribe, unsubscribe
from bot.redecide.config_subscriptions import (
    CONFIG_ENDED,
    CONFIG_NARROWED,
    sync_config_subscriptions,
)
from bot.redecide.slices import SAVED_FOR_START
from bot.redecide.topic_changes import (
    DECIDE_BATCH,
    NOTHING_CHANGED,
    QUERY_CHANGED,
    changed_topics,
    save_topic,
    sync_topics,
    unfinished_topics,
    waiting_items,
)

__all__ = [
    "CONFIG_ENDED",
    "CONFIG_NARROWED",
    "DECIDE_BATCH",
    "NOTHING_CHANGED",
    "QUERY_CHANGED",
    "QUEUED",
    "SAVED_FOR_START",
    "WAITING",
    "Rematch",
    "Subscribed",
    "changed_topics",
    "save_topic",
    "stored_item",
    "subscribe",
    "sync_config_subscriptions",
    "sync_topics",
    "taker",
    "topic_exists",
    "unfinished_topics",
    "unsubscribe",
    "waiting_items",
]
