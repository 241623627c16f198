"""Properties of the numpy convolution reference (verify.numeric.conv) against the closed
forms (verify.formulas), naive loops written here, and, when installed, PyTorch.

Each side is an independent witness: the numpy code never imports the formulas, the
oracles below are written from the definitions (and from PyTorch's CPU pooling kernel),
and torch is a third implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, event, example, given, note
from hypothesis import strategies as st

from verify.formulas import (
    conv_output_size,
    convtranspose_output_size,
    pool_output_size,
    summarize,
)
from verify.numeric.conv import (
    MacCounter,
    avg_pool2d,
    conv2d,
    conv2d_input_grad,
    conv_transpose2d,
    init_params,
    max_pool2d,
    receptive_field_support,
    run_stack,
)
from verify.specs import SpecError, parse_net_summary

# A float64 sum of m products differs from the exact sum by at most about
# m * 2.2e-16 times the sum of the products' absolute values (Higham, "Accuracy and
# Stability of Numerical Algorithms", 2nd ed. 2002, chapter 4). The sums here have at most a
# few thousand terms, so 1e-11 of the absolute sum bounds any two summation orders.
SUM_RTOL = 1e-11


def assert_sums_agree(actual, expected, magnitude) -> None:
    """actual == expected up to float64 rounding, where magnitude is the sum of the
    absolute values of the terms behind each entry (the same sums on |x| and |w|)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    error = np.abs(actual - expected)
    assert np.all(error <= SUM_RTOL * np.asarray(magnitude)), f"max error {error.max()}"


def dot(a, b) -> float:
    return float(np.sum(np.asarray(a) * np.asarray(b)))


# ---------------------------------------------------------------------------
# Strategies


