"""`qgen --help` against a bare `python -c pass`: the CLI must not pay for sympy or numpy
at start-up. Goal (issue 2): within 8x."""

from __future__ import annotations

import sys

from _util import compile_project, median_process_time, qgen_argv, report

GOAL = 8.0


def main() -> None:
    compile_project()
    bare = median_process_time([sys.executable, "-c", "pass"], repeat=15)
    helped = median_process_time(qgen_argv("--help"), repeat=15)
    ratio = helped / bare
    report("start-up: qgen --help vs python -c pass", [
        ("python -c pass", f"{bare * 1e3:7.1f} ms"),
        ("qgen --help", f"{helped * 1e3:7.1f} ms"),
        ("ratio", f"{ratio:7.1f}x  (goal <= {GOAL:.0f}x)"),
    ], "goal met" if ratio <= GOAL else "GOAL NOT MET")


if __name__ == "__main__":
    main()
