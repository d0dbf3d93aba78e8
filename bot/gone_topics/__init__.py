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
it (the counts so far kept with the slices, `Tally`).

A config topic that takes the name of a topic made from chat (put back after a moderator
made one of its name, or new) replaces it, as the config wins every name it shares (chat's
`topic add` refuses a config topic's name); each channel that follows it is told once
(`tell_replaced`).

The package, a module per job:
- `held`: what is held for a gone topic (`status`, the subscription list, `topic add`);
- `holding`: a topic gone, its waiting alerts moved on or held;
- `giving_back`: a topic back, what was held given back (`give_back` from chat);
- `requery`: a topic back with another query, what was held decided again first;
- `tally`: a start's hold or give-back under way, its mark and counts;
- `settle`: the start's part (`settle_gone_topics`), holding and giving back in slices;
- `notices`: what the channel is told of a departure and a return, once per departure;
- `replaced`: a config topic that takes a chat topic's name.

Deliberately not here: new alerts (the matcher no longer knows the topic, so none are
queued), a subscription the config itself removed (`sync_config_subscriptions` ends it).
"""

from bot.gone_topics.giving_back import FROM_CHAT, IN_CONFIG, give_back
from bot.gone_topics.held import GONE, Gone, gone_line, gone_subscriptions, held_for
from bot.gone_topics.replaced import shown_query, tell_replaced
from bot.gone_topics.requery import held_items, returning
from bot.gone_topics.settle import settle_gone_topics
from bot.gone_topics.tally import GIVING_BACK, HOLDING

__all__ = [
    "FROM_CHAT",
    "GIVING_BACK",
    "GONE",
    "HOLDING",
    "IN_CONFIG",
    "Gone",
    "give_back",
    "gone_line",
    "gone_subscriptions",
    "held_for",
    "held_items",
    "returning",
    "settle_gone_topics",
    "shown_query",
    "tell_replaced",
]
