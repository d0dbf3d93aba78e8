"""Memory of a running bot: `wirewatch run` with 1,000 feeds and 1M stored items.

The database comes from bench.bigdb (1,000 feeds x 1,000 items over 30 days; the 72 h story
window holds 100,000 of them, which the bot loads into its story index at start). The bot
runs as its own process, exactly as ops start it (`wirewatch run --config FILE`), against
the bench feed server, for 150 s: start-up, a first cycle that fetches and parses all
1,000 feeds (every item already stored), and the 304 cycle a minute later. RSS of the bot's
process, and of the process with its parse workers, is sampled every 0.5 s.

Rows, in one invocation, each from a fresh copy of the database: the code of an earlier
commit (bench.stall's BASELINE), this tree, and this tree freezing what start-up loaded
(`gc.collect()` then `gc.freeze()` once the story index is loaded, as bench.stall's archive
case does): what that experiment costs in memory. bot.startup does not freeze (bench.stall says
why).

Target: under 150 MB. `python -m bench.memory [--quick]` (quick: 100 feeds x 200 items, 25 s)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from bench.bigdb import build_for, point_feeds_at
from bench.feedserver import FeedServer
from bench.report import Section, run_alone
from bench.stall import BASELINE, checkout

MB = 2**20


def write_config(path: Path, db: Path, server: FeedServer) -> Path:
    config = {
        "database": str(db),
        "poll_interval": "60s",
        "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(server.urls())],
        "subscriptions": [{"topic": "troop-deployments", "channel": "console"}],
        "articles": {"fetch": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


ROOT = Path(__file__).resolve().parent.parent
# `wirewatch run --config FILE` of this tree (run from its root: an installed `wirewatch`
# may be another checkout's), with the story index frozen once loaded when asked (bot.startup's
# name for `load_index` wrapped).
RUN = """
import gc, sys
try:
    import bot.startup as start
except ModuleNotFoundError:  # a baseline's bot, from before bot.app was split
    import bot.app as start
from bot.cli import main

loaded = start.load_index

async def load_and_freeze(*args, **kwargs):
    index = await loaded(*args, **kwargs)
    gc.collect()
    gc.freeze()
    return index

if sys.argv[2] == "frozen":
    start.load_index = load_and_freeze
sys.exit(main(["run", "--config", sys.argv[1]]))
"""


def watch(
    config: Path, seconds: float, log: Path, frozen: bool = False, code: Path = ROOT
) -> dict[str, float]:
    """Run the bot (`code`'s) for `seconds`; peak RSS of it and of its tree, and its
    start-up time."""
    argv = [sys.executable, "-c", RUN, str(config), "frozen" if frozen else "as is"]
    with log.open("w") as err:
        bot = subprocess.Popen(argv, cwd=code, stdout=subprocess.DEVNULL, stderr=err)
    proc = psutil.Process(bot.pid)
    start = time.perf_counter()
    peak_main = peak_tree = 0
    started = None
    while time.perf_counter() - start < seconds and bot.poll() is None:
        try:
            main = proc.memory_info().rss
            tree = main + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            break
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        if started is None and "run.started" in log.read_text(errors="replace"):
            started = time.perf_counter() - start
        time.sleep(0.5)
    end_main = proc.memory_info().rss if bot.poll() is None else 0
    bot.send_signal(signal.SIGTERM)
    code = bot.wait(30)
    return {
        "peak_main_mb": peak_main / MB,
        "peak_tree_mb": peak_tree / MB,
        "end_main_mb": end_main / MB,
        "startup_s": started,
        "exit_code": code,
    }


def run(quick: bool = False) -> Section:
    began = time.perf_counter()
    feeds, per_feed, seconds = (100, 200, 25) if quick else (1000, 1000, 150)
    section = Section(
        "Memory: `wirewatch run` with many stored items",
        ["run", "feeds", "stored_items", "in_story_window", "seconds_run", "startup_s",
         "peak_rss_bot_mb", "peak_rss_with_parse_workers_mb", "rss_at_end_mb",
         "target_150mb_bot"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp, FeedServer(feeds) as server:
        runs = (
            (f"baseline: {BASELINE}", False, checkout(BASELINE, Path(tmp))),
            ("wirewatch run", False, ROOT),
            ("the same, gc.freeze() once the index loaded", True, ROOT),
        )
        for name, frozen, code in runs:
            for old in Path(tmp).glob("big.db*"):  # each run starts from the same database
                old.unlink()
            db = build_for(code, Path(tmp) / "big.db", feeds, per_feed)  # its own schema
            point_feeds_at(db, server.base)
            config = write_config(Path(tmp) / "wirewatch.yaml", db, server)
            m = watch(config, seconds, Path(tmp) / "bot.log", frozen, code)
            tail = (Path(tmp) / "bot.log").read_text(errors="replace").splitlines()[-3:]
            section.add(
                run=name,
                feeds=feeds,
                stored_items=feeds * per_feed,
                in_story_window=feeds * min(per_feed, 100),
                seconds_run=seconds,
                startup_s=m["startup_s"],
                peak_rss_bot_mb=m["peak_main_mb"],
                peak_rss_with_parse_workers_mb=m["peak_tree_mb"],
                rss_at_end_mb=m["end_main_mb"],
                target_150mb_bot="met" if m["peak_main_mb"] < 150 else "MISSED",
            )
            section.notes.append(
                f"{name}: SIGTERM exit code {m['exit_code']}. "
                f"Last log lines: {' / '.join(tail)[:300]}"
            )
    section.notes.insert(
        0,
        "startup_s: from exec to the `run.started` log line (opening the database and "
        "rebuilding the story index from the items inside the window). Each run starts from "
        "a fresh copy of the same database.",
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
