"""Base memory: a command loads only the libraries it uses (each chat library costs tens of MB).

Each case runs in a fresh interpreter, with an environment holding only what it sets, and
reports which of the heavy libraries ended up imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("slack_bolt", "slack_sdk", "discord", "trafilatura", "aiohttp", "apscheduler")

REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))"


def loaded_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy libraries imported once `code` ran in a fresh interpreter."""
    script = f"{code}\n{REPORT.format(heavy=HEAVY)}"
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_check_loads_no_chat_library_no_poller_no_extractor():
    code = "from bot.cli import main\nassert main(['check']) == 0"
    assert loaded_after(code) == []


def test_a_console_only_bot_loads_no_chat_library():
    code = (
        "from bot.cli import build_adapters\nfrom bot.settings import load_settings\n"
        "adapters = build_adapters(load_settings(None))\n"
        "assert sorted(adapters) == ['console'], adapters"
    )
    assert not {"slack_bolt", "slack_sdk", "discord"} & set(loaded_after(code))


def test_a_platform_with_its_token_set_is_loaded_and_built():
    code = (
        "from bot.cli import build_adapters\nfrom bot.settings import load_settings\n"
        "adapters = build_adapters(load_settings(None))\n"
        "assert sorted(adapters) == ['console', 'slack'], adapters"
    )
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"}
    loaded = loaded_after(code, env)
    assert "slack_bolt" in loaded and "discord" not in loaded
