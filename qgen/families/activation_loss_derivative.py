"""activation-loss-derivative: derive dL/dz, the error term of one output unit, for an
activation and a loss, and evaluate it at a point. The expression is graded by SymPy
equivalence (qgen.symbolic_answers), the value to DECIMALS places.

Params: ``{"activation", "loss", "z", "y"}`` (``z`` and ``y`` are lists of logits and
targets for softmax); ``z``/``y`` may be left out to ask for the expression alone, and
softmax then takes ``n_outputs`` (default 3). The answer is ``{"expression", "latex",
"value"}``: the expression in a (the activation's output), y (the target) and z (the
pre-activation, where the activation cannot be inverted), as SymPy prints it.

easy: sigmoid + bce, the a - y every course derives; integer z, y in {0, 1}.
medium: mse after tanh, sigmoid or linear: the activation's derivative stays in the answer.
hard: softmax + cross-entropy (the whole Jacobian, with sum_j y_j = 1), relu + mse (a step
in the answer, z of either sign), tanh + bce on the probability p = (1 + a)/2.

Nothing below states a derivative. The activation and the loss are defined once
(``_activation``, ``_loss``); SymPy differentiates them twice: dL/da and da/dz apart (the
chain the solution shows, da/dz rewritten in a through the activation's inverse), and
the composite L(f(z), y) at once. The two must agree ("symbolic"). An independent numpy
loss differentiated by central differences at the point and at random points is the
"finite_difference" method; the family's check repeats that by complex step.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part
from qgen.render import number
from verify.specs import SpecError, _Raw  # _Raw: a value shown as is ("missing")

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "softmax")
LOSSES = ("bce", "mse", "ce")
# The pairs a question can ask about: bce needs an output in (0, 1) (sigmoid, or tanh
# rescaled to p = (1 + a)/2), ce a distribution (softmax); mse takes any scalar one.
LOSSES_OF = {"sigmoid": ("bce", "mse"), "tanh": ("bce", "mse"), "relu": ("mse",),
             "linear": ("mse",), "softmax": ("ce",)}
PAIRS = {
    "easy": (("sigmoid", "bce"),),
    "medium": (("tanh", "mse"), ("sigmoid", "mse"), ("linear", "mse")),
    "hard": (("softmax", "ce"), ("relu", "mse"), ("tanh", "bce")),
}
DECIMALS = 4
# |z| bound: the numpy loss of tanh + bce computes 1 - p with p = (1 + tanh z)/2, which
# loses digits as |z| grows; at |z| = 5 central differences still keep 1e-7 (well inside
# FD_TOLERANCE), beyond it they would not. Questions use |z| <= 3.
MAX_ABS_Z = 5.0
MAX_OUTPUTS = 6
TARGET_SUM_TOLERANCE = 1e-9  # printed targets summing to 1 up to float64 rounding
# Central differences with step FD_STEP: truncation ~ FD_STEP^2 * L''' / 6 ~ 1e-11 and
# rounding ~ eps * |L| / FD_STEP ~ 1e-10 for losses of order 1, plus the digits 1 - p
# loses at |z| = MAX_ABS_Z (~3e-7); FD_TOLERANCE is 100x below the display precision.
FD_STEP = 1e-5
FD_TOLERANCE = 1e-6
# The complex step has no subtraction: Im L(z + ih)/h is exact to a few roundings.
COMPLEX_STEP = 1e-20
COMPLEX_STEP_TOLERANCE = 1e-9
RANDOM_POINTS = 6
SOLVE_POINTS_SEED, CHECK_POINTS_SEED = 7, 11  # the check looks at other points
# relu's z keeps this far from the kink, so that no central difference straddles it.
RELU_MARGIN = 1e-3


# ---------------------------------------------------------------------------
# the definitions (SymPy) and their derivatives

def _symbols():
    import sympy as sp

    return sp.Symbol("a", real=True), sp.Symbol("y", real=True), sp.Symbol("z", real=True)


def _activation(name: str, z):
    """a = f(z)."""
    import sympy as sp

    return {"sigmoid": lambda: 1 / (1 + sp.exp(-z)), "tanh": lambda: sp.tanh(z),
            # strict z > 0: relu'(0) = 0, PyTorch's convention
            "relu": lambda: sp.Piecewise((z, z > 0), (0, True)), "linear": lambda: z}[name]()


def _loss(loss: str, activation: str, a, y):
    """L(a, y) of one output; bce reads a tanh output as the probability (1 + a)/2."""
    import sympy as sp

    if loss == "mse":
        return sp.Rational(1, 2) * (a - y) ** 2
    p = a if activation == "sigmoid" else (1 + a) / 2
    return -(y * sp.log(p) + (1 - y) * sp.log(1 - p))


@functools.cache
def _step_function():
    import sympy as sp

    class step(sp.Function):  # lower case: printed as the answer's vocabulary spells it
        """1 for z > 0, else 0 (relu's derivative); read back by symbolic_answers."""

    return step


def _oriented(expr, *, expand_denominator: bool = False):
    """The same expression with each bracket turned the way a course writes it: a
    positive constant first (1 - a, not a - 1), else a positive a (a - y, not y - a)."""
    import sympy as sp

    a, _, _ = _symbols()
    numerator, denominator = sp.fraction(sp.factor(expr))
    sign = 1

    def turn(part):
        nonlocal sign
        out = []
        for factor in sp.Mul.make_args(part):
            base, power = factor.as_base_exp()
            if base.is_Add:
                constant, _ = base.as_coeff_Add()
                flip = (constant < 0) if constant != 0 else (base.coeff(a) < 0)
                if flip and power.is_Integer:
                    base, sign = -base, sign * (-1) ** int(power)
            out.append(base ** power)
        return sp.Mul(*out)

    top, bottom = turn(numerator), turn(denominator)
    return sign * top / (sp.expand(bottom) if expand_denominator else bottom)


def _plainness(expr) -> tuple[int, int]:
    """Fewer operations first, and no bracket or expression that opens with a minus."""
    import sympy as sp

    text = str(expr)
    return sp.count_ops(expr) + text.count("(-") + text.startswith("-"), len(text)


def _neat(expr):
    """The plainest of the expression as it stands and its oriented factored forms."""
    return min([expr, _oriented(expr), _oriented(expr, expand_denominator=True)],
               key=_plainness)


def _vanishes(expr) -> bool:
    import sympy as sp

    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return all(_vanishes(piece) for piece, _ in expr.args)
    return sp.cancel(expr) == 0 or sp.simplify(expr) == 0


@dataclass(frozen=True)
class Derivation:
    """What SymPy found, as expressions in a, y, z (softmax: a = a_j, y = y_j)."""

    answer: Any  # dL/dz, the graded expression
    dL_da: Any  # dL/da (softmax: dL/da_j, with a = a_j and y = y_j)
    da_dz: Any | None  # f'(z) in a (step(z) for relu); None for softmax
    chain: Any | None  # dL/da * da/dz before simplifying
    composite: Any  # dL/dz of L(f(z), y) differentiated at once, in z and y
    agrees: bool  # answer (with a = f(z)) == composite


@functools.cache
def derive(activation: str, loss: str, n_outputs: int = 3) -> Derivation:
    """dL/dz by sympy.diff; cached per pair (n_outputs matters for softmax only)."""
    import sympy as sp

    a, y, z = _symbols()
    if activation == "softmax":
        return _derive_softmax(n_outputs)
    f = _activation(activation, z)
    L_a = _loss(loss, activation, a, y)
    dL_da = _neat(sp.cancel(sp.diff(L_a, a)))
    derivative = sp.diff(f, z)
    inverse = _inverse(f, z, a)
    if inverse is None:  # relu: no inverse; its derivative is a step in z
        step = _step_function()
        da_dz = sp.piecewise_fold(derivative).replace(
            lambda e: e == sp.Piecewise((1, z > 0), (0, True)), lambda e: step(z))
    else:
        da_dz = _neat(sp.cancel(derivative.xreplace({z: inverse})))
    chain = sp.Mul(dL_da, da_dz)
    composite = sp.piecewise_fold(sp.diff(L_a.xreplace({a: f}), z))
    candidates = [chain]
    if inverse is not None:
        candidates.append(_neat(sp.cancel(composite.xreplace({z: inverse}))))
    answer = min(candidates, key=_plainness)

    def in_z(expr):
        return expr.xreplace({a: f}).replace(
            lambda e: isinstance(e, sp.Function) and type(e).__name__ == "step",
            lambda e: sp.Piecewise((1, e.args[0] > 0), (0, True)))

    # Both routes, as functions of z: the chain through a, and the graded form.
    agrees = _vanishes(in_z(chain) - composite) and _vanishes(in_z(answer) - composite)
    return Derivation(answer, dL_da, da_dz, chain, composite, agrees)


def _inverse(f, z, a):
    """z as a function of a = f(z), or None when SymPy finds no single inverse (relu)."""
    import sympy as sp

    if f.has(sp.Piecewise):
        return None
    if f == z:
        return a
    if isinstance(f, sp.tanh):
        return sp.atanh(a)
    solutions = sp.solve(sp.Eq(a, f), z, check=False, simplify=False)
    if len(solutions) != 1:
        return None
    return solutions[0] if sp.cancel(f.xreplace({z: solutions[0]}) - a) == 0 else None


def _derive_softmax(n: int) -> Derivation:
    """dL/dz_0 of L = -sum_k y_k log softmax(z)_k with sum_k y_k = 1 (the last target is
    what the others leave), then written through a_k = softmax(z)_k. softmax is unchanged
    when every z_k grows by c, so z_k = log a_k + c is exact: c must drop out (checked),
    and sum_k a_k = 1 then removes the last a."""
    import sympy as sp

    a, y, _ = _symbols()
    zs = sp.symbols(f"z0:{n}", real=True)
    ys = list(sp.symbols(f"y0:{n}", real=True))
    ys[-1] = 1 - sp.Add(*ys[:-1])
    total = sp.Add(*(sp.exp(zk) for zk in zs))
    L = -sp.Add(*(yk * sp.log(sp.exp(zk) / total) for zk, yk in zip(zs, ys, strict=True)))
    composite = sp.diff(L, zs[0])
    probs = sp.symbols(f"p0:{n}", positive=True)
    c = sp.Symbol("c", real=True)
    shifted = composite.xreplace({zk: sp.log(pk) + c for zk, pk in zip(zs, probs, strict=True)})
    shifted = sp.cancel(sp.expand(shifted, power_exp=True))
    in_a = sp.cancel(shifted.xreplace({probs[-1]: 1 - sp.Add(*probs[:-1])}))
    answer = _neat(in_a.xreplace({probs[0]: a, sp.Symbol("y0", real=True): y}))
    agrees = c not in shifted.free_symbols and answer.free_symbols <= {a, y}
    if agrees:  # the same function of z: a -> softmax(z)_0, y -> y_0
        agrees = _vanishes(answer.xreplace({a: sp.exp(zs[0]) / total,
                                            y: sp.Symbol("y0", real=True)}) - composite)
    outputs = sp.symbols(f"p0:{n}", positive=True)
    ce = -sp.Add(*(yk * sp.log(pk) for pk, yk in zip(outputs, ys, strict=True)))
    dL_da = sp.diff(ce, outputs[0]).xreplace({outputs[0]: a, sp.Symbol("y0", real=True): y})
    return Derivation(answer, dL_da, None, None, composite, agrees)


@functools.lru_cache(maxsize=256)
def _latex(expr) -> str:
    """LaTeX of an expression; cached, as a bank prints the same few many times."""
    import sympy as sp

    return sp.latex(expr)


# ---------------------------------------------------------------------------
# numpy: the loss again, written apart from SymPy, for differences and complex steps

def _np_activation(name: str, z):
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(np.real(z) > 0, z, 0)
    return z


def _np_loss(activation: str, loss: str, z, y):
    """The loss of one sample (z, y are vectors for softmax); complex z is allowed."""
    if loss == "ce":
        shifted = z - np.max(np.real(z))
        log_softmax = shifted - np.log(np.sum(np.exp(shifted)))
        return -np.sum(y * log_softmax)
    a = _np_activation(activation, z)
    if loss == "mse":
        return 0.5 * (a - y) ** 2
    p = a if activation == "sigmoid" else (1 + a) / 2
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


@functools.cache
def _evaluator(expression: str):
    """The answer's expression as a numpy function of (a, y, z)."""
    from qgen.symbolic_answers import numpy_function

    return numpy_function(expression, ("a", "y", "z"))


def _evaluate(expression: str, activation: str, z, y) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    if activation == "softmax":
        e = np.exp(z - z.max())
        a = e / e.sum()
    else:
        a = _np_activation(activation, z)
    with np.errstate(all="ignore"):
        value = _evaluator(expression)(a, np.asarray(y, dtype=float), z)
    return np.broadcast_to(np.asarray(value, dtype=float), np.shape(z)).copy()


def _central_difference(activation: str, loss: str, z, y) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    if z.ndim == 0:
        return np.asarray((_np_loss(activation, loss, z + FD_STEP, y)
                           - _np_loss(activation, loss, z - FD_STEP, y)) / (2 * FD_STEP))
    out = np.empty_like(z)
    for j in range(z.size):
        step = np.zeros_like(z)
        step[j] = FD_STEP
        out[j] = (_np_loss(activation, loss, z + step, y)
                  - _np_loss(activation, loss, z - step, y)) / (2 * FD_STEP)
    return out


def _complex_step(activation: str, loss: str, z, y) -> np.ndarray:
    z = np.asarray(z, dtype=complex)
    if z.ndim == 0:
        return np.asarray(np.imag(_np_loss(activation, loss, z + 1j * COMPLEX_STEP, y))
                          / COMPLEX_STEP)
    out = np.empty(z.shape)
    for j in range(z.size):
        step = np.zeros_like(z)
        step[j] = 1j * COMPLEX_STEP
        out[j] = np.imag(_np_loss(activation, loss, z + step, y)) / COMPLEX_STEP
    return out


def _random_points(activation: str, loss: str, n: int, seed: int) -> list[tuple]:
    """Fixed random (z, y) in the domain of the pair: relu's z keeps away from its kink,
    bce targets lie in [0, 1], ce targets are distributions."""
    rng = np.random.default_rng(seed)
    points = []
    for i in range(RANDOM_POINTS):
        if activation == "softmax":
            points.append((rng.uniform(-3, 3, n), rng.dirichlet(np.ones(n))))
            continue
        z = rng.uniform(0.1, 3.0) * (1 if i % 2 == 0 else -1)
        y = rng.uniform(0, 1) if loss == "bce" else rng.uniform(-1.5, 1.5)
        points.append((z, y))
    return points


# ---------------------------------------------------------------------------
# params

def validate(params: Any) -> dict:
    """The params, checked; SpecError names the field, its value and the rule."""
    if not isinstance(params, dict):
        raise SpecError("params", params, "must be a JSON object")
    known = {"activation", "loss", "z", "y", "n_outputs"}
    for key in params:
        if key not in known:
            raise SpecError(key, params[key],
                            f"is not a known field (known: {', '.join(sorted(known))})")
    for key in ("activation", "loss"):
        if key not in params:
            raise SpecError(key, _Raw("missing"), "is required")
    activation, loss = params["activation"], params["loss"]
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise SpecError("activation", activation, f"must be one of {', '.join(ACTIVATIONS)}")
    if not isinstance(loss, str) or loss not in LOSSES_OF[activation]:
        raise SpecError("loss", loss, f"must be one of {', '.join(LOSSES_OF[activation])} "
                        f"for activation {activation!r}")
    if ("z" in params) != ("y" in params):
        missing = "y" if "z" in params else "z"
        raise SpecError(missing, _Raw("missing"), "is required when "
                        f"{'z' if missing == 'y' else 'y'} is given (the point to evaluate at)")
    if "n_outputs" in params:
        n = params["n_outputs"]
        if activation != "softmax":
            raise SpecError("n_outputs", n, "is only for activation 'softmax'")
        if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= MAX_OUTPUTS:
            raise SpecError("n_outputs", n, f"must be an integer from 2 to {MAX_OUTPUTS}")
    if "z" in params:
        if activation == "softmax":
            _softmax_point(params)
        else:
            _scalar_point(params, activation, loss)
    return params


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, value, "must be a number")
    if not math.isfinite(value):
        raise SpecError(field, value, "must be a finite number")
    return float(value)


