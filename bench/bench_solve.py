"""`qgen solve backprop-step` on a 4-8-3 network, the whole process including its symbolic
check, against the naive SymPy route (sympy.diff of the expanded loss per parameter, then
lambdify). Goal (issue 2): at least 10x faster.

Both are timed as whole processes. qgen is timed cold (an empty derivation cache, so it
derives with SymPy) and warm (the derivation cached on disk by an earlier run).
Pass --large to add the 8-16-4 network (the naive route takes about a minute there).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _util import (
    ROOT,
    compile_project,
    dump,
    fresh_env,
    median_process_time,
    qgen_argv,
    random_network,
    report,
)

GOAL = 10.0

NAIVE = """
import json, sys
import numpy as np
from verify.specs import parse_backprop_step
from verify.symbolic import naive_gradient_function
step = parse_backprop_step(json.load(open(sys.argv[1])))
f = naive_gradient_function(step.sizes, step.activations, step.loss)
f(step.x, step.y, [l.W for l in step.layers], [l.b for l in step.layers])
"""


def bench(sizes: tuple[int, ...], folder: Path) -> list[tuple[str, str]]:
    name = "-".join(map(str, sizes))
    params = dump(random_network(sizes, ("sigmoid",) * (len(sizes) - 1), "bce"),
                  folder / f"net-{name}.json")
    argv = qgen_argv("solve", "backprop-step", "--json", "--params", str(params))
    cold_times = []
    for i in range(3):  # each cold run gets its own empty cache
        env = fresh_env(QGEN_CACHE_DIR=str(folder / f"cold-{name}-{i}"))
        cold_times.append(median_process_time(argv, repeat=1, env=env))
    cold = sorted(cold_times)[1]
    warm_env = fresh_env(QGEN_CACHE_DIR=str(folder / f"warm-{name}"))
    median_process_time(argv, repeat=1, env=warm_env)  # fill the cache
    warm = median_process_time(argv, repeat=5, env=warm_env)
    naive = median_process_time([sys.executable, "-c", NAIVE, str(params)], repeat=1,
                                env=fresh_env(PYTHONPATH=str(ROOT)))
    return [
        (f"{name}: naive sympy.diff + lambdify", f"{naive:7.2f} s"),
        (f"{name}: qgen solve, cold cache", f"{cold:7.2f} s   {naive / cold:6.1f}x faster"),
        (f"{name}: qgen solve, warm cache", f"{warm:7.2f} s   {naive / warm:6.1f}x faster"),
    ], naive / cold, naive / warm


def main() -> None:
    compile_project()
    sizes = [(4, 8, 3)] + ([(8, 16, 4)] if "--large" in sys.argv else [])
    rows, verdicts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for s in sizes:
            r, cold_ratio, warm_ratio = bench(s, Path(tmp))
            rows += r
            verdicts.append(f"{'-'.join(map(str, s))}: cold {cold_ratio:.1f}x, warm "
                            f"{warm_ratio:.1f}x (goal >= {GOAL:.0f}x)")
    report("qgen solve backprop-step vs the naive SymPy route (whole processes)", rows,
           "; ".join(verdicts))


if __name__ == "__main__":
    main()
