"""Shared helpers for the benchmarks: timing, networks, the printed report."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat: int = 5) -> float:
    """Minimum wall time of ``repeat`` calls: the least noisy estimate of the cost."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_process_time(argv: list[str], repeat: int = 7, env: dict | None = None) -> float:
    """Median wall time of a whole process (start-up included)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env or fresh_env(),
                       cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_network(sizes, activations, loss="bce", batch=1, seed=0) -> dict:
    """backprop-step params of a network with Xavier-scaled weights."""
    rng = np.random.default_rng(seed)
    layers = [{"W": (rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)).round(4).tolist(),
               "b": rng.normal(scale=0.1, size=n_out).round(4).tolist(), "activation": act}
              for n_in, n_out, act in zip(sizes[:-1], sizes[1:], activations, strict=True)]
    x = rng.uniform(-1, 1, size=(batch, sizes[0])).round(3)
    y = (rng.uniform(size=(batch, sizes[-1])) > 0.5).astype(float)
    single = batch == 1
    return {"x": x[0].tolist() if single else x.tolist(),
            "y": y[0].tolist() if single else y.tolist(),
            "lr": 0.1, "loss": loss, "layers": layers}


def report(title: str, rows: list[tuple[str, str]], verdict: str | None = None) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if verdict:
        print(f"  -> {verdict}")


def qgen_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "qgen", *args]


def fresh_env(**extra: str) -> dict:
    """The environment of an ordinary installation: bytecode is cached (some sandboxes
    set PYTHONDONTWRITEBYTECODE, which recompiles every module at every start)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def compile_project() -> None:
    """Byte-compile qgen and verify once, as `pip install` does, before timing processes."""
    import compileall

    for package in ("qgen", "verify"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def dump(params: dict, path: Path) -> Path:
    path.write_text(json.dumps(params))
    return path