def _scalar_point(params: dict, activation: str, loss: str) -> None:
    z = _number(params["z"], "z")
    y = _number(params["y"], "y")
    if abs(z) > MAX_ABS_Z:
        raise SpecError("z", z, f"must lie in [-{MAX_ABS_Z:g}, {MAX_ABS_Z:g}]")
    if activation == "relu" and abs(z) < RELU_MARGIN:
        raise SpecError("z", z, f"must be at least {RELU_MARGIN:g} away from 0 for relu: "
                        "its derivative at 0 is a convention")
    if loss == "bce" and not 0 <= y <= 1:
        raise SpecError("y", y, "must lie in [0, 1] for loss 'bce'")


def _softmax_point(params: dict) -> None:
    z, y = params["z"], params["y"]
    for field, value in (("z", z), ("y", y)):
        if not isinstance(value, list) or not 2 <= len(value) <= MAX_OUTPUTS:
            raise SpecError(field, value, f"must be a list of 2 to {MAX_OUTPUTS} numbers "
                            "for activation 'softmax'")
        for i, v in enumerate(value):
            number = _number(v, f"{field}[{i}]")
            if field == "z" and abs(number) > MAX_ABS_Z:
                raise SpecError(f"z[{i}]", v, f"must lie in [-{MAX_ABS_Z:g}, {MAX_ABS_Z:g}]")
    if len(y) != len(z):
        raise SpecError("y", y, f"must have {len(z)} entries, one per logit in z")
    if "n_outputs" in params and params["n_outputs"] != len(z):
        raise SpecError("n_outputs", params["n_outputs"], f"must equal len(z) = {len(z)}")
    if any(v < 0 for v in y) or abs(sum(y) - 1) > TARGET_SUM_TOLERANCE:
        raise SpecError("y", y, "must be a probability distribution (>= 0, summing to 1) "
                        "for loss 'ce'")


