"""Publish-to-alert latency with a 60 s poll interval and a local chat stand-in.

Two measurements, both reported:

- **pipeline** (quick and full): what wirewatch itself adds. Probe items are published on
  the bench feed server, then one scheduler tick's worth of feeds (a sixth of them, as with
  a 60 s interval and a 10 s tick) is polled and delivered exactly as `_poll_due` does
  (poll_many, then the outbox); latency is from the start of that poll to the stand-in
  receiving the alert. The wait for the poll itself is added analytically: a simulation of
  one feed's poll times (interval jittered +-10 %, next poll counted from the end of the
  last one, polls only on 10 s scheduler ticks) gives the wait of an item published at a
  uniformly random moment; each simulated wait is added to a measured pipeline sample.
- **real** (full only): the real scheduler (`bot.loop.run_forever`) runs for 5 minutes over
  200 feeds polled every 60 s while probe items are published at random moments; latency is
  from the server accepting the publish to the stand-in receiving the alert. Wall clock.

The chat stand-in is a `ChatAdapter` that records when each alert reaches it.

`python -m bench.latency [--quick]`
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.feedserver import FeedServer
from bench.report import Section, run_alone

INTERVAL = 60.0
TICK = 10.0
PROBE = "Latencyprobe"


class StandIn:
    """A chat platform that only notes when each alert arrives (the console channel)."""

    platform = "console"

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def start(self, commands=None) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def post_alert(self, channel, alert):
        from bot.model import MessageRef

        self.arrived.setdefault(alert.title, time.time())
        return MessageRef("console", channel, str(alert.delivery_id))

    async def post_update(self, parent, alert):
        return await self.post_alert(parent.channel, alert)

    async def edit_alert(self, ref, alert) -> None:
        return None

    async def find_posted(self, channel, delivery_id, thread=None, *, since=None):
        return None

    async def post_notice(self, channel, text, *, key=None) -> None:
        return None

    async def find_notice(self, channel, key, *, since=None) -> bool:
        return False


def _settings(db: str, server: FeedServer, interval: float = INTERVAL):
    from bot.settings import Settings

    return Settings.model_validate(
        {
            "database": db,
            "poll_interval": f"{interval:g}s",
            "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(server.urls())],
            "topics": {"latency-probe": {"query": PROBE.lower()}},
            "subscriptions": [{"topic": "latency-probe", "channel": "console"}],
            "articles": {"fetch": False},
        }
    )


def publish(server: FeedServer, feed: int) -> tuple[str, float]:
    """Publish a probe item on `feed`; its title and the moment the server took it."""
    req = urllib.request.Request(f"{server.base}/publish/{feed}?probe={PROBE}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as response:
        answer = json.load(response)
    return answer["title"], answer["at"]


async def pipeline_samples(server: FeedServer, db: str, rounds: int) -> list[float]:
    """Seconds from the start of a tick's poll to the stand-in holding the probe alert."""
    from bot.feed_store import active_feeds
    from bot.notice_outbox import deliver_notices
    from bot.outbox import deliver_pending
    from bot.pipeline import poll_many
    from bot.startup import open_runtime

    stand_in = StandIn()
    samples: list[float] = []
    async with open_runtime(_settings(db, server), {"console": stand_in}) as rt:
        await poll_many(rt.pipeline, active_feeds(rt.db))  # priming: everything stored
        feeds = active_feeds(rt.db)
        rng = random.Random(3)
        for _ in range(rounds):
            batch = rng.sample(feeds, max(1, len(feeds) * int(TICK) // int(INTERVAL)))
            probes = [publish(server, int(f.url.rsplit("/", 1)[1].split(".")[0]))[0]
                      for f in batch[:3]]  # fmt: skip
            fresh = {f.id: f for f in active_feeds(rt.db)}  # current ETags
            start = time.time()
            await poll_many(rt.pipeline, [fresh[f.id] for f in batch])
            await deliver_pending(rt.db, rt.adapters)
            await deliver_notices(rt.db, rt.adapters)
            samples += [stand_in.arrived[t] - start for t in probes if t in stand_in.arrived]
    return samples


def poll_wait_samples(count: int, rng: random.Random) -> list[float]:
    """Wait from a uniformly random publish moment to its feed's next poll (simulated)."""
    polls = [0.0]
    while polls[-1] < 200_000:
        due = polls[-1] + INTERVAL * rng.uniform(0.9, 1.1)
        polls.append((due // TICK + 1) * TICK)  # the scheduler acts on its next tick
    out = []
    for _ in range(count):
        t = rng.uniform(0, polls[-2])
        lo, hi = 0, len(polls) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if polls[mid] <= t else (lo, mid)
        out.append(polls[lo] - t)
    return out


async def real_run(server: FeedServer, db: str, seconds: float) -> list[float]:
    """The real scheduler for `seconds`; probes published at random moments meanwhile."""
    from bot.loop import run_forever
    from bot.startup import open_runtime

    stand_in = StandIn()
    published: dict[str, float] = {}
    async with open_runtime(_settings(db, server), {"console": stand_in}) as rt:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_forever(rt, stop))
        await asyncio.sleep(75)  # the first cycle polls and stores every feed
        rng = random.Random(5)
        end = time.time() + seconds
        while time.time() < end:
            title, at = await asyncio.to_thread(publish, server, rng.randrange(server.count))
            published[title] = at
            await asyncio.sleep(rng.uniform(0, 4))
        await asyncio.sleep(INTERVAL * 1.1 + 2 * TICK)  # the last probes' polls come due
        stop.set()
        await runner
    return [stand_in.arrived[t] - at for t, at in published.items() if t in stand_in.arrived] + [
        float("inf") for t in published if t not in stand_in.arrived
    ]


def _row(section: Section, kind: str, samples: list[float]) -> None:
    finite = sorted(s for s in samples if s != float("inf"))
    q = statistics.quantiles(finite, n=100, method="inclusive") if len(finite) > 1 else finite * 99
    section.add(
        measurement=kind,
        samples=len(samples),
        lost=len(samples) - len(finite),
        p50_s=q[49],
        p90_s=q[89],
        p99_s=q[98],
        max_s=finite[-1] if finite else None,
        mean_s=statistics.fmean(finite) if finite else None,
    )


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    section = Section(
        "Latency: publish to alert, 60 s poll interval, 10 s scheduler tick",
        ["measurement", "samples", "lost", "p50_s", "p90_s", "p99_s", "max_s", "mean_s"],
    )
    feeds = 60 if quick else 200
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        with FeedServer(feeds, per_feed=5) as server:
            rounds = 10 if quick else 40
            pipe = asyncio.run(pipeline_samples(server, str(Path(tmp) / "a.db"), rounds))
        rng = random.Random(11)
        waits = poll_wait_samples(20_000, rng)
        _row(section, "pipeline only (poll start -> stand-in), measured", pipe)
        _row(section, "wait for the poll (simulated schedule)", waits)
        _row(section, "publish -> alert = wait + pipeline", [w + rng.choice(pipe) for w in waits])
        if not quick:
            with FeedServer(feeds, per_feed=5) as server:
                real = asyncio.run(real_run(server, str(Path(tmp) / "b.db"), 300))
            _row(section, f"publish -> alert, real run_forever ({feeds} feeds, 5 min)", real)
    section.notes.append(
        f"Pipeline samples: {feeds} feeds, a tick polls {feeds * int(TICK) // int(INTERVAL)} of "
        "them, 3 of which carry a new probe item; articles are not fetched. 'lost': probes "
        "with no alert by the end."
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
