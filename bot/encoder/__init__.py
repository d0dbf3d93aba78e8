"""A small pretrained encoder with a learned head: the relevance stage's second opinion.

One entry point, `opinions(head, texts)`: the `Encoder` (`model.py`) maps the base weights
(`weights.py`), tokenizes with their own WordPiece vocabulary (`wordpiece.py`) and runs the
forward pass in numpy (`forward.py`), with the low-rank adapters and the classifier head
learned for a topic (`python -m bot.encoder.train`, shipped as a small .npz beside this
file). Importing this package costs nothing: numpy and the weights load on the first call,
in whichever process scores (a worker, for the running bot).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.text.wire import headline, strip_byline

if TYPE_CHECKING:
    from bot.encoder.model import Encoder

HERE = Path(__file__).parent
_HEAD_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def encoder_text(title: str, text: str) -> str:
    """What the encoder learns from of an item: its headline, then whatever text it has.

    Wire furniture ("UPDATE 2-", "(LEAD)", "(Reuters)", "AP - ") is taken off first, as for
    the word model: it says which version of a report this is, not what it reports.
    """
    title, text = headline(title), strip_byline(text)
    return f"{title}. {text}".strip() if text else title


def opinions(head: str, texts: list[str]) -> list[float]:
    """The named head's probability for each text (`bot/encoder/<head>.npz`).

    The encoder is loaded once per process; ConfigError when its weights or the head are
    missing or not the ones trained on.
    """
    return for_head(head).scores(texts)


def sentence_vectors(texts: list[str]) -> list[bytes]:
    """The base encoder's sentence vector of each text (no topic's adapters: what a report
    says, not whether it is a deployment), mean-pooled, of unit length, as float16 bytes:
    what the story index compares (`bot.grouping.VECTOR_FEATURE`). ConfigError when the
    weights are missing or not the published ones."""
    import numpy as np  # only in the process that encodes

    x = base().embed(texts)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    return [row.astype("<f2").tobytes() for row in x]


def grouping_text(title: str) -> str:
    """What the sentence vector reads of an item: its headline, wire furniture off. On
    sources the join model did not learn from, headline and summary read no better, and a
    headline costs a third of the time (eval/experiments/grouping/README.md)."""
    return headline(title)


@functools.cache
def base() -> Encoder:
    """The base weights without any topic's adapters (loaded once per process)."""
    from bot.encoder.model import Encoder  # numpy: imported by whoever encodes, only then

    return Encoder()


def missing() -> str | None:
    """Why the base weights cannot be used (not installed, incomplete), or None."""
    from bot.encoder.weights import model_dir

    try:
        model_dir()
    except ConfigError as exc:
        return str(exc)
    return None


@functools.cache
def for_head(head: str) -> Encoder:
    if not _HEAD_NAME.fullmatch(head):
        raise ConfigError([f"encoder head {head!r}: not a head's name"])
    path = HERE / f"{head}.npz"
    if not path.is_file():
        raise ConfigError([f"encoder head {path}: missing (python -m bot.encoder.train)"])
    return base().with_head(path)  # one copy of the base weights per process