def _n_outputs(params: dict) -> int:
    if "z" in params and params["activation"] == "softmax":
        return len(params["z"])
    return params.get("n_outputs", 3)


# ---------------------------------------------------------------------------
# sample

def _one_decimal(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.integers(round(low * 10), round(high * 10) + 1)) / 10, 1)


def _two_decimals(rng: np.random.Generator, low: float, high: float, *,
                  nonzero: bool = False) -> float:
    while True:
        value = round(float(rng.integers(round(low * 100), round(high * 100) + 1)) / 100, 2)
        if not (nonzero and value == 0):
            return value


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    pairs = PAIRS[difficulty]
    activation, loss = pairs[int(rng.integers(len(pairs)))]
    params: dict = {"activation": activation, "loss": loss}
    if difficulty == "easy":
        params["z"] = float(rng.integers(-2, 3))
        params["y"] = float(rng.integers(0, 2))
    elif difficulty == "medium":
        params["z"] = _one_decimal(rng, -2, 2)
        low, high = {"sigmoid": (0, 1), "tanh": (-1, 1), "linear": (-2, 2)}[activation]
        params["y"] = _one_decimal(rng, low, high)
    elif activation == "softmax":
        n = int(rng.choice([3, 4]))
        params["z"] = [_one_decimal(rng, -2, 2) for _ in range(n)]
        if rng.integers(2):
            target = [0.0] * n
            target[int(rng.integers(n))] = 1.0
        else:  # a soft target: tenths that sum to exactly 1
            cuts = sorted(int(c) for c in rng.choice(np.arange(1, 10), n - 1, replace=False))
            target = [(b - a) / 10 for a, b in zip([0, *cuts], [*cuts, 10], strict=True)]
        params["y"] = target
    else:
        params["z"] = _two_decimals(rng, -2.5, 2.5, nonzero=True)
        params["y"] = (_one_decimal(rng, -1, 2) if loss == "mse"
                       else float(rng.choice([0.0, 1.0, _one_decimal(rng, 0.1, 0.9)])))
    return params


