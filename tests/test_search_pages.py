"""`search ... page:N` reaches as far as the count does, no further: every page before the
answer is walked and kept in memory, so `page:9999` on an archive of items stored before
the story index held the command thread (every channel's commands) for most of a minute
(52 s on 60,000 items, measured), for a page no answer ever names: the count stops at
COUNT_CAP. Real SQLite, the real schema, the shared search reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.search import _archive
from bot.commands.found import search_reply
from bot.commands.grammar import SEARCH_LIMIT
from bot.db import open_database
from bot.errors import CommandError
from bot.gazetteer import Gazetteer
from bot.search_count_store import COUNT_CAP

LAST_PAGE = COUNT_CAP // SEARCH_LIMIT


def test_a_page_past_what_the_count_names_is_refused_with_what_to_do(tmp_path: Path) -> None:
    db = open_database(_archive(tmp_path / "a.db", COUNT_CAP + 20, stories=False))
    gazetteer = Gazetteer.load()

    last = search_reply(db, gazetteer, "console", f"harbour page:{LAST_PAGE}")
    assert last.splitlines()[0].startswith(f"more than {COUNT_CAP} stories; 991-1000,")
    assert f"page:{LAST_PAGE + 1}" not in last  # not pointed at a page it would refuse
    assert "narrow" in last.splitlines()[-1]

    with pytest.raises(CommandError, match=f"pages go as far as page:{LAST_PAGE}"):
        search_reply(db, gazetteer, "console", "harbour page:9999")
