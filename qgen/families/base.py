"""The family protocol: one module per family declares, side by side, its metadata,
``sample``, ``solve`` (through verify), an independent ``check``, the graded ``parts``
and its ``misconceptions``; its templates live in ``templates/<family id>/``.

A family module defines ``FAMILY = Family(...)``; the registry (qgen.families) finds it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DIFFICULTIES", "Check", "Family", "Misconception", "Part", "rounded", "solve_via",
           "stored_bytes"]

DIFFICULTIES = ("easy", "medium", "hard")


def rounded(value: Any, decimals: int | None) -> Any:
    """``value`` (a number or nested lists of numbers) as displayed with ``decimals``."""
    if decimals is None:
        return value
    if isinstance(value, (list, tuple)):
        return [rounded(v, decimals) for v in value]
    shown = round(float(value), decimals)
    return 0.0 if shown == 0 else shown  # never display -0.0


@dataclass(frozen=True)
class Part:
    """One graded part of a question: where it sits in the answer and how it is shown.

    ``decimals`` is the display precision (None: exact integers or an expression).
    The tolerance follows from it: the key prints the exact value rounded to
    ``decimals`` places, and a student who rounds correctly is also within half a
    unit of the exact value, so the two differ by at most one unit in that place.
    """

    key: str  # a path into the answer: "loss", "layers.1.W", "layers.2.output"
    label: str  # what is asked, in words (plain text)
    value: Any  # the exact value: number, list, nested list, or an expression string
    decimals: int | None = None
    kind: str = "number"  # "number" (scalar, vector, matrix) or "expression"
    latex: str | None = None  # an expression part: its LaTeX, as the solution shows it
    # An expression part: what `a` stands for when answers are compared, e.g.
    # (("activation", "tanh"),) makes `a` mean tanh(z), so `tanh(z) - y` equals `a - y`.
    meaning: tuple[tuple[str, str], ...] = ()

    @property
    def tolerance(self) -> float:
        return 0.0 if self.decimals is None else 10.0 ** -self.decimals

    @property
    def shown(self) -> Any:
        return rounded(self.value, self.decimals)

    def shown_texts(self) -> list[str]:
        """The strings a worked solution must contain to show this part's answer."""
        if self.kind == "expression":
            return [self.latex or str(self.value)]
        from qgen.render import number

        return [number(v, self.decimals) for v in np.ravel(np.asarray(self.shown))]

    def differs(self, other: Any) -> bool:
        """True when ``other`` is outside this part's tolerance of the exact value
        (element-wise for vectors and matrices; any entry outside is enough)."""
        if self.kind == "expression":
            from qgen.symbolic_answers import equivalent

            return not equivalent(str(self.value), str(other), **dict(self.meaning))
        a = np.asarray(self.value, dtype=float)
        b = np.asarray(other, dtype=float)
        if a.shape != b.shape:
            return True
        # A hair of slack for the float64 rounding of the comparison itself.
        return bool(np.any(np.abs(a - b) > self.tolerance * (1 + 1e-9) + 1e-12))


@dataclass(frozen=True)
class Misconception:
    """A named wrong method. ``wrong(params, answer)`` is the value it gives for the
    family's multiple-choice part, or None when it does not apply to these params."""

    name: str  # "forgot_plus_one"
    description: str  # "forgot the +1 in the output-size formula"
    wrong: Callable[[dict, dict], Any]


@dataclass(frozen=True)
class Check:
    """The outcome of a family's independent check of an answer."""

    method: str
    passed: bool
    discrepancy: float = 0.0
    detail: str = ""


def _no_work(params: dict, answer: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Family:
    id: str
    title: str
    topic: str
    tags: tuple[str, ...]
    sample: Callable[[np.random.Generator, str], dict]
    validate: Callable[[dict], Any]  # raises verify.specs.SpecError on invalid params
    solve: Callable[[dict], dict]  # -> {"answer": ..., "verification": ...}
    check: Callable[[dict, dict], Check]
    parts: Callable[[dict, dict], list[Part]]
    choice_part: Callable[[dict, dict], Part]
    misconceptions: tuple[Misconception, ...]
    # Intermediate values the worked solution shows (feedforward values, error terms,
    # substituted formulas), computed through verify: templates see them as ``work``.
    work: Callable[[dict, dict], dict] = _no_work
    difficulties: tuple[str, ...] = DIFFICULTIES
    problem: str | None = None  # the `qgen solve` family whose answer this one shares
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"id": self.id, "title": self.title, "topic": self.topic,
                "difficulties": list(self.difficulties), "tags": list(self.tags)}


def solve_via(problem: str) -> Callable[[dict], dict]:
    """A family's ``solve`` that is exactly ``qgen.solve(problem, params)``."""

    def solve(params: dict) -> dict:
        from qgen.problems import solve as solve_problem

        result = solve_problem(problem, params, require_verified=False)
        return {"answer": result["answer"], "verification": result["verification"]}

    solve.__doc__ = f"qgen.solve({problem!r}, params)"
    return solve


# numpy's element types by size, for measuring what parameters take when stored.
_FLOAT_TYPES = {2: np.float16, 4: np.float32, 8: np.float64}


def stored_bytes(arrays: list[dict | None], dtype_bytes: int) -> int:
    """Bytes the allocated parameter arrays take when stored at ``dtype_bytes`` per
    element (numpy's own itemsize), whatever float64 the run used."""
    dtype = np.dtype(_FLOAT_TYPES.get(dtype_bytes, f"V{dtype_bytes}"))
    return sum(np.empty(array.shape, dtype=dtype).nbytes
               for p in arrays if p for array in p.values() if array is not None)


def is_close(a: Any, b: Any, tolerance: float) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tolerance))


def finite(value: Any) -> bool:
    return all(math.isfinite(v) for v in np.ravel(np.asarray(value, dtype=float)))