# ---------------------------------------------------------------------------
# solve

def _record(checks: list[tuple[str, float, bool, str]]) -> dict:
    record = {"methods": [c[0] for c in checks],
              "max_discrepancy": max(float(c[1]) for c in checks),
              "passed": all(c[2] for c in checks)}
    failures = [f"{c[0]}: {c[3]}" for c in checks if not c[2]]
    if failures:
        record["failures"] = failures
    return record


def solve(params: dict) -> dict:
    validate(params)
    activation, loss = params["activation"], params["loss"]
    n = _n_outputs(params)
    derivation = derive(activation, loss, n)
    expression = str(derivation.answer)
    answer: dict = {"expression": expression, "latex": _latex(derivation.answer)}
    points = _random_points(activation, loss, n, SOLVE_POINTS_SEED)
    if "z" in params:
        value = _evaluate(expression, activation, params["z"], params["y"])
        answer["value"] = float(value) if value.ndim == 0 else [float(v) for v in value]
        points = [(params["z"], params["y"]), *points]
    gap = 0.0
    for z, y in points:
        expected = _central_difference(activation, loss, z, y)
        gap = max(gap, float(np.max(np.abs(_evaluate(expression, activation, z, y)
                                           - expected))))
    checks = [
        ("symbolic", 0.0 if derivation.agrees else 1.0, derivation.agrees,
         "the chain dL/da * da/dz and the composite's derivative differ"),
        ("finite_difference", gap, gap <= FD_TOLERANCE,
         f"central differences differ by {gap:.3g} (tolerance {FD_TOLERANCE:g})"),
    ]
    return {"answer": answer, "verification": _record(checks)}


