"""What /readyz and /healthz say of a running bot: ready or not and why, chat connections
ended for good, channels whose platform has no adapter."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import sqlite_utils

from bot.chat import ChatAdapter
from bot.check import Unserved, unserved
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import subscriptions


def unserved_channels(
    db: sqlite_utils.Database, settings: Settings, adapters: Collection[str]
) -> list[Unserved]:
    """Channels subscribed (from the config or chat; paused ones aside) or named ops_channel
    whose platform has no adapter: its token was not set at start. What waits for them is
    never sent by this process, however long it runs."""
    subscribed = (s.channel for s in subscriptions(db) if not s.paused_reason)
    return unserved(subscribed, settings.ops_channel, adapters)


def readiness(rt: Runtime) -> tuple[bool, str]:
    """Ready when the database takes a write lock, the scheduler runs, adapters are connected
    and every subscribed channel has one (else its alerts wait until a restart)."""
    try:
        rt.db.execute("BEGIN IMMEDIATE")
        rt.db.execute("ROLLBACK")
    except Exception as exc:  # any database failure means not ready, with the reason shown
        return False, f"database not writable: {exc}"
    if rt.scheduler is None or not rt.scheduler.running:
        return False, "scheduler not running"
    down = [
        f"{name} ({why})" if (why := getattr(a, "down_reason", "")) else name
        for name, a in rt.adapters.items()
        if not getattr(a, "connected", True)
    ]
    if down:
        return False, f"not connected: {', '.join(down)}"
    if missing := unserved_channels(rt.db, rt.settings, rt.adapters):
        named = ", ".join(f"{u.channel} ({u.variable} not set)" for u in missing)
        return False, f"no chat adapter for {named}: what waits for them is not sent"
    return True, "ok"


def broken(adapters: Mapping[str, ChatAdapter]) -> str:
    """Chat connections that ended for good (`stopped_by`: discord.py does not come back
    from a token revoked mid-run), for /healthz: "" when none has."""
    ended = [
        f"{name} stopped for good ({why}); fix it and restart wirewatch: alerts wait on disk"
        for name, a in adapters.items()
        if (why := getattr(a, "stopped_by", None))
    ]
    return "; ".join(ended)
