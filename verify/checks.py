"""Checks of someone else's implementation against verify's reference, for a course's tests.

Each ``check_*`` takes a student's function and one set of params (drawn from
:mod:`verify.strategies`, or written by hand), calls the function, and raises
``AssertionError`` with a message naming what differs and both values. Each
``assert_*_matches`` runs the check as a Hypothesis property over the matching strategy,
so a course test is one line, and a failure shows Hypothesis's shrunk, minimal example::

    from verify.checks import assert_sgd_step_matches
    import student

    def test_sgd_step():
        assert_sgd_step_matches(student.sgd_step)  # sigmoid network, bce, one sample

The functions a student writes (DESIGN.md's conventions: W has shape (n_in, n_out),
``z = a_prev @ W + b``, bce summed over outputs, a batch takes the mean over samples):

* ``sgd_step(x, y, weights, biases, lr) -> (new_weights, new_biases)``, numpy arrays in
  and lists of arrays out; with ``with_architecture=True`` also the keyword arguments
  ``activations`` (one name per layer) and ``loss``;
* ``conv_output_size(n, kernel, stride, padding, dilation) -> int``;
* ``pool_output_size(n, kernel, stride, padding, dilation, ceil_mode) -> int``;
* ``receptive_field(stack) -> int or (h, w)``, ``stack`` being ``net-summary`` params
  (``{"input": [H, W, C], "layers": [...]}``), the field of one unit of the last layer.

The reference is verify's: the numpy backprop (checked against finite differences and
SymPy) and the closed forms of verify.formulas (checked against actual convolutions,
pooling and gradient supports); ``qgen selftest`` runs those checks on an install.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import given
from hypothesis import settings as Settings

from verify import strategies
from verify.formulas import summarize
from verify.numeric.dense import backprop
from verify.specs import (
    BackpropStep,
    SpecError,
    parse_backprop_step,
    parse_net_summary,
)

__all__ = [
    "SGD_ATOL",
    "SGD_RTOL",
    "assert_conv_output_size_matches",
    "assert_pool_output_size_matches",
    "assert_receptive_field_matches",
    "assert_sgd_step_matches",
    "check_conv_output_size",
    "check_pool_output_size",
    "check_receptive_field",
    "check_sgd_step",
]

# A new weight agrees when |student - reference| <= atol + rtol * |reference - before|:
# rtol is relative to the update lr * grad itself, not to the weight, so that a wrong
# gradient shows however small lr makes the step.
# A float64 implementation computes the update in another order of operations, a few
# roundings per operation along <= a handful of layers: ~1e-13 relative. 1e-6 leaves
# room for other but exact formulas (log(sigmoid) vs softplus) and costs nothing against
# a real mistake, which is off by a fraction of the update itself (a float32
# implementation needs rtol=1e-3).
SGD_RTOL = 1e-6
# The subtraction W - lr * grad rounds to eps * |W| ~ 7e-16 for |W| <= 3 (backprop_steps'
# weight_bound); the update of an entry whose gradient vanishes (a dead relu) is that
# rounding alone.
SGD_ATOL = 1e-10

_CONV_RULE = "floor((n + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1 (PyTorch Conv2d)"
_POOL_RULE = ("floor((n + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1, ceil instead "
              "of floor when ceil_mode (PyTorch MaxPool2d/AvgPool2d)")
_DROPPED_RULE = "; ceil_mode drops a last window that would start in the right padding"
_RF_RULE = "r = 1 + sum_l (dilation_l*(kernel_l - 1)) * prod_{i<l} stride_i"


def _fmt(value) -> str:
    return repr(float(value)) if np.isfinite(value) else str(value)


def _where(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


# ---------------------------------------------------------------------------
# One SGD step

def _student_arrays(value, name: str, layers: int) -> list[np.ndarray]:
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) \
            or len(value) != layers:
        raise AssertionError(f"{name} must be a list of {layers} arrays, one per layer; "
                             f"student_fn returned {type(value).__name__} "
                             f"{_short(value)}")
    arrays = []
    for i, item in enumerate(value):
        try:
            arrays.append(np.asarray(item, dtype=np.float64))
        except (TypeError, ValueError):
            raise AssertionError(f"{name}[{i}] must be an array of numbers; student_fn "
                                 f"returned {_short(item)}") from None
    return arrays


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unpack(result, layers: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if isinstance(result, np.ndarray) or not isinstance(result, Sequence) or len(result) != 2:
        raise AssertionError("student_fn must return (new_weights, new_biases); it returned "
                             f"{type(result).__name__} {_short(result)}")
    return (_student_arrays(result[0], "new_weights", layers),
            _student_arrays(result[1], "new_biases", layers))


def _describe(step: BackpropStep) -> str:
    samples = f"a batch of {step.x.shape[0]}" if step.batched else "one sample"
    return (f"network {'-'.join(map(str, step.sizes))}, activations "
            f"{', '.join(step.activations)}, loss {step.loss}, lr {step.lr!r}, {samples}")


def _compare(student: np.ndarray, reference: np.ndarray, before: np.ndarray,
             grad: np.ndarray, lr: float, field: str, returned: str, rtol: float,
             atol: float) -> str | None:
    """None if they agree, else the message naming the worst entry and both values."""
    if student.shape != reference.shape:
        return (f"{returned} has shape {student.shape}; {field} has shape {reference.shape}"
                + (" (W is (n_in, n_out))" if field.endswith(".W") else ""))
    update = np.abs(reference - before)
    tolerance = atol + rtol * update
    error = np.abs(student - reference)
    bad = ~(error <= tolerance)  # NaN counts as a difference
    if not bad.any():
        return None
    excess = np.where(np.isnan(error), np.inf, error / tolerance)
    worst = np.unravel_index(int(np.argmax(np.where(bad, excess, -1))), reference.shape)
    return (f"{field}{_where(worst)} (returned as {returned}{_where(worst)}) differs from "
            f"the reference:\n"
            f"  student   {_fmt(student[worst])}\n"
            f"  reference {_fmt(reference[worst])}  (before the step {_fmt(before[worst])}, "
            f"gradient {_fmt(grad[worst])}, lr {lr!r})\n"
            f"  |difference| {error[worst]:.3g} > tolerance {atol:.3g} + {rtol:.3g} * "
            f"|update {update[worst]:.3g}|\n"
            f"  {int(bad.sum())} of {bad.size} entries of {field} differ")


def check_sgd_step(
    student_fn: Callable,
    params,
    *,
    rtol: float = SGD_RTOL,
    atol: float = SGD_ATOL,
    with_architecture: bool = False,
) -> None:
    """Call ``student_fn(x, y, weights, biases, lr)`` on ``backprop-step`` params and
    compare the weights and biases it returns with one SGD step of verify's reference.

    ``x``/``y`` are float64 arrays (1-D for one sample, 2-D for a batch); ``weights`` and
    ``biases`` are lists of copies, so an in-place update is fine. With
    ``with_architecture=True`` the function also receives ``activations`` (a tuple, one
    per layer) and ``loss`` as keyword arguments. Raises AssertionError naming the layer
    and entry (``layers[0].W[1][2]``), the student's and the reference's values.

    Example: ``check_sgd_step(sgd_step, json.load(open("homework1-q2.json")))``.
    """
    __tracebackhide__ = True
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol={rtol!r} and atol={atol!r} must be numbers >= 0")
    step = parse_backprop_step(params)
    _, traces = backprop(step)
    weights = [layer.W.copy() for layer in step.layers]
    biases = [layer.b.copy() for layer in step.layers]
    x, y = (step.x.copy(), step.y.copy()) if step.batched else (step.x[0].copy(),
                                                                 step.y[0].copy())
    extra = {"activations": step.activations, "loss": step.loss} if with_architecture else {}
    new_weights, new_biases = _unpack(student_fn(x, y, weights, biases, step.lr, **extra),
                                      len(step.layers))
    problems = {}  # field -> message, in layer order
    for i, (layer, trace) in enumerate(zip(step.layers, traces, strict=True)):
        for name, before, grad, got, returned in (
                ("W", layer.W, trace.grad_W, new_weights[i], f"new_weights[{i}]"),
                ("b", layer.b, trace.grad_b, new_biases[i], f"new_biases[{i}]")):
            field = f"layers[{i}].{name}"
            problem = _compare(got, before - step.lr * grad, before, grad, step.lr, field,
                               returned, rtol, atol)
            if problem:
                problems[field] = problem
    if problems:
        first, *others = problems
        also = f"\n  also wrong: {', '.join(others)}" if others else ""
        raise AssertionError(f"SGD step: {problems[first]}{also}\n  ({_describe(step)})")


def assert_sgd_step_matches(
    student_fn: Callable,
    *,
    rtol: float = SGD_RTOL,
    atol: float = SGD_ATOL,
    with_architecture: bool = False,
    settings: Settings | None = None,
    **strategy_options,
) -> None:
    """Run :func:`check_sgd_step` as a Hypothesis property over
    :func:`verify.strategies.backprop_steps` (``**strategy_options`` go to it).

    Without ``with_architecture`` the function is not told the activations or the loss,
    so they must be fixed: the default is the homework's sigmoid network with bce loss
    and one sample (``activations=("sigmoid",), losses=("bce",), batched=False``); give
    one activation and one loss of your own (e.g. ``activations=("tanh",),
    losses=("mse",)``) to match another assignment. ``settings`` (a
    ``hypothesis.settings``) overrides the loaded profile.

    Example: ``assert_sgd_step_matches(student.sgd_step, max_depth=2)``.
    """
    __tracebackhide__ = True
    if not with_architecture:
        strategy_options = {"activations": ("sigmoid",), "losses": ("bce",),
                            "batched": False, **strategy_options}
        for name in ("activations", "losses"):
            value = strategy_options[name]
            if isinstance(value, str) or len(value) != 1:
                raise ValueError(f"{name}={value!r} must name exactly one when "
                                 "with_architecture=False: student_fn is not told which "
                                 "layer uses which")
    steps = strategies.backprop_steps(**strategy_options)

    def sgd_step_matches_reference(params):
        check_sgd_step(student_fn, params, rtol=rtol, atol=atol,
                       with_architecture=with_architecture)

    _run(sgd_step_matches_reference, steps, settings, "params")


# ---------------------------------------------------------------------------
# Output sizes

def _reference_size(kind: str, config: dict, keys: tuple[str, ...]) -> int:
    """The output size by verify.formulas.summarize on a one-layer stack (an n x 1 map),
    which also refuses what PyTorch refuses, in the reference's words."""
    if not isinstance(config, dict):
        raise ValueError(f"config={config!r} must be a dict with keys {', '.join(keys)}")
    unknown = set(config) - set(keys)
    if unknown or "n" not in config or "kernel" not in config:
        raise ValueError(f"config={config!r} must have keys n, kernel and optionally "
                         f"{', '.join(keys[2:])}")
    layer = {"type": kind, "kernel": [config["kernel"], 1],
             "stride": [config.get("stride", 1 if kind == "conv" else config["kernel"]), 1],
             "padding": [config.get("padding", 0), 0]}
    if kind == "conv":
        layer["filters"] = 1
    else:
        layer["ceil_mode"] = config.get("ceil_mode", False)
    layer["dilation"] = [config.get("dilation", 1), 1]
    try:
        out = summarize(parse_net_summary({"input": [config["n"], 1, 1], "layers": [layer]}))
    except SpecError as error:
        raise ValueError(f"config={config!r} is not a valid geometry: "
                         f"{error.field.removeprefix('layers[0].')}={error.value!r} "
                         f"{error.rule}") from None
    return out["output"][0]


