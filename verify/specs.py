"""Parse and validate the params of the three problem specs in DESIGN.md.

Every parser takes plain JSON-like data (dicts, lists, numbers) and returns frozen
dataclasses holding numpy float64 arrays or ints. Anything malformed raises
:class:`SpecError` naming the field, the value and the rule, before any math runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "LAYER_TYPES",
    "LOSSES",
    "BackpropStep",
    "Conv",
    "Dense",
    "DenseLayer",
    "Flatten",
    "NetSummary",
    "Pointwise",
    "Pool",
    "ReceptiveFieldTask",
    "SpecError",
    "parse_backprop_step",
    "parse_net_summary",
    "parse_receptive_field",
]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
LOSSES = ("bce", "mse", "softmax_ce")
LAYER_TYPES = (
    "conv", "convtranspose", "maxpool", "avgpool", "relu", "sigmoid", "tanh", "flatten", "dense",
)

# Targets of softmax_ce are a probability distribution; their sum may differ from 1 by
# the rounding of a few printed decimals, not more.
TARGET_SUM_TOLERANCE = 1e-9


class SpecError(ValueError):
    """Malformed params: ``field`` names where, ``value`` what, ``rule`` what must hold."""

    def __init__(self, field: str, value: Any, rule: str):
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"{field}={_show(value)} {rule}" if field else f"{_show(value)} {rule}")


def _show(value: Any) -> str:
    if isinstance(value, _Raw):
        return value.text
    text = repr(value) if isinstance(value, str) else _short(value)
    return text


def _short(value: Any) -> str:
    import json

    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Raw(str):
    """A value already formatted for the message (a shape, a description)."""

    @property
    def text(self) -> str:
        return str(self)


# ---------------------------------------------------------------------------
# Field readers: each returns the clean value or raises SpecError.

def _require_mapping(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise SpecError(where or "params", data, "must be a JSON object")
    return data


def _check_keys(data: dict, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(_join(where, key), data[key],
                            f"is not a known field (known: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in data:
            raise SpecError(_join(where, key), _Raw("missing"), "is required")


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int(value: Any, where: str, *, minimum: int | None = None) -> int:
    if not _is_int(value):
        raise SpecError(where, value, "must be an integer")
    if minimum is not None and value < minimum:
        rule = "must be a positive integer" if minimum == 1 else f"must be an integer >= {minimum}"
        raise SpecError(where, value, rule)
    return int(value)


def _pair(value: Any, where: str, *, minimum: int) -> tuple[int, int]:
    """An int or an [h, w] pair of ints, each >= minimum."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(where, value, "must be an integer or an [h, w] pair")
        return (_int(value[0], f"{where}[0]", minimum=minimum),
                _int(value[1], f"{where}[1]", minimum=minimum))
    v = _int(value, where, minimum=minimum)
    return (v, v)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SpecError(where, value, "must be true or false")
    return bool(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise SpecError(where, value, "must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise SpecError(where, _Raw(str(v)), "must be a finite number")
    return v


def _choice(value: Any, where: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise SpecError(where, value, f"must be one of {', '.join(options)}")
    return value


def _matrix(value: Any, where: str, ndim: int) -> np.ndarray:
    """A finite float64 array of exactly ``ndim`` dimensions from nested lists."""
    def fail(rule: str, shown: Any = value) -> SpecError:
        return SpecError(where, shown, rule)

    if ndim == 1:
        if not isinstance(value, (list, tuple)) or not value:
            raise fail("must be a non-empty list of numbers")
        for i, v in enumerate(value):
            _number(v, f"{where}[{i}]")
        return np.array(value, dtype=np.float64)
    if not isinstance(value, (list, tuple)) or not value:
        raise fail("must be a non-empty list of rows")
    rows = [_matrix(row, f"{where}[{i}]", 1) for i, row in enumerate(value)]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise SpecError(f"{where}[{i}]", _Raw(f"a row of length {len(row)}"),
                            f"must have length {width} like row 0 (rows must be equal)")
    return np.array(rows, dtype=np.float64)


# ---------------------------------------------------------------------------
# backprop-step

@dataclass(frozen=True, eq=False)
class DenseLayer:
    """``z = a_prev @ W + b``, ``a = activation(z)``; W has shape (n_in, n_out)."""

    W: np.ndarray
    b: np.ndarray
    activation: str


@dataclass(frozen=True, eq=False)
class BackpropStep:
    """One SGD step on a dense network. ``x``/``y`` are always 2-D (batch, features);
    ``batched`` records whether the params gave a batch, so answers keep the shape."""

    x: np.ndarray
    y: np.ndarray
    lr: float
    loss: str
    layers: tuple[DenseLayer, ...]
    batched: bool

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].W.shape[0], *(layer.W.shape[1] for layer in self.layers))

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers)

    @property
    def n_params(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.layers)


