"""Public Hypothesis strategies for the specs in DESIGN.md.

Use them in any project's tests::

    from hypothesis import given
    from verify.strategies import backprop_steps, conv_configs

    @given(backprop_steps(max_depth=2))
    def test_my_sgd_step_matches_reference(params): ...

    @given(conv_configs(max_dilation=1))
    def test_my_conv_output_size(config): ...

Every strategy draws plain JSON-like values with valid geometry: ``backprop_steps`` and
``layer_stacks`` draw params that ``verify.specs`` accepts; ``conv_configs`` and
``pool_configs`` draw one axis of a layer whose PyTorch output size is at least 1.
:mod:`verify.checks` turns each into a one-line test of someone else's function.
"""

from __future__ import annotations

from hypothesis import strategies as st

from verify.formulas import dilated_kernel, pool_output_size, summarize
from verify.specs import ACTIVATIONS, LOSSES, SpecError, parse_net_summary

__all__ = ["backprop_steps", "conv_configs", "layer_stacks", "pool_configs"]

# Layer types whose stacks keep one receptive field (DESIGN.md: flatten, dense and
# transposed convs end it).
STACK_KINDS = ("conv", "maxpool", "avgpool", "relu", "sigmoid", "tanh")
_POINTWISE = ("relu", "sigmoid", "tanh")


# ---------------------------------------------------------------------------
# Argument checks: name the argument, its value and the rule.

def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")


def _check_range(name_lo: str, lo: int, name_hi: str, hi: int, minimum: int = 1) -> None:
    _check_int(name_lo, lo, minimum)
    _check_int(name_hi, hi, minimum)
    if lo > hi:
        raise ValueError(f"{name_lo}={lo} is larger than {name_hi}={hi}")


def _check_choices(name: str, values, allowed: tuple[str, ...], why: str = "") -> tuple:
    values = tuple(values) if not isinstance(values, str) else (values,)
    if not values:
        raise ValueError(f"{name}={values!r} must not be empty")
    for value in values:
        if value not in allowed:
            raise ValueError(f"{name} contains {value!r}, not one of {allowed}{why}")
    return values


def _check_flag(name: str, value) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True, False or None (draw both)")


# ---------------------------------------------------------------------------
# backprop-step

@st.composite
def _backprop_step(draw, min_depth, max_depth, min_width, max_width, activations, losses,
                   max_batch, weight_bound, batched):
    loss = draw(st.sampled_from(losses))
    depth = draw(st.integers(min_depth, max_depth))
    sizes = [draw(st.integers(min_width, max_width)) for _ in range(depth + 1)]
    if loss == "softmax_ce":
        sizes[-1] = max(sizes[-1], 2)  # a distribution over one class is trivial
    hidden = [draw(st.sampled_from(activations)) for _ in range(depth - 1)]
    last = {"bce": "sigmoid", "softmax_ce": "linear"}.get(loss)
    if last is None:
        last = draw(st.sampled_from(activations))
    acts = [*hidden, last]
    value = st.floats(-weight_bound, weight_bound, allow_nan=False, allow_infinity=False)

    def matrix(rows, cols):
        return draw(st.lists(st.lists(value, min_size=cols, max_size=cols),
                             min_size=rows, max_size=rows))

    layers = [{"W": matrix(n_in, n_out), "b": matrix(1, n_out)[0], "activation": act}
              for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True)]
    is_batch = draw(st.booleans()) if batched is None else batched
    batch = draw(st.integers(1, max_batch)) if is_batch else 1
    xs = matrix(batch, sizes[0])
    if loss == "bce":
        ys = draw(st.lists(st.lists(st.floats(0, 1), min_size=sizes[-1], max_size=sizes[-1]),
                           min_size=batch, max_size=batch))
    elif loss == "softmax_ce":
        ys = [[1.0 if j == k else 0.0 for j in range(sizes[-1])]
              for k in draw(st.lists(st.integers(0, sizes[-1] - 1), min_size=batch,
                                     max_size=batch))]
    else:
        ys = matrix(batch, sizes[-1])
    lr = draw(st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.5]))
    return {"x": xs if is_batch else xs[0], "y": ys if is_batch else ys[0], "lr": lr,
            "loss": loss, "layers": layers}


