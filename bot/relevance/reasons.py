"""Model features in words, for `wirewatch topics test` and alert explanations."""

from __future__ import annotations

import math

from bot.relevance.model import Verdict

WHERE = {"t": "the title", "b": "the text"}
CLASS_WORDS = {
    "UNIT": "armed forces",
    "SEND": "a verb of sending",
    "WITHDRAW": "a withdrawal",
    "NEG": "a refusal or negation",
    "HYP": "a condition or plan",
    "COMBAT": "fighting or casualties",
    "ARMS": "weapons or aid",
    "EXERCISE": "an exercise",
    "POLICE": "police or agents",
    "PLACE": "a border or region",
    "GPE": "a country",
    "ORG": "an organisation",
    "PER": "a person",
    "NUM": "a number or amount",
    "LEGAL": "a court case",
    "MONEY": "pay or money",
    "POLITICS": "membership or votes",
}


def feature_words(feature: str) -> str:
    """One feature as a phrase: 't~UNIT~SEND' is 'armed forces near a verb of sending in ...'."""
    where, rest = WHERE.get(feature[0], "the item"), feature[1:]
    if rest.startswith("~"):
        a, b = rest[1:].split("~")
        return f"{CLASS_WORDS[a]} near {CLASS_WORDS[b]} in {where}"
    if rest.startswith("<"):
        a, b = rest[1:].split("<")
        return f"{CLASS_WORDS[a]} just before {CLASS_WORDS[b]} in {where}"
    if rest.startswith(">"):
        a, b = rest[1:].split(">")
        return f"{CLASS_WORDS[b]} just after {CLASS_WORDS[a]} in {where}"
    if rest == "!COMPUTING":
        return f"a deployment of software or equipment, not of forces, in {where}"
    if rest.startswith("#"):
        return f"{CLASS_WORDS.get(rest[1:], rest[1:])} in {where}"
    if rest.startswith(("2:", "3:")):
        return _sequence_words(rest[2:].split())
    if rest.startswith(":"):
        return f'"{rest[1:]}" in {where}'
    return {"title_only": "a title without text", "has_text": "a title with text"}.get(
        feature, feature
    )


def _sequence_words(parts: list[str]) -> str:
    """A title's word sequence as a phrase: its classes in words, its words quoted, its ends
    said ('<UNIT> to' is 'armed forces then "to" in the title'; '<GPE> </s>' is 'a country at
    the end of the title'). The model reads "more troops" as '<NUM> <UNIT>': shown raw, a
    moderator asking why an item matched would have to know its classes."""
    start, end = parts[:1] == ["<s>"], parts[-1:] == ["</s>"]
    inner = parts[int(start) : len(parts) - int(end)]
    said = " then ".join(
        CLASS_WORDS.get(p[1:-1], p) if p.startswith("<") and p.endswith(">") else f'"{p}"'
        for p in inner
    )
    if start and end:
        return f"{said}, alone, as the title"
    if start or end:
        return f"{said} at the {'start' if start else 'end'} of the title"
    return f"{said} in the title"


CUES = (
    "NEG",
    "HYP",
    "WITHDRAW",
    "COMBAT",
    "ARMS",
    "EXERCISE",
    "LEGAL",
    "MONEY",
    "POLITICS",
    "POLICE",
)


def describe(verdict: Verdict, bar: str = "bar") -> str:
    """'relevance 0.91 (bar 0.50): armed forces near a verb of sending in the title +2.1; ...'.

    With the encoder's opinion the score combines two (their geometric mean), and both are
    shown: 'relevance 0.70 (bar 0.45; words 0.62, encoder 0.80): ...'; the reasons are the
    word model's. An item whose words score too low for any opinion to lift it to the bar
    says so: the encoder was not asked about it (`LinearModel.opinion_matters`); unless the
    encoder cannot answer here (its weights are not installed), when every item is judged by
    its words alone at their own bar, and explained so, as one the encoder was asked about.
    `bar` names the bar: "update bar" for an update held to the relaxed one. A vetoed item
    shows no bar: a veto stands whatever the score, so no second opinion is asked either, and
    a bar beside the words' score would read as one the item nearly cleared.
    """
    parts = [f"{feature_words(f)} {w:+.1f}" for f, w in verdict.reasons]
    if verdict.veto:
        head = (
            f"relevance {verdict.score:.2f} (words alone; no score overrules a veto), "
            f"vetoed by {feature_words(verdict.veto)}"
        )
    else:
        detail = f"{bar} {verdict.threshold:.2f}"
        if verdict.encoder is not None and verdict.words is not None:
            detail += f"; words {verdict.words:.2f}, encoder {verdict.encoder:.2f}"
        if verdict.unasked and not verdict.encoder_missing:
            most = math.sqrt(verdict.score)  # `combined` with an opinion of 1.0
            detail += f"; words alone, the encoder not asked: even sure, it would give {most:.2f}"
        head = f"relevance {verdict.score:.2f} ({detail})"
        cues = [f for f, w in verdict.reasons if w < 0 and any(c in f for c in CUES)]
        if cues and not verdict.relevant:
            head += f", vetoed by {feature_words(cues[0])}"
    return head + (": " + "; ".join(parts) if parts else "")