def _samples(value: Any, where: str) -> tuple[np.ndarray, bool]:
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return _matrix(value, where, 2), True
    return _matrix(value, where, 1)[None, :], False


def parse_backprop_step(params: Any) -> BackpropStep:
    """Validate ``backprop-step`` params (DESIGN.md) into a :class:`BackpropStep`."""
    if isinstance(params, BackpropStep):
        return params
    data = _require_mapping(params, "params")
    _check_keys(data, {"x", "y", "lr", "loss", "layers"}, "", required=("x", "y", "lr", "layers"))
    x, x_batched = _samples(data["x"], "x")
    y, y_batched = _samples(data["y"], "y")
    if x_batched != y_batched or x.shape[0] != y.shape[0]:
        raise SpecError("y", _Raw(f"{y.shape[0]} sample(s)"),
                        f"must give one target per sample of x ({x.shape[0]} sample(s))")
    lr = _number(data["lr"], "lr")
    if lr <= 0:
        raise SpecError("lr", lr, "must be > 0")
    loss = _choice(data.get("loss", "bce"), "loss", LOSSES)

    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("layers", raw_layers, "must be a non-empty list of layers")
    layers = []
    n_in = x.shape[1]
    for i, raw in enumerate(raw_layers):
        where = f"layers[{i}]"
        raw = _require_mapping(raw, where)
        _check_keys(raw, {"W", "b", "activation"}, where, required=("W", "b"))
        W = _matrix(raw["W"], f"{where}.W", 2)
        b = _matrix(raw["b"], f"{where}.b", 1)
        if W.shape[0] != n_in:
            feeds = "x" if i == 0 else f"layers[{i - 1}]"
            raise SpecError(f"{where}.W", _Raw(f"of shape {W.shape}"),
                            f"must have {n_in} rows, one per output of {feeds} "
                            "(W has shape (n_in, n_out))")
        if b.shape[0] != W.shape[1]:
            raise SpecError(f"{where}.b", _Raw(f"of length {b.shape[0]}"),
                            f"must have {W.shape[1]} entries, one per column of {where}.W")
        activation = _choice(raw.get("activation", "sigmoid"), f"{where}.activation", ACTIVATIONS)
        layers.append(DenseLayer(W, b, activation))
        n_in = W.shape[1]

    if y.shape[1] != n_in:
        raise SpecError("y", _Raw(f"of width {y.shape[1]}"),
                        f"must have {n_in} entries per sample, one per network output")
    last = f"layers[{len(layers) - 1}].activation"
    if loss == "bce":
        if layers[-1].activation != "sigmoid":
            raise SpecError(last, layers[-1].activation, "must be 'sigmoid' for loss 'bce'")
        if np.any((y < 0) | (y > 1)):
            raise SpecError("y", y.tolist() if y_batched else y[0].tolist(),
                            "must lie in [0, 1] for loss 'bce'")
    elif loss == "softmax_ce":
        if layers[-1].activation != "linear":
            raise SpecError(last, layers[-1].activation,
                            "must be 'linear' for loss 'softmax_ce' (its outputs are the logits)")
        if np.any(y < 0) or np.any(np.abs(y.sum(axis=1) - 1) > TARGET_SUM_TOLERANCE):
            raise SpecError("y", y.tolist() if y_batched else y[0].tolist(),
                            "must be a probability distribution (>= 0, summing to 1) "
                            "for loss 'softmax_ce'")
    return BackpropStep(x, y, lr, loss, tuple(layers), x_batched)