def backprop_steps(
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    min_width: int = 1,
    max_width: int = 5,
    activations: tuple[str, ...] = ACTIVATIONS,
    losses: tuple[str, ...] = LOSSES,
    max_batch: int = 4,
    weight_bound: float = 3.0,
    batched: bool | None = None,
) -> st.SearchStrategy[dict]:
    """``backprop-step`` params: dense networks of ``min_depth..max_depth`` layers and
    ``min_width..max_width`` neurons per layer, weights, biases and inputs in
    [-weight_bound, weight_bound], one sample or (``batched``) a batch of up to
    ``max_batch``. bce gets a sigmoid output and targets in [0, 1]; softmax_ce a linear
    output and one-hot targets; mse any output activation.

    Example: ``backprop_steps(activations=("sigmoid",), losses=("bce",), batched=False)``
    draws networks like the homework's question 2, e.g. ``{"x": [0.1, 0.7], "y": [0.0,
    1.0], "lr": 0.01, "loss": "bce", "layers": [{"W": [[...]], "b": [...], "activation":
    "sigmoid"}, ...]}``.
    """
    _check_range("min_depth", min_depth, "max_depth", max_depth)
    _check_range("min_width", min_width, "max_width", max_width)
    _check_int("max_batch", max_batch, 1)
    activations = _check_choices("activations", activations, ACTIVATIONS)
    losses = _check_choices("losses", losses, LOSSES)
    if isinstance(weight_bound, bool) or not isinstance(weight_bound, (int, float)) \
            or not 0 < weight_bound < float("inf"):
        raise ValueError(f"weight_bound={weight_bound!r} must be a finite number > 0")
    _check_flag("batched", batched)
    return _backprop_step(min_depth, max_depth, min_width, max_width, activations, losses,
                          max_batch, float(weight_bound), batched)


# ---------------------------------------------------------------------------
# One axis of a conv or pooling layer

