"""Crash on purpose at a named step, so tests can prove a `kill -9` there loses nothing.

Set WIREWATCH_FAILPOINT=after_fetch|after_store|after_claim|after_send; the process then
SIGKILLs itself when it reaches that step. `worker_start` is reached by every worker process
as it starts (`bot.workers`), never by the bot's own: a pool that cannot start at all, as a
broken install or a memory limit leaves it. `worker_start_hang` there instead has each worker
hang for as long as the bot runs (`hang`): a pool whose workers never answer, as an import
stuck on a dead network share leaves it. Unset (always, in production) each costs one dict
lookup.
"""

from __future__ import annotations

import os
import signal
import time

STEPS = ("after_fetch", "after_store", "after_claim", "after_send")  # the bot's own process
WORKER_START = "worker_start"
WORKER_START_HANG = "worker_start_hang"


def failpoint(step: str) -> None:
    if os.environ.get("WIREWATCH_FAILPOINT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def hang(step: str, parent: int) -> None:
    """Hang at `step` until process `parent` is gone, then exit: a hung worker must not
    outlive the bot (nothing else would end it: it never gets to watch its parent)."""
    if os.environ.get("WIREWATCH_FAILPOINT") == step:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(0)
