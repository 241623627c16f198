"""numpy reference for convolution, pooling and layer stacks: real outputs, float64.

Conventions (DESIGN.md): feature maps are channels-last, [H, W, C] or a batch
[N, H, W, C]; conv weights are (kh, kw, C_in, C_out); dense weights (n_in, n_out);
kernel/stride/padding/dilation/output_padding take an int or an (h, w) pair, and
padding is symmetric per axis.

Nothing here uses verify.formulas. Output sizes come out of the computation itself
(the window placements ``sliding_window_view`` yields, the extent a scatter covers,
an explicit enumeration of pooling windows), multiplications are tallied from the
operands actually multiplied, and the receptive field is the support of a real
gradient. The tests compare each against the closed forms, so the two are
independent witnesses of one another.

Semantics follow the PyTorch docs (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d);
the transposed convolution as the adjoint of convolution follows Dumoulin & Visin,
"A guide to convolution arithmetic for deep learning", 2016; the receptive field as
the region one output unit depends on follows Araujo, Norris & Sim, "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from verify.numeric.dense import sigmoid as _stable_sigmoid
from verify.specs import Conv, Dense, Flatten, NetSummary, Pointwise, Pool, SpecError

__all__ = [
    "FieldSupport",
    "MacCounter",
    "avg_pool2d",
    "conv2d",
    "conv2d_input_grad",
    "conv_transpose2d",
    "dense",
    "flatten",
    "init_params",
    "max_pool2d",
    "pool2d_window_grad",
    "receptive_field_support",
    "relu",
    "run_stack",
    "sigmoid",
    "tanh",
]

# The receptive-field measurement doubles its input until one unit's field is clear of
# the borders; a field this wide is far beyond any stack a question uses.
_MAX_FIELD_INPUT = 1 << 16


@dataclass
class MacCounter:
    """Running count of the multiplications the ops perform; pass it as ``counter=``.

    Each op adds what its matrix products actually multiply, read from the operands'
    shapes at run time, so DESIGN.md's MAC counts become a claim this tally checks.
    """

    count: int = 0

    def add(self, multiplications: int) -> None:
        self.count += int(multiplications)


class _GeometryError(ValueError):
    """A window that does not fit its input; the receptive-field search grows the input."""


# ---------------------------------------------------------------------------
# Argument helpers


def _pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_int, value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name}={value!r} must be an int or an (h, w) pair of ints")
    if min(pair) < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}")
    return pair


def _as_batch(x, name: str) -> tuple[np.ndarray, bool]:
    """(N, H, W, C) float64 and whether the caller gave a batch."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        return x[None], False
    if x.ndim == 4:
        return x, True
    raise ValueError(f"{name} of shape {x.shape} must be [H, W, C] or [N, H, W, C] "
                     "(channels-last)")


def _kernel(w, name: str, c_in: int | None = None) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"{name} of shape {w.shape} must be (kh, kw, C_in, C_out)")
    if c_in is not None and w.shape[2] != c_in:
        raise ValueError(f"{name} of shape {w.shape} must have C_in={c_in} "
                         "(the channels of its input) on axis 2")
    return w


def _bias(b, c_out: int, name: str = "b") -> np.ndarray | None:
    if b is None:
        return None
    b = np.asarray(b, dtype=np.float64)
    if b.shape != (c_out,):
        raise ValueError(f"{name} of shape {b.shape} must have shape ({c_out},)")
    return b


def _extent(k: int, d: int) -> int:
    """Span of a dilated kernel: its first and last taps are d(k - 1) apart."""
    return d * (k - 1) + 1


def _product(a: np.ndarray, b: np.ndarray, axes, counter: MacCounter | None) -> np.ndarray:
    """``np.tensordot`` that tallies its multiplications: every output element is a sum
    of one product per element of the contracted axes."""
    out = np.tensordot(a, b, axes=axes)
    if counter is not None:
        counter.add(out.size * math.prod(b.shape[axis] for axis in axes[1]))
    return out