def check(params: dict, answer: dict) -> Check:
    """The expression against complex-step derivatives of the numpy loss at random points,
    and the value at the given point."""
    activation, loss = params["activation"], params["loss"]
    gap = 0.0
    for z, y in _random_points(activation, loss, _n_outputs(params), CHECK_POINTS_SEED):
        gap = max(gap, float(np.max(np.abs(
            _evaluate(answer["expression"], activation, z, y)
            - _complex_step(activation, loss, z, y)))))
    if "value" in answer:
        exact = _complex_step(activation, loss, params["z"], params["y"])
        gap = max(gap, float(np.max(np.abs(np.asarray(answer["value"]) - exact))))
    passed = gap <= COMPLEX_STEP_TOLERANCE
    return Check("complex_step", passed, gap,
                 "" if passed else f"complex step differs by {gap:.3g}")


# ---------------------------------------------------------------------------
# graded parts

def parts(params: dict, answer: dict) -> list[Part]:
    found = [choice_part(params, answer)]
    if "value" in answer:
        label = ("value of dL/dz_j for every j at the given point"
                 if params["activation"] == "softmax" else "value of dL/dz at the given point")
        found.append(Part("value", label, answer["value"], DECIMALS))
    return found


def choice_part(params: dict, answer: dict) -> Part:
    label = "dL/dz_j" if params["activation"] == "softmax" else "dL/dz"
    meaning = () if params["activation"] == "softmax" else (("activation",
                                                              params["activation"]),)
    return Part("expression", f"{label} as an expression", answer["expression"],
                kind="expression", latex=answer["latex"], meaning=meaning)


