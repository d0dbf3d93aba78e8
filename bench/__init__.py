"""wirewatch benchmarks: `python -m bench [--quick]` runs them all; see bench/README.md."""
