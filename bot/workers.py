"""The worker processes: CPU-heavy pure work off the event loop, bounded in time and memory.

Parsing a feed, preparing new entries (words, entities, story terms), the encoder's
opinions on candidates, sentence vectors, extracting an article page's text and computing
story terms while the story index is rebuilt at start all run here. A call that runs away is
stopped by killing its worker, which an in-process deadline could not do; the workers end
with the bot, even when it is killed.

A worker that crashes or runs out of time is blamed on its input only once a fresh pool
has parsed a tiny known-good feed (the canary): when that fails too, the pool itself is
broken (every worker dying as it starts: an import error, a broken install, a memory limit;
or hanging as it starts: an import stuck on a dead network share), which is the bot's
failure, not the feed's. `WorkersBroken` says so to the caller, and `pool_trouble` to
/healthz and `poll`, until a canary passes again.

Deliberately not here: what the work is (bot.feeds.parse, bot.prepare, bot.stories) and
what to do when it fails (each caller decides: a feed's failure, or doing it in-process).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from bot import heap
from bot.errors import FeedParseError, WirewatchError, WorkerError, one_line
from bot.failpoints import WORKER_START, WORKER_START_HANG, failpoint, hang
from bot.feeds.parse import parse_feed
from bot.model import Entry, ParsedFeed
from bot.prepare import feed_terms, prepare_entries
from bot.stories import StoryDoc
from bot.text.clean import extract_article

log = logging.getLogger(__name__)
_T = TypeVar("_T")

WORKER_MEMORY = 512 * 2**20
PARENT_CHECK = 0.25  # seconds between a worker's looks at whether the bot still runs
_MAX_WORKERS = 2
# A fresh pool's first call spawns a worker that imports wirewatch: about a second, more on
# a loaded host. The canary is given that much before the pool is called broken.
CANARY_TIMEOUT = 60.0
# After a call ran out of time, and while the pool is found broken: a pool whose workers
# hang as they start never answers, and each feed's poll would wait the whole minute.
CANARY_QUICK = 15.0
RECHECK = 30.0  # seconds a broken pool is taken as broken before the next canary
# Seconds without encoder work after which a worker lets go of the weights' pages and its
# freed heap (`_rest`): longer than the gaps between a poll's batches, far shorter than the
# 45 s between polls.
ENCODER_RESTS_AFTER: float | None = 5.0  # None: a worker keeps them
CANARY_FEED = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>canary</title>"
    b"<item><title>canary</title><guid>canary</guid></item></channel></rss>"
)

_pool: concurrent.futures.ProcessPoolExecutor | None = None
# What the workers were started with: the environment (failpoints, the encoder's folder)
# and the memory bound. Workers read them once, as they start: a pool asked for under
# others is replaced (`_get_pool`).
_started_with: tuple[object, ...] | None = None
# False: a runtime's end stops the workers (`after_runtime`), as a bot's exit does. True
# keeps them for the next runtime of the same process: the test suite opens hundreds of
# runtimes, and starting two workers for each was most of its time.
KEEP_AFTER_RUNTIME = False
_recycled: weakref.WeakSet[concurrent.futures.ProcessPoolExecutor] = weakref.WeakSet()
_managers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # of recycled pools
_loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


class WorkersBroken(WorkerError):
    """The worker pool itself cannot work (a fresh one failed the canary): no input's fault.

    Callers must not count it against what they sent (a feed stays un-failed and is
    polled again); work with an in-process fallback falls back, as for any WorkerError.
    """


@dataclass
class _Verdict:
    """What the last canary found, for every caller and for /healthz."""

    broken: str = ""  # why the pool cannot work; "" while it can
    since: float = 0.0  # monotonic time it was found broken
    recheck_at: float = 0.0  # monotonic time before which no new canary is sent


_verdict = _Verdict()
_resting: threading.Timer | None = None  # in a worker: when it lets go (`_encoding`)


async def parse_feed_async(
    body: bytes,
    *,
    feed_url: str,
    max_entries: int = 1000,
    timeout: float = 30.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> ParsedFeed:
    """`parse_feed` in a worker process; FeedParseError for anything that goes wrong.

    A timeout or a crashed worker gives FeedParseError and a fresh pool; a parse that was
    only caught in another one's recycling is retried once. WorkersBroken when the pool
    cannot parse at all (the canary failed too): that is not the feed's failure.
    """
    try:
        return await in_worker(timeout, "parse", parse_feed_in_worker, body, feed_url, max_entries)
    except WorkersBroken:
        raise  # not this feed's failure: the caller must not count it
    except WorkerError as exc:
        raise FeedParseError(str(exc)) from None


async def prepare_entries_async(
    entries: Sequence[Entry],
    timeout: float = 30.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> tuple[Entry, ...]:
    """`bot.prepare.prepare_entries` in a worker process: the new entries' pure per-item
    work (words, entities, story terms), which would otherwise hold the event loop's thread.

    Entries come back unprepared when the worker fails; the pipeline then prepares them
    itself, so a broken pool costs time, never items.
    """
    if not entries:
        return ()
    try:
        return await in_worker(timeout, "prepare", prepare_entries, tuple(entries))
    except WorkerError as exc:
        log.warning("prepare.in_worker_failed entries=%d error=%s", len(entries), exc)
        return tuple(entries)


async def opinions_async(
    head: str,
    texts: Sequence[str],
    timeout: float = 60.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> list[float]:
    """The encoder's probabilities (`bot.encoder.opinions`) in a worker process: its weights
    and numpy live there, not in the bot's own memory. ConfigError when the weights are not
    installed; WorkerError when the worker failed."""
    return await in_worker(
        timeout, "encoder", opinions_in_worker, head, list(texts), ENCODER_RESTS_AFTER
    )


def opinions_in_worker(
    head: str, texts: list[str], rests_after: float | None = None
) -> list[float]:
    from bot.encoder import opinions  # numpy and the weights: only in the worker

    with _encoding(rests_after):
        return opinions(head, texts)


async def sentence_vectors_async(
    texts: Sequence[str],
    timeout: float = 60.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> list[bytes]:
    """`bot.encoder.sentence_vectors` in a worker process (for the story index)."""
    return await in_worker(
        timeout, "sentence vectors", sentence_vectors_in_worker, list(texts), ENCODER_RESTS_AFTER
    )


def sentence_vectors_in_worker(texts: list[str], rests_after: float | None = None) -> list[bytes]:
    from bot.encoder import sentence_vectors  # numpy and the weights: only in the worker

    with _encoding(rests_after):
        return sentence_vectors(texts)


@contextlib.contextmanager
def _encoding(rests_after: float | None) -> Iterator[None]:
    """Encoder work in this worker; `rests_after` seconds after the last of it, the worker
    lets go of what it holds for it (`_rest`), unless more comes first. None: it keeps it."""
    global _resting
    if _resting is not None:
        _resting.cancel()
        _resting = None
    try:
        yield
    finally:
        if rests_after is not None:
            _resting = threading.Timer(rests_after, _rest)
            _resting.daemon = True
            # a thread that cannot start (out of memory or threads) costs the rest, never
            # the batch's result
            with contextlib.suppress(RuntimeError, MemoryError):
                _resting.start()


def _rest() -> None:
    """Between polls, a worker that scored held the weights' pages it read (70-90 MB in
    each worker) and the heap its batches freed; both go back. The next batch maps the pages
    again from the page cache (ms) and reads the same bytes: scores do not change.
    `python -m bench.tree` measures both sides."""
    from bot.encoder.weights import release

    release()
    heap.give_back()


async def start_workers() -> None:
    """Start the worker processes now (spawned, each imports wirewatch: about a second), so
    that `wirewatch run` loads its story index meanwhile and its first poll parses at once.
    A failure costs nothing: the first parse starts them again."""
    calls = [in_worker(60.0, "start", _started) for _ in range(_MAX_WORKERS)]  # one each
    for outcome in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(outcome, WorkerError):
            log.debug("workers.start_failed error=%s", outcome)


async def extract_article_async(
    page: bytes | str,
    url: str | None,
    timeout: float = 15.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> str | None:
    """`bot.text.clean.extract_article` in a worker process: trafilatura (about 7 MB)
    stays out of the bot's own memory, and a hostile page's seconds of work off its
    event loop (in a thread they still held the interpreter's lock). None when the worker
    fails or takes longer than `timeout`: the item keeps its feed text."""
    try:
        return await in_worker(timeout, "article", extract_article, page, url)
    except WorkerError as exc:
        log.info("article.extract_failed url=%s error=%s", url, exc)
        return None


def _started() -> bool:
    return True


async def story_terms_async(
    docs: Sequence[StoryDoc],
    timeout: float = 60.0,  # noqa: ASYNC109 - a caller's deadline could not kill the worker
) -> list[dict[str, float]]:
    """`feed_terms` of each doc in a worker process (the story index's rebuild at start)."""
    return await in_worker(timeout, "story terms", story_terms, tuple(docs))


def story_terms(docs: tuple[StoryDoc, ...]) -> list[dict[str, float]]:
    return [feed_terms(doc) for doc in docs]


def parse_feed_in_worker(body: bytes, feed_url: str, max_entries: int) -> ParsedFeed:
    return parse_feed(body, feed_url=feed_url, max_entries=max_entries)


async def in_worker(seconds: float, what: str, fn: Callable[..., _T], *args: object) -> _T:
    """`fn(*args)` in the pool within `seconds`; WorkerError when the worker could not do it,
    WorkersBroken when no worker can (`_check_pool`).

    WirewatchErrors raised by `fn` itself pass through as they are.
    """
    for attempt in (1, 2):
        async with _slots():  # queued calls wait here, so `seconds` measures the work alone
            if _verdict.broken:
                await _check_pool(CANARY_QUICK, recheck=True)  # now and then, else at once
            pool = _get_pool()
            try:
                future = asyncio.get_running_loop().run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                # Broken before this call came (a worker killed while idle: the OOM killer,
                # a stray `kill`): every later submit would raise too, failing every feed
                # until a restart. Not this input's doing: a fresh pool, and again.
                _recycle(pool)
                if attempt == 1:
                    continue
                await _check_pool(CANARY_TIMEOUT)
                raise WorkerError(f"the {what} workers could not be started") from None
            try:
                return await asyncio.wait_for(future, seconds)
            except TimeoutError:
                _recycle(pool)
                # Workers that hang as they start time out every call: each feed was
                # blamed, counted failing, then disabled. Asked first, as after a crash.
                await _check_pool(CANARY_QUICK)
                raise WorkerError(f"{what} took longer than {seconds:g} s") from None
            except BrokenProcessPool:
                if pool in _recycled and attempt == 1:
                    continue
                _recycle(pool)
                await _check_pool(CANARY_TIMEOUT)  # before blaming the input: all may die
                raise WorkerError(f"the {what} worker crashed on this input") from None
            except MemoryError:
                limit = WORKER_MEMORY // 2**20
                raise WorkerError(f"{what} needed more than {limit} MB") from None
            except WirewatchError:
                raise
            except Exception as exc:  # a bug in the work, or a result that did not pickle
                raise WorkerError(f"{what} failed: {one_line(exc)}") from exc
    raise AssertionError("unreachable")


def pool_trouble() -> str:
    """What /healthz and `poll` say while the pool is broken; "" while it works."""
    if not _verdict.broken:
        return ""
    return (
        f"the worker processes cannot work ({_verdict.broken}): feeds wait unparsed, none "
        "counted failing, until they can"
    )


async def _check_pool(timeout: float, *, recheck: bool = False) -> None:  # noqa: ASYNC109
    """WorkersBroken unless a fresh pool passes the canary within `timeout` (called holding
    a slot).

    A crash or a timeout alone cannot tell a hostile input from a pool whose every worker
    dies or hangs as it starts: blamed on the input, each feed was counted failing, then
    disabled. `recheck`:
    the pool was found broken; it is asked again only every RECHECK seconds, so a broken
    pool costs each feed's poll no spawned process meanwhile.
    """
    now = time.monotonic()
    if recheck and now < _verdict.recheck_at:
        raise WorkersBroken(f"the workers cannot work: {_verdict.broken}")
    _verdict.recheck_at = now + RECHECK
    why = await _canary(timeout)
    if why and not _verdict.broken:
        _verdict.since = now
        log.error(
            "workers.broken error=%s: no feed is parsed, and none counted failing, until a "
            "worker starts again (asked every %.0fs; docs/operations.md#worker-processes)",
            why,
            RECHECK,
        )
    elif not why and _verdict.broken:
        log.warning("workers.mended after=%.0fs", now - _verdict.since)
    _verdict.broken = why
    if why:
        raise WorkersBroken(f"the workers cannot work: {why}")


async def _canary(timeout: float) -> str:  # noqa: ASYNC109 - it kills the pool, not the call
    """ "" when a fresh pool parses a tiny known-good feed within `timeout`, else why not."""
    for _ in (1, 2):
        pool = _get_pool()
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, _parse_canary)
            return "" if await asyncio.wait_for(future, timeout) else "a wrong parse"
        except BrokenProcessPool:
            another = pool in _recycled  # a crash on the other slot's input broke it
            _recycle(pool)
            if not another:
                return "each worker died before it parsed a known-good feed"
        except TimeoutError:
            _recycle(pool)
            return f"no known-good feed parsed within {timeout:g} s"
        except Exception as exc:  # an import that fails only when the parser is used
            return f"a known-good feed failed: {one_line(exc)}"
    return "each worker died before it parsed a known-good feed"


def _parse_canary() -> bool:
    parsed = parse_feed(CANARY_FEED, feed_url="http://canary.invalid/", max_entries=1)
    return [e.title for e in parsed.entries] == ["canary"]


def _slots() -> asyncio.Semaphore:
    """One semaphore per event loop (tests run many loops; a semaphore belongs to one)."""
    loop = asyncio.get_running_loop()
    if loop not in _loop_slots:
        _loop_slots[loop] = asyncio.Semaphore(_MAX_WORKERS)
    return _loop_slots[loop]


def after_runtime() -> None:
    """A runtime ended: its workers stop, unless KEEP_AFTER_RUNTIME keeps them for the next."""
    if not KEEP_AFTER_RUNTIME:
        shutdown_workers()


def shutdown_workers(wait: float = 2.0) -> None:
    """Stop the worker processes; the next call starts new ones.

    Waits up to `wait` seconds for the pools' manager threads to end. Forgets a broken
    pool's verdict: new workers are judged by their own first crash. One still closing
    its wake-up pipe when the interpreter exits races `concurrent.futures`' exit hook,
    which then writes to the closed pipe and prints "Bad file descriptor" (CPython 3.11).
    """
    global _verdict
    if _pool is not None:
        _recycle(_pool)
    _verdict = _Verdict()  # new workers are judged anew
    deadline = time.monotonic() + wait
    for thread in list(_managers):
        thread.join(max(0.0, deadline - time.monotonic()))


class _QuietSpawnProcess(multiprocessing.context.SpawnProcess):
    """A worker started with SIGINT blocked, as it stays until `_limit_worker` ignores it.

    Ctrl-C in a terminal signals the whole process group: a worker still importing
    wirewatch (its first second) died of it, printing a KeyboardInterrupt traceback for
    each worker under the bot's clean stop. A blocked signal survives the exec; the
    parent's own Ctrl-C only waits the few milliseconds of the fork.
    """

    def start(self) -> None:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _QuietSpawn(multiprocessing.context.SpawnContext):
    Process = _QuietSpawnProcess


def _started_under() -> tuple[object, ...]:
    wirewatch = sorted((k, v) for k, v in os.environ.items() if k.startswith("WIREWATCH_"))
    return (WORKER_MEMORY, tuple(wirewatch))


def _get_pool() -> concurrent.futures.ProcessPoolExecutor:
    global _pool, _started_with
    if _pool is not None and _started_with != _started_under():
        shutdown_workers()  # its workers read another environment as they started
    if _pool is None:
        _started_with = _started_under()
        # spawn, not fork: forking a process that runs asyncio and resolver threads can
        # copy a held lock into the child.
        _pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=_MAX_WORKERS,
            mp_context=_QuietSpawn(),
            initializer=_limit_worker,
            initargs=(WORKER_MEMORY, os.getpid()),
        )
    return _pool


