"""Crash on purpose at a named step, so tests can prove a `kill -9` there loses nothing.

Set WIREWATCH_FAILPOINT=after_fetch|after_store|after_claim|after_send; the process then
SIGKILLs itself when it reaches that step. `worker_start` is reached by every worker process
as it starts (`bot.workers`), never by the bot's own: a pool that cannot start at all, as a
broken install or a memory limit leaves it. Unset (always, in production) it costs one dict
lookup.
"""

from __future__ import annotations

import os
import signal

STEPS = ("after_fetch", "after_store", "after_claim", "after_send")  # the bot's own process
WORKER_START = "worker_start"


def failpoint(step: str) -> None:
    if os.environ.get("WIREWATCH_FAILPOINT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