def _scatter_taps(src: np.ndarray, taps: np.ndarray, buffer_hw: tuple[int, int],
                  stride: tuple[int, int], dilation: tuple[int, int],
                  counter: MacCounter | None) -> np.ndarray:
    """Send src[n, i, j] @ taps[u, v] to buffer[n, i*s + u*d, j*s + v*d] for every tap.

    This is the adjoint of a convolution: a forward conv gathers from exactly these
    positions (Dumoulin & Visin 2016, section 4). One strided slice-add per tap, no
    loop over pixels.
    """
    n, h, w, _ = src.shape
    kh, kw, _, c_dst = taps.shape
    (sh, sw), (dh, dw) = stride, dilation
    buffer = np.zeros((n, *buffer_hw, c_dst))
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dh, u * dh + sh * (h - 1) + 1, sh)
            cols = slice(v * dw, v * dw + sw * (w - 1) + 1, sw)
            buffer[:, rows, cols] += _product(src, taps[u, v], ([3], [0]), counter)
    return buffer


# ---------------------------------------------------------------------------
# Convolution and its adjoint


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1,
           counter: MacCounter | None = None) -> np.ndarray:
    """PyTorch Conv2d (a cross-correlation) in channels-last: x (H, W, C_in) or
    (N, H, W, C_in), w (kh, kw, C_in, C_out), b (C_out,) or None.

    im2col: every placement of the dilated kernel over the zero-padded input is a
    window of ``sliding_window_view``; striding the placements and the taps and one
    tensordot give the output. Products with padding zeros are counted, as DESIGN.md's
    MACs count them: H_out*W_out*C_out*kh*kw*C_in per image.
    """
    xb, batched = _as_batch(x, "x")
    w = _kernel(w, "w", xb.shape[3])
    kh, kw, _, c_out = w.shape
    b = _bias(b, c_out)
    (sh, sw), (ph, pw), (dh, dw) = (_pair(stride, "stride", minimum=1),
                                    _pair(padding, "padding", minimum=0),
                                    _pair(dilation, "dilation", minimum=1))
    eh, ew = _extent(kh, dh), _extent(kw, dw)
    h, wd = xb.shape[1:3]
    if eh > h + 2 * ph or ew > wd + 2 * pw:
        raise _GeometryError(f"kernel ({kh}, {kw}) dilated to ({eh}, {ew}) must fit in the "
                             f"padded input ({h + 2 * ph}, {wd + 2 * pw})")
    xp = np.pad(xb, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    # windows[n, i, j, c, u, v] = xp[n, i + u, j + v, c]: one window per placement
    windows = sliding_window_view(xp, (eh, ew), axis=(1, 2))
    patches = windows[:, ::sh, ::sw, :, ::dh, ::dw]  # (N, H_out, W_out, C_in, kh, kw)
    y = _product(patches, w, ([3, 4, 5], [2, 0, 1]), counter)
    if b is not None:
        y = y + b
    return y if batched else y[0]


def conv2d_input_grad(dy, w, input_hw, *, stride=1, padding=0, dilation=1,
                      counter: MacCounter | None = None) -> np.ndarray:
    """Gradient of ``conv2d`` with respect to its input: the adjoint map dy -> dx.

    dy (H_out, W_out, C_out) or batched; w (kh, kw, C_in, C_out); input_hw (H, W) is
    needed because several input sizes give one output size under a stride. Written as
    a scatter over kernel taps, not through conv2d, so that the adjoint identity
    <conv2d(x, w), dy> == <x, conv2d_input_grad(dy, w)> is a real check of both.
    """
    gb, batched = _as_batch(dy, "dy")
    w = _kernel(w, "w")
    kh, kw, _, c_out = w.shape
    if gb.shape[3] != c_out:
        raise ValueError(f"dy of shape {np.shape(dy)} must have C_out={c_out} channels "
                         "like w")
    h, wd = _pair(input_hw, "input_hw", minimum=1)
    stride = _pair(stride, "stride", minimum=1)
    ph, pw = _pair(padding, "padding", minimum=0)
    dilation = _pair(dilation, "dilation", minimum=1)
    padded = (h + 2 * ph, wd + 2 * pw)
    for axis, k in enumerate((kh, kw)):
        span = padded[axis] - _extent(k, dilation[axis])
        if span < 0:
            raise _GeometryError(f"kernel {(kh, kw)} must fit in the padded input {padded}")
        # The forward conv places a window at every multiple of the stride that fits.
        windows = len(range(0, span + 1, stride[axis]))
        if gb.shape[1 + axis] != windows:
            raise ValueError(f"dy of shape {np.shape(dy)} must have {windows} positions along "
                             f"{'HW'[axis]}, one per window of the conv on input {(h, wd)}")
    dx = _scatter_taps(gb, w.transpose(0, 1, 3, 2), padded, stride, dilation, counter)
    dx = dx[:, ph:ph + h, pw:pw + wd]  # gradient that lands on padding goes nowhere
    return dx if batched else dx[0]


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                     counter: MacCounter | None = None) -> np.ndarray:
    """PyTorch ConvTranspose2d in channels-last: x (H, W, C_in) or batched,
    w (kh, kw, C_in, C_out) (PyTorch's (C_in, C_out, kh, kw) moved), b (C_out,).

    The transposed convolution is the adjoint of a convolution (Dumoulin & Visin 2016,
    section 4): each input pixel scatters x @ w[u, v] to i*s + u*d. The scatter covers
    (n-1)s + d(k-1) + 1 positions; ``padding`` crops p from each side and
    ``output_padding`` (< max(stride, dilation), as PyTorch requires) adds rows at the
    bottom/right, choosing among the input sizes a strided conv maps to n. Output size:
    (n-1)s - 2p + d(k-1) + output_padding + 1. MACs: H_in*W_in*C_in*kh*kw*C_out.
    """
    xb, batched = _as_batch(x, "x")
    w = _kernel(w, "w", xb.shape[3])
    kh, kw, _, c_out = w.shape
    b = _bias(b, c_out)
    stride = _pair(stride, "stride", minimum=1)
    padding = _pair(padding, "padding", minimum=0)
    extra = _pair(output_padding, "output_padding", minimum=0)
    dilation = _pair(dilation, "dilation", minimum=1)
    covered, out_hw = [], []
    for axis, k in enumerate((kh, kw)):
        s, p, d, op = stride[axis], padding[axis], dilation[axis], extra[axis]
        if op >= max(s, d):
            raise ValueError(f"output_padding={output_padding!r} must be smaller than the "
                             f"stride or the dilation ({s}, {d}) along {'HW'[axis]}")
        covered.append(s * (xb.shape[1 + axis] - 1) + _extent(k, d))
        out_hw.append(covered[axis] - 2 * p + op)
        if out_hw[axis] < 1:
            raise _GeometryError(f"padding={padding!r} crops the whole output along "
                                 f"{'HW'[axis]} (size {out_hw[axis]}); sizes must be >= 1")
    # Rows past the scatter (when output_padding > padding) receive nothing: zeros.
    buffer_hw = tuple(max(covered[a], padding[a] + out_hw[a]) for a in range(2))
    y = _scatter_taps(xb, w, buffer_hw, stride, dilation, counter)
    y = y[:, padding[0]:padding[0] + out_hw[0], padding[1]:padding[1] + out_hw[1]]
    if b is not None:
        y = y + b
    return y if batched else y[0]


