"""Two durations typed together (`12h 12h`, `12h12h`, `30m 1h`) are refused by `mute` and
the recap (`digest SINCE`), not added up into a window or a mute no one typed; a duration
in parts, largest first (`1h30m`, `1d 12h`), is one. Real SQLite, the console adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import Commands, Invocation, Reply
from tests.runtime import console_runtime, make_settings


@pytest.mark.parametrize(
    ("typed", "first"),
    [("12h 12h", "12h"), ("12h12h", "12h"), ("30m 1h", "30m"), ("1d 12h 12h", "1d12h")],
)
async def test_mute_and_a_recap_refuse_two_durations_typed_together(
    tmp_path: Path, typed: str, first: str
) -> None:
    # `mute 12h 12h` muted for 1d without a word; `digest 12h12h` recapped 1d.
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        commands = Commands(rt)
        for command, said in (("mute", "one duration"), ("digest", "one window")):
            reply = await commands.handle(
                Invocation("console", "console", "op", f"{command} {typed}")
            )
            assert isinstance(reply, Reply) and not reply.ok, reply
            assert f"{said} at a time: `/wirewatch {command} {first}`" in reply.text, reply.text
        muted = [r[0] for r in rt.db.execute("SELECT muted_until FROM subscriptions")]
        assert muted == [None]


@pytest.mark.parametrize(("typed", "shown"), [("1h30m", "1h30m"), ("1d 12h", "1d12h")])
async def test_a_duration_in_parts_largest_first_is_one(
    tmp_path: Path, typed: str, shown: str
) -> None:
    async with console_runtime(make_settings(tmp_path / "w.db", [])) as (rt, _):
        commands = Commands(rt)
        for command in ("mute", "digest"):
            reply = await commands.handle(
                Invocation("console", "console", "op", f"{command} {typed}")
            )
            assert isinstance(reply, Reply) and reply.ok, reply
            assert f"({shown})" in reply.text or f"the last {shown} " in reply.text, reply.text
