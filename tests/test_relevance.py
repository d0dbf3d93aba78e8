"""The relevance stage: shipped model, vetoes, explanations, and a retrain that reproduces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import UsageError
from bot.grouping import HERE as GROUPING
from bot.grouping import train as grouping_train
from bot.relevance import Relevance
from bot.relevance import train as relevance_train
from bot.relevance.model import HERE as MODELS
from bot.relevance.reasons import feature_words
from bot.topics.match import prepare

CORPUS = Path(__file__).resolve().parents[1] / "eval" / "corpus"


def test_the_shipped_models_were_trained_on_the_shipped_corpus():
    """Change the corpus or the lexicon's word lists and forget to retrain, and this fails
    (retrain: eval/README.md)."""
    model = json.loads((MODELS / "deployments.json").read_text())
    assert model["meta"]["corpus_sha256"] == relevance_train.corpus_digest(CORPUS)
    assert model["meta"]["lexicon_sha256"] == relevance_train.lexicon_digest()
    join = json.loads((GROUPING / "join.json").read_text())
    assert join["meta"]["corpus_sha256"] == relevance_train.corpus_digest(CORPUS)


@pytest.mark.parametrize(
    ("title", "veto"),
    [
        ("Minister rules out sending troops to Ukraine", "a refusal or negation"),
        ("Sending more troops is unlikely, defence minister says", "a refusal or negation"),
        ("Russia's Putin renounces right to send troops to Ukraine", "a refusal or negation"),
        ("Britain sends 900 troops to Estonia", None),
        ("Defence minister ruling out sending troops to Niger", "a refusal or negation"),
        # "rule" alone is not a refusal: a parliament ruling on a deployment considers it
        ("Senate to rule on sending 1,500 troops to Darfur", None),
        ("UK troops will not fight against Russia, says Wallace", "a refusal or negation"),
        ("Soldiers against sending more troops to Iraq, poll says", "a refusal or negation"),
        # "against" and "without" after the forces say what they fight or how, not a refusal
        ("Chad deploys troops to fight against Boko Haram", None),
        ("Chad sends troops to back CAR army against rebels", None),
        ("France sends troops to Mali without UN mandate", None),
    ],
)
def test_a_refusal_vetoes_whatever_the_score(gazetteer, title, veto):
    verdict = Relevance(gazetteer).verdict("deployments", prepare(title, "", gazetteer))
    assert (verdict.veto is not None) is (veto is not None)
    assert verdict.relevant is (veto is None)


@pytest.mark.parametrize(
    ("title", "vetoed"),
    [
        ("Hospital group deploys patient records software across its network", True),
        ("Utility to deploy 200,000 smart meters by 2027", True),
        ("Army deploys new battlefield network to forces in Poland", False),
        ("Pentagon to deploy 3,000 troops and missile defence radars to Poland", False),
    ],
)
def test_a_deployment_of_software_is_vetoed_unless_a_force_is_named(gazetteer, title, vetoed):
    """Business wires "deploy" software and equipment daily; a title that names an armed
    force is left to the score, whatever else it deploys."""
    verdict = Relevance(gazetteer).verdict("deployments", prepare(title, "", gazetteer))
    assert (verdict.veto == "t!COMPUTING") is vetoed
    if vetoed:
        assert not verdict.relevant


def test_companies_joining_forces_send_no_forces(gazetteer):
    """Companies that "join forces" cooperate (read as politics, not as armed forces); forces
    named beside it still count."""
    relevance = Relevance(gazetteer)
    merger = "Proxibid and uShip Join Forces to Offer Shipping Services for Online Bidders"
    sent = "Britain and France join forces to send troops to Mali"
    assert not relevance.verdict("deployments", prepare(merger, "", gazetteer)).relevant
    assert relevance.verdict("deployments", prepare(sent, "", gazetteer)).relevant


def test_topics_test_says_a_software_deployment_is_not_one_of_forces(capsys):
    title = "Alcatel-Lucent deploys IPTV platform for Swisscom"
    main(["topics", "test", "troop-deployments", "--text", title])
    assert "vetoed by a deployment of software or equipment, not of forces" in (
        capsys.readouterr().out
    )


def test_topics_test_shows_the_score_and_the_cue_that_vetoed(capsys):
    title = "No soldiers will be sent to the border, president says"
    assert main(["topics", "test", "troop-deployments", "--text", title]) == 1
    out = capsys.readouterr().out
    assert 'title has "soldiers"' in out  # the query's terms...
    assert "relevance 0." in out  # ...the words' score...
    assert "vetoed by a refusal or negation" in out  # ...and the cue that said no,
    assert "bar" not in out  # not a bar that a veto makes beside the point
    sent = "Japan sends troops to Iraq"
    assert main(["topics", "test", "troop-deployments", "--text", sent]) == 0
    assert re.search(r"relevance 0\.\d\d \(bar 0\.\d\d", capsys.readouterr().out)


def test_topics_test_says_a_word_sequence_in_words_not_the_models_class_names(capsys):
    """The model reads "more troops to" as <NUM> <UNIT> to; a moderator reads words."""
    text = "North Korea has sent more troops to Russia\nSeoul's spy agency said so."
    assert main(["topics", "test", "troop-deployments", "--text", text]) == 0
    out = capsys.readouterr().out
    assert 'armed forces then "to" in the title' in out
    assert "<UNIT>" not in out and "<NUM>" not in out


@pytest.mark.parametrize(
    ("feature", "words"),
    [
        ("t2:<NUM> <UNIT>", "a number or amount then armed forces in the title"),
        ("t2:<GPE> </s>", "a country at the end of the title"),
        ("t2:<s> <SEND>", "a verb of sending at the start of the title"),
        ("t3:<s> <UNIT> </s>", "armed forces, alone, as the title"),
        ("t2:troops to", '"troops" then "to" in the title'),
    ],
)
def test_every_word_sequence_reads_as_words(feature, words):
    assert feature_words(feature) == words


def _small_corpus(folder: Path, train: int = 500, validation: int = 200) -> Path:
    """A few hundred items of train and validation, positives included."""
    folder.mkdir()
    for name, n in (("train", train), ("validation", validation)):
        lines = (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        (folder / f"{name}.jsonl").write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_retraining_is_deterministic_and_gives_a_working_model(tmp_path, monkeypatch):
    corpus = _small_corpus(tmp_path / "corpus")
    monkeypatch.setattr(relevance_train, "EPOCHS", 60)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    relevance_train.main(["--corpus", str(corpus), "--out", str(first)])
    relevance_train.main(["--corpus", str(corpus), "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()
    model = json.loads(first.read_text())
    assert model["weights"] and 0 < model["relaxed"] < model["threshold"] < 1
    assert 0 < model["relaxed_title_only"] < model["threshold_title_only"] < 1
    assert set(model["meta"]["scores"]["held_out_sources"]) == {"text", "headline"}
    assert model["meta"]["corpus_sha256"] == relevance_train.corpus_digest(corpus)


@pytest.mark.slow
def test_retraining_the_join_model_is_deterministic(tmp_path, monkeypatch):
    # 250 + 100 items hold both sources (Reuters 1987 in train, Wikinews in validation)
    corpus = _small_corpus(tmp_path / "corpus", train=250, validation=100)
    monkeypatch.setattr(grouping_train, "EPOCHS", 5)
    monkeypatch.setattr(grouping_train, "THRESHOLDS", [0.3, 0.5])
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    grouping_train.main(["--corpus", str(corpus), "--out", str(first)])
    grouping_train.main(["--corpus", str(corpus), "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()
    model = json.loads(first.read_text())
    assert model["threshold"] in (0.3, 0.5)
    # Two sources (Reuters 1987, Wikinews): the bar is chosen with each held out in turn, and
    # both models are written: by words alone, and with the sentence-vector cosine.
    assert model["meta"]["threshold_from"] == "each source of train and validation held out in turn"
    assert len(model["vector_weights"]) == len(model["weights"]) + 1


def test_a_headline_alone_is_held_to_its_own_bar(tmp_path):
    from bot.relevance.model import LinearModel

    toy = {"weights": {"bias": 1.0}, "threshold": 0.5, "relaxed": 0.3,
           "threshold_title_only": 0.9, "relaxed_title_only": 0.6}  # fmt: skip
    (tmp_path / "toy.json").write_text(json.dumps(toy), encoding="utf-8")
    model = LinearModel.load("toy", tmp_path / "toy.json")  # p = 0.73 for every item
    assert model.verdict({"bias", "has_text"}).relevant
    assert not model.verdict({"bias", "title_only"}).relevant
    assert model.verdict({"bias", "title_only"}, relaxed=True).relevant


def test_a_retrained_model_file_is_read_again(tmp_path):
    """Models are read once and shared (a matcher is built for every chat `test`), but a
    file rewritten by a retraining is what the next load gives, not the old weights."""
    import os

    from bot.relevance.model import LinearModel

    path = tmp_path / "toy.json"
    path.write_text(json.dumps({"weights": {"bias": 1.0}, "threshold": 0.5, "relaxed": 0.3}))
    first = LinearModel.load("toy", path)
    assert LinearModel.load("toy", path) is first  # read once
    path.write_text(json.dumps({"weights": {"bias": -1.0}, "threshold": 0.5, "relaxed": 0.3}))
    os.utime(path, ns=(1, 1))  # a different stamp even within the clock's resolution
    again = LinearModel.load("toy", path)
    assert again.weights["bias"] == -1.0
    assert not again.verdict({"bias"}).relevant


def test_retraining_the_join_model_refuses_an_undated_item_by_its_line(tmp_path):
    """Training replays items in publication order: one without a date is named, not a crash."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    items = [{"title": "Troops land in port", "story": "a"}]
    items.append({"title": "More troops", "story": "a", "published": "2025-03-01T08:00:00Z"})
    (corpus / "train.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    with pytest.raises(UsageError, match=r"line 1 .*no `published`"):
        grouping_train.main(["--corpus", str(corpus), "--out", str(tmp_path / "join.json")])
    assert not (tmp_path / "join.json").exists()


def test_held_out_recall_counts_the_deployments_the_query_missed(gazetteer):
    """The trainer's figures are the topic's as a whole: a deployment report the query never
    lets through is a miss, not an item left out of the count."""
    from bot.labelled import LabelledItem

    def item(n: int, title: str, label: str) -> LabelledItem:
        return LabelledItem(n, f"i{n}", title, "", None, "Wire", label, False, None, None,
                            "train", "wire")  # fmt: skip

    items = [
        item(1, "Poland deploys 2,000 troops to the Belarus border", "deploy"),
        item(2, "Kenya to lead a multinational force in Haiti", "deploy"),
        item(3, "Oil prices rise as markets open", "other"),
    ]
    rows = relevance_train.examples(items, "troop-deployments", "deploy", gazetteer)
    assert [(r.positive, r.gated) for r in rows] == [(True, True), (True, False)]
    w, index = relevance_train._fit(rows)
    scored = relevance_train._scored(w, index, rows)
    assert scored[1][0] == 0.0  # never found: the model does not see it
    precision, recall, _ = relevance_train._scores(scored, 0.05, 0.05)["headline"]
    assert precision == 1.0 and recall == 0.5


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("arriving", "SEND"),  # "arrive*": the -ing form drops the e
        ("arrived", "SEND"),
        ("reinforcing", "SEND"),
        ("evacuating", "WITHDRAW"),
        ("preparing", "HYP"),
        ("opposing", "NEG"),
        ("assembly", None),  # a parliament, not "assemble*"
        ("opposition", None),  # the opposition party, not "oppose*"
    ],
)
def test_a_word_class_takes_every_form_of_its_prefixes_and_no_other_word(word, kind):
    from bot.relevance.features import word_class

    assert word_class(word) == kind