# ---------------------------------------------------------------------------
# Pooling


def _pool_window_starts(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> np.ndarray:
    """First input position (negative inside the left padding) of each pooling window
    along one axis, enumerated window by window as PyTorch places them.

    Windows step by s from -p and must fit in the padded input [-p, n + p). In ceil_mode
    one overhanging window is added while the windows so far leave part of the padded
    input uncovered, except that PyTorch drops a window that would start in the right
    padding (at or past n): all of it would be padding.
    """
    extent = _extent(k, d)
    if extent > n + 2 * p:
        raise _GeometryError(f"kernel {k} dilated to {extent} must fit in the padded input "
                             f"{n} + 2*{p}")
    starts = [-p]
    while starts[-1] + extent < n + p:
        following = starts[-1] + s
        if following + extent > n + p and (not ceil_mode or following >= n):
            break
        starts.append(following)
    return np.array(starts)


def _pool_pairs(kernel, stride, padding, dilation):
    """kernel, stride (the kernel when None), padding and dilation as (h, w) pairs."""
    kernel = _pair(kernel, "kernel", minimum=1)
    stride = kernel if stride is None else _pair(stride, "stride", minimum=1)
    padding = _pair(padding, "padding", minimum=0)
    dilation = _pair(dilation, "dilation", minimum=1)
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        # PyTorch's rule (its pool2d shape check): padding <= kernel // 2.
        raise ValueError(f"padding={padding} must be at most half the kernel {kernel}")
    return kernel, stride, padding, dilation


def _pad_for_windows(xb: np.ndarray, starts_h, starts_w, extents, padding, value: float):
    """Pad the left by p and the right far enough for the last (ceil_mode) window."""
    rights = [max(p, int(st[-1]) + e - n)
              for st, e, p, n in zip((starts_h, starts_w), extents, padding, xb.shape[1:3],
                                     strict=True)]
    return np.pad(xb, ((0, 0), (padding[0], rights[0]), (padding[1], rights[1]), (0, 0)),
                  constant_values=value)


def max_pool2d(x, kernel, stride=None, *, padding=0, dilation=1,
               ceil_mode: bool = False) -> np.ndarray:
    """PyTorch MaxPool2d, channels-last; stride defaults to the kernel. Padding and the
    overhang of a ceil_mode window are -inf, so only real inputs can win; a dilated
    window whose taps all miss the input gives -inf, as PyTorch does."""
    xb, batched = _as_batch(x, "x")
    kernel, stride, padding, dilation = _pool_pairs(kernel, stride, padding, dilation)
    starts = [_pool_window_starts(xb.shape[1 + a], kernel[a], stride[a], padding[a],
                                  dilation[a], ceil_mode) for a in range(2)]
    extents = [_extent(kernel[a], dilation[a]) for a in range(2)]
    xp = _pad_for_windows(xb, *starts, extents, padding, -np.inf)
    windows = sliding_window_view(xp, extents, axis=(1, 2))
    # The first window starts at -p, i.e. at 0 of the padded array; step by the stride.
    (sh, sw), (ho, wo) = stride, (len(starts[0]), len(starts[1]))
    windows = windows[:, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw, :,
                      ::dilation[0], ::dilation[1]]
    y = windows.max(axis=(-2, -1))
    return y if batched else y[0]


def _avg_divisors(starts: np.ndarray, k: int, n: int, p: int,
                  count_include_pad: bool) -> np.ndarray:
    # PyTorch's avg_pool2d kernel: the window is first clipped to the padded extent
    # [-p, n + p) (its size is the divisor with count_include_pad), then to the real
    # input [0, n) (the divisor without it).
    ends = np.minimum(starts + k, n + p)
    if count_include_pad:
        return ends - starts
    return np.minimum(ends, n) - np.maximum(starts, 0)


def avg_pool2d(x, kernel, stride=None, *, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> np.ndarray:
    """PyTorch AvgPool2d, channels-last; stride defaults to the kernel. The sum runs over
    the window (padding adds zeros); the divisor is PyTorch's, see ``_avg_divisors``."""
    xb, batched = _as_batch(x, "x")
    kernel, stride, padding, _ = _pool_pairs(kernel, stride, padding, 1)
    starts = [_pool_window_starts(xb.shape[1 + a], kernel[a], stride[a], padding[a], 1,
                                  ceil_mode) for a in range(2)]
    xp = _pad_for_windows(xb, *starts, kernel, padding, 0.0)
    windows = sliding_window_view(xp, kernel, axis=(1, 2))
    (sh, sw), (ho, wo) = stride, (len(starts[0]), len(starts[1]))
    sums = windows[:, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw].sum(axis=(-2, -1))
    divisors = np.multiply.outer(
        *(_avg_divisors(starts[a], kernel[a], xb.shape[1 + a], padding[a], count_include_pad)
          for a in range(2)))
    y = sums / divisors[None, :, :, None]
    return y if batched else y[0]


def pool2d_window_grad(dy, input_hw, kernel, stride=None, *, padding=0, dilation=1,
                       ceil_mode: bool = False) -> np.ndarray:
    """Send each output's dy to every real input position of its pooling window.

    This is the dependency structure of pooling (which inputs each output reads), the
    gradient of a sum pool; max pooling's true gradient picks one element per window,
    which would understate the receptive field.
    """
    h, w = _pair(input_hw, "input_hw", minimum=1)
    gb, batched = _as_batch(dy, "dy")
    kernel, stride, padding, dilation = _pool_pairs(kernel, stride, padding, dilation)
    starts = [_pool_window_starts(n, kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
              for a, n in enumerate((h, w))]
    if gb.shape[1:3] != (len(starts[0]), len(starts[1])):
        raise ValueError(f"dy of shape {np.shape(dy)} must have {len(starts[0])} x "
                         f"{len(starts[1])} positions, one per window on input {(h, w)}")
    extents = [_extent(kernel[a], dilation[a]) for a in range(2)]
    rights = [max(padding[a], int(starts[a][-1]) + extents[a] - n)
              for a, n in enumerate((h, w))]
    buffer = np.zeros((gb.shape[0], padding[0] + h + rights[0], padding[1] + w + rights[1],
                       gb.shape[3]))
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, gb.shape[1:3]
    for u in range(kernel[0]):
        for v in range(kernel[1]):
            buffer[:, u * dh:u * dh + sh * (ho - 1) + 1:sh,
                   v * dw:v * dw + sw * (wo - 1) + 1:sw] += gb
    dx = buffer[:, padding[0]:padding[0] + h, padding[1]:padding[1] + w]
    return dx if batched else dx[0]


# ---------------------------------------------------------------------------
# Pointwise, flatten, dense


def relu(x) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def sigmoid(x) -> np.ndarray:
    return _stable_sigmoid(np.asarray(x, dtype=np.float64))


def tanh(x) -> np.ndarray:
    return np.tanh(np.asarray(x, dtype=np.float64))


_POINTWISE = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def flatten(x) -> np.ndarray:
    """[H, W, C] -> [H*W*C] in row-major (channels-last) order; a batch [N, H, W, C]
    -> [N, H*W*C]. Already flat inputs ([n] or [N, n]) pass unchanged."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim <= 2:
        return x
    return x.reshape(-1) if x.ndim == 3 else x.reshape(x.shape[0], -1)


def dense(x, W, b=None, *, counter: MacCounter | None = None) -> np.ndarray:
    """``x @ W + b`` with W of shape (n_in, n_out) (DESIGN.md); x is [n_in] or [N, n_in]."""
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or x.ndim not in (1, 2) or x.shape[-1] != W.shape[0]:
        raise ValueError(f"x of shape {x.shape} and W of shape {W.shape} must be [n_in] (or "
                         "[N, n_in]) and (n_in, n_out)")
    z = _product(x, W, ([x.ndim - 1], [0]), counter)
    b = _bias(b, W.shape[1])
    return z if b is None else z + b


# ---------------------------------------------------------------------------
# Whole stacks


def _layer_param_shapes(layer, x: np.ndarray) -> tuple[tuple[int, ...], int] | None:
    """(W shape, bias length) a layer needs for the batched tensor x entering it."""
    if isinstance(layer, Conv):
        return (*layer.kernel, x.shape[-1], layer.filters), layer.filters
    if isinstance(layer, Dense):
        return (x.shape[-1], layer.units), layer.units
    return None


def _layer_params(layer, x: np.ndarray, given, rng, where: str) -> dict | None:
    shapes = _layer_param_shapes(layer, x)
    if shapes is None:
        if given is not None:
            raise ValueError(f"params[{where}] must be None: a {layer.type} layer has none")
        return None
    w_shape, n_bias = shapes
    if given is None:
        if rng is None:
            raise ValueError("rng is required to allocate parameters")
        # LeCun-style scale 1/sqrt(fan_in) keeps activations of order 1 through the stack.
        scale = 1.0 / math.sqrt(math.prod(w_shape[:-1]))
        W = rng.standard_normal(w_shape) * scale
        b = rng.standard_normal(n_bias) * scale if layer.bias else None
        return {"W": W, "b": b}
    W, b = np.asarray(given["W"], dtype=np.float64), given.get("b")
    if W.shape != w_shape:
        raise ValueError(f"params[{where}]['W'] of shape {W.shape} must have shape {w_shape}")
    if layer.bias != (b is not None):
        raise ValueError(f"params[{where}]['b'] must be {'given' if layer.bias else 'None'} "
                         f"(bias={layer.bias})")
    return {"W": W, "b": b}


def _layer_forward(layer, x: np.ndarray, p: dict | None, counter) -> np.ndarray:
    """One layer on a batched tensor: (N, H, W, C) for maps, (N, n) once flat."""
    if isinstance(layer, (Conv, Pool)) and x.ndim != 4:
        raise ValueError(f"needs an [H, W, C] input, but the stack is flat here "
                         f"({list(x.shape[1:])})")
    if isinstance(layer, Conv):
        geometry = {"stride": layer.stride, "padding": layer.padding,
                    "dilation": layer.dilation, "counter": counter}
        if layer.transposed:
            return conv_transpose2d(x, p["W"], p["b"], output_padding=layer.output_padding,
                                    **geometry)
        return conv2d(x, p["W"], p["b"], **geometry)
    if isinstance(layer, Pool):
        if layer.kind == "max":
            return max_pool2d(x, layer.kernel, layer.stride, padding=layer.padding,
                              dilation=layer.dilation, ceil_mode=layer.ceil_mode)
        if layer.dilation != (1, 1):
            raise ValueError(f"dilation={list(layer.dilation)} is not defined for avgpool")
        return avg_pool2d(x, layer.kernel, layer.stride, padding=layer.padding,
                          ceil_mode=layer.ceil_mode,
                          count_include_pad=layer.count_include_pad)
    if isinstance(layer, Pointwise):
        return _POINTWISE[layer.type](x)
    if isinstance(layer, Flatten):
        return flatten(x)
    if isinstance(layer, Dense):
        if x.ndim != 2:
            raise ValueError(f"needs a flat input, but receives {list(x.shape[1:])}: "
                             "put a flatten layer before it")
        return dense(x, p["W"], p["b"], counter=counter)
    raise TypeError(f"unknown layer {layer!r}")


def _run(spec: NetSummary, x: np.ndarray, params, rng, counter):
    """Run a batched x through the stack, allocating any parameters not given."""
    if params is not None and len(params) != len(spec.layers):
        raise ValueError(f"params has {len(params)} entries; the stack has "
                         f"{len(spec.layers)} layers (None for a layer without parameters)")
    allocated, shapes = [], []
    for i, layer in enumerate(spec.layers):
        where = f"layers[{i}]"
        try:
            p = _layer_params(layer, x, None if params is None else params[i], rng, where)
            x = _layer_forward(layer, x, p, counter)
        except SpecError:
            raise
        except ValueError as err:
            raise SpecError(f"{where}.type", layer.type,
                            f"cannot run on an input of shape {list(x.shape[1:])}: {err}"
                            ) from err
        allocated.append(p)
        shapes.append(tuple(x.shape[1:]))
    return x, allocated, shapes


def init_params(spec: NetSummary, rng: np.random.Generator) -> list[dict | None]:
    """Arrays for every layer, shaped by the tensor that actually enters it: conv
    {"W": (kh, kw, C_in, C_out), "b": (C_out,) or None}, dense {"W": (n_in, n_out),
    "b"}, None for layers without parameters. Found by running the stack on zeros."""
    return _run(spec, np.zeros((1, *spec.input)), None, rng, None)[1]


def run_stack(spec: NetSummary, x=None, *, rng: np.random.Generator | None = None,
              params: list[dict | None] | None = None, counter: MacCounter | None = None
              ) -> tuple[np.ndarray, list[dict | None], list[tuple[int, ...]]]:
    """Run the whole stack: (output, params used, output shape after each layer).

    x is ``spec.input``-shaped (or a batch of such); when None it is drawn from rng,
    before any parameters. Missing params are drawn from rng as ``init_params`` does.
    Shapes are per sample, as DESIGN.md writes them. A layer that cannot run on what it
    receives raises SpecError naming the layer.
    """
    if x is None:
        if rng is None:
            raise ValueError("rng is required when x is None")
        x = rng.standard_normal(spec.input)
    x = np.asarray(x, dtype=np.float64)
    batched = x.ndim == len(spec.input) + 1
    if x.shape[int(batched):] != tuple(spec.input):
        raise ValueError(f"x of shape {x.shape} must have shape {tuple(spec.input)} "
                         "(or a batch of it)")
    y, params, shapes = _run(spec, x if batched else x[None], params, rng, counter)
    return (y if batched else y[0]), params, shapes


# ---------------------------------------------------------------------------
# Receptive field as the support of a gradient


@dataclass(frozen=True)
class FieldSupport:
    """The input region one output unit depends on, measured by a backward pass.

    ``receptive_field`` is the (height, width) of the support's bounding box, the figure
    of Araujo et al. 2019; ``filled`` says whether the support fills that box (dilation,
    or a kernel smaller than its stride, leaves inputs inside it unread); ``jump`` is the
    offset between the supports of diagonally neighbouring output units; ``input_hw``
    is the input size on which the field was clear of the borders.
    """

    receptive_field: tuple[int, int]
    jump: tuple[int, int]
    filled: bool
    input_hw: tuple[int, int]


def _field_layers(spec: NetSummary, upto: int | None) -> list:
    if len(spec.input) != 3:
        raise SpecError("input", list(spec.input), "must be [H, W, C] to have a receptive field")
    try:
        stop = len(spec.layers) if upto is None else range(len(spec.layers))[upto] + 1
    except IndexError:
        raise ValueError(f"upto={upto} must index one of the {len(spec.layers)} layers"
                         ) from None
    layers = list(spec.layers[:stop])
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Conv, Pool, Pointwise)) or getattr(layer, "transposed", False):
            raise SpecError(f"layers[{i}].type", layer.type,
                            "has no single receptive field; only conv, pool and pointwise "
                            "layers have one")
    return [layer for layer in layers if not isinstance(layer, Pointwise)]


def _along_axis(layer, axis: int):
    """The layer acting along one axis only: the other axis gets a 1-wide identity
    window, so a 1-pixel-wide strip measures that axis alone."""
    def keep(pair, identity):
        return (pair[0], identity) if axis == 0 else (identity, pair[1])

    return dataclasses.replace(layer, kernel=keep(layer.kernel, 1), stride=keep(layer.stride, 1),
                               padding=keep(layer.padding, 0), dilation=keep(layer.dilation, 1))


def _input_sizes(layers: list, hw: tuple[int, int]) -> tuple[list[tuple[int, int]], tuple]:
    """Run one channel of zeros forward: the (H, W) entering each layer, and the output's."""
    x = np.zeros((1, *hw, 1))
    sizes = []
    for layer in layers:
        sizes.append(x.shape[1:3])
        if isinstance(layer, Conv):
            x = conv2d(x, np.ones((*layer.kernel, 1, 1)), stride=layer.stride,
                       padding=layer.padding, dilation=layer.dilation)
        elif layer.kind == "max":
            x = max_pool2d(x, layer.kernel, layer.stride, padding=layer.padding,
                           dilation=layer.dilation, ceil_mode=layer.ceil_mode)
        else:
            x = avg_pool2d(x, layer.kernel, layer.stride, padding=layer.padding,
                           ceil_mode=layer.ceil_mode)
    return sizes, x.shape[1:3]


def _support(layers: list, sizes: list, dy: np.ndarray) -> np.ndarray | None:
    """Backpropagate dy with all-ones kernels; None if some of it lands on padding.

    All-ones kernels and window sums keep every value positive, so nothing cancels and
    the support is exactly the set of inputs read. Each unit sends its value to kh*kw
    taps, so the total grows by kh*kw per layer unless some taps fall on padding (or past
    the input, for a ceil_mode window): a total short of that means a clipped field.
    """
    g = dy
    for layer, hw in zip(reversed(layers), reversed(sizes), strict=True):
        if isinstance(layer, Conv):
            below = conv2d_input_grad(g, np.ones((*layer.kernel, 1, 1)), hw,
                                      stride=layer.stride, padding=layer.padding,
                                      dilation=layer.dilation)
        else:
            below = pool2d_window_grad(g, hw, layer.kernel, layer.stride,
                                       padding=layer.padding, dilation=layer.dilation,
                                       ceil_mode=layer.ceil_mode)
        taps = layer.kernel[0] * layer.kernel[1]
        # Sums of small integers in float64 are exact, so equality is exact.
        if not np.array_equal(below.sum(axis=(1, 2, 3)), taps * g.sum(axis=(1, 2, 3))):
            return None
        g = below
    return g


def _unit_pair(out_hw, centre, step) -> np.ndarray:
    """dy for two units at once (a batch of 2): the centre and its neighbour centre + step."""
    dy = np.zeros((2, *out_hw, 1))
    dy[0, centre[0], centre[1], 0] = 1.0
    dy[1, centre[0] + step[0], centre[1] + step[1], 0] = 1.0
    return dy


def _clear_axis(layers: list, axis: int) -> tuple[list[int], int]:
    """Along one axis, the smallest power-of-two input on which the central output unit
    and its neighbour have unclipped fields: (input size of each layer, output size)."""
    strip = [_along_axis(layer, axis) for layer in layers]
    n = 1
    while n <= _MAX_FIELD_INPUT:
        hw = (n, 1) if axis == 0 else (1, n)
        try:
            sizes, out_hw = _input_sizes(strip, hw)
        except _GeometryError:
            sizes, out_hw = None, (0, 0)
        if out_hw[axis] >= 2:
            centre, step = [0, 0], [0, 0]
            centre[axis], step[axis] = (out_hw[axis] - 1) // 2, 1
            if _support(strip, sizes, _unit_pair(out_hw, centre, step)) is not None:
                return [size[axis] for size in sizes], out_hw[axis]
        n *= 2
    raise ValueError(f"no input up to {_MAX_FIELD_INPUT} wide holds one unit's whole field "
                     f"along {'HW'[axis]}")


def receptive_field_support(spec: NetSummary, *, upto: int | None = None) -> FieldSupport:
    """Receptive field and jump of the stack's last layer (or of layer ``upto``),
    measured as the support of the gradient of one output unit.

    Each axis is sized first on a 1-pixel strip (the dependency structure is separable),
    growing the input until the central unit's field and its neighbour's lie clear of
    padding; then one 2-D backward pass through conv2d_input_grad (all-ones kernels) and
    pool2d_window_grad gives the support. Pointwise layers do not widen it. Flatten,
    dense and transposed convs raise SpecError: a transposed conv's field depends on
    the unit's position, and after flatten every input is read.
    """
    layers = _field_layers(spec, upto)
    (sizes_h, out_h), (sizes_w, out_w) = _clear_axis(layers, 0), _clear_axis(layers, 1)
    centre = ((out_h - 1) // 2, (out_w - 1) // 2)
    sizes = list(zip(sizes_h, sizes_w, strict=True))
    g = _support(layers, sizes, _unit_pair((out_h, out_w), centre, (1, 1)))
    if g is None:  # cannot happen: the 2-D field is the product of the 1-D fields
        raise RuntimeError("the 2-D field was clipped although neither axis was")
    boxes = []
    for unit in g[..., 0] > 0:
        rows, cols = np.flatnonzero(unit.any(axis=1)), np.flatnonzero(unit.any(axis=0))
        boxes.append((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1))
    top, bottom, left, right = boxes[0]
    return FieldSupport(
        receptive_field=(int(bottom - top), int(right - left)),
        jump=(int(boxes[1][0] - top), int(boxes[1][2] - left)),
        filled=bool((g[0, top:bottom, left:right, 0] > 0).all()),
        input_hw=(sizes_h[0], sizes_w[0]) if sizes else (out_h, out_w),
    )
