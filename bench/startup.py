"""Start-up: how soon `wirewatch run` answers, is ready and alerts, whatever the database holds.

The database comes from bench.bigdb (full: 1,000 feeds x 1,000 items, 1M stored, 100,000
inside the 72 h story window; quick: 100 x 200). A probe item matching a probe topic is
published on feed 0 before each start; the bot runs as ops start it (`wirewatch run
--config FILE`) against the bench feed server. Timed from exec: /healthz answering,
/readyz answering 200, and the probe's alert on stdout; then SIGTERM and the exit.

Rows, all in one invocation:
- baseline: what main did at start (5125e55): the database's full check, then every item
  of the window tokenised and added to the story index, synchronously, before the HTTP
  port opened. Run in this process (CPU-bound, the same work as main's `reload_index`).
- `wirewatch run` without a usable saved index (deleted, or written by another version of
  bot/stories/), rebuilt from the story terms stored with each item (bot.storyterms).
- `wirewatch run` without a saved index or stored terms (the first start after upgrading to
  a version that stores them, or after the term code changed): terms computed in the
  worker processes, added in batches, and stored for the next time.
- `wirewatch run` with the index its previous stop saved (every later start).
- a start without either stopped by SIGTERM two seconds after /healthz answered, while the
  index is still loading.

`python -m bench.startup [--quick]`
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.bigdb import build, point_feeds_at
from bench.feedserver import FeedServer
from bench.report import Section, ratio, run_alone

PROBE = "zqxstartup"
TARGET = 5.0


@dataclass
class Start:
    healthz: float | None = None
    ready: float | None = None
    alert: float | None = None
    exit_code: int | None = None
    exit_s: float | None = None
    peak_rss_mb: float | None = None


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (Linux), its parse workers not counted."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), None)
    return int(kb) / 1024 if kb else None


def write_config(path: Path, db: Path, server: FeedServer) -> Path:
    config = {
        "database": str(db),
        "poll_interval": "60s",
        "feeds": [{"name": f"outlet-{i}", "url": u} for i, u in enumerate(server.urls())],
        "topics": {"startup-probe": {"query": PROBE}},
        "subscriptions": [{"topic": "startup-probe", "channel": "console"}],
        "articles": {"fetch": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def make_due(db: Path) -> None:
    """Every feed due at start, as after a long stop: the probe's feed is polled at once.

    bench.bigdb stores feed 0's items under the links the feed server gives its published
    probes; marked apart, a probe is a new article, not another copy of a stored one.
    """
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE feeds SET next_poll = '2000-01-01T00:00:00.000000Z'")
    conn.execute(
        "UPDATE items SET url = url || '?stored' WHERE feed_id = 1 AND url NOT LIKE '%?stored'"
    )
    conn.close()


def forget_terms(db: Path) -> None:
    """No stored story terms: as on the first start after an upgrade to a version storing them."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM story_terms")
    conn.close()


