"""Whole-file writes: a reader never sees half a file, and a failed write leaves the old one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.errors import UsageError

SQLITE_MAGIC = b"SQLite format 3\x00"


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it, then rename it into place.

    Never over a database (an export pointed at the bot's own file would wipe it) nor over
    anything that is not a regular file (a pipe, a device, a folder)."""
    refuse_to_replace(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would surprise whoever shares the file
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def refuse_to_replace(path: Path) -> None:
    """UsageError when `path` is something an export must not write over."""
    try:
        if path.exists() and not path.is_file():
            raise UsageError(f"cannot write {path}: not a regular file (a directory, a pipe?)")
        if path.is_file():
            with path.open("rb") as f:
                if f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                    raise UsageError(
                        f"{path} is a SQLite database (the bot's own?): not writing over it"
                    )
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