# ---------------------------------------------------------------------------
# net-summary: a layer stack

@dataclass(frozen=True)
class Conv:
    """conv (or convtranspose when ``transposed``); weights are (kh, kw, c_in, filters)."""

    filters: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    bias: bool = True
    transposed: bool = False
    output_padding: tuple[int, int] = (0, 0)

    @property
    def type(self) -> str:
        return "convtranspose" if self.transposed else "conv"


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True

    @property
    def type(self) -> str:
        return f"{self.kind}pool"


@dataclass(frozen=True)
class Pointwise:
    """An element-wise activation: relu, sigmoid or tanh."""

    type: str


@dataclass(frozen=True)
class Flatten:
    type: str = "flatten"


@dataclass(frozen=True)
class Dense:
    units: int
    bias: bool = True
    type: str = "dense"


Layer = Conv | Pool | Pointwise | Flatten | Dense


@dataclass(frozen=True)
class NetSummary:
    input: tuple[int, ...]  # [H, W, C] (or [n] for a dense-only stack)
    layers: tuple[Layer, ...]
    dtype_bytes: int = 4


_LAYER_FIELDS = {
    "conv": {"type", "filters", "kernel", "stride", "padding", "dilation", "bias"},
    "convtranspose": {"type", "filters", "kernel", "stride", "padding", "dilation", "bias",
                      "output_padding"},
    "maxpool": {"type", "kernel", "stride", "padding", "dilation", "ceil_mode"},
    "avgpool": {"type", "kernel", "stride", "padding", "ceil_mode", "count_include_pad"},
    "relu": {"type"}, "sigmoid": {"type"}, "tanh": {"type"}, "flatten": {"type"},
    "dense": {"type", "units", "bias"},
}


def parse_layer(raw: Any, where: str) -> Layer:
    """One layer of a stack; geometry against the input is checked by the formulas."""
    raw = _require_mapping(raw, where)
    if "type" not in raw:
        raise SpecError(f"{where}.type", _Raw("missing"),
                        f"is required (one of {', '.join(LAYER_TYPES)})")
    kind = _choice(raw["type"], f"{where}.type", LAYER_TYPES)
    required = {"conv": ("filters", "kernel"), "convtranspose": ("filters", "kernel"),
                "maxpool": ("kernel",), "avgpool": ("kernel",), "dense": ("units",)}
    _check_keys(raw, _LAYER_FIELDS[kind], where, required=required.get(kind, ()))

    def get(name: str, default: Any) -> Any:
        return raw.get(name, default)

    if kind in ("conv", "convtranspose"):
        stride = _pair(get("stride", 1), f"{where}.stride", minimum=1)
        dilation = _pair(get("dilation", 1), f"{where}.dilation", minimum=1)
        output_padding = (0, 0)
        if kind == "convtranspose":
            output_padding = _pair(get("output_padding", 0), f"{where}.output_padding", minimum=0)
            for axis in range(2):
                # PyTorch: output padding must be smaller than either stride or dilation.
                if output_padding[axis] >= max(stride[axis], dilation[axis]):
                    raise SpecError(f"{where}.output_padding", list(output_padding),
                                    "must be smaller than the stride or the dilation")
        return Conv(
            filters=_int(raw["filters"], f"{where}.filters", minimum=1),
            kernel=_pair(raw["kernel"], f"{where}.kernel", minimum=1),
            stride=stride,
            padding=_pair(get("padding", 0), f"{where}.padding", minimum=0),
            dilation=dilation,
            bias=_bool(get("bias", True), f"{where}.bias"),
            transposed=kind == "convtranspose",
            output_padding=output_padding,
        )
    if kind in ("maxpool", "avgpool"):
        kernel = _pair(raw["kernel"], f"{where}.kernel", minimum=1)
        padding = _pair(get("padding", 0), f"{where}.padding", minimum=0)
        for axis in range(2):
            # PyTorch refuses pooling padding above half the kernel: a window could then
            # lie wholly in the padding.
            if 2 * padding[axis] > kernel[axis]:
                raise SpecError(f"{where}.padding", get("padding", 0),
                                f"must be at most half the kernel ({list(kernel)})")
        return Pool(
            kind=kind[:3],
            kernel=kernel,
            stride=_pair(get("stride", list(kernel)), f"{where}.stride", minimum=1),
            padding=padding,
            dilation=_pair(get("dilation", 1), f"{where}.dilation", minimum=1),
            ceil_mode=_bool(get("ceil_mode", False), f"{where}.ceil_mode"),
            count_include_pad=_bool(get("count_include_pad", True), f"{where}.count_include_pad"),
        )
    if kind == "flatten":
        return Flatten()
    if kind == "dense":
        return Dense(units=_int(raw["units"], f"{where}.units", minimum=1),
                     bias=_bool(get("bias", True), f"{where}.bias"))
    return Pointwise(kind)