# ---------------------------------------------------------------------------
# misconceptions: each a wrong step applied to the pair's own derivation

def _sigmoid_derivative():
    a, _, _ = _symbols()
    return a * (1 - a)


def _as_probability(activation: str, loss: str, d: Derivation):
    """tanh + bce with a itself taken as the probability: the sigmoid/bce loss on a."""
    import sympy as sp

    if (activation, loss) != ("tanh", "bce"):
        return None
    a, y, _ = _symbols()
    return _neat(sp.cancel(sp.diff(_loss("bce", "sigmoid", a, y), a) * d.da_dz))


# name, description, build(activation, loss, derivation) -> SymPy expression or None
_WRONG_STEPS = (
    ("sign_flip", "flipped the sign (y - a for a - y)", lambda f, L, d: -d.answer),
    ("forgot_activation_derivative", "stopped at dL/da: left out the activation's "
     "derivative da/dz", lambda f, L, d: d.dL_da),
    ("activation_instead_of_derivative", "multiplied by the activation a = f(z) instead "
     "of its derivative f'(z)", lambda f, L, d: d.dL_da * _symbols()[0]),
    ("derivative_counted_twice", "multiplied by f'(z) again after the chain rule was "
     "complete", lambda f, L, d: None if d.da_dz is None else d.answer * d.da_dz),
    ("used_sigmoid_derivative", "used the sigmoid's a(1 - a) as the derivative of another "
     "activation", lambda f, L, d: (None if f in ("sigmoid", "softmax")
                                    else d.dL_da * _sigmoid_derivative())),
    ("softmax_diagonal_only", "kept only the diagonal a_j(1 - a_j) of the softmax "
     "Jacobian, dropping the other outputs' terms",
     lambda f, L, d: d.dL_da * _sigmoid_derivative() if f == "softmax" else None),
    ("tanh_derivative_one_minus_a", "took tanh'(z) as 1 - a instead of 1 - a^2",
     lambda f, L, d: d.dL_da * (1 - _symbols()[0]) if f == "tanh" else None),
    ("dropped_one_half", "differentiated (a - y)^2 without the 1/2 of the loss",
     lambda f, L, d: 2 * d.answer if L == "mse" else None),
    ("matched_pair_shortcut", "used a - y, which holds only for sigmoid with bce and "
     "softmax with cross-entropy", lambda f, L, d: _symbols()[0] - _symbols()[1]),
    ("tanh_output_as_probability", "used the tanh output a itself as the probability, "
     "not p = (1 + a)/2", _as_probability),
    ("forgot_rescaling_derivative", "left out dp/da = 1/2 of p = (1 + a)/2",
     lambda f, L, d: 2 * d.answer if (f, L) == ("tanh", "bce") else None),
)


