"""Memory of `wirewatch run`'s whole process tree once it has scored, and between polls.

bench.memory measures the bot's own process with a large archive; this one measures what
the encoder costs: the bot, its two workers (which map the encoder's weights once they
score) and multiprocessing's resource tracker, each read from /proc/PID/smaps_rollup as
RSS (resident, shared pages counted in every process), PSS (shared pages divided among the
processes that map them: the tree's PSS is what it costs the machine) and USS (private).

Each run is a fresh `wirewatch run` on an empty database (the code's own schema) against
the bench feed server: a first poll of 8 feeds x 25 new items (a sentence vector for each,
the encoder's opinion for the candidates), then rounds: an idle wait, a candidate published
at the top of every feed ("... deploys 3,000 troops to ..."), the poll that stores them.
Read after the first poll ("scored"), after each round's poll, and just before each
publish ("idle": at least IDLE seconds after the last poll, as between two polls at the
default 45 s). The poll's time is `wirewatch_poll_duration_seconds` (one feed's poll, fetch
to stored: parse, prepare, vectors, opinions, store) over the rounds' polls.

Rows, in one invocation, each from a fresh database: the code of an earlier commit
(`--against`, default BASELINE: before workers let go of the weights between polls) and
this tree; ratios against the first. Target (issue 11): under 150 MB.
`python -m bench.tree [--quick] [--against REV]` (quick: 2 rounds).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import yaml

from bench.feedserver import FeedServer
from bench.report import Section, ratio
from bench.stall import checkout
from bench.startup import free_port

MB = 1024  # smaps_rollup counts kB
BASELINE = "d088956"  # main before `bot.workers._rest`
ROOT = Path(__file__).resolve().parent.parent
FEEDS, PER_FEED = 8, 25
IDLE = 8.0  # seconds after a poll before the idle read (workers rest after 5)
PROBE = "Pentagon deploys 3,000 troops to"
RUN = "import sys; from bot.cli import main; sys.exit(main(['run', '--config', sys.argv[1]]))"


def memory(pid: int) -> dict[str, dict[str, float]]:
    """Each process of the tree under `pid`: its role, RSS, PSS and USS in MB."""
    bot = psutil.Process(pid)
    out: dict[str, dict[str, float]] = {}
    for n, proc in enumerate([bot, *bot.children(recursive=True)]):
        try:
            fields = _rollup(proc.pid)
            line = " ".join(proc.cmdline())
        except (OSError, psutil.Error):
            continue  # ended meanwhile
        role = "bot" if n == 0 else "tracker" if "resource_tracker" in line else f"worker{n}"
        out[role] = {
            "rss": fields["Rss"] / MB,
            "pss": fields["Pss"] / MB,
            "uss": (fields["Private_Clean"] + fields["Private_Dirty"]) / MB,
        }
    return out


def _rollup(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def totals(tree: dict[str, dict[str, float]]) -> dict[str, float]:
    out = {f"tree_{k}": sum(p[k] for p in tree.values()) for k in ("rss", "pss", "uss")}
    out["bot_pss"] = tree.get("bot", {}).get("pss", 0.0)
    out["workers_pss"] = sum(p["pss"] for role, p in tree.items() if role.startswith("worker"))
    return out


def scrape(port: int) -> dict[str, float]:
    """The counters this bench reads from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for name in ("poll_duration_seconds_sum", "poll_duration_seconds_count"):
        m = re.search(rf"^wirewatch_{name} (\S+)$", text, re.M)
        out[name] = float(m.group(1)) if m else 0.0
    m = re.search(r'^wirewatch_feeds_polled_total\{result="ok"\} (\S+)$', text, re.M)
    out["ok"] = float(m.group(1)) if m else 0.0
    return out


def wait_for(port: int, ok: float, bot: subprocess.Popen[bytes], limit: float = 120) -> dict:
    """/metrics once `ok` polls have brought something (the feeds' new items stored)."""
    began = time.monotonic()
    while time.monotonic() - began < limit and bot.poll() is None:
        try:
            seen = scrape(port)
            if seen["ok"] >= ok:
                return seen
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"no poll stored the published items within {limit:g} s")


def publish(server: FeedServer) -> None:
    for i in range(FEEDS):
        url = f"{server.base}/publish/{i}?probe={urllib.parse.quote(PROBE)}"
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).close()


def one_run(code: Path, tmp: Path, rounds: int) -> dict:
    """A fresh bot (`code`'s) through the first poll and `rounds` rounds; its reads."""
    with FeedServer(FEEDS, per_feed=PER_FEED) as server:
        config = tmp / "wirewatch.yaml"
        for old in tmp.glob("tree.db*"):
            old.unlink()
        config.write_text(yaml.safe_dump({
            "database": str(tmp / "tree.db"),
            "poll_interval": "10s",
            "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(server.urls())],
            "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
            "articles": {"fetch": False},
        }))  # fmt: skip
        port = free_port()
        env = {"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"}
        with (tmp / "bot.log").open("w") as err:
            bot = subprocess.Popen([sys.executable, "-c", RUN, str(config)], cwd=code,
                                   stdout=subprocess.DEVNULL, stderr=err, env=env)  # fmt: skip
        try:
            seen = wait_for(port, FEEDS, bot)
            time.sleep(1.5)  # the wave's store and alerts
            first = memory(bot.pid)
            scored, idle, polls = [], [], []
            for _ in range(rounds):
                time.sleep(IDLE)
                idle.append(memory(bot.pid))
                publish(server)
                now = wait_for(port, seen["ok"] + FEEDS, bot)
                n = now["poll_duration_seconds_count"] - seen["poll_duration_seconds_count"]
                s = now["poll_duration_seconds_sum"] - seen["poll_duration_seconds_sum"]
                polls.append(s / n)
                seen = now
                time.sleep(1.5)
                scored.append(memory(bot.pid))
        finally:
            bot.terminate()
            bot.wait(30)
    return {"first": first, "scored": scored, "idle": idle, "polls": polls}


