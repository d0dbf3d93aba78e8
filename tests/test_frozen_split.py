"""The relevance model and story grouping on news they were never tuned on: eval/corpus/test.jsonl.

The frozen test split of our labelled corpus (eval/README.md): 1,559 real items of Reuters
1987, ABC News 2003 headlines, Wikinews 2004-2015 and 40+ outlets' RSS feeds 2020-2023,
replayed in publication order exactly as `wirewatch eval` does, as written and headline-only.
Nothing was tuned on it. The floors sit a little under today's figures (README, "How good
is it"): a change that makes the bot worse on unseen news fails here, whatever it does on
the data it was trained on.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import encoder
from bot.evaluate import alerts_per_story, detection, grouping, replay_file
from bot.topics.load import load_topics

TEST = Path(__file__).resolve().parents[1] / "eval" / "corpus" / "test.jsonl"

# (detection F1, grouping precision, grouping recall, stories alerted more than once)
# The floors follow what ships; they never decide it. Stop 26 lowered the F1 floors from 0.79:
# the geometric mean of the two models, chosen on sources held out from training (train and
# validation only), reads 0.785 / 0.771 here against the plain mean's 0.816 / 0.813 (stop 28,
# bars from the smoothed F1 curve and a veto of software deployments: 0.781 / 0.777). Stop 30
# (Reuters 2007-2016 trained on, adopted on held-out sources) reads 0.780 / 0.809 and raised
# the headline floor to 0.79. Stop 32 (the encoder reads headlines without wire furniture,
# adopted on held-out sources: 0.734 / 0.796 -> 0.743 / 0.803) reads 0.796 / 0.788 and
# lowered it to 0.78: one positive of 52 moves F1 here by about 0.01. Stop 39 (the
# sentence-vector join feature, adopted on held-out sources) took grouping from P 0.920 / R
# 0.804 to 0.931 / 0.832 as written and 0.886 / 0.671 to 0.927 / 0.693 headline only, and
# raised the recall floors and the headline precision floor.
FLOORS = {"as written": (0.76, 0.90, 0.80, 1), "headline only": (0.78, 0.90, 0.66, 1)}


@pytest.fixture(scope="module")
def topic():
    return next(t for t in load_topics() if t.name == "troop-deployments")


def test_the_frozen_split_holds_its_floors(topic, gazetteer, monkeypatch):
    _holds_floors(TEST, topic, gazetteer, FLOORS, monkeypatch)


def _holds_floors(path, topic, gazetteer, floors, monkeypatch):
    """Both replays of the file, as written then headline only, each held to its floors; a
    failure names every floor either missed, with both replays' figures."""
    _share_encoder_answers(monkeypatch)
    summaries, missed = [], []
    for variant, (f1_floor, p_floor, r_floor, twice_cap) in floors.items():
        items, out, _ = replay_file(path, topic, titles_only=variant == "headline only",
                                    gazetteer=gazetteer)  # fmt: skip
        found = detection(items, out, "deploy")
        stories = grouping(items, out)
        twice = [s for s, n in alerts_per_story(items, out).items() if n > 1]
        summaries.append(
            f"{variant}: F1 {found.f1:.3f}, grouping P {stories.precision:.3f} "
            f"R {stories.recall:.3f}, alerted twice {twice}"
        )
        if found.f1 < f1_floor:
            missed.append(f"{variant}: F1 under {f1_floor}")
        if stories.precision < p_floor or stories.recall < r_floor:
            missed.append(f"{variant}: grouping under P {p_floor} / R {r_floor}")
        if len(twice) > twice_cap:
            missed.append(f"{variant}: more than {twice_cap} story alerted twice")
    assert not missed, "; ".join(missed) + "\n" + "\n".join(summaries)


def _share_encoder_answers(monkeypatch) -> None:
    """The real encoder's answers, kept by the exact text asked for the test's replays.

    The encoder reads an item's headline only (`bot.opinions.reads`,
    `bot.encoder.grouping_text`), so the headline-only replay asks about the texts the as
    written one asked about (most of its cost: 12.7 s of a 19.4 s replay): those answers are
    given again rather than computed twice. The encoder's answer to a text does not depend on
    the batch it is asked in (`bot.encoder.model`); all six replays' figures and every item's
    outcome read the same with and without this (stop 60)."""
    real_opinions, real_vectors = encoder.opinions, encoder.sentence_vectors
    said: dict[tuple[str, str], float] = {}
    vectors: dict[str, bytes] = {}

    def opinions(head: str, texts: list[str]) -> list[float]:
        new = list(dict.fromkeys(t for t in texts if (head, t) not in said))
        if new:
            said.update(zip([(head, t) for t in new], real_opinions(head, new), strict=True))
        return [said[head, t] for t in texts]

    def sentence_vectors(texts: list[str]) -> list[bytes]:
        new = list(dict.fromkeys(t for t in texts if t not in vectors))
        if new:
            vectors.update(zip(new, real_vectors(new), strict=True))
        return [vectors[t] for t in texts]

    monkeypatch.setattr(encoder, "opinions", opinions)
    monkeypatch.setattr(encoder, "sentence_vectors", sentence_vectors)


