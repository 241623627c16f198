"""The toolkit's own property checks, run against the installed package (``qgen selftest``).

Each check is one claim about verify, tested by Hypothesis over verify's public
strategies: two independent methods that must agree (backprop and finite differences,
numpy and SymPy, a closed form and an actual run), or a known answer. Every run is
derandomized (the same examples on every machine) and uses no example database, so an
instructor's result on a new install is the one anyone else gets. A failing check
reports the claim, the error and Hypothesis's shrunk, minimal failing example.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from qgen.errors import QgenError
from verify import strategies
from verify.checks import SGD_ATOL, check_sgd_step
from verify.finite_diff import KINK_MARGIN, gradcheck, numeric_gradient
from verify.formulas import conv_output_size, pool_output_size, summarize
from verify.numeric.conv import (
    MacCounter,
    avg_pool2d,
    conv2d,
    max_pool2d,
    receptive_field_support,
    run_stack,
)
from verify.numeric.dense import backprop, forward, sgd_step
from verify.specs import parse_backprop_step, parse_net_summary
from verify.symbolic import gradient_function, summarize_symbolic

__all__ = ["CHECKS", "Check", "CheckResult", "DEFAULT_EXAMPLES", "run_check", "run_selftest"]

# Hypothesis's own default: every check together runs in ~5 s; `qgen selftest
# --examples 1000` for a longer look.
DEFAULT_EXAMPLES = 100

EPS = np.finfo(np.float64).eps
# numpy backprop and the SymPy-generated code compute the same expressions in another
# order of float64 operations: a few roundings per operation along <= 2 layers of
# <= 3-term sums, relative to the largest magnitude involved; 256 ulps is ample.
SYMBOLIC_ULPS = 256
SYMBOLIC_RTOL = 1e-9
# The homework prints its updated arrays to 8 significant digits (numpy's default print
# precision); 1e-8 is the precision at which those printed digits are exact.
GOLDEN_TOLERANCE = 1e-8


@dataclass(frozen=True)
class Check:
    """One claim: ``prop(example)`` raises AssertionError when it fails for an example
    drawn from ``strategy()`` (built lazily, so listing the checks costs nothing)."""

    name: str
    claim: str
    strategy: Callable[[], st.SearchStrategy]
    prop: Callable[[Any], None]


@dataclass(frozen=True)
class CheckResult:
    name: str
    claim: str
    passed: bool
    examples: int  # times the property ran (including shrinking, after a failure)
    seconds: float
    error: str | None = None  # the exception, one "Type: message" text
    counterexample: str | None = None  # Hypothesis's shrunk failing example


# ---------------------------------------------------------------------------
# The claims


def _off_kinks(step) -> bool:
    cache, _ = forward(step)
    return all(layer.activation != "relu" or np.min(np.abs(z)) > KINK_MARGIN
               for layer, (z, _) in zip(step.layers, cache, strict=True))


def _flat_gradients(traces) -> np.ndarray:
    return np.concatenate([np.concatenate([t.grad_W.ravel(), t.grad_b]) for t in traces])


def _backprop_vs_finite_differences(params) -> None:
    step = parse_backprop_step(params)
    assume(_off_kinks(step))
    report = gradcheck(step)
    assert report.checked == step.n_params, report
    assert report.passed, report


def _backprop_vs_symbolic(params) -> None:
    step = parse_backprop_step(params)
    assume(_off_kinks(step))  # relu'(0): numpy takes 0, SymPy's derivative is undefined
    loss, traces = backprop(step)
    # Derived afresh (not read from the disk cache): the check is of SymPy's derivation.
    f = gradient_function(step.sizes, step.activations, step.loss, disk_cache=False)
    s_loss, s_gW, s_gb = f(step.x, step.y, [lay.W for lay in step.layers],
                           [lay.b for lay in step.layers])
    ours = np.concatenate([[loss], _flat_gradients(traces)])
    theirs = np.concatenate([[s_loss], *[np.concatenate([np.ravel(w), np.ravel(b)])
                                         for w, b in zip(s_gW, s_gb, strict=True)]])
    scale = max(1.0, float(np.max(np.abs(ours))))
    np.testing.assert_allclose(theirs, ours, rtol=SYMBOLIC_RTOL,
                               atol=SYMBOLIC_ULPS * EPS * scale)


def _sgd_check_judges_independent_steps(params) -> None:
    """verify.checks.check_sgd_step accepts a step computed from complex-step
    derivatives (no backprop) and rejects the same step with its sign flipped."""
    step = parse_backprop_step(params)
    grads = numeric_gradient(step, method="complex_step")

    def by_finite_differences(x, y, weights, biases, lr, sign=1.0):
        return ([W - sign * lr * gW for W, (gW, _) in zip(weights, grads, strict=True)],
                [b - sign * lr * gb for b, (_, gb) in zip(biases, grads, strict=True)])

    check_sgd_step(by_finite_differences, params)
    largest = max(float(np.max(np.abs(np.concatenate([gW.ravel(), gb])))) for gW, gb in grads)
    # Flipped, each entry moves 2 lr |g| from the reference: visible above atol.
    if step.lr * largest > 10 * SGD_ATOL:
        try:
            check_sgd_step(lambda *args: by_finite_differences(*args, sign=-1.0), params)
        except AssertionError:
            return
        raise AssertionError("check_sgd_step accepted an SGD step with the sign flipped")


def _conv_output_size_vs_run(config) -> None:
    n, k, s, p, d = (config[key] for key in ("n", "kernel", "stride", "padding", "dilation"))
    y = conv2d(np.zeros((n, 1, 1)), np.zeros((k, 1, 1, 1)), stride=s, padding=p, dilation=d)
    assert y.shape[0] == conv_output_size(n, k, s, p, d), (y.shape, config)


def _pool_output_size_vs_run(config) -> None:
    n, k, s, p, d, ceil = (config[key] for key in ("n", "kernel", "stride", "padding",
                                                    "dilation", "ceil_mode"))
    expected = pool_output_size(n, k, s, p, d, ceil)
    x = np.zeros((n, 1, 1))
    got = max_pool2d(x, (k, 1), (s, 1), padding=(p, 0), dilation=(d, 1), ceil_mode=ceil)
    assert got.shape[0] == expected, (got.shape, config)
    if d == 1:  # average pooling has no dilation
        got = avg_pool2d(x, (k, 1), (s, 1), padding=(p, 0), ceil_mode=ceil)
        assert got.shape[0] == expected, (got.shape, config)


def _receptive_field_vs_gradient_support(stack) -> None:
    spec = parse_net_summary(stack)
    row = summarize(spec)["layers"][-1]
    support = receptive_field_support(spec)
    assert (list(support.receptive_field), list(support.jump)) == \
        (row["receptive_field"], row["jump"]), (support, row)


def _shapes_and_macs_vs_run(stack) -> None:
    spec = parse_net_summary(stack)
    counter = MacCounter()
    rng = np.random.default_rng(0)
    _, params, shapes = run_stack(spec, rng=rng, counter=counter)
    summary = summarize(spec)
    assert [list(shape) for shape in shapes] == [row["output"] for row in summary["layers"]]
    assert counter.count == summary["total"]["macs"], (counter.count, summary["total"])
    for p, row in zip(params, summary["layers"], strict=True):
        weights = 0 if p is None else p["W"].size
        biases = 0 if p is None or p["b"] is None else p["b"].size
        assert (weights, biases) == (row["weights"], row["biases"]), row


def _formulas_vs_symbolic(stack) -> None:
    spec = parse_net_summary(stack)
    assert summarize_symbolic(spec) == summarize(spec)


# Question 2 of the homework (DESIGN.md's seed) and its printed answer.
HOMEWORK_Q2 = {
    "x": [0.1, 0.7], "y": [0, 1.0], "lr": 0.01, "loss": "bce",
    "layers": [
        {"W": [[0.1, 0.3, 0.4], [0.2, 0.2, 0.1]], "b": [0.31416, -0.27182, 0.186282],
         "activation": "sigmoid"},
        {"W": [[0.3, 0.1], [0.5, 0.6], [0.2, 0.7]], "b": [1.618, 0.1729],
         "activation": "sigmoid"},
    ],
}
HOMEWORK_Q2_LOSS = 2.599206094006428
HOMEWORK_Q2_UPDATED = [
    ([[0.09994304, 0.2999309, 0.40000494], [0.19960128, 0.1995163, 0.10003456]],
     [0.3135904, -0.272511, 0.18633137]),
    ([[0.29449819, 0.101749], [0.4957476, 0.60135182], [0.1948608, 0.70163373]],
     [1.6090394, 0.17574853]),
]


def _homework_question_2(params) -> None:
    answer = sgd_step(params)
    # The homework prints the loss to 16 digits; ours is computed through softplus
    # (stable where a sigmoid saturates) and may differ in the last one.
    assert abs(answer["loss"] - HOMEWORK_Q2_LOSS) <= 1e-12, answer["loss"]
    for layer, (W, b) in zip(answer["layers"], HOMEWORK_Q2_UPDATED, strict=True):
        np.testing.assert_allclose(layer["W"], W, atol=GOLDEN_TOLERANCE, rtol=0)
        np.testing.assert_allclose(layer["b"], b, atol=GOLDEN_TOLERANCE, rtol=0)
    assert gradcheck(params).passed


CHECKS: list[Check] = [
    Check("homework-q2-golden", "question 2 of the homework: loss and every updated weight "
          "match the printed answer; finite differences agree",
          lambda: st.just(HOMEWORK_Q2), _homework_question_2),
    Check("backprop-vs-finite-differences", "numpy backprop equals finite differences for "
          "every parameter", strategies.backprop_steps, _backprop_vs_finite_differences),
    Check("backprop-vs-symbolic", "numpy backprop equals the gradient SymPy derives",
          partial(strategies.backprop_steps, max_depth=2, max_width=3), _backprop_vs_symbolic),
    Check("sgd-check-vs-finite-differences", "verify.checks accepts an SGD step made from "
          "complex-step derivatives and rejects it with the sign flipped",
          partial(strategies.backprop_steps, max_depth=2, max_width=3,
                  activations=("sigmoid", "tanh", "linear")),
          _sgd_check_judges_independent_steps),
    Check("conv-output-size-vs-run", "the conv output size formula equals the shape of an "
          "actual convolution", partial(strategies.conv_configs, max_dilation=3),
          _conv_output_size_vs_run),
    Check("pool-output-size-vs-run", "the pooling output size formula (ceil_mode too) "
          "equals the shape of actual max and average pooling",
          partial(strategies.pool_configs, max_dilation=3), _pool_output_size_vs_run),
    Check("receptive-field-vs-gradient-support", "the receptive field and jump formulas "
          "equal the support of a real gradient",
          partial(strategies.layer_stacks, max_layers=3,
                  kinds=("conv", "maxpool", "avgpool", "relu")),
          _receptive_field_vs_gradient_support),
    Check("shapes-and-macs-vs-run", "output shapes, weights, biases and MACs equal an "
          "actual run's shapes, arrays and counted multiplications",
          partial(strategies.layer_stacks, max_size=16), _shapes_and_macs_vs_run),
    Check("formulas-vs-symbolic", "the closed forms equal the SymPy formulas for every "
          "figure of a layer stack", strategies.layer_stacks, _formulas_vs_symbolic),
]


# ---------------------------------------------------------------------------
# Running


def _settings(max_examples: int) -> settings:
    # Explicit settings, whatever profile is loaded: derandomized and without a
    # database, so every install runs the same examples; no explain phase (its extra
    # runs only annotate a failure the shrunk example already shows).
    return settings(max_examples=max_examples, derandomize=True, database=None,
                    deadline=None, print_blob=False, report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck),
                    phases=(Phase.explicit, Phase.generate, Phase.shrink))


def run_check(check: Check, *, max_examples: int = DEFAULT_EXAMPLES) -> CheckResult:
    """Run one check as a Hypothesis property; never raises for a failing claim."""
    runs = 0

    def prop(example):
        nonlocal runs
        runs += 1
        check.prop(example)

    # Hypothesis names the property in its report: "Failing test case: <name>(...)".
    prop.__name__ = prop.__qualname__ = check.name.replace("-", "_")
    start = time.perf_counter()
    try:
        _settings(max_examples)(given(example=check.strategy())(prop))()
    except Exception as error:  # any exception is a failed claim, reported with it
        notes = getattr(error, "__notes__", [])
        message = str(error).strip()
        return CheckResult(check.name, check.claim, False, runs,
                           time.perf_counter() - start,
                           f"{type(error).__name__}: {message}" if message
                           else type(error).__name__,
                           "\n".join(notes) or None)
    return CheckResult(check.name, check.claim, True, runs, time.perf_counter() - start)


def run_selftest(*, names: Iterable[str] | None = None, max_examples: int = DEFAULT_EXAMPLES,
                 on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run the checks (all, or those named), in order; ``on_result`` is called after
    each. Raises QgenError for an unknown name or a max_examples below 1."""
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) \
            or max_examples < 1:
        raise QgenError(f"max_examples={max_examples!r} must be a positive integer")
    known = {check.name: check for check in CHECKS}
    chosen = list(CHECKS)
    if names:
        names = list(names)
        for name in names:
            if name not in known:
                raise QgenError(f"check={name!r} must be one of {', '.join(known)}")
        chosen = [check for check in CHECKS if check.name in names]
    results = []
    for check in chosen:
        result = run_check(check, max_examples=max_examples)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
