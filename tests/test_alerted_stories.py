"""A story is alerted once: an alert-worthy report close to a story already alerted for its
topic threads under it, even when its words alone would not quite join it.

Run through `bot.replay` (the bot's own store, story index and matcher, as `wirewatch eval`
runs them), with 300 unrelated real headlines from the corpus as the index's background, so
word rarities are those of a working index rather than of an empty one.
"""

from __future__ import annotations

from datetime import timedelta

from bot.gazetteer import Gazetteer
from bot.replay import ReplayInput, replay
from bot.topics.load import load_topics
from tests.conftest import T0

FOLLOW_UP = "Ottawa boosts its military presence in Latvia"  # few words shared with the first


def _outcomes(background: list[ReplayInput], first: str):
    topic = next(t for t in load_topics() if t.name == "troop-deployments")
    inputs = [
        *background,
        ReplayInput("first", first, "", T0, "Wire A"),
        ReplayInput("follow-up", FOLLOW_UP, "", T0 + timedelta(hours=2), "Wire B"),
    ]
    return replay(inputs, topic, Gazetteer.load())[-2:]


def test_a_report_near_an_alerted_story_threads_under_it(background):
    first, follow_up = _outcomes(background, "Canada deploys troops to Latvia")
    assert first.alert == "new" and follow_up.matched
    assert follow_up.story == first.story and follow_up.alert == "update"


def test_a_report_near_a_story_never_alerted_is_an_alert_of_its_own(background):
    """The lower bar is for stories the channel already has: the same follow-up after a
    refusal (no alert) is news, not a thread under a story nobody was told of."""
    first, follow_up = _outcomes(background, "Canada rules out sending more troops to Latvia")
    assert first.alert is None
    assert follow_up.story != first.story and follow_up.alert == "new"


def test_follow_ups_naming_the_actors_otherwise_thread_under_the_seed_story(background):
    """The issue's case: later reports on the seed story's North Korean troops in Kursk, which
    call North Korea "Pyongyang" or "DPRK", made new alerts. An alert-worthy item near an
    alerted story is also compared with its title's names read as the gazetteer's."""
    topic = next(t for t in load_topics() if t.name == "troop-deployments")
    heads = [
        "North Korea has sent more troops to Russia, South Korea says",
        "Pyongyang's soldiers redeployed to the Kursk front line",
        "Thousands more DPRK soldiers deployed to Kursk region",
    ]
    inputs = [
        ReplayInput(f"k{n}", h, "", T0 + timedelta(hours=n), f"Wire {n}")
        for n, h in enumerate(heads)
    ]
    out = replay([*background, *inputs], topic, Gazetteer.load())[-3:]
    assert all(o.matched for o in out)
    assert [o.alert for o in out] == ["new", "update", "update"]
    assert len({o.story for o in out}) == 1
