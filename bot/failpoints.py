"""Crash on purpose at a named step, so tests can prove a `kill -9` there loses nothing.

Set WIREWATCH_FAILPOINT=after_fetch|after_store|after_claim|after_send; the process then
SIGKILLs itself when it reaches that step. Unset (always, in production) it costs one dict
lookup.
"""

from __future__ import annotations

import os
import signal

STEPS = ("after_fetch", "after_store", "after_claim", "after_send")


def failpoint(step: str) -> None:
    if os.environ.get("WIREWATCH_FAILPOINT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
