"""`/wirewatch digest SINCE`, the recap: alerts that wait unsent (no token for the platform, an
outage) are said, not answered "nothing here"; a second window is refused, not added up.
Real SQLite, feeds on 127.0.0.1; no adapter for Slack, so its alerts wait as without a token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database

from bot.clock import iso, utcnow
from bot.commands import Commands, Invocation, Reply
from bot.commands.recap import recap
from bot.poll_cycle import poll_once
from bot.startup import open_runtime
from tests.feedserver import FeedServer
from tests.test_digest_feedback import _serve
from tests.test_feedback import _settings

CHANNEL = "slack:C0NEWS"


def _config(tmp_path: Path, feed_server: FeedServer) -> Path:
    """Outlets A and B, and this channel's instant subscription."""
    feeds = "".join(
        f"  - {{name: 'Outlet {n.upper()}', url: '{feed_server.url('/' + n)}'}}\n" for n in "abc"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {tmp_path / 'w.db'}\narticles: {{fetch: false}}\n"
        "network: {allow_private_addresses: true}\nslack: {moderators: [U0MOD]}\n"
        f"feeds:\n{feeds}subscriptions:\n"
        f"  - {{topic: troop-deployments, channel: '{CHANNEL}'}}\n",
        encoding="utf-8",
    )
    return config


async def _ask(cmds: Commands, text: str) -> Reply:
    return await cmds.handle(Invocation("slack", CHANNEL, "U0MOD", text))


def _aged(db: Database, seconds: float = 120.0) -> None:
    """The clock moves on by `seconds`, as far as the waiting alerts can tell."""
    db.execute(
        "UPDATE deliveries SET created = ? WHERE status = 'pending'",
        [iso(utcnow() - timedelta(seconds=seconds))],
    )


async def test_a_recap_says_the_alerts_waiting_unsent_rather_than_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    _serve(feed_server)
    async with open_runtime(_settings(_config(tmp_path, feed_server)), {}) as rt:
        await poll_once(rt)  # two stories found; nothing can post to Slack
        _aged(rt.db)
        cmds = Commands(rt)
        status = await _ask(cmds, "status")
        assert "(this channel: 3," in status.text  # what `status` counts, the recap says
        recap = await _ask(cmds, "digest 12h")
        assert recap.ok and not recap.text.startswith("nothing here")
        assert recap.text.startswith("nothing was told here in the last 12h (since ")
        assert ", but 3 alerts have waited over a minute to be sent here, not posted yet: " in (
            recap.text
        )


async def test_a_recap_says_nothing_of_alerts_seconds_from_being_sent(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Fresh alerts (a poll's, about to go out) were said to wait with "wirewatch's log says
    # why it cannot post": moderators went looking for a fault there was not.
    _serve(feed_server)
    async with open_runtime(_settings(_config(tmp_path, feed_server)), {}) as rt:
        await poll_once(rt)
        cmds = Commands(rt)
        fresh = await _ask(cmds, "digest 12h")
        assert fresh.ok and fresh.text.startswith("nothing here in the last 12h"), fresh.text
        assert "to be sent here" not in fresh.text
        rt.db.execute(
            "UPDATE deliveries SET attempts = 1 WHERE id = (SELECT min(id) FROM deliveries)"
        )
        tried = await _ask(cmds, "digest 12h")  # a try failed: stuck, however fresh
        assert ", but 1 alert has waited over a minute to be sent here" in tried.text, tried.text


async def test_a_recap_refuses_a_second_window_rather_than_adding_them_up(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`digest 12h 12h` read as `1d`; `1h 30m`, largest first, is one window in two parts."""
    _serve(feed_server)
    async with open_runtime(_settings(_config(tmp_path, feed_server)), {}) as rt:
        cmds = Commands(rt)
        for typed in ("12h 12h", "30m 1h", "2h 2h page:2"):
            twice = await _ask(cmds, f"digest {typed}")
            assert not twice.ok and "one window at a time: `/wirewatch digest " in twice.text
        parts = await _ask(cmds, "digest 1h 30m")
        assert parts.ok and parts.text.startswith("nothing here in the last 1h30m (since ")


async def test_a_recap_counts_the_unsent_without_reading_every_delivery(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The count of alerts waiting came from `status`'s whole health, whose other counts read
    the channel's every delivery ever and every failed one (0.85 s a recap with a million
    deliveries, on the store thread every command waits for); the recap reads its window
    through indexes (test_recap_prune), and the waiting ones through theirs."""
    _serve(feed_server)
    async with open_runtime(_settings(_config(tmp_path, feed_server)), {}) as rt:
        await poll_once(rt)
        _aged(rt.db)
        rt.db.execute("ANALYZE")  # as a database in use would have its statistics
        said: list[str] = []
        rt.db.conn.set_trace_callback(said.append)
        try:
            text = recap(rt.db, rt, Invocation("slack", CHANNEL, "U0MOD", "digest 12h"), 43200)
        finally:
            rt.db.conn.set_trace_callback(None)
        reads = [s for s in said if "FROM deliveries" in s]
        plans = [r[-1] for s in reads for r in rt.db.execute(f"EXPLAIN QUERY PLAN {s}")]
    assert "but 3 alerts have waited over a minute to be sent here" in text, text
    every = ("deliveries_channel_story (channel=?)", "deliveries_status (status=?)", "SCAN d")
    assert not [p for p in plans if p.endswith(every) or p == "SCAN deliveries"], plans