async def _encoder_after_idle(rounds: int) -> dict[str, list[float]]:
    """A poll's encoder calls (8 headlines' vectors, then 8 opinions) after IDLE seconds
    without any, by this tree's workers resting or not; the two alternate, in one pool."""
    import asyncio

    from bot import workers

    texts = [f"{PROBE} {place}" for place in ("Poland", "Latvia", "Romania", "Estonia",
                                              "Japan", "Qatar", "Niger", "Kosovo")]  # fmt: skip
    kept = workers.ENCODER_RESTS_AFTER
    times: dict[str, list[float]] = {"kept": [], "rested": []}
    try:
        for n in range(2 * rounds):
            mode = ("kept", "rested")[n % 2]
            workers.ENCODER_RESTS_AFTER = None if mode == "kept" else kept
            await workers.sentence_vectors_async(texts)  # the previous poll, in this mode
            await asyncio.sleep(IDLE)
            began = time.perf_counter()
            await workers.sentence_vectors_async(texts)
            await workers.opinions_async("deployments", texts)
            times[mode].append(time.perf_counter() - began)
    finally:
        workers.ENCODER_RESTS_AFTER = kept
        workers.shutdown_workers()
    return times


def median_of(reads: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    each = [totals(r) for r in reads]
    return {k: statistics.median(e[k] for e in each) for k in each[0]}


def run(quick: bool = False, against: str = BASELINE) -> Section:
    began = time.perf_counter()
    rounds = 2 if quick else 6
    section = Section(
        "Memory of the whole tree: `wirewatch run` after scoring and between polls",
        ["code", "read", "bot_pss_mb", "workers_pss_mb", "tree_pss_mb", "tree_rss_mb",
         "tree_uss_mb", "tree_pss_vs_baseline", "poll_ms", "poll_vs_baseline"],
    )  # fmt: skip
    base: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        for name, code in ((f"baseline: {against}", checkout(against, Path(tmp))),
                           ("this tree", ROOT)):  # fmt: skip
            got = one_run(code, Path(tmp), rounds)
            poll = 1e3 * statistics.median(got["polls"])
            reads = (("first poll (200 items)", [got["first"]]),
                     ("after a round's poll", got["scored"]),
                     ("idle, before a round", got["idle"]))  # fmt: skip
            for read, samples in reads:
                m = median_of(samples)
                key = read
                base.setdefault(key, m["tree_pss"])
                base.setdefault("poll", poll)
                section.add(
                    code=name, read=read, bot_pss_mb=m["bot_pss"],
                    workers_pss_mb=m["workers_pss"], tree_pss_mb=m["tree_pss"],
                    tree_rss_mb=m["tree_rss"], tree_uss_mb=m["tree_uss"],
                    tree_pss_vs_baseline=ratio(m["tree_pss"], base[key]),
                    poll_ms=poll if read == "after a round's poll" else None,
                    poll_vs_baseline=(ratio(poll, base["poll"])
                                      if read == "after a round's poll" else None),
                )  # fmt: skip
            section.notes.append(
                f"{name}: idle, by process (RSS / PSS / USS MB): "
                + json.dumps(
                    {k: [round(v, 1) for v in p.values()] for k, p in got["idle"][-1].items()}
                )  # fmt: skip
                + f"; polls (ms): {', '.join(f'{1e3 * p:.0f}' for p in got['polls'])}"
            )
    import asyncio

    calls = asyncio.run(_encoder_after_idle(rounds))
    kept, rested = (1e3 * statistics.median(calls[m]) for m in ("kept", "rested"))
    section.notes.append(
        f"A poll's encoder calls after {IDLE:g} s idle (8 headlines' vectors, then their "
        f"opinions), this tree's workers in one pool, alternating, {rounds} each: median "
        f"{kept:.0f} ms keeping the weights' pages, {rested:.0f} ms after letting them go "
        f"({ratio(rested, kept)}); each (ms): kept "
        + ", ".join(f"{1e3 * t:.0f}" for t in calls["kept"])
        + "; rested "
        + ", ".join(f"{1e3 * t:.0f}" for t in calls["rested"])
    )
    section.notes.insert(
        0,
        f"{FEEDS} feeds; each round publishes a candidate in every feed; medians over "
        f"{rounds} rounds. poll_ms: one feed's poll, fetch to stored, mean over a round's polls "
        "(median over rounds); it moves 2x between runs of the same code on a shared machine, "
        "where the encoder calls' note below (one pool, alternating) is the comparison.",
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds instead of 6")
    ap.add_argument("--against", default=BASELINE, help="the baseline commit")
    args = ap.parse_args()
    print(run(args.quick, args.against).markdown())


if __name__ == "__main__":
    main()