def _is_size(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def _check_size(what: str, value, expected: int, config: dict, rule: str) -> None:
    __tracebackhide__ = True
    args = ", ".join(f"{k}={v!r}" for k, v in config.items())
    if not _is_size(value):
        raise AssertionError(f"{what} for {args}: student_fn must return a number; it "
                             f"returned {type(value).__name__} {_short(value)}")
    if value != expected:
        raise AssertionError(f"{what} for {args}: student {value!r}, reference {expected} "
                             f"= {rule}")


def check_conv_output_size(student_fn: Callable, config: dict) -> None:
    """Call ``student_fn(n, kernel, stride, padding, dilation)`` (one axis, as
    :func:`verify.strategies.conv_configs` draws) and compare with the PyTorch output
    size. A float equal to the right int (28.0) passes; 3.5 does not.

    Example: ``check_conv_output_size(out_size, {"n": 32, "kernel": 5, "stride": 1,
    "padding": 0, "dilation": 1})`` passes when ``out_size`` returns 28.
    """
    __tracebackhide__ = True
    keys = ("n", "kernel", "stride", "padding", "dilation")
    expected = _reference_size("conv", config, keys)
    full = {"n": config["n"], "kernel": config["kernel"], "stride": config.get("stride", 1),
            "padding": config.get("padding", 0), "dilation": config.get("dilation", 1)}
    _check_size("conv output size", student_fn(*full.values()), expected, full, _CONV_RULE)


def check_pool_output_size(student_fn: Callable, config: dict) -> None:
    """Call ``student_fn(n, kernel, stride, padding, dilation, ceil_mode)`` (one axis,
    as :func:`verify.strategies.pool_configs` draws; stride defaults to the kernel) and
    compare with PyTorch's pooling output size, which with ``ceil_mode`` drops a last
    window that would start in the right padding.

    Example: ``check_pool_output_size(pool_size, {"n": 5, "kernel": 3, "stride": 3,
    "padding": 1, "dilation": 1, "ceil_mode": True})`` passes when it returns 2.
    """
    __tracebackhide__ = True
    keys = ("n", "kernel", "stride", "padding", "dilation", "ceil_mode")
    expected = _reference_size("maxpool", config, keys)
    full = {"n": config["n"], "kernel": config["kernel"],
            "stride": config.get("stride", config["kernel"]),
            "padding": config.get("padding", 0), "dilation": config.get("dilation", 1),
            "ceil_mode": config.get("ceil_mode", False)}
    rule = _POOL_RULE
    if full["ceil_mode"]:
        span = full["n"] + 2 * full["padding"] - full["dilation"] * (full["kernel"] - 1) - 1
        if expected < -(-span // full["stride"]) + 1:
            rule += _DROPPED_RULE
    _check_size("pooling output size", student_fn(*full.values()), expected, full, rule)


# ---------------------------------------------------------------------------
# Receptive field

def _layer_text(layer: dict) -> str:
    if "kernel" not in layer:
        return layer["type"]
    stride = layer.get("stride", 1 if layer["type"] == "conv" else layer["kernel"])
    parts = [f"k={layer['kernel']}", f"s={stride}"]
    parts += [f"{key[0]}={layer[key]}" for key in ("padding", "dilation") if key in layer]
    return f"{layer['type']}({', '.join(parts)})"


def check_receptive_field(student_fn: Callable, stack) -> None:
    """Call ``student_fn(stack)`` on ``net-summary`` params of conv, pooling and
    activation layers (as :func:`verify.strategies.layer_stacks` draws) and compare with
    the receptive field of one unit of the last layer. The function returns an int when
    the field is square, or an ``(h, w)`` pair; padding does not change it.

    Example: ``check_receptive_field(rf, {"input": [24, 24, 5], "layers": [{"type":
    "conv", "filters": 3, "kernel": 3}, {"type": "conv", "filters": 3, "kernel": 3}]})``
    passes when ``rf`` returns 5 (or (5, 5)).
    """
    __tracebackhide__ = True
    spec = parse_net_summary(stack)
    rows = summarize(spec)["layers"]
    expected = rows[-1]["receptive_field"]
    if expected is None:
        raise ValueError(f"stack={_short(stack)} has no single receptive field: flatten, "
                         "dense and convtranspose layers end it")
    value = student_fn(stack)
    if _is_size(value):
        got = [value, value]
    elif isinstance(value, (Sequence, np.ndarray)) and len(value) == 2 \
            and all(_is_size(v) for v in value):
        got = [value[0], value[1]]
    else:
        raise AssertionError("receptive field: student_fn must return an int or an (h, w) "
                             f"pair; it returned {type(value).__name__} {_short(value)}")
    if got != expected:
        layers = ", ".join(_layer_text(layer) for layer in stack["layers"]) \
            if isinstance(stack, dict) else stack.layers
        progression = " -> ".join(str(row["receptive_field"]) for row in rows)
        raise AssertionError(
            f"receptive field of the last layer: student {value!r}, reference "
            f"{expected if expected[0] != expected[1] else expected[0]}\n"
            f"  layers: {layers}\n"
            f"  reference after each layer [h, w]: {progression}\n"
            f"  {_RF_RULE} (Araujo et al. 2019)")


# ---------------------------------------------------------------------------
# One-call properties

def _run(test: Callable, strategy, settings: Settings | None, argument: str) -> None:
    """Run ``test`` as a Hypothesis property of one argument drawn from ``strategy``,
    under the loaded profile unless ``settings`` is given."""
    __tracebackhide__ = True
    if settings is not None and not isinstance(settings, Settings):
        raise ValueError(f"settings={settings!r} must be a hypothesis.settings object")
    prop = given(**{argument: strategy})(test)
    if settings is not None:
        prop = settings(prop)
    prop()


def assert_conv_output_size_matches(student_fn: Callable, *, settings: Settings | None = None,
                                    **strategy_options) -> None:
    """:func:`check_conv_output_size` as a Hypothesis property over
    :func:`verify.strategies.conv_configs` (``**strategy_options`` go to it).

    Example: ``assert_conv_output_size_matches(student.conv_output_size, max_dilation=1)``.
    """
    __tracebackhide__ = True
    configs = strategies.conv_configs(**strategy_options)

    def conv_output_size_matches_reference(config):
        check_conv_output_size(student_fn, config)

    _run(conv_output_size_matches_reference, configs, settings, "config")


def assert_pool_output_size_matches(student_fn: Callable, *, settings: Settings | None = None,
                                    **strategy_options) -> None:
    """:func:`check_pool_output_size` as a Hypothesis property over
    :func:`verify.strategies.pool_configs` (``**strategy_options`` go to it).

    Example: ``assert_pool_output_size_matches(student.pool_output_size, ceil_mode=False)``.
    """
    __tracebackhide__ = True
    configs = strategies.pool_configs(**strategy_options)

    def pool_output_size_matches_reference(config):
        check_pool_output_size(student_fn, config)

    _run(pool_output_size_matches_reference, configs, settings, "config")


def assert_receptive_field_matches(student_fn: Callable, *, settings: Settings | None = None,
                                   **strategy_options) -> None:
    """:func:`check_receptive_field` as a Hypothesis property over
    :func:`verify.strategies.layer_stacks` (``**strategy_options`` go to it).

    Example: ``assert_receptive_field_matches(student.receptive_field, square=True)``.
    """
    __tracebackhide__ = True
    stacks = strategies.layer_stacks(**strategy_options)

    def receptive_field_matches_reference(stack):
        check_receptive_field(student_fn, stack)

    _run(receptive_field_matches_reference, stacks, settings, "stack")

