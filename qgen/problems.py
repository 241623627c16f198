"""``qgen.solve(family, params)``: an answer and the record of the methods that agree on it.

Each solver derives its answer by one method and confirms it by independent others
(DESIGN.md, "The solve contract"):

* ``backprop-step``: numpy backprop (the answer), SymPy-derived gradients, and finite
  differences over every parameter (complex step where analytic, else central).
* ``net-summary``: closed forms (the answer), the same figures from SymPy expressions,
  and an actual numpy run of the stack: output shapes, allocated array sizes, counted
  multiplications, and the receptive field as the support of one output's gradient.
* ``receptive-field``: each construction computed directly from its kernels (the
  answer), then checked as a layer stack by every ``net-summary`` method.

Answers cross this module's boundary as plain JSON types.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qgen.errors import QgenError, VerificationError
from verify.specs import (
    SpecError,
    parse_backprop_step,
    parse_net_summary,
    parse_receptive_field,
)

__all__ = ["PROBLEMS", "solve"]

EPS = float(np.finfo(np.float64).eps)

# numpy backprop and the SymPy-generated code evaluate the same real-number expression
# in a different order of float64 operations: they differ by a few roundings per
# operation along the longest chain. atol = ROUNDING_ULPS * eps * scale covers a deep
# chain with a wide margin; rtol bounds it relative to each figure.
ROUNDING_ULPS = 256
SYMBOLIC_RTOL = 1e-9


@dataclass(frozen=True)
class _Check:
    method: str
    discrepancy: float
    passed: bool
    detail: str = ""


def _record(checks: list[_Check], notes: list[str] | None = None) -> dict:
    record = {
        "methods": [c.method for c in checks],
        "max_discrepancy": max(c.discrepancy for c in checks),
        "passed": all(c.passed for c in checks),
    }
    failed = [f"{c.method}: {c.detail}" for c in checks if not c.passed]
    if failed:
        record["failures"] = failed
    if notes:
        record["notes"] = list(dict.fromkeys(notes))  # each note once, in order
    return record


def _close(a: np.ndarray, b: np.ndarray, scale: float) -> tuple[float, bool]:
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    bound = ROUNDING_ULPS * EPS * scale + SYMBOLIC_RTOL * np.abs(b)
    return float(diff.max(initial=0.0)), bool(np.all(diff <= bound))


# ---------------------------------------------------------------------------
# backprop-step

def solve_backprop_step(params) -> dict:
    from verify.finite_diff import gradcheck
    from verify.numeric.dense import backprop
    from verify.symbolic import gradient_function

    step = parse_backprop_step(params)
    loss, traces = backprop(step)
    answer_layers = []
    for layer, trace in zip(step.layers, traces, strict=True):
        answer_layers.append({
            "W": (layer.W - step.lr * trace.grad_W).tolist(),
            "b": (layer.b - step.lr * trace.grad_b).tolist(),
            "grad_W": trace.grad_W.tolist(),
            "grad_b": trace.grad_b.tolist(),
        })
    answer = {"loss": loss, "layers": answer_layers}

    # SymPy: gradients differentiated from the loss itself, compiled once per architecture.
    symbolic = gradient_function(step.sizes, step.activations, step.loss)
    s_loss, s_gW, s_gb = symbolic(step.x, step.y, [lay.W for lay in step.layers],
                                  [lay.b for lay in step.layers])
    ours = np.concatenate([[loss], *[np.concatenate([t.grad_W.ravel(), t.grad_b])
                                     for t in traces]])
    theirs = np.concatenate([[s_loss], *[np.concatenate([np.ravel(gw), np.ravel(gb)])
                                         for gw, gb in zip(s_gW, s_gb, strict=True)]])
    scale = max(1.0, float(np.max(np.abs(ours))))
    gap, agree = _close(ours, theirs, scale)
    checks = [_Check("numeric", 0.0, True),
              _Check("symbolic", gap, agree, f"differs from numpy backprop by {gap:.3g}")]

    report = gradcheck(step)
    notes = []
    if report.differentiable:
        checks.append(_Check("finite_difference", report.max_abs_error, report.passed,
                             f"{report.method} differs by {report.max_abs_error:.3g} at "
                             f"{report.worst}"))
    else:
        notes.append("finite differences skipped: a relu pre-activation lies on its kink, "
                     "where the derivative is a convention (relu'(0) = 0)")
    return {"answer": answer, "verification": _record(checks, notes)}


# ---------------------------------------------------------------------------
# net-summary

# An actual run of a stack costs its MACs. Up to this budget (a few microseconds of numpy) the
# whole stack runs and every figure is checked on it: shapes, allocated array sizes,
# counted multiplications. Above it, each layer's size along each axis comes from an
# actual run on a one-pixel strip (a size along H depends only on H's geometry), cached
# by geometry, and the counts are checked by the closed forms and the SymPy expressions.
# Full-channel counting is a property test (tests/verify/test_conv_properties.py).
NUMERIC_MAC_BUDGET = 20_000


@functools.lru_cache(maxsize=16384)
def _axis_output(kind: str, n: int, k: int, s: int, p: int, d: int, ceil: bool,
                 output_padding: int) -> int:
    """The output length of one layer along one axis, from an actual numpy run on an
    n x 1 strip with a k x 1 window (a size along H depends on H's geometry alone).
    Cached: a bank of questions runs each distinct geometry once."""
    from verify.numeric import conv

    x = np.zeros((n, 1, 1))
    pairs = {"stride": (s, 1), "padding": (p, 0)}
    if kind == "conv":
        y = conv.conv2d(x, np.ones((k, 1, 1, 1)), dilation=(d, 1), **pairs)
    elif kind == "convtranspose":
        y = conv.conv_transpose2d(x, np.ones((k, 1, 1, 1)), dilation=(d, 1),
                                  output_padding=(output_padding, 0), **pairs)
    elif kind == "max":
        y = conv.max_pool2d(x, (k, 1), dilation=(d, 1), ceil_mode=ceil, **pairs)
    else:
        y = conv.avg_pool2d(x, (k, 1), ceil_mode=ceil, **pairs)
    return int(y.shape[0])


def _run_sizes(spec) -> list[tuple[int, ...] | None]:
    """Each layer's spatial output (H, W) from actual strip runs; None once flat."""
    from verify.specs import Conv, Pool

    sizes = []
    hw = tuple(spec.input[:2]) if len(spec.input) == 3 else None
    for layer in spec.layers:
        if hw is not None and isinstance(layer, (Conv, Pool)):
            if isinstance(layer, Conv):
                kind = "convtranspose" if layer.transposed else "conv"
                ceil, output_padding = False, layer.output_padding
            else:
                kind, ceil, output_padding = layer.kind, layer.ceil_mode, (0, 0)
            hw = tuple(_axis_output(kind, hw[a], layer.kernel[a], layer.stride[a],
                                    layer.padding[a], layer.dilation[a], ceil,
                                    output_padding[a]) for a in range(2))
        elif layer.type in ("flatten", "dense"):
            hw = None
        sizes.append(hw)
    return sizes


def _field_geometry(layers, axis: int) -> tuple:
    """What a receptive field along one axis depends on: each conv/pool layer's kind,
    kernel, stride and dilation along that axis. Padding, ceil mode and channels only
    decide which output units exist, not how far an unclipped unit sees."""
    from verify.specs import Conv, Pool

    return tuple(("conv" if isinstance(layer, Conv) else layer.kind, layer.kernel[axis],
                  layer.stride[axis], layer.dilation[axis])
                 for layer in layers if isinstance(layer, (Conv, Pool)))


@functools.lru_cache(maxsize=8192)
def _measured_axis(geometry: tuple) -> tuple[int, int]:
    """Receptive field and jump along one axis, measured as the support of one output
    unit's gradient through an actual backward pass of the stack laid along H (W gets
    1-wide windows). The field is separable, so each axis is measured on its own and
    cached: a bank of questions measures each distinct geometry once."""
    from verify.numeric.conv import receptive_field_support
    from verify.specs import Conv, NetSummary, Pool

    layers = tuple(
        Conv(filters=1, kernel=(k, 1), stride=(s, 1), dilation=(d, 1), bias=False)
        if kind == "conv" else Pool(kind=kind, kernel=(k, 1), stride=(s, 1), dilation=(d, 1))
        for kind, k, s, d in geometry)
    support = receptive_field_support(NetSummary(input=(1, 1, 1), layers=layers))
    return support.receptive_field[0], support.jump[0]


def _measured_field(layers) -> tuple[list[int], list[int]]:
    (rh, jh), (rw, jw) = (_measured_axis(_field_geometry(layers, axis)) for axis in (0, 1))
    return [rh, rw], [jh, jw]


def _numeric_summary_check(spec, answer: dict) -> tuple[_Check, list[str]]:
    from verify.numeric import conv
    from verify.specs import Conv, Pool

    notes = []
    rows = answer["layers"]
    mismatches = []
    if answer["total"]["macs"] <= NUMERIC_MAC_BUDGET:
        counter = conv.MacCounter()
        _, arrays, shapes = conv.run_stack(spec, rng=np.random.default_rng(0),
                                           counter=counter)
        if counter.count != answer["total"]["macs"]:
            mismatches.append(f"counted {counter.count} multiplications, "
                              f"formula gives {answer['total']['macs']}")
        for i, (row, params, shape) in enumerate(zip(rows, arrays, shapes, strict=True)):
            weights = params["W"].size if params else 0
            biases = params["b"].size if params and params.get("b") is not None else 0
            if (weights, biases) != (row["weights"], row["biases"]):
                mismatches.append(f"layers[{i}]: allocated {weights} weights and {biases} "
                                  f"biases, formula gives {row['weights']} and {row['biases']}")
            if list(shape) != row["output"]:
                mismatches.append(f"layers[{i}]: the run gives {list(shape)}, "
                                  f"formula {row['output']}")
    else:
        notes.append("numeric: actual strip runs checked every spatial size, and gradient "
                     "supports the receptive fields; counts were checked by closed form "
                     "and SymPy (the whole stack is run when it has at most "
                     f"{NUMERIC_MAC_BUDGET:,} MACs)")
        for i, (row, hw) in enumerate(zip(rows, _run_sizes(spec), strict=True)):
            if hw is not None and list(hw) != row["output"][:2]:
                mismatches.append(f"layers[{i}]: the run gives {list(hw)}, "
                                  f"formula {row['output'][:2]}")
    # Receptive fields: every conv/pool layer before the first flatten, dense or
    # transposed convolution (after those the answer has none).
    for i, layer in enumerate(spec.layers):
        if not isinstance(layer, (Conv, Pool)) and layer.type not in ("relu", "sigmoid", "tanh"):
            break
        if isinstance(layer, Conv) and layer.transposed:
            break
        if isinstance(layer, (Conv, Pool)):
            field, jump = _measured_field(spec.layers[: i + 1])
            if [field, jump] != [rows[i]["receptive_field"], rows[i]["jump"]]:
                mismatches.append(f"layers[{i}]: gradient support {field} jump {jump}, "
                                  f"formula {rows[i]['receptive_field']} jump {rows[i]['jump']}")
    return _Check("numeric", float(len(mismatches)), not mismatches,
                  "; ".join(mismatches[:3])), notes


def _summary_with_checks(spec) -> tuple[dict, list[_Check], list[str]]:
    from verify.formulas import summarize
    from verify.symbolic import summarize_symbolic

    answer = summarize(spec)
    symbolic = summarize_symbolic(spec)
    differing = [k for k in ("layers", "output", "total") if symbolic[k] != answer[k]]
    checks = [_Check("closed_form", 0.0, True),
              _Check("symbolic", float(len(differing)), not differing,
                     f"SymPy expressions disagree on {', '.join(differing)}")]
    numeric, notes = _numeric_summary_check(spec, answer)
    checks.append(numeric)
    return answer, checks, notes


def solve_net_summary(params) -> dict:
    spec = parse_net_summary(params)
    answer, checks, notes = _summary_with_checks(spec)
    return {"answer": answer, "verification": _record(checks, notes)}


# ---------------------------------------------------------------------------
# receptive-field: question 3

def _constructions(target: int) -> list[tuple[str, list[tuple[int, int]], list[int]]]:
    """(name, kernels, dilations) of every way the family knows to reach a
    target x target field with stride 1: each adds (k_eff - 1) to the field."""
    t = target
    found = [(f"single {t}x{t}", [(t, t)], [1])]
    for k in range(3, t, 2):  # stacks of equal small filters, VGG-style
        if (t - 1) % (k - 1) == 0:
            n = (t - 1) // (k - 1)
            found.append((f"{n} x ({k}x{k})", [(k, k)] * n, [1] * n))
    if t - 2 > 3:  # one large filter then a 3x3: mixed sizes
        found.append((f"{t - 2}x{t - 2} + 3x3", [(t - 2, t - 2), (3, 3)], [1, 1]))
    # Asymmetric factorisation (Inception v3): a 1xk then a kx1 reach k x k.
    found.append((f"1x{t} + {t}x1", [(1, t), (t, 1)], [1, 1]))
    if t > 3 and (t - 1) % 2 == 0:
        n = (t - 1) // 2
        found.append((f"{n} x (1x3 + 3x1)", [(1, 3), (3, 1)] * n, [1] * (2 * n)))
    if t > 3 and (t - 1) % 2 == 0:  # one 3x3 with holes: d(k - 1) + 1 = t
        d = (t - 1) // 2
        found.append((f"3x3 dilated {d}", [(3, 3)], [d]))
    return found


def solve_receptive_field(params) -> dict:
    task = parse_receptive_field(params)
    approaches = []
    checks: list[_Check] = []
    notes: list[str] = []
    mismatches = []
    all_checks: dict[str, list[_Check]] = {}
    for name, kernels, dilations in _constructions(task.target):
        n = len(kernels)
        channels = [task.in_channels] + [task.mid_channels] * (n - 1) + [task.out_channels]
        h, w = task.input
        weights = biases = macs = 0
        rf = [1, 1]
        for (kh, kw), d, c_in, c_out in zip(kernels, dilations, channels[:-1], channels[1:],
                                            strict=True):
            h, w = h - d * (kh - 1), w - d * (kw - 1)  # stride 1, no padding
            weights += kh * kw * c_in * c_out
            biases += c_out if task.bias else 0
            macs += h * w * c_out * kh * kw * c_in
            rf = [rf[0] + d * (kh - 1), rf[1] + d * (kw - 1)]
        approach = {
            "name": name, "kernels": [list(k) for k in kernels], "strides": [1] * n,
            "dilations": dilations, "channels": channels, "receptive_field": rf, "layers": n,
            "weights": weights, "biases": biases, "params": weights + biases,
            "bytes": (weights + biases) * task.dtype_bytes, "macs": macs,
            "output": [h, w, task.out_channels],
        }
        approaches.append(approach)

        # The same construction as a layer stack: every net-summary method must agree.
        stack = parse_net_summary({
            "input": [*task.input, task.in_channels], "dtype_bytes": task.dtype_bytes,
            "layers": [{"type": "conv", "filters": c, "kernel": list(k), "dilation": d,
                        "bias": task.bias} for k, d, c in zip(kernels, dilations,
                                                                channels[1:], strict=True)],
        })
        summary, stack_checks, stack_notes = _summary_with_checks(stack)
        notes += stack_notes
        for c in stack_checks:
            all_checks.setdefault(c.method, []).append(c)
        claimed = {"receptive_field": rf, "output": approach["output"],
                   **{k: approach[k] for k in ("weights", "biases", "params", "bytes", "macs")}}
        derived = {"receptive_field": summary["layers"][-1]["receptive_field"],
                   "output": summary["output"], **summary["total"]}
        if claimed != derived:
            mismatches.append(f"{name}: {claimed} != net-summary {derived}")
    checks.append(_Check("direct", 0.0, True))
    checks.append(_Check("net_summary", float(len(mismatches)), not mismatches,
                         "; ".join(mismatches[:2])))
    for method, group in all_checks.items():
        if method == "closed_form":
            continue
        checks.append(_Check(method, max(c.discrepancy for c in group),
                             all(c.passed for c in group),
                             "; ".join(c.detail for c in group if not c.passed)))
    return {"answer": {"approaches": approaches}, "verification": _record(checks, notes)}


# ---------------------------------------------------------------------------

PROBLEMS: dict[str, Callable[[object], dict]] = {
    "backprop-step": solve_backprop_step,
    "net-summary": solve_net_summary,
    "receptive-field": solve_receptive_field,
}


def solve(family: str, params, *, require_verified: bool = True) -> dict:
    """Solve ``params`` of ``family`` (DESIGN.md): ``{"family", "params", "answer",
    "verification"}``, all plain JSON types. ``family`` is one of PROBLEMS or a question
    family (qgen list). Raises QgenError on bad input, and VerificationError when the
    independent methods disagree (unless ``require_verified=False``, which returns the
    record with ``passed: false``)."""
    solver = PROBLEMS.get(family)
    if solver is None:
        from qgen.families import FAMILY_IDS, get_family

        if family not in FAMILY_IDS:
            known = sorted(set(PROBLEMS) | set(FAMILY_IDS))
            raise QgenError(f"family={family!r} must be one of {', '.join(known)}")
        solver = get_family(family).solve
    try:
        result = solver(params)
    except SpecError as error:
        raise QgenError(str(error)) from None
    if require_verified and not result["verification"]["passed"]:
        raise VerificationError(
            f"{family}: the methods disagree: "
            f"{'; '.join(result['verification'].get('failures', []))}")
    return {"family": family, "params": params, **result}
