"""transposed-dilated: output sizes of dilated convolutions and of transposed
convolutions, as PyTorch's Conv2d and ConvTranspose2d give them. Params are a
``net-summary`` spec; the graded parts are the [H, W, C] after each of these layers.

easy: one layer on a square input: a dilated 3x3 or 5x5 convolution with stride 1
('valid' or 'same' padding), or a stride-2 transposed convolution whose kernel 2
(padding 0) or 4 (padding 1) doubles the size.
medium: a dilated convolution with a stride that divides, an activation, then a
stride-2 transposed convolution, with output padding where it takes one.
hard: an encoder-decoder on a rectangular input: a strided dilated convolution whose
stride does not divide (floor matters), a 'same' dilated convolution, then the
transposed convolution mirroring the first, whose per-axis output padding restores the
input's height and width.

Formulas (Dumoulin & Visin 2016; PyTorch docs), with the dilated extent d(k - 1) + 1:
conv floor((n + 2p - d(k-1) - 1)/s) + 1; transposed (n - 1)s - 2p + d(k-1) + op + 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part, solve_via
from verify.formulas import conv_output_size, convtranspose_output_size, dilated_kernel
from verify.specs import parse_net_summary

ACTIVATIONS = ("relu", "tanh", "sigmoid")
FILTERS = (4, 8, 12, 16, 24, 32, 48, 64)
SIZED = ("conv", "convtranspose")


def _pair(value) -> tuple[int, int]:
    return (value[0], value[1]) if isinstance(value, (list, tuple)) else (value, value)


# ---------------------------------------------------------------------------
# sample

def _dilated_conv(rng: np.random.Generator, n: int, *, stride: int = 1,
                  divides: bool = True) -> dict:
    """A dilated convolution on an n x n map whose stride divides n + 2p - extent
    (when ``divides``) - the sizes come out whole."""
    kernel = int(rng.choice([3, 5]))
    dilation = int(rng.choice([2, 3] if kernel == 3 else [2]))
    extent = dilated_kernel(kernel, dilation)
    options = [p for p in range(0, (extent - 1) // 2 + 1)
               if extent <= n + 2 * p and (not divides or (n + 2 * p - extent) % stride == 0)]
    if not options:
        stride = 1
        options = [0, (extent - 1) // 2]
    return {"type": "conv", "filters": int(rng.choice(FILTERS)), "kernel": kernel,
            "stride": stride, "padding": int(rng.choice(options)), "dilation": dilation}


def _easy(rng: np.random.Generator, channels: int) -> dict:
    if rng.integers(2):
        n = int(rng.choice([16, 20, 24, 28, 32, 48, 64]))
        kernel = int(rng.choice([3, 5]))
        dilation = int(rng.choice([2, 3] if kernel == 3 else [2]))
        padding = int(rng.choice([0, dilation * (kernel - 1) // 2]))  # 'valid' or 'same'
        layer = {"type": "conv", "filters": int(rng.choice(FILTERS)), "kernel": kernel,
                 "stride": 1, "padding": padding, "dilation": dilation}
    else:
        n = int(rng.choice([4, 5, 7, 8, 14, 16, 28]))
        kernel, padding = [(2, 0), (4, 1)][int(rng.integers(2))]  # both double the size
        layer = {"type": "convtranspose", "filters": int(rng.choice(FILTERS)),
                 "kernel": kernel, "stride": 2, "padding": padding}
    return {"input": [n, n, channels], "layers": [layer]}


def _medium(rng: np.random.Generator, channels: int) -> dict:
    n = int(rng.integers(12, 49))
    conv = _dilated_conv(rng, n, stride=int(rng.choice([1, 2])))
    kernel, padding, output_padding = [(2, 0, 0), (3, 1, 1), (3, 1, 0), (4, 1, 0),
                                       (3, 0, 1)][int(rng.integers(5))]
    up = {"type": "convtranspose", "filters": int(rng.choice(FILTERS)), "kernel": kernel,
          "stride": 2, "padding": padding}
    if output_padding:
        up["output_padding"] = output_padding
    return {"input": [n, n, channels],
            "layers": [conv, {"type": str(rng.choice(ACTIVATIONS))}, up]}


def _hard(rng: np.random.Generator, channels: int) -> dict:
    """An encoder-decoder whose down-sampling floors on at least one axis, so the
    mirrored transposed convolution needs output padding there to restore the size."""
    h, w = (int(v) for v in rng.integers(15, 72, size=2))
    if h == w:
        w += 1
    down = _dilated_conv(rng, min(h, w), stride=int(rng.choice([2, 3])), divides=False)
    s, p = down["stride"], down["padding"]
    extent = dilated_kernel(down["kernel"], down["dilation"])
    if not any((n + 2 * p - extent) % s for n in (h, w)):
        w += 1  # now w + 2p - extent leaves a remainder (and h != w, as h = w mod s)
    m_h, m_w = (conv_output_size(n, down["kernel"], s, p, down["dilation"]) for n in (h, w))
    kernel = 3
    dilation = int(rng.choice([1, 2, 3]))
    same = {"type": "conv", "filters": int(rng.choice(FILTERS)), "kernel": kernel,
            "stride": 1, "padding": dilation * (kernel - 1) // 2, "dilation": dilation}
    # The smallest size the transposed convolution can give, then what restores h and w.
    base = [convtranspose_output_size(m, down["kernel"], s, p, down["dilation"])
            for m in (m_h, m_w)]
    up = {"type": "convtranspose", "filters": channels, "kernel": down["kernel"],
          "stride": s, "padding": p, "dilation": down["dilation"],
          "output_padding": [h - base[0], w - base[1]]}
    activation = str(rng.choice(ACTIVATIONS))
    return {"input": [h, w, channels],
            "layers": [down, {"type": activation}, same, {"type": activation}, up]}


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    channels = int(rng.choice([1, 3, 8, 16]))
    return {"easy": _easy, "medium": _medium, "hard": _hard}[difficulty](rng, channels)


# ---------------------------------------------------------------------------
# graded parts

def _sized(params: dict) -> list[int]:
    return [i for i, layer in enumerate(params["layers"]) if layer["type"] in SIZED]


def _name(layer: dict) -> str:
    if layer["type"] == "convtranspose":
        return "transposed convolution"
    return "dilated convolution" if _pair(layer.get("dilation", 1)) != (1, 1) else "convolution"


def parts(params: dict, answer: dict) -> list[Part]:
    return [Part(f"layers.{i}.output",
                 f"output size after layer {i + 1} ({_name(params['layers'][i])})",
                 answer["layers"][i]["output"]) for i in _sized(params)]


def choice_part(params: dict, answer: dict) -> Part:
    return Part("output", "final output size (H x W x C)", answer["output"])


# ---------------------------------------------------------------------------
# misconceptions: the whole stack walked with one wrong rule

ConvRule = Callable[[int, int, int, int, int], int]
UpRule = Callable[[int, int, int, int, int, int], int]


def _conv(n, k, s, p, d):
    return conv_output_size(n, k, s, p, d)


def _up(n, k, s, p, d, op):
    return convtranspose_output_size(n, k, s, p, d, op)


def _walk(params: dict, *, conv: ConvRule = _conv, up: UpRule = _up,
          depth: Callable[[int, dict], int] | None = None) -> list[int] | None:
    """The final [H, W, C] by one rule per layer type; None when a size drops below 1
    (the wrong method breaks down, so it offers no option)."""
    h, w, c = params["input"]
    for layer in params["layers"]:
        if layer["type"] not in SIZED:
            continue
        ks, ss, ps, ds = (_pair(layer.get(key, default)) for key, default in (
            ("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)))
        ops = _pair(layer.get("output_padding", 0))
        sizes = []
        for axis, n in enumerate((h, w)):
            k, s, p, d = ks[axis], ss[axis], ps[axis], ds[axis]
            sizes.append(conv(n, k, s, p, d) if layer["type"] == "conv"
                         else up(n, k, s, p, d, ops[axis]))
        h, w = sizes
        c = depth(c, layer) if depth else layer["filters"]
        if h < 1 or w < 1:
            return None
    return [int(h), int(w), int(c)]


def _on_conv(rule: ConvRule):
    return lambda params, answer: _walk(params, conv=rule)


def _on_up(rule: UpRule):
    return lambda params, answer: _walk(params, up=rule)


def _on_both(conv: ConvRule, up: UpRule):
    return lambda params, answer: _walk(params, conv=conv, up=up)


MISCONCEPTIONS = (
    Misconception("ignored_dilation", "used the kernel size k instead of the dilated "
                  "extent d(k - 1) + 1", _on_both(
                      lambda n, k, s, p, d: conv_output_size(n, k, s, p, 1),
                      lambda n, k, s, p, d, op: convtranspose_output_size(n, k, s, p, 1, op))),
    Misconception("dilated_extent_d_times_k", "took the dilated extent as d * k instead "
                  "of d(k - 1) + 1", _on_both(
                      lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1,
                      lambda n, k, s, p, d, op: (n - 1) * s - 2 * p + d * k + op)),
    Misconception("forgot_plus_one", "forgot the +1 of the output-size formula", _on_both(
        lambda n, k, s, p, d: (n + 2 * p - dilated_kernel(k, d)) // s,
        lambda n, k, s, p, d, op: (n - 1) * s - 2 * p + d * (k - 1) + op)),
    Misconception("ceil_instead_of_floor", "rounded the strided convolution's quotient up "
                  "instead of down", _on_conv(
                      lambda n, k, s, p, d: -(-(n + 2 * p - dilated_kernel(k, d)) // s) + 1)),
    Misconception("ignored_padding", "left the padding out", _on_both(
        lambda n, k, s, p, d: conv_output_size(n, k, s, 0, d),
        lambda n, k, s, p, d, op: convtranspose_output_size(n, k, s, 0, d, op))),
    Misconception("transposed_as_conv", "treated the transposed convolution as a "
                  "convolution, floor((n + 2p - d(k-1) - 1)/s) + 1",
                  _on_up(lambda n, k, s, p, d, op: conv_output_size(n, k, s, p, d))),
    Misconception("forgot_output_padding", "left the output padding out",
                  _on_up(lambda n, k, s, p, d, op: convtranspose_output_size(n, k, s, p, d))),
    Misconception("n_times_stride", "used n * s instead of (n - 1) * s",
                  _on_up(lambda n, k, s, p, d, op: n * s - 2 * p + dilated_kernel(k, d) + op)),
    Misconception("added_padding", "added 2p in the transposed convolution instead of "
                  "subtracting it", _on_up(
                      lambda n, k, s, p, d, op: (n - 1) * s + 2 * p + dilated_kernel(k, d)
                      + op)),
    Misconception("upsampled_by_stride", "took a transposed convolution's output as n * s, "
                  "ignoring kernel and padding", _on_up(lambda n, k, s, p, d, op: n * s)),
    Misconception("depth_from_input_channels", "kept the input's depth instead of the "
                  "number of filters", lambda params, answer: _walk(
                      params, depth=lambda c, layer: c)),
)


# ---------------------------------------------------------------------------
# independent check and worked steps

def _windows(n: int, k: int, s: int, p: int, d: int) -> int:
    """How many places a dilated window of extent d(k - 1) + 1 takes in the padded
    input [-p, n + p), stepping by s from -p: counted, not computed."""
    extent, count, start = dilated_kernel(k, d), 0, -p
    while start + extent <= n + p:
        count += 1
        start += s
    return count


def _transposed_by_search(n: int, k: int, s: int, p: int, d: int, op: int) -> int | None:
    """A transposed convolution maps back to the sizes its convolution maps to n
    (Dumoulin & Visin 2016, section 4): the smallest such size, plus the output padding
    that picks among the s of them. None when no size reaches n."""
    for m in range(1, (n + 1) * s + dilated_kernel(k, d) + 1):
        if _windows(m, k, s, p, d) == n:
            return m + op
    return None


def check(params: dict, answer: dict) -> Check:
    """Each graded size again by counting windows: for a convolution the places its
    window takes; for a transposed one the input sizes its convolution maps back."""
    h, w, c = params["input"]
    bad = []
    for i, layer in enumerate(params["layers"]):
        if layer["type"] in SIZED:
            ks, ss, ps, ds = (_pair(layer.get(key, default)) for key, default in (
                ("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)))
            ops = _pair(layer.get("output_padding", 0))
            sizes = []
            for axis, n in enumerate((h, w)):
                args = (n, ks[axis], ss[axis], ps[axis], ds[axis])
                sizes.append(_windows(*args) if layer["type"] == "conv"
                             else _transposed_by_search(*args, ops[axis]))
            h, w = sizes
            c = layer["filters"]
        if [h, w, c] != answer["layers"][i]["output"]:
            bad.append(i)
    return Check("window_count", not bad, float(len(bad)),
                 f"layers {bad}: counted windows differ" if bad else "")


def work(params: dict, answer: dict) -> dict:
    """Per sized layer and axis: the numbers the formula takes, so the solution can
    substitute them."""
    steps = []
    shape = params["input"]
    for i, layer in enumerate(params["layers"]):
        row = answer["layers"][i]
        step = {"index": i, "type": layer["type"], "name": _name(layer), "input": shape,
                "output": row["output"]}
        if layer["type"] in SIZED:
            ks, ss, ps, ds = (_pair(layer.get(key, default)) for key, default in (
                ("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)))
            ops = _pair(layer.get("output_padding", 0))
            step["axes"] = []
            for axis in range(2):
                k, s, p, d, op = ks[axis], ss[axis], ps[axis], ds[axis], ops[axis]
                n = shape[axis]
                ax = {"name": "HW"[axis], "n": n, "k": k, "s": s, "p": p, "d": d, "op": op,
                      "extent": dilated_kernel(k, d), "out": row["output"][axis]}
                if layer["type"] == "conv":
                    ax["span"] = n + 2 * p - ax["extent"]
                    ax["quotient"] = ax["span"] // s
                    ax["floors"] = ax["span"] % s != 0
                step["axes"].append(ax)
            # one line for both axes when they read the same
            step["same_axes"] = (shape[0] == shape[1]
                                 and step["axes"][0] | {"name": ""} == step["axes"][1]
                                 | {"name": ""})
        steps.append(step)
        shape = row["output"]
    first, last = params["layers"][0], params["layers"][-1]
    geometry = ("kernel", "stride", "padding", "dilation")
    mirrors = (first["type"] == "conv" and last["type"] == "convtranspose"
               and all(_pair(first.get(key, 0)) == _pair(last.get(key, 0)) for key in geometry)
               and answer["output"][:2] == params["input"][:2])
    return {"steps": steps, "mirrors": mirrors}


FAMILY = Family(
    id="transposed-dilated",
    title="Dilated and transposed convolution output sizes",
    topic="convolutional networks",
    tags=("conv", "dilation", "transposed convolution", "shapes"),
    sample=sample,
    validate=parse_net_summary,
    solve=solve_via("net-summary"),
    check=check,
    parts=parts,
    choice_part=choice_part,
    misconceptions=MISCONCEPTIONS,
    work=work,
    problem="net-summary",
)
