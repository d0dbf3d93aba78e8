"""bench.stall's commands case alone, under its old name: each chat command's stall on a
large archive, and a poll's while a command writes for long (see bench/stall.py).

`python -m bench.loop_stall [--quick]`
"""

from __future__ import annotations

from bench import stall
from bench.report import Section, run_alone


def run(quick: bool = False) -> Section:
    return stall.run(quick, cases=("commands",))


if __name__ == "__main__":
    run_alone(run, __doc__)
