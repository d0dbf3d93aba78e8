"""A mistyped command line is answered as chat answers the same words: the shell user reads
docs/commands.md's chat rules too (`feedback relevant` is offered no label, `-drill` is no way
to leave a word out of a search, `feeds list` is chat's spelling of `wirewatch feeds`)."""

from __future__ import annotations

import pytest

from bot.cli import main


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    return capsys.readouterr().err


def test_feedback_relevant_is_not_offered_its_opposite(capsys):
    """An editor who types `relevant` means the alert was right: suggesting `not-relevant`
    would have them record the opposite of what they think (chat offers nothing either)."""
    err = _refused(["feedback", "relevant", "12"], capsys)
    assert "not-relevant?" not in err and "did you mean" not in err
    assert "only what is wrong with an alert is marked" in err
    assert "did you mean wirewatch feedback wrong-story?" in _refused(
        ["feedback", "wrong", "12"], capsys
    )  # a near miss is still offered


@pytest.mark.parametrize(
    "argv", [["search", "troops", "-drill"], ["search", "-drill"], ["search", "a", "--json", "-x"]]
)
def test_a_dashed_search_word_is_explained(argv, capsys):
    """argparse said only `unrecognized arguments: -drill` (or that WORDS were missing)."""
    err = _refused(argv, capsys)
    assert "was read as an option: search cannot leave words out" in err, err


def test_feeds_list_typed_at_the_shell_is_told_its_host_spelling(capsys):
    """Discord's only spelling of the feed list; at the shell argparse listed the choices."""
    err = _refused(["feeds", "list"], capsys)
    assert "`wirewatch feeds` on the host" in err, err
