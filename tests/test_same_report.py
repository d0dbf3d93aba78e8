"""Another report under one guid, or the same one edited (bot.edits.same_report)."""

from __future__ import annotations

import pytest

from bot.edits import report_words, same_report
from tests.test_shared_guids import BALTIC, HORMUZ, HORMUZ_REWORDED, SHIPS


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        (HORMUZ, HORMUZ_REWORDED, True),  # a reworded headline
        (SHIPS, (SHIPS[0].replace("two", "three"), SHIPS[1]), True),  # an updated number
        (SHIPS, (SHIPS[0], "The destroyers will join a carrier group, officials said."), True),
        (("Breaking news", "More to follow."), HORMUZ, True),  # too short to tell: a flash
        (SHIPS, HORMUZ, False),
        (HORMUZ, BALTIC, False),
        (("Daily briefing", HORMUZ[1]), ("Daily briefing", BALTIC[1]), False),
        (("Russia moves troops west", ""), ("Russia withdraws troops from Kherson", ""), False),
        (("Russia moves 5,000 troops west", ""), ("Russia moves 9,000 troops west", ""), True),
    ],
    ids=[
        "reworded",
        "number",
        "summary-cut",
        "flash",
        "other-1",
        "other-2",
        "same-title",
        "short-other",
        "short-number",
    ],
)
def test_same_report_or_another(old: tuple[str, str], new: tuple[str, str], same: bool) -> None:
    assert same_report(report_words(*old), report_words(*new)) is same