def _recycle(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Kill the pool's workers: a stuck call cannot be cancelled any other way."""
    global _pool
    if _pool is pool:
        _pool = None
    _recycled.add(pool)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    if isinstance(manager, threading.Thread):
        _managers.add(manager)
    # A queued call whose caller gave up is cancelled; the manager thread, failing the calls
    # of a broken pool, then dies on it (InvalidStateError, a traceback on stderr) before it
    # closes its pipes. CPython 3.12 ignores such calls; here each gets a stand-in future that
    # nobody waits on (swapped, not removed: the manager thread reads that dict too).
    pending = getattr(pool, "_pending_work_items", None)
    if isinstance(pending, dict):
        for item in list(pending.values()):
            if item.future.cancelled():
                item.future = concurrent.futures.Future()
    pool.shutdown(wait=False)  # queued calls then fail as BrokenProcessPool and retry
    for process in processes:
        process.kill()
    # A worker killed while sending a result (story terms are large) leaves half a message
    # in the pipe; the pool's manager thread would wait for the rest forever, and the
    # interpreter's exit waits for that thread. Our copy of the pipe's write end closed,
    # the read sees the end instead. (CPython 3.11-3.13; private names, hence getattr.)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
    log.info("workers.recycled workers=%d", len(processes))


def _limit_worker(memory: int, parent: int) -> None:
    failpoint(WORKER_START)  # tests: a pool whose every worker dies as it starts
    hang(WORKER_START_HANG, parent)  # or hangs as it starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked until now
    # One thread of linear algebra per worker (the encoder's, bot.encoder): the workers run
    # side by side, and two threads each on two cores made each batch twice as slow.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    # Its threads (the parent's watch, the encoder's rest) share the heap the work uses:
    # glibc gave each its own, 64 MB of the address space RLIMIT_AS counts (bot.heap).
    heap.limit_arenas(1)
    # Some platforms (macOS) refuse RLIMIT_AS; the time bound still holds there.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    _exit_with_parent(parent)  # passed in: the bot may already be gone when this runs


def _exit_with_parent(parent: int) -> None:
    """End this worker when the bot is gone, even by `kill -9`.

    Nothing else would: an orphaned worker keeps its memory and the bot's stdout/stderr
    pipes open forever, so whatever reads the bot's output never sees it end.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(0)

    threading.Thread(target=watch, name="wirewatch-parent-watch", daemon=True).start()