@functools.cache
def wrong_answers(activation: str, loss: str, n_outputs: int = 3) -> dict[str, tuple]:
    """Each misconception's (text, LaTeX) for a pair, or None where it does not apply;
    derived once per pair, as the answer is."""
    derivation = derive(activation, loss, n_outputs)
    found = {}
    for name, _, build in _WRONG_STEPS:
        expr = build(activation, loss, derivation)
        found[name] = None if expr is None else (str(expr), _latex(expr))
    return found


def _misconception(name: str, description: str) -> Misconception:
    def wrong(params: dict, answer: dict) -> str | None:
        found = wrong_answers(params["activation"], params["loss"], _n_outputs(params))[name]
        return None if found is None else found[0]

    return Misconception(name, description, wrong)


MISCONCEPTIONS = tuple(_misconception(name, description)
                       for name, description, _ in _WRONG_STEPS)


# ---------------------------------------------------------------------------
# worked steps

def work(params: dict, answer: dict) -> dict:
    activation, loss = params["activation"], params["loss"]
    n = _n_outputs(params)
    derivation = derive(activation, loss, n)
    latex = {answer["expression"]: answer["latex"]}
    latex.update(found for found in wrong_answers(activation, loss, n).values() if found)
    steps = {
        "latex": latex,  # every option's text -> its LaTeX, for the choices
        "dL_da": _latex(derivation.dL_da),
        "da_dz": None if derivation.da_dz is None else _latex(derivation.da_dz),
    }
    if "z" in params:
        z = np.asarray(params["z"], dtype=float)
        if activation == "softmax":
            e = np.exp(z - z.max())
            a = e / e.sum()
        else:
            a = _np_activation(activation, z)
        steps["a"] = float(a) if a.ndim == 0 else [float(v) for v in a]
        if activation != "softmax":
            steps["substituted"] = _substituted(derivation.answer, {
                "a": number(float(a), DECIMALS), "y": number(params["y"]),
                "z": number(params["z"])})
    return steps


def _substituted(expr, values: dict[str, str]) -> str:
    """The answer's LaTeX with the numbers in place of a, y, z, in the answer's order."""
    import sympy as sp

    names = {}
    for symbol in expr.free_symbols:
        text = values[symbol.name]
        names[symbol] = rf"\left({text}\right)" if text.startswith("-") else text
    return sp.latex(expr, symbol_names=names)


FAMILY = Family(
    id="activation-loss-derivative",
    title="Derivative of a loss through an output activation",
    topic="backpropagation",
    tags=("backprop", "derivatives", "activations", "losses", "symbolic"),
    sample=sample,
    validate=validate,
    solve=solve,
    check=check,
    parts=parts,
    choice_part=choice_part,
    misconceptions=MISCONCEPTIONS,
    work=work,
)