def publish(server: FeedServer) -> str:
    req = urllib.request.Request(f"{server.base}/publish/0?probe={PROBE}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)["title"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=0.5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def start(config: Path, port: int, probe: str, stop_after: float | None, log: Path) -> Start:
    """One `wirewatch run`: timings from exec, then SIGTERM (at `stop_after` if given)."""
    exe = Path(sys.executable).with_name("wirewatch")
    out = log.with_suffix(".out")
    env = {"WIREWATCH_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"}
    began = time.perf_counter()
    with log.open("w") as err, out.open("w") as stdout:
        bot = subprocess.Popen(
            [str(exe), "run", "--config", str(config)], stdout=stdout, stderr=err, env=env
        )
    result = Start()
    while time.perf_counter() - began < 180 and bot.poll() is None:
        now = time.perf_counter() - began
        if result.healthz is None and _status(port, "/healthz") == 200:
            result.healthz = now
        if stop_after is not None:
            if result.healthz is not None and now - result.healthz >= stop_after:
                break  # SIGTERM while the index is still loading
        elif result.ready is None and result.healthz is not None:
            result.ready = now if _status(port, "/readyz") == 200 else None
        if result.alert is None and probe in out.read_text(errors="replace"):
            result.alert = now
        if result.ready is not None and result.alert is not None:
            break
        time.sleep(0.05)
    result.peak_rss_mb = _peak_rss_mb(bot.pid)
    stopped = time.perf_counter()
    bot.send_signal(signal.SIGTERM)
    result.exit_code = bot.wait(60)
    result.exit_s = time.perf_counter() - stopped
    return result


def baseline(db: Path, window_hours: float = 72) -> float:
    """Seconds main spent before its HTTP port opened: full check, then the whole rebuild."""
    from datetime import timedelta

    from bot.clock import iso, parse_iso, utcnow
    from bot.db import open_database
    from bot.ingest import grouping_text
    from bot.stories import StoryDoc, StoryIndex

    began = time.perf_counter()
    conn = open_database(db)
    index = StoryIndex(window=timedelta(hours=window_hours))
    since = utcnow() - timedelta(hours=window_hours)
    for r in conn.query(
        "SELECT id, title, summary, text, alert_summary, entities, published, story_id "
        "FROM items WHERE first_seen >= ? AND story_id IS NOT NULL ORDER BY id",
        [iso(since)],
    ):
        doc = StoryDoc(
            r["id"],
            r["title"],
            grouping_text(r["summary"], r["text"], r["alert_summary"]),
            tuple(json.loads(r["entities"])),
            parse_iso(r["published"]),
        )
        index.add(doc, r["story_id"])
    conn.close()
    return time.perf_counter() - began


def run(quick: bool = False) -> Section:
    from bot.indexfile import index_path

    began = time.perf_counter()
    feeds, per_feed = (100, 200) if quick else (1000, 1000)
    section = Section(
        "Start-up: `wirewatch run` until it answers, is ready and alerts",
        ["start", "stored_items", "in_story_window", "healthz_s", "ready_s", "alert_s",
         "vs_baseline", "sigterm_exit", "peak_rss_mb", "target_5s"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wwbench-") as tmp:
        db = build(Path(tmp) / "big.db", feeds, per_feed)
        saved = index_path(str(db))
        assert saved is not None
        base = baseline(db)
        common = {"stored_items": feeds * per_feed, "in_story_window": feeds * min(per_feed, 100)}
        section.add(start="baseline: main at 5125e55 (in process)", ready_s=base, **common)
        with FeedServer(feeds) as server:
            point_feeds_at(db, server.base)
            config = write_config(Path(tmp) / "wirewatch.yaml", db, server)
            runs = [  # (name, saved index kept, stored terms kept, SIGTERM after)
                ("run, no saved index: rebuilt from stored terms", False, True, None),
                ("run, no saved index, no stored terms: tokenised", False, False, None),
                ("run, saved index", True, True, None),
                ("run, neither, SIGTERM 2 s after /healthz", False, False, 2.0),
            ]
            for n, (name, keep_index, keep_terms, stop_after) in enumerate(runs):
                if not keep_index:
                    saved.unlink(missing_ok=True)
                if not keep_terms:
                    forget_terms(db)
                make_due(db)
                log = Path(tmp) / f"bot-{n}.log"
                s = start(config, free_port(), publish(server), stop_after, log)
                section.add(
                    start=name,
                    healthz_s=s.healthz,
                    ready_s=s.ready,
                    alert_s=s.alert,
                    vs_baseline=ratio(base, s.ready) if s.ready else "",
                    sigterm_exit=f"{s.exit_code} in {s.exit_s:.2f} s",
                    peak_rss_mb=s.peak_rss_mb,
                    target_5s="" if stop_after else "met" if (s.ready or 99) < TARGET else "MISSED",
                    **common,
                )
                lines = [x for x in log.read_text(errors="replace").splitlines() if "index." in x]
                section.notes.append(f"{name}: " + " / ".join(x[-110:] for x in lines[-3:]))
    section.notes.insert(
        0,
        "Seconds from exec. healthz: /healthz answers 200; ready: /readyz answers 200; alert: "
        "the probe item published on feed 0 before the start is printed by the console "
        "adapter; sigterm_exit: exit code and seconds from SIGTERM to exit (after ready and "
        "alert, or 2 s after /healthz for the last row); peak_rss_mb: the bot's own process "
        "(VmHWM) when SIGTERM was sent. vs_baseline: how many times sooner than main "
        "opened its HTTP port (main answered nothing, /healthz included, until then).",
    )
    section.seconds = time.perf_counter() - began
    return section


def main() -> None:
    run_alone(run, __doc__)


if __name__ == "__main__":
    main()
