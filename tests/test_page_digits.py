"""A page number of five digits or more is a page too: `digest 12h page:12345` was answered
about its window ("a recap reaches back at least 1m and at most 7d"), and `search harbour
page:12345` looked for the word "page:12345" ("nothing stored matches"), neither naming the
page that was wrong. Both now say how far their pages go, as for page:9999. Through the
real command layer, on a real SQLite database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime import console_runtime, make_settings
from tests.test_lookback import ask


@pytest.mark.parametrize("page", ["page:12345", "page:99999999999", "PAGE:" + "9" * 5000])
async def test_a_long_page_number_is_answered_about_the_page(tmp_path: Path, page: str) -> None:
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        recap = await ask(rt, f"digest 12h {page}")
        assert "a recap's pages go as far as page:20" in recap, recap
        found = await ask(rt, f"search harbour {page}")
        assert "search pages go as far as page:100" in found, found


async def test_a_page_with_leading_zeros_is_that_page(tmp_path: Path) -> None:
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        recap = await ask(rt, "digest 12h page:000000000002")
        assert recap == await ask(rt, "digest 12h page:2"), recap
