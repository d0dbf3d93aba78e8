"""Where the shipped defaults (config/*.yaml) live, installed or in a checkout.

In a source checkout they are `config/` beside `bot/`; `pip install .` copies them into the
package as `bot/defaults/`. Nothing else here: reading them is the settings' job.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def defaults_dir() -> Path:
    """The folder holding wirewatch.yaml, topics.yaml and entities.yaml as shipped."""
    installed = _PACKAGE / "defaults"
    if (installed / "topics.yaml").exists():
        return installed
    return _PACKAGE.parent / "config"


def default_file(name: str) -> Path:
    """One shipped default file, such as `topics.yaml`."""
    return defaults_dir() / name