@dataclass(frozen=True)
class Case:
    """One layer's geometry on an (H, W) input; every field is an (h, w) pair."""

    hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    output_padding: tuple[int, int] = (0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = True

    def axis(self, a: int) -> tuple[int, int, int, int, int]:
        """(n, k, s, p, d) along axis a."""
        return (self.hw[a], self.kernel[a], self.stride[a], self.padding[a], self.dilation[a])


def extent(k: int, d: int) -> int:
    return d * (k - 1) + 1


def zip_axes(axes: list[dict], **extra) -> Case:
    fields = {name: tuple(axis[name] for axis in axes) for name in axes[0]}
    return Case(**fields, **extra)


@st.composite
def conv_axis(draw, *, max_extra: int = 6) -> dict:
    k, s, d, p = (draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                  draw(st.integers(0, 3)))
    smallest = max(1, extent(k, d) - 2 * p)  # the dilated kernel must fit the padded input
    n = draw(st.integers(smallest, smallest + max_extra))
    return {"hw": n, "kernel": k, "stride": s, "padding": p, "dilation": d}


@st.composite
def conv_cases(draw, *, max_extra: int = 6) -> Case:
    return zip_axes([draw(conv_axis(max_extra=max_extra)) for _ in range(2)])


@st.composite
def convtranspose_cases(draw) -> Case:
    axes = []
    for _ in range(2):
        n, k, s, d = (draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 3)),
                      draw(st.integers(1, 3)))
        # PyTorch: output_padding < max(stride, dilation).
        op = draw(st.integers(0, max(s, d) - 1))
        covered = (n - 1) * s + extent(k, d) + op
        p = draw(st.integers(0, min(3, (covered - 1) // 2)))  # keeps the output >= 1
        axes.append({"hw": n, "kernel": k, "stride": s, "padding": p, "dilation": d,
                     "output_padding": op})
    return zip_axes(axes)


def last_window_starts_in_right_padding(n: int, k: int, s: int, p: int, d: int) -> bool:
    """Whether ceil_mode's extra last window would start at or past the input's end,
    the window PyTorch drops."""
    span = n + 2 * p - extent(k, d)
    last_start = -(-span // s) * s - p  # in input coordinates
    return last_start >= n


@st.composite
def pool_axis(draw, kind: str, ceil_mode: bool) -> dict:
    k = draw(st.integers(1, 5))
    p = draw(st.integers(0, k // 2))  # PyTorch: padding at most half the kernel
    s = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3)) if kind == "max" else 1
    smallest = max(1, extent(k, d) - 2 * p)
    sizes = range(smallest, smallest + 9)
    dropping = [n for n in sizes if last_window_starts_in_right_padding(n, k, s, p, d)]
    # Steer half the ceil_mode draws to the rare case where the last window is dropped.
    if ceil_mode and dropping and draw(st.booleans()):
        n = draw(st.sampled_from(dropping))
    else:
        n = draw(st.sampled_from(sizes))
    return {"hw": n, "kernel": k, "stride": s, "padding": p, "dilation": d}


@st.composite
def pool_cases(draw, kind: str | None = None) -> tuple[str, Case]:
    kind = kind or draw(st.sampled_from(["max", "avg"]))
    ceil_mode = draw(st.booleans())
    case = zip_axes([draw(pool_axis(kind, ceil_mode)) for _ in range(2)],
                    ceil_mode=ceil_mode, count_include_pad=draw(st.booleans()))
    dropped = ceil_mode and any(last_window_starts_in_right_padding(*case.axis(a))
                                for a in range(2))
    if dropped:
        event("ceil_mode dropped a last window starting in the right padding")
    return kind, case


# A last window starting in the right padding: n=5, k=3, s=3, p=1 places windows at
# -1, 2 and (ceil_mode) 5 = n, which PyTorch drops, leaving 2 outputs, not 3.
DROPPED_LAST_WINDOW = Case(hw=(5, 5), kernel=(3, 3), stride=(3, 3), padding=(1, 1),
                           ceil_mode=True)


def run_pool(kind: str, x, case: Case) -> np.ndarray:
    if kind == "max":
        return max_pool2d(x, case.kernel, case.stride, padding=case.padding,
                          dilation=case.dilation, ceil_mode=case.ceil_mode)
    return avg_pool2d(x, case.kernel, case.stride, padding=case.padding,
                      ceil_mode=case.ceil_mode, count_include_pad=case.count_include_pad)


def conv_options(case: Case) -> dict:
    return {"stride": case.stride, "padding": case.padding, "dilation": case.dilation}


def arrays(rng_seed: int, *shapes) -> list[np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    return [rng.standard_normal(shape) for shape in shapes]


seeds = st.integers(0, 2**32 - 1)
channels = st.integers(1, 3)


# -- layer stacks, as net-summary JSON --------------------------------------

def kernel_pairs(lo: int = 1, hi: int = 5):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(list)


@st.composite
def spatial_layer(draw, *, field_only: bool = False, gapless: bool = False) -> dict:
    """A conv/pool/pointwise layer; field_only leaves out transposed convs; gapless
    keeps dilation 1 and each stride at most its kernel (no input skipped)."""
    kinds = ["conv", "maxpool", "avgpool", "relu"]
    if not field_only:
        kinds += ["convtranspose", "sigmoid", "tanh"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("relu", "sigmoid", "tanh"):
        return {"type": kind}
    kernel = draw(kernel_pairs())
    if gapless:
        stride = [draw(st.integers(1, min(3, k))) for k in kernel]
        dilation = [1, 1]
    else:
        stride, dilation = draw(kernel_pairs(1, 3)), draw(kernel_pairs(1, 3))
    if kind in ("maxpool", "avgpool"):
        layer = {"type": kind, "kernel": kernel, "stride": stride,
                 "padding": [draw(st.integers(0, k // 2)) for k in kernel],
                 "ceil_mode": draw(st.booleans())}
        if kind == "maxpool":
            layer["dilation"] = dilation
        else:
            layer["count_include_pad"] = draw(st.booleans())
        return layer
    layer = {"type": kind, "filters": draw(channels), "kernel": kernel, "stride": stride,
             "padding": draw(kernel_pairs(0, 3)), "dilation": dilation,
             "bias": draw(st.booleans())}
    if kind == "convtranspose":
        layer["output_padding"] = [draw(st.integers(0, max(s, d) - 1))
                                   for s, d in zip(stride, dilation, strict=True)]
    return layer


def try_summary(spec_json: dict) -> dict | None:
    try:
        return summarize(parse_net_summary(spec_json))
    except SpecError:
        return None


# Transposed convs grow maps; past this many positions a stack only costs time.
MAX_AREA = 48 * 48


@st.composite
def net_specs(draw) -> dict:
    """A valid stack by construction: a candidate layer that the closed forms reject
    (or that grows the map too much) is left out. Dense heads follow a flatten; a
    dense-only stack takes a flat input."""
    if draw(st.integers(0, 5)) == 0:
        spec = {"input": [draw(st.integers(1, 12))], "layers": []}
    else:
        spec = {"input": [draw(st.integers(1, 10)), draw(st.integers(1, 10)), draw(channels)],
                "layers": []}
        for _ in range(draw(st.integers(1, 4))):
            layer = draw(spatial_layer())
            summary = try_summary({**spec, "layers": [*spec["layers"], layer]})
            if summary and summary["output"][0] * summary["output"][1] <= MAX_AREA:
                spec["layers"].append(layer)
        if not draw(st.booleans()):
            return {**spec, "layers": spec["layers"] or [{"type": "relu"}]}
        spec["layers"].append({"type": "flatten"})
    for _ in range(draw(st.integers(1, 2))):
        spec["layers"].append({"type": "dense", "units": draw(st.integers(1, 4)),
                               "bias": draw(st.booleans())})
        if draw(st.booleans()):
            spec["layers"].append({"type": draw(st.sampled_from(["relu", "sigmoid", "tanh"]))})
    return spec


@st.composite
def field_specs(draw, *, gapless: bool = False) -> dict:
    """1-4 conv/pool/pointwise layers on an input large enough for the geometry (the
    field measurement picks its own input size)."""
    spec = {"input": [1024, 1024, 1], "layers": []}
    for _ in range(draw(st.integers(1, 4))):
        layer = draw(spatial_layer(field_only=True, gapless=gapless))
        if try_summary({**spec, "layers": [*spec["layers"], layer]}):
            spec["layers"].append(layer)
    assume(spec["layers"])
    return spec


# ---------------------------------------------------------------------------
# Output sizes: closed form == shape of an actual run


@given(case=conv_cases(), c_in=channels, c_out=channels)
def test_conv_output_size_matches_actual_convolution(case, c_in, c_out):
    y = conv2d(np.zeros((*case.hw, c_in)), np.zeros((*case.kernel, c_in, c_out)),
               **conv_options(case))
    assert y.shape == (*(conv_output_size(*case.axis(a)) for a in range(2)), c_out)


@given(pooled=pool_cases())
@example(pooled=("max", DROPPED_LAST_WINDOW))
@example(pooled=("avg", DROPPED_LAST_WINDOW))
def test_pool_output_size_matches_actual_pooling(pooled):
    kind, case = pooled
    y = run_pool(kind, np.zeros((*case.hw, 2)), case)
    assert y.shape[:2] == tuple(pool_output_size(*case.axis(a), ceil_mode=case.ceil_mode)
                                for a in range(2))


def test_ceil_mode_drops_a_last_window_starting_in_the_right_padding():
    # ceil((5 + 2 - 3) / 3) + 1 = 3 windows, but the third would start at 5 = n.
    for kind in ("max", "avg"):
        assert run_pool(kind, np.zeros((5, 5, 1)), DROPPED_LAST_WINDOW).shape == (2, 2, 1)
    assert pool_output_size(5, 3, 3, 1, ceil_mode=True) == 2


@given(case=convtranspose_cases(), c_in=channels, c_out=channels)
def test_convtranspose_output_size_matches_actual_transposed_convolution(case, c_in, c_out):
    y = conv_transpose2d(np.zeros((*case.hw, c_in)), np.zeros((*case.kernel, c_in, c_out)),
                         output_padding=case.output_padding, **conv_options(case))
    expected = tuple(convtranspose_output_size(*case.axis(a), case.output_padding[a])
                     for a in range(2))
    assert y.shape == (*expected, c_out)


# ---------------------------------------------------------------------------
# Values: naive loops and adjoints


def naive_conv2d(x, w, b, case: Case) -> np.ndarray:
    """The definition, one output and one tap at a time: y[i, j] = b + sum over taps
    (u, v) of xpad[i*s + u*d, j*s + v*d] @ w[u, v], over every placement that fits."""
    (ph, pw), (sh, sw), (dh, dw) = case.padding, case.stride, case.dilation
    kh, kw, _, c_out = w.shape
    xp = np.zeros((x.shape[0] + 2 * ph, x.shape[1] + 2 * pw, x.shape[2]))
    xp[ph:ph + x.shape[0], pw:pw + x.shape[1]] = x
    rows = [r for r in range(0, xp.shape[0], sh) if r + dh * (kh - 1) < xp.shape[0]]
    cols = [c for c in range(0, xp.shape[1], sw) if c + dw * (kw - 1) < xp.shape[1]]
    y = np.zeros((len(rows), len(cols), c_out))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            total = np.zeros(c_out) if b is None else b.copy()
            for u in range(kh):
                for v in range(kw):
                    total = total + xp[r + u * dh, c + v * dw] @ w[u, v]
            y[i, j] = total
    return y


@given(case=conv_cases(max_extra=4), c_in=channels, c_out=channels, bias=st.booleans(),
       seed=seeds)
def test_conv2d_equals_direct_loop(case, c_in, c_out, bias, seed):
    x, w, b = arrays(seed, (*case.hw, c_in), (*case.kernel, c_in, c_out), (c_out,))
    b = b if bias else None
    magnitude = naive_conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b), case)
    assert_sums_agree(conv2d(x, w, b, **conv_options(case)), naive_conv2d(x, w, b, case),
                      magnitude)


@given(case=conv_cases(max_extra=4), c_in=channels, c_out=channels, seed=seeds)
def test_conv2d_of_a_batch_is_conv2d_of_each_image(case, c_in, c_out, seed):
    x, w = arrays(seed, (3, *case.hw, c_in), (*case.kernel, c_in, c_out))
    batched = conv2d(x, w, **conv_options(case))
    magnitude = conv2d(np.abs(x), np.abs(w), **conv_options(case))
    for n in range(3):  # equal up to rounding: BLAS may group the sums differently
        assert_sums_agree(batched[n], conv2d(x[n], w, **conv_options(case)), magnitude[n])


@given(case=conv_cases(), c_in=channels, c_out=channels, seed=seeds)
def test_conv2d_input_grad_is_the_adjoint_of_conv2d(case, c_in, c_out, seed):
    forward, backward = MacCounter(), MacCounter()
    x, w = arrays(seed, (*case.hw, c_in), (*case.kernel, c_in, c_out))
    y = conv2d(x, w, **conv_options(case), counter=forward)
    (dy,) = arrays(seed + 1, y.shape)
    dx = conv2d_input_grad(dy, w, case.hw, **conv_options(case), counter=backward)
    assert dx.shape == x.shape
    magnitude = dot(np.abs(x), conv2d_input_grad(np.abs(dy), np.abs(w), case.hw,
                                                 **conv_options(case)))
    assert_sums_agree(dot(y, dy), dot(x, dx), magnitude)
    # The adjoint multiplies the same pairs of numbers, only grouped differently.
    assert backward.count == forward.count


@given(case=convtranspose_cases(), c_in=channels, c_out=channels, seed=seeds)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case, c_in, c_out, seed):
    # The transposed conv maps y (hw, c_in) to z; conv2d with the same taps and the
    # channel axes swapped maps z-shaped x back (Dumoulin & Visin 2016, section 4).
    y, w = arrays(seed, (*case.hw, c_in), (*case.kernel, c_in, c_out))
    z = conv_transpose2d(y, w, output_padding=case.output_padding, **conv_options(case))
    (x,) = arrays(seed + 1, z.shape)
    back = conv2d(x, w.transpose(0, 1, 3, 2), **conv_options(case))
    # output_padding < stride picks the one input size that conv maps back to hw; a
    # larger one (allowed when below the dilation) gives conv extra trailing outputs.
    if all(op < s for op, s in zip(case.output_padding, case.stride, strict=True)):
        assert back.shape[:2] == case.hw
    back = back[:case.hw[0], :case.hw[1]]
    magnitude = dot(np.abs(y), conv2d(np.abs(x), np.abs(w).transpose(0, 1, 3, 2),
                                      **conv_options(case))[:case.hw[0], :case.hw[1]])
    assert_sums_agree(dot(z, x), dot(y, back), magnitude)


def naive_pool(kind: str, x, case: Case) -> np.ndarray:
    """PyTorch's CPU pooling kernels, one window at a time. Max: the largest real input
    the dilated window reaches (-inf if none). Avg: the window is clipped to the padded
    extent (its size is the divisor with count_include_pad), then to the input."""
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (case.hw, case.kernel, case.stride,
                                                      case.padding, case.dilation)
    out = [pool_output_size(*case.axis(a), ceil_mode=case.ceil_mode) for a in range(2)]
    y = np.zeros((*out, x.shape[2]))
    for i in range(out[0]):
        for j in range(out[1]):
            top, left = i * sh - ph, j * sw - pw
            if kind == "max":
                rows = [r for r in range(top, top + dh * (kh - 1) + 1, dh) if 0 <= r < h]
                cols = [c for c in range(left, left + dw * (kw - 1) + 1, dw) if 0 <= c < w]
                y[i, j] = (x[np.ix_(rows, cols)].max(axis=(0, 1)) if rows and cols
                           else -np.inf)
                continue
            bottom, right = min(top + kh, h + ph), min(left + kw, w + pw)
            pool_size = (bottom - top) * (right - left)
            top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
            divisor = pool_size if case.count_include_pad else (bottom - top) * (right - left)
            y[i, j] = x[top:bottom, left:right].sum(axis=(0, 1)) / divisor
    return y


@given(pooled=pool_cases(), c=channels, seed=seeds)
@example(pooled=("avg", DROPPED_LAST_WINDOW), c=1, seed=0)
def test_pooling_equals_direct_loop(pooled, c, seed):
    kind, case = pooled
    (x,) = arrays(seed, (*case.hw, c))
    expected = naive_pool(kind, x, case)
    magnitude = naive_pool(kind, np.abs(x), case) if kind == "avg" else 0.0
    actual = run_pool(kind, x, case)
    if kind == "max":  # a max is exact: it picks one of the inputs
        np.testing.assert_array_equal(actual, expected)
    else:
        assert_sums_agree(actual, expected, magnitude)


# ---------------------------------------------------------------------------
# Stacks: receptive field, parameter counts, MACs


@given(spec_json=field_specs(), data=st.data())
def test_receptive_field_formula_equals_gradient_support(spec_json, data):
    spec = parse_net_summary(spec_json)
    upto = data.draw(st.integers(0, len(spec.layers) - 1), label="upto")
    row = summarize(spec)["layers"][upto]
    support = receptive_field_support(spec, upto=upto)
    note(f"{support}")
    assert support.receptive_field == tuple(row["receptive_field"])
    assert support.jump == tuple(row["jump"])


@given(spec_json=field_specs(gapless=True))
def test_gradient_support_fills_its_box_when_no_stride_exceeds_its_kernel(spec_json):
    # Each layer's windows then overlap or abut, so no input inside the field is skipped.
    assert receptive_field_support(parse_net_summary(spec_json)).filled


def test_gradient_support_has_gaps_when_a_stride_exceeds_its_kernel():
    # A 1x1 stride-2 conv under a 2x2 conv reads inputs 0 and 2 of a field of 3.
    spec = parse_net_summary({"input": [8, 8, 1], "layers": [
        {"type": "conv", "filters": 1, "kernel": 1, "stride": 2},
        {"type": "conv", "filters": 1, "kernel": 2}]})
    support = receptive_field_support(spec)
    assert (support.receptive_field, support.jump, support.filled) == ((3, 3), (2, 2), False)


@pytest.mark.parametrize("layer", [{"type": "flatten"},
                                   {"type": "convtranspose", "filters": 1, "kernel": 2}])
def test_receptive_field_support_refuses_layers_without_one_field(layer):
    spec = parse_net_summary({"input": [8, 8, 1], "layers": [layer]})
    with pytest.raises(SpecError, match=r"layers\[0\]\.type"):
        receptive_field_support(spec)


@given(spec_json=net_specs(), seed=seeds)
def test_weights_and_biases_equal_allocated_array_sizes(spec_json, seed):
    spec = parse_net_summary(spec_json)
    params = init_params(spec, np.random.default_rng(seed))
    for p, row in zip(params, summarize(spec)["layers"], strict=True):
        weights = 0 if p is None else p["W"].size
        biases = 0 if p is None or p["b"] is None else p["b"].size
        assert (weights, biases) == (row["weights"], row["biases"])


@given(spec_json=net_specs(), seed=seeds)
def test_layer_output_shapes_equal_actual_run(spec_json, seed):
    spec = parse_net_summary(spec_json)
    y, _, shapes = run_stack(spec, rng=np.random.default_rng(seed))
    summary = summarize(spec)
    assert [list(shape) for shape in shapes] == [row["output"] for row in summary["layers"]]
    assert list(y.shape) == summary["output"]


@given(spec_json=net_specs(), seed=seeds)
def test_macs_equal_counted_multiplications(spec_json, seed):
    spec = parse_net_summary(spec_json)
    rng = np.random.default_rng(seed)
    one, two = MacCounter(), MacCounter()
    _, params, _ = run_stack(spec, rng=rng, counter=one)
    run_stack(spec, rng.standard_normal((2, *spec.input)), params=params, counter=two)
    macs = summarize(spec)["total"]["macs"]
    assert one.count == macs
    assert two.count == 2 * macs  # DESIGN.md's MACs are per sample


@given(spec_json=net_specs())
def test_run_stack_rejects_the_geometries_the_formulas_reject(spec_json):
    # Append a large kernel that may or may not fit what the stack leaves.
    bad = {"type": "maxpool", "kernel": 9, "stride": 1}
    spec = parse_net_summary({**spec_json, "layers": [*spec_json["layers"], bad]})
    try:
        summarize(spec)
    except SpecError:
        with pytest.raises(SpecError, match=rf"layers\[{len(spec.layers) - 1}\]"):
            run_stack(spec, rng=np.random.default_rng(0))
    else:
        run_stack(spec, rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------
# Sizes as functions of the input size, on actual runs


def run_layer(kind: str, n: int, case: Case) -> int:
    """Output height of one layer (geometry along H from case) on an n x 1 input."""
    along_h = Case(hw=(n, 1), kernel=(case.kernel[0], 1), stride=(case.stride[0], 1),
                   padding=(case.padding[0], 0), dilation=(case.dilation[0], 1),
                   output_padding=(case.output_padding[0], 0), ceil_mode=case.ceil_mode)
    x = np.zeros((n, 1, 1))
    w = np.zeros((*along_h.kernel, 1, 1))
    if kind == "conv":
        return conv2d(x, w, **conv_options(along_h)).shape[0]
    if kind == "convtranspose":
        return conv_transpose2d(x, w, output_padding=along_h.output_padding,
                                **conv_options(along_h)).shape[0]
    return run_pool(kind, x, along_h).shape[0]


@st.composite
def layer_geometries(draw) -> tuple[str, Case]:
    kind = draw(st.sampled_from(["conv", "convtranspose", "max", "avg"]))
    if kind == "conv":
        return kind, draw(conv_cases())
    if kind == "convtranspose":
        return kind, draw(convtranspose_cases())
    return draw(pool_cases(kind))


@given(layer=layer_geometries(), grow=st.integers(1, 7))
def test_output_size_is_monotone_in_input_size(layer, grow):
    kind, case = layer
    n = case.hw[0]  # valid by construction, and so is every larger size
    assert run_layer(kind, n + grow, case) >= run_layer(kind, n, case)


@st.composite
def strided_starts(draw, *, pool: bool = False) -> tuple[Case, int]:
    """A geometry along H and the first valid n0 with (n0 + 2p - d(k-1) - 1) % s == 0.
    Pooling keeps its padding at most half the kernel, as PyTorch requires."""
    k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2 if pool else 3))
    n0 = extent(k, d) - 2 * p + s * draw(st.integers(0, 4))
    while n0 < 1:
        n0 += s
    return Case(hw=(n0, 1), kernel=(k, 1), stride=(s, 1), padding=(p, 0), dilation=(d, 1)), n0


@given(data=st.data(), kind=st.sampled_from(["conv", "max"]))
def test_s_consecutive_input_sizes_give_same_strided_output(data, kind):
    case, n0 = data.draw(strided_starts(pool=kind == "max"), label="start")
    s = case.stride[0]
    sizes = {run_layer(kind, n, case) for n in range(n0, n0 + s)}
    assert len(sizes) == 1
    # ... and one more input row makes room for one more window.
    assert run_layer(kind, n0 + s, case) == sizes.pop() + 1


@given(start=strided_starts())
def test_output_padding_recovers_each_input_size_a_strided_conv_merges(start):
    # The s sizes n0..n0+s-1 conv to one size m; the transposed conv of m with
    # output_padding j < s gives back n0 + j (PyTorch ConvTranspose2d docs, "Note").
    case, n0 = start
    s = case.stride[0]
    m = run_layer("conv", n0, case)
    for j in range(s):
        transposed = Case(hw=case.hw, kernel=case.kernel, stride=case.stride,
                          padding=case.padding, dilation=case.dilation,
                          output_padding=(j, 0))
        assert run_layer("convtranspose", m, transposed) == n0 + j


# ---------------------------------------------------------------------------
# PyTorch as a third implementation (skipped when torch is absent)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def to_torch(torch, x):
    """(N, H, W, C) numpy -> (N, C, H, W) float64 tensor: PyTorch is channels-first."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def from_torch(t) -> np.ndarray:
    return t.numpy().transpose(0, 2, 3, 1)


@given(case=conv_cases(), c_in=channels, c_out=channels, seed=seeds)
def test_conv2d_matches_torch(torch, case, c_in, c_out, seed):
    x, w, b = arrays(seed, (2, *case.hw, c_in), (*case.kernel, c_in, c_out), (c_out,))
    expected = from_torch(torch.nn.functional.conv2d(
        to_torch(torch, x), torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))),
        torch.from_numpy(b), **conv_options(case)))
    magnitude = conv2d(np.abs(x), np.abs(w), np.abs(b), **conv_options(case))
    assert_sums_agree(conv2d(x, w, b, **conv_options(case)), expected, magnitude)


@given(case=convtranspose_cases(), c_in=channels, c_out=channels, seed=seeds)
def test_conv_transpose2d_matches_torch(torch, case, c_in, c_out, seed):
    x, w, b = arrays(seed, (2, *case.hw, c_in), (*case.kernel, c_in, c_out), (c_out,))
    options = {**conv_options(case), "output_padding": case.output_padding}
    expected = from_torch(torch.nn.functional.conv_transpose2d(
        to_torch(torch, x), torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1))),
        torch.from_numpy(b), **options))
    magnitude = conv_transpose2d(np.abs(x), np.abs(w), np.abs(b), **options)
    assert_sums_agree(conv_transpose2d(x, w, b, **options), expected, magnitude)


@given(pooled=pool_cases(), c=channels, seed=seeds)
@example(pooled=("max", DROPPED_LAST_WINDOW), c=1, seed=0)
@example(pooled=("avg", DROPPED_LAST_WINDOW), c=1, seed=0)
def test_pooling_matches_torch(torch, pooled, c, seed):
    kind, case = pooled
    (x,) = arrays(seed, (2, *case.hw, c))
    functional = torch.nn.functional
    if kind == "max":
        expected = functional.max_pool2d(to_torch(torch, x), case.kernel, case.stride,
                                         case.padding, case.dilation, ceil_mode=case.ceil_mode)
        np.testing.assert_array_equal(run_pool(kind, x, case), from_torch(expected))
    else:
        expected = functional.avg_pool2d(to_torch(torch, x), case.kernel, case.stride,
                                         case.padding, ceil_mode=case.ceil_mode,
                                         count_include_pad=case.count_include_pad)
        assert_sums_agree(run_pool(kind, x, case), from_torch(expected),
                          run_pool(kind, np.abs(x), case))
