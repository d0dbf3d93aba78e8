"""A topic or desk filter saved by an older, looser version that no longer compiles is
skipped, and the channels that follow it are told once, not left without alerts in silence.

Stop 48 refused `troops or soldiers`, `-drill` and `near/5` (they had quietly meant
something else); a database saved before holds such queries as they were typed.
"""

from __future__ import annotations

from pathlib import Path

from bot.model import Topic
from bot.notice_outbox import deliver_notices
from bot.redecide import save_topic, subscribe
from bot.settings import Settings
from tests.runtime import console_runtime


def _settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {"database": str(tmp_path / "w.db"), "articles": {"fetch": False}}
    )


async def test_a_saved_topic_and_filter_that_no_longer_compile_are_told_once(
    tmp_path: Path, capsys
) -> None:
    settings = _settings(tmp_path)
    async with console_runtime(settings) as (rt, _):  # as an older version saved them
        save_topic(rt.db, Topic("legacy", "troops or soldiers", origin="chat"))
        save_topic(rt.db, Topic("ticked", 'troops AND entity:"Nar`nia"', origin="chat"))
        subscribe(rt.db, "console", "ticked", "instant")
        subscribe(rt.db, "console", "legacy", "instant")
        subscribe(rt.db, "console", "troop-deployments", "instant", except_="-drill")
    for _ in range(2):  # restarted twice: told once
        async with console_runtime(settings) as (rt, console):
            await deliver_notices(rt.db, rt.adapters)
            assert "legacy" not in {c.topic.name for c in rt.pipeline.matcher.compiled}
    told = [line for line in capsys.readouterr().err.splitlines() if "notice:" in line]
    assert len(told) == 3, told
    topic_notice = next(line for line in told if "topic `legacy`" in line)
    assert "did you mean OR?" in topic_notice and "topic add legacy" in topic_notice
    ticked = next(line for line in told if "topic `ticked`" in line)
    assert "unknown entity 'Nar'nia'" in ticked  # its own backtick would pair one of ours
    assert ticked.count("`") % 2 == 0
    filter_notice = next(line for line in told if "filter of `troop-deployments`" in line)
    assert "NOT drill" in filter_notice and "subscribe troop-deployments" in filter_notice


async def test_working_topics_and_filters_are_not_told(tmp_path: Path, capsys) -> None:
    settings = _settings(tmp_path)
    async with console_runtime(settings) as (rt, _):
        save_topic(rt.db, Topic("fine", "troops OR soldiers", origin="chat"))
        subscribe(rt.db, "console", "fine", "instant", except_="NOT drill")
    async with console_runtime(settings) as (rt, _):
        await deliver_notices(rt.db, rt.adapters)
    assert "notice:" not in capsys.readouterr().err
