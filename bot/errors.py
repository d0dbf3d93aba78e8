"""The one exception tree of wirewatch: every error a user can see is a WirewatchError."""

from __future__ import annotations

from typing import Literal

# What became of a channel a platform says is gone (`DeliveryError.gone`); "" it is not.
Gone = Literal["", "deleted", "archived", "missing"]


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose; its message is meant for a person."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An unexpected exception as one capped line (`TypeError: int() argument must be...`),
    for a log line or a feed's last error; the traceback is for debug logs only."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConfigError(WirewatchError):
    """The configuration is invalid; `problems` lists each one as 'where: what'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        # Raised in a worker process, it is pickled back: rebuilt from `problems`, not from
        # the joined message (which the default would split into its characters).
        return ConfigError, (self.problems,)


class UsageError(WirewatchError):
    """A command was given something it cannot use (a file that cannot be read, a bad
    argument); the command line exits 2 for it, as for a bad config."""


class QueryError(WirewatchError):
    """A topic query does not parse; `position` is the 0-based offset of the problem, `topic`
    the name of the topic whose query it is, when known."""

    def __init__(
        self, message: str, query: str = "", position: int | None = None, topic: str | None = None
    ):
        self.query = query
        self.position = position
        self.topic = topic
        where = f" at position {position + 1}" if position is not None else ""
        if position is not None and len(query) > SHOWN_QUERY:  # too long to count through
            where += f" ({_at(query, position)})"
        super().__init__(f"{message}{where}")


SHOWN_QUERY = 60


def _at(query: str, position: int) -> str:
    """Where in a long query (a config's list of strings joined, a pasted word list) a
    position is, as the text there, which can be searched for: `"OR OR word9 OR…"`."""
    here = " ".join(query[position:].split())
    if not here:
        return "at its end, after " + repr("…" + " ".join(query.split())[-30:])
    return repr(here if len(here) <= 30 else here[:30] + "…")


class FetchError(WirewatchError):
    """A feed or page could not be fetched.

    `retry_after` is the server's wish in seconds (429/503), `permanent` marks errors that
    retrying will not fix (404, 410, refused address), `gone` the one a server says so itself
    (410 Gone): a feed that answers it is disabled at once.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        gone: bool = False,
    ):
        self.retry_after = retry_after
        self.permanent = permanent or gone
        self.gone = gone
        super().__init__(message)


class UnsafeURLError(FetchError):
    """A URL from chat points at a private, local or otherwise refused address or scheme."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class FeedParseError(WirewatchError):
    """A body is not a usable feed (not XML, no entries, refused entity declarations...)."""


class WorkerError(WirewatchError):
    """Work sent to a worker process took too long, crashed it, or needed too much memory."""


class StoreError(WirewatchError):
    """The database cannot be used: not ours, newer schema, locked, read-only or full."""


class StoppingError(StoreError):
    """wirewatch is stopping: a write not begun yet is left undone (nothing of it stored)."""


class DeliveryError(WirewatchError):
    """An adapter failed to deliver. `retry_after` set: try again later; `permanent`: stop.

    `maybe_posted`: the request went out and its answer was lost (a timeout, a reset, a 5xx),
    so the platform may have posted it; the outbox asks the platform before sending again.

    `refused`: the platform refused this message itself (too long, a field it does not
    take), not the channel: sent again it is refused again, so it fails alone, as an alert
    that cannot be built does, and the channel's next alert goes out.

    `unknown`: the platform answered with an error its adapter has no rule for (one it added
    since): it may pass or never, so the outbox retries it within bounds it keeps on disk,
    then fails that alert alone.

    `gone`: the channel itself is gone, which no moderator can fix there (a missing
    permission they can): "deleted", "archived" (unarchived, it takes alerts again), or
    "missing" (deleted, or private without the app: Slack cannot tell which). Its notice
    says how to end its subscriptions (`bot.gone_channels`); permanent too.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_posted: bool = False,
        refused: bool = False,
        unknown: bool = False,
        gone: Gone = "",
    ):
        self.retry_after = retry_after
        self.permanent = permanent or bool(gone)
        self.maybe_posted = maybe_posted
        self.refused = refused
        self.unknown = unknown
        self.gone: Gone = gone
        super().__init__(message)


class CommandError(WirewatchError):
    """A chat command was wrong; the message says what and how to do it right."""
