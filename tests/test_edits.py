"""What counts as an edit of an item, and the word diff people are shown (bot/edits.py)."""

from __future__ import annotations

import pytest

from bot.edits import diff_text, word_diff
from bot.model import Change
from bot.text.versions import digest, without_date_line

TITLE = "North Korea has sent more troops to Russia, South Korea says"
SUMMARY = (
    "SEOUL, Dec. 2 (Yonhap) -- North Korea has sent additional troops to Russia and "
    "redeployed its soldiers to the front line, South Korea's spy agency said Wednesday."
)


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("  North Korea has  sent more troops\nto Russia,  South Korea says ", SUMMARY),
        ("NORTH KOREA HAS SENT MORE TROOPS TO RUSSIA, SOUTH KOREA SAYS", SUMMARY),
        ("North Korea has sent more troops to Russia - South Korea says!", SUMMARY),
        ("North Korea has sent “more” troops to Russia; South Korea says", SUMMARY),
        (TITLE, SUMMARY.replace("Dec. 2", "Dec. 3")),  # the dateline's date
        (TITLE, SUMMARY.replace("SEOUL, Dec. 2 (Yonhap) --", "SEOUL, Dec. 3 (Yonhap) —")),
        (TITLE, f"Updated: Tue 3 Dec 2025, 10:05 GMT\n{SUMMARY}"),  # a date-only line
    ],
    ids=["whitespace", "case", "punctuation", "quotes", "dateline", "dateline-dash", "date-line"],
)
def test_cosmetic_changes_are_not_edits(title: str, summary: str) -> None:
    assert digest(title, summary) == digest(TITLE, SUMMARY)
    assert word_diff(TITLE, title) == () and word_diff(SUMMARY, summary) == ()


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("North Korea has sent 3,000 more troops to Russia, South Korea says", SUMMARY),
        (TITLE, SUMMARY.replace("Wednesday", "Thursday")),  # a date in the text is news
        (TITLE, SUMMARY.replace("additional troops", "additional")),
        (TITLE.replace("South Korea says", "Seoul says"), SUMMARY),
    ],
)
def test_changed_words_are_edits(title: str, summary: str) -> None:
    assert digest(title, summary) != digest(TITLE, SUMMARY)


def test_a_moved_decimal_point_is_an_edit_and_a_thousands_comma_is_kept() -> None:
    assert digest("Rate cut to 2.75 pct", "") != digest("Rate cut to 27.5 pct", "")
    assert digest("Talks at 10:05", "") != digest("Talks at 1005", "")
    assert digest("Sends 2,000 troops.", "") == digest("sends 2,000 troops", "")


def test_title_and_summary_are_kept_apart() -> None:
    assert digest("troops sent", "to Russia") != digest("troops", "sent to Russia")


def test_the_diff_shows_deleted_and_inserted_words_as_written() -> None:
    parts = word_diff(
        "Pyongyang redeployed troops to the front, officials said.",
        "Pyongyang sent 3,000 troops to the front, officials said.",
    )
    assert parts == (
        Change("same", "Pyongyang"),
        Change("deleted", "redeployed"),
        Change("inserted", "sent 3,000"),
        Change("same", "troops to the front, officials said."),
    )
    assert diff_text(parts) == (
        "Pyongyang [-redeployed-] {+sent 3,000+} troops to the front, officials said."
    )


def test_long_unchanged_runs_are_left_out_around_the_changes() -> None:
    words = [f"w{i}" for i in range(60)]
    new = words[:30] + ["CHANGED"] + words[31:]
    parts = word_diff(" ".join(words), " ".join(new), context=3)
    assert parts == (
        Change("gap", "…"),
        Change("same", "w27 w28 w29"),
        Change("deleted", "w30"),
        Change("inserted", "CHANGED"),
        Change("same", "w31 w32 w33"),
        Change("gap", "…"),
    )


def test_a_word_diff_ignores_case_and_punctuation_of_the_words_around() -> None:
    parts = word_diff("Troops, sent to Russia.", "troops sent to Russia and Belarus")
    assert [p for p in parts if p.op != "same"] == [Change("inserted", "and Belarus")]


def test_only_a_leading_dateline_is_dropped() -> None:
    assert without_date_line(SUMMARY).startswith("North Korea has sent")
    sentence = "Seoul said on Monday (local time) - reporters were told - troops left."
    assert without_date_line(sentence) == sentence
    assert without_date_line("WASHINGTON (Reuters) - The Pentagon said").startswith("The Pentagon")


def test_what_no_reader_sees_is_no_edit():
    # A feed that starts or stops sending soft hyphens, zero-width or bidi characters
    # changed nothing a reader sees: no edit to tell.
    assert digest("Is\u00adrael sends\u200b troops", "Seoul\u202e says") == digest(
        "Israel sends troops", "Seoul says"
    )