HELDOUT_2024 = TEST.parents[1] / "heldout" / "rss2024.jsonl"
# Read once, before anything was changed for it (stop 37): 0.711 / 0.703, grouping P 0.737 /
# 0.771, R 0.881 / 0.783, one story alerted twice as written, none headline only. With the
# sentence-vector join feature (stop 39): grouping P 0.745 / 0.796, R 0.881 / 0.802.
FLOORS_2024 = {"as written": (0.68, 0.70, 0.85, 1), "headline only": (0.67, 0.76, 0.77, 1)}


def test_news_of_2024_that_no_model_learned_from_holds_its_floors(topic, gazetteer, monkeypatch):
    """1,282 items of thirteen outlets' feeds on sixteen days of 2024 (eval/heldout): a year
    after every source the models were fitted on."""
    _holds_floors(HELDOUT_2024, topic, gazetteer, FLOORS_2024, monkeypatch)


HELDOUT_2025 = HELDOUT_2024.parent / "rss2025.jsonl"
# Read with nothing changed for it (stop 44, the models of stop 43): F1 0.809 / 0.822, grouping
# P 0.589 / 0.605, R 0.924 / 0.898, one story alerted twice (a carrier sent to Latin America,
# first reported behind a boat strike). 51 deployments: one more or fewer found moves F1 by
# about 0.015.
FLOORS_2025 = {"as written": (0.78, 0.56, 0.89, 1), "headline only": (0.79, 0.58, 0.87, 1)}


def test_news_of_2025_that_no_model_learned_from_holds_its_floors(topic, gazetteer, monkeypatch):
    """1,010 items of twelve outlets' feeds on twelve days of 2025 (eval/heldout): the National
    Guard and Marines in Los Angeles, US forces towards the Middle East, Guard troops in
    Washington, Portland, Illinois and Memphis, NATO's eastern flank, a carrier to Latin
    America."""
    _holds_floors(HELDOUT_2025, topic, gazetteer, FLOORS_2025, monkeypatch)


def test_the_test_split_is_frozen_and_apart():
    """Test items are test items only: no story or thread of theirs is anywhere else, and
    whatever waits in eval/staged/ for the next retraining (RSS 2024's eight days and two
    Reuters draws, today) holds to that already."""
    from bot.labelled import load_labelled

    files = [*TEST.parent.glob("*.jsonl"), *(TEST.parents[1] / "staged").glob("*.jsonl")]
    test = load_labelled(TEST)
    rest = [i for f in files if f != TEST for i in load_labelled(f)]
    assert len(test) >= 1000 and {i.split for i in test} == {"test"}
    assert sum(i.label == "deploy" and not i.ambiguous for i in test) >= 40
    assert not {i.thread for i in test} & {i.thread for i in rest}
    assert not {i.story for i in test} & {i.story for i in rest}
    assert "test" not in {i.split for i in rest}


@pytest.mark.parametrize("held_out", ["rss2024.jsonl", "rss2025.jsonl"])
def test_the_rss_heldout_files_stay_apart_from_what_models_learn(held_out):
    """Nothing fitted on may share an item, story or thread with a held-out RSS year
    (eval/heldout/rss2024.jsonl, rss2025.jsonl), or come from within 4 days of one of its
    deployment reports."""
    from bot.labelled import load_labelled

    held = load_labelled(HELDOUT_2024.parent / held_out)
    files = [*TEST.parent.glob("*.jsonl"), *(TEST.parents[1] / "staged").glob("*.jsonl")]
    rest = [i for f in files for i in load_labelled(f)]
    assert {i.split for i in held} == {"heldout"}
    for key in ("id", "story", "thread"):
        assert not {getattr(i, key) for i in held} & {getattr(i, key) for i in rest}, key
    deployments = sorted(i.published for i in held if i.label == "deploy")
    assert deployments
    near = [
        i.id for i in rest if i.published and _near(i.published, deployments, timedelta(days=4))
    ]
    assert not near


def _near(when: datetime, times: list[datetime], within: timedelta) -> bool:
    """Whether `when` is `within` of one of the sorted `times`: of its neighbours there (a
    look at each of 16,000 items' two neighbours, not at every deployment)."""
    at = bisect_left(times, when)
    return any(abs(when - t) <= within for t in times[max(at - 1, 0) : at + 1])
