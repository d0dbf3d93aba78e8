"""Shared fixtures: real HTTP servers on 127.0.0.1 (tests/feedserver.py) and a runtime factory."""

from __future__ import annotations

pytest_plugins = ["tests.feedserver", "tests.runtime"]
