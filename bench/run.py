"""Run every benchmark and print its figures: `make bench` (add --large for 8-16-4)."""

import os
import runpy
import sys
from pathlib import Path

# As the qgen command runs (qgen/cli.py): OpenBLAS single-threaded, set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
for name in ("bench_startup", "bench_gradcheck", "bench_solve", "bench_generate"):
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