def _dtype_bytes(value: Any) -> int:
    return _int(value, "dtype_bytes", minimum=1)


def parse_net_summary(params: Any) -> NetSummary:
    """Validate ``net-summary`` params (DESIGN.md) into a :class:`NetSummary`.

    Shapes through the stack (a kernel larger than the padded input, a dense layer on
    an unflattened map) are checked when the stack is walked: see
    :func:`verify.formulas.summarize`, which every solver calls.
    """
    if isinstance(params, NetSummary):
        return params
    data = _require_mapping(params, "params")
    _check_keys(data, {"input", "layers", "dtype_bytes"}, "", required=("input", "layers"))
    shape = data["input"]
    if not isinstance(shape, list) or len(shape) not in (1, 3):
        raise SpecError("input", shape, "must be [H, W, C] (channels-last) or [n]")
    input_shape = tuple(_int(v, f"input[{i}]", minimum=1) for i, v in enumerate(shape))
    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("layers", raw_layers, "must be a non-empty list of layers")
    layers = tuple(parse_layer(raw, f"layers[{i}]") for i, raw in enumerate(raw_layers))
    return NetSummary(input_shape, layers, _dtype_bytes(data.get("dtype_bytes", 4)))


# ---------------------------------------------------------------------------
# receptive-field: question 3's task

@dataclass(frozen=True)
class ReceptiveFieldTask:
    target: int
    input: tuple[int, int]
    in_channels: int
    out_channels: int
    mid_channels: int
    dtype_bytes: int = 4
    bias: bool = False


def parse_receptive_field(params: Any) -> ReceptiveFieldTask:
    """Validate ``receptive-field`` params (DESIGN.md)."""
    if isinstance(params, ReceptiveFieldTask):
        return params
    data = _require_mapping(params, "params")
    _check_keys(
        data,
        {"target", "input", "in_channels", "out_channels", "mid_channels", "dtype_bytes", "bias"},
        "", required=("target", "input", "in_channels", "out_channels"),
    )
    target = _int(data["target"], "target", minimum=2)
    shape = data["input"]
    if not isinstance(shape, list) or len(shape) != 2:
        raise SpecError("input", shape, "must be [H, W]")
    hw = tuple(_int(v, f"input[{i}]", minimum=1) for i, v in enumerate(shape))
    for i, n in enumerate(hw):
        if n < target:
            raise SpecError(f"input[{i}]", n,
                            f"must be at least the target receptive field ({target}) "
                            "so that one output unit sees a whole field")
    out_channels = _int(data["out_channels"], "out_channels", minimum=1)
    return ReceptiveFieldTask(
        target=target,
        input=hw,
        in_channels=_int(data["in_channels"], "in_channels", minimum=1),
        out_channels=out_channels,
        mid_channels=_int(data.get("mid_channels", out_channels), "mid_channels", minimum=1),
        dtype_bytes=_dtype_bytes(data.get("dtype_bytes", 4)),
        bias=_bool(data.get("bias", False), "bias"),
    )
