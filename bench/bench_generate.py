"""Verified questions per second: 1,000 questions per family to a JSON bank (verification
and Markdown rendering included), in one process and with --jobs 2 (this machine's two
cores).

Goals (issue 3): conv-pool-shape >= 2,000/s and backprop-step >= 300/s. The baseline is
the goal itself; the ratio printed is measured / goal.
"""

from __future__ import annotations

import os
import sys
import time

# As the qgen command does before numpy loads (qgen/cli.py): no OpenBLAS threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from _util import report  # noqa: E402

from qgen.export import export  # noqa: E402
from qgen.families import FAMILY_IDS  # noqa: E402
from qgen.generate import generate  # noqa: E402

GOALS = {"conv-pool-shape": 2000.0, "backprop-step": 300.0}
COUNT = 1000


def main() -> None:
    families = [a for a in sys.argv[1:] if not a.startswith("-")] or list(FAMILY_IDS)
    rows, verdicts = [], []
    for family in families:
        generate([family], count=5, seed=0)  # warm caches a fresh process would warm too
        rates = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            bank = generate([family], count=COUNT, seed=1, jobs=jobs)
            export(bank, "json")
            rates[jobs] = COUNT / (time.perf_counter() - start)
        rejected = sum(bank["generator"]["rejected"].values())
        goal = GOALS.get(family)
        best = max(rates.values())
        text = (f"{rates[1]:6.0f}/s in 1 process, {rates[2]:6.0f}/s with --jobs 2 "
                f"({rejected} samples rejected)")
        if goal:
            text += f"  best {best / goal:4.2f}x the goal of {goal:,.0f}/s"
            verdicts.append(f"{family} {'met' if best >= goal else 'NOT MET'}")
        rows.append((family, text))
    report(f"generation: {COUNT:,} verified questions per family to JSON (medium)", rows,
           "; ".join(verdicts) or None)


if __name__ == "__main__":
    main()
