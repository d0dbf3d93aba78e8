"""wirewatch's core: feeds, topics, stories, the store and the outbox; no chat platform."""

import sys

# sqlite-utils imports numpy whenever it can, only to store numpy values, which wirewatch
# never does. numpy is installed for the encoder, which runs in the worker processes
# (bot.workers); in the bot's own process it would cost about 10 MB of the 150 MB budget.
# So sqlite-utils is first imported here with numpy out of its reach (an import of a module
# set to None raises ImportError), and numpy stays importable for whoever needs it.
# tests/test_opinions.py checks that `wirewatch poll` never loads it.
if "numpy" not in sys.modules and "sqlite_utils" not in sys.modules:
    sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]