def _axis_fits(kind: str, n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> bool:
    """Whether the reference accepts this geometry along one axis of an n-long input.

    Asks verify.formulas.summarize itself (a one-layer stack on an n x 1 map) rather
    than restating its rules: the dilated kernel must fit the padded input, pooling
    padding is at most half the kernel, and no pooling window may read only padding.
    """
    layer = {"type": kind, "kernel": [k, 1], "stride": [s, 1], "padding": [p, 0]}
    if kind == "conv":
        layer.update(filters=1, dilation=[d, 1])
    else:
        layer["ceil_mode"] = ceil_mode
        if kind == "maxpool":
            layer["dilation"] = [d, 1]
    try:
        summarize(parse_net_summary({"input": [n, 1, 1], "layers": [layer]}))
    except SpecError:
        return False
    return True


def _drops_last_window(n: int, k: int, s: int, p: int, d: int) -> bool:
    """Whether ceil_mode's extra last window starts in the right padding, the window
    PyTorch drops: the rare case worth steering towards."""
    span = n + 2 * p - dilated_kernel(k, d)
    return pool_output_size(n, k, s, p, d, ceil_mode=True) < -(-span // s) + 1


@st.composite
def _conv_axis(draw, n: int, max_kernel: int, max_stride: int, max_padding: int,
               max_dilation: int) -> dict:
    """kernel, stride, padding, dilation for an n-long input; every draw fits, and each
    shrinks towards 1 (0 for padding)."""
    p = draw(st.integers(0, max_padding))
    d = draw(st.integers(1, max_dilation))
    # The dilated kernel d(k - 1) + 1 must fit in n + 2p: k = 1 always does.
    k = draw(st.integers(1, max(1, min(max_kernel, (n + 2 * p - 1) // d + 1))))
    s = draw(st.integers(1, max_stride))
    return {"kernel": k, "stride": s, "padding": p, "dilation": d}


@st.composite
def _pool_axis(draw, kind: str, n: int, max_kernel: int, max_stride: int,
               max_dilation: int, ceil_mode: bool) -> dict:
    d = draw(st.integers(1, max_dilation)) if kind == "maxpool" else 1
    # Without padding every window starts inside the input, so a kernel whose dilated
    # extent fits n always has at least padding 0.
    k = draw(st.integers(1, max(1, min(max_kernel, (n - 1) // d + 1))))
    s = draw(st.integers(1, max_stride))
    paddings = [p for p in range(k // 2 + 1) if _axis_fits(kind, n, k, s, p, d, ceil_mode)]
    p = draw(st.sampled_from(paddings))
    return {"kernel": k, "stride": s, "padding": p, "dilation": d}


def conv_configs(
    *,
    min_size: int = 1,
    max_size: int = 32,
    max_kernel: int = 7,
    max_stride: int = 4,
    max_padding: int = 3,
    max_dilation: int = 2,
) -> st.SearchStrategy[dict]:
    """One axis of a convolution: ``{"n", "kernel", "stride", "padding", "dilation"}``
    (plain ints), with ``n`` in ``min_size..max_size`` and a dilated kernel
    ``dilation*(kernel-1)+1`` that fits the padded input ``n + 2*padding``, so that the
    PyTorch output size ``floor((n + 2p - d(k-1) - 1)/s) + 1`` is at least 1.

    ``max_dilation=1`` leaves dilation out (always 1) for a course that does not teach it.

    Example::

        @given(conv_configs(max_size=8))
        def test_size(config):  # e.g. {"n": 7, "kernel": 3, "stride": 2, "padding": 1,
            ...                  #       "dilation": 1}, whose output size is 4
    """
    _check_range("min_size", min_size, "max_size", max_size)
    _check_int("max_kernel", max_kernel, 1)
    _check_int("max_stride", max_stride, 1)
    _check_int("max_padding", max_padding, 0)
    _check_int("max_dilation", max_dilation, 1)

    @st.composite
    def draw_config(draw):
        n = draw(st.integers(min_size, max_size))
        return {"n": n, **draw(_conv_axis(n, max_kernel, max_stride, max_padding,
                                          max_dilation))}

    return draw_config()


def pool_configs(
    *,
    min_size: int = 1,
    max_size: int = 32,
    max_kernel: int = 5,
    max_stride: int = 4,
    max_dilation: int = 1,
    ceil_mode: bool | None = None,
) -> st.SearchStrategy[dict]:
    """One axis of a max or average pooling layer: ``{"n", "kernel", "stride", "padding",
    "dilation", "ceil_mode"}``, with padding at most half the kernel (PyTorch's rule), a
    dilated kernel that fits the padded input, and no window that reads only padding.

    ``ceil_mode`` None draws both; half the ``ceil_mode`` draws that can are steered to
    the rare case where the last window would start in the right padding and PyTorch
    drops it. Dilation (``max_dilation > 1``) is max pooling's only; leave it at 1 to
    describe average pooling too.

    Example::

        @given(pool_configs(ceil_mode=True))
        def test_size(config):  # e.g. {"n": 5, "kernel": 3, "stride": 3, "padding": 1,
            ...                  #       "dilation": 1, "ceil_mode": True}: 2 windows, not 3
    """
    _check_range("min_size", min_size, "max_size", max_size)
    _check_int("max_kernel", max_kernel, 1)
    _check_int("max_stride", max_stride, 1)
    _check_int("max_dilation", max_dilation, 1)
    _check_flag("ceil_mode", ceil_mode)

    @st.composite
    def draw_config(draw):
        ceil = draw(st.booleans()) if ceil_mode is None else ceil_mode
        d = draw(st.integers(1, max_dilation))
        k = draw(st.integers(1, max(1, min(max_kernel, (max_size - 1) // d + 1))))
        s = draw(st.integers(1, max_stride))
        p = draw(st.integers(0, k // 2))
        # Validity only grows with n (more room, more taps in the input), and holds at
        # max_size: padding <= k // 2 <= d(k - 1) puts a tap of the first window inside.
        smallest = next(n for n in range(min_size, max_size + 1)
                        if _axis_fits("maxpool", n, k, s, p, d, ceil))
        sizes = range(smallest, max_size + 1)
        dropping = [n for n in sizes if _drops_last_window(n, k, s, p, d)] if ceil else []
        if dropping and draw(st.booleans()):
            n = draw(st.sampled_from(dropping))
        else:
            n = draw(st.sampled_from(sizes))
        return {"n": n, "kernel": k, "stride": s, "padding": p, "dilation": d,
                "ceil_mode": ceil}

    return draw_config()


# ---------------------------------------------------------------------------
# Layer stacks

def _output_hw(spec: dict) -> tuple[int, int]:
    if not spec["layers"]:
        return spec["input"][0], spec["input"][1]
    out = summarize(parse_net_summary(spec))["output"]
    return out[0], out[1]


@st.composite
def _layer(draw, kind: str, hw: tuple[int, int], *, square: bool, max_channels: int,
           max_kernel: int, max_stride: int, max_padding: int, max_dilation: int) -> dict:
    if kind in _POINTWISE:
        return {"type": kind}
    ceil_mode = draw(st.booleans()) if kind != "conv" else False
    axes = []
    for n in hw[:1] if square else hw:
        if kind == "conv":
            axes.append(draw(_conv_axis(n, max_kernel, max_stride, max_padding, max_dilation)))
        else:
            axes.append(draw(_pool_axis(kind, n, max_kernel, max_stride, max_dilation,
                                        ceil_mode)))

    def field(name: str):
        return axes[0][name] if square else [axis[name] for axis in axes]

    layer = {"type": kind, "kernel": field("kernel"), "stride": field("stride"),
             "padding": field("padding")}
    if kind == "conv":
        layer = {"type": kind, "filters": draw(st.integers(1, max_channels)), **layer,
                 "dilation": field("dilation"), "bias": draw(st.booleans())}
    elif kind == "maxpool":
        layer.update(dilation=field("dilation"), ceil_mode=ceil_mode)
    else:
        layer.update(ceil_mode=ceil_mode, count_include_pad=draw(st.booleans()))
    return layer


def layer_stacks(
    *,
    min_layers: int = 1,
    max_layers: int = 4,
    kinds: tuple[str, ...] = ("conv", "maxpool", "avgpool", "relu"),
    min_size: int = 1,
    max_size: int = 32,
    max_channels: int = 3,
    max_kernel: int = 5,
    max_stride: int = 3,
    max_padding: int = 2,
    max_dilation: int = 2,
    square: bool = False,
) -> st.SearchStrategy[dict]:
    """``net-summary`` params of ``min_layers..max_layers`` conv, pooling and activation
    layers (``kinds``, a subset of conv, maxpool, avgpool, relu, sigmoid, tanh) on an
    [H, W, C] input with H and W in ``min_size..max_size``: every layer fits what the
    one before it leaves (the closed forms of verify.formulas accept the whole stack),
    so the stack has an output shape and one receptive field.

    Geometry is drawn per axis as ``[h, w]`` pairs; ``square=True`` draws square inputs
    and plain int kernel/stride/padding/dilation instead, for code that handles ints.

    Example: ``layer_stacks(max_layers=2, square=True)`` draws e.g. ``{"input": [28, 28,
    1], "layers": [{"type": "conv", "filters": 2, "kernel": 3, "stride": 1, "padding": 1,
    "dilation": 1, "bias": True}, {"type": "maxpool", "kernel": 2, "stride": 2,
    "padding": 0, "dilation": 1, "ceil_mode": False}]}``, receptive field 4.
    """
    _check_range("min_layers", min_layers, "max_layers", max_layers)
    kinds = _check_choices("kinds", kinds, STACK_KINDS,
                           " (a stack with one receptive field: no flatten, dense or "
                           "convtranspose)")
    _check_range("min_size", min_size, "max_size", max_size)
    _check_int("max_channels", max_channels, 1)
    _check_int("max_kernel", max_kernel, 1)
    _check_int("max_stride", max_stride, 1)
    _check_int("max_padding", max_padding, 0)
    _check_int("max_dilation", max_dilation, 1)
    if not isinstance(square, bool):
        raise ValueError(f"square={square!r} must be True or False")
    geometry = {"square": square, "max_channels": max_channels, "max_kernel": max_kernel,
                "max_stride": max_stride, "max_padding": max_padding,
                "max_dilation": max_dilation}

    @st.composite
    def draw_stack(draw):
        h = draw(st.integers(min_size, max_size))
        w = h if square else draw(st.integers(min_size, max_size))
        spec = {"input": [h, w, draw(st.integers(1, max_channels))], "layers": []}
        for _ in range(draw(st.integers(min_layers, max_layers))):
            kind = draw(st.sampled_from(kinds))
            spec["layers"].append(draw(_layer(kind, _output_hw(spec), **geometry)))
        return spec

    return draw_stack()
