"""conv-pool-shape (the homework's question 5): an image through convolution, an
activation and pooling; output sizes, the depth set by the number of filters, and the
parameter count of each convolution. Params are a ``net-summary`` spec.

easy: one block, square input, stride 1, 'valid' or 'same' padding, a 2x2/2 pool that
divides evenly. medium: strides and padding that still divide. hard: two blocks,
rectangular inputs, sizes that do not divide (floor matters), dilation, and pooling in
ceil mode (ceil matters, and a last window that would start in the padding is dropped).
"""

from __future__ import annotations

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part, solve_via
from verify.formulas import conv_output_size, dilated_kernel, pool_output_size
from verify.specs import parse_net_summary

ACTIVATIONS = ("relu", "sigmoid", "tanh")


# ---------------------------------------------------------------------------
# sample

def _pool(rng: np.random.Generator, difficulty: str) -> dict:
    if difficulty == "easy":
        return {"type": "maxpool", "kernel": 2, "stride": 2}
    kind = str(rng.choice(["maxpool", "avgpool"]))
    kernel, stride = [(2, 2), (3, 2), (3, 3), (2, 1)][int(rng.integers(4 if difficulty ==
                                                                           "hard" else 3))]
    pool = {"type": kind, "kernel": kernel, "stride": stride}
    if difficulty == "hard":
        pool["padding"] = int(rng.integers(0, kernel // 2 + 1))
        pool["ceil_mode"] = bool(rng.integers(2))
    return pool


def _conv(rng: np.random.Generator, difficulty: str, n: int) -> dict:
    filters = int(rng.choice([4, 6, 8, 12, 16, 20, 24, 32, 48, 64]))
    kernel = int(rng.choice([3, 5] if difficulty == "easy" else [1, 3, 5, 7]))
    conv = {"type": "conv", "filters": filters, "kernel": kernel}
    if difficulty == "easy":
        conv.update(stride=1, padding=int(rng.choice([0, (kernel - 1) // 2])))
    elif difficulty == "medium":
        stride = int(rng.choice([1, 2]))
        # padding so that n + 2p - k divides by the stride: the sizes come out whole
        options = [p for p in range(0, kernel // 2 + 1) if (n + 2 * p - kernel) % stride == 0]
        if not options:  # an odd kernel on an even input: no padding makes stride 2 divide
            stride, options = 1, [0, kernel // 2]
        conv.update(stride=stride, padding=int(rng.choice(options)))
    else:
        conv.update(stride=int(rng.choice([1, 2, 3])), padding=int(rng.integers(0, 3)),
                    dilation=int(rng.choice([1, 1, 2])))
    return conv


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    channels = int(rng.choice([1, 3, 3, 4]))
    if difficulty == "easy":
        n = int(rng.choice([16, 24, 28, 32, 48, 64]))
        h = w = n
    elif difficulty == "medium":
        h = w = int(rng.integers(14, 65))
    else:
        h, w = (int(v) for v in rng.integers(15, 72, size=2))
    layers = []
    blocks = 2 if difficulty == "hard" else 1
    size = min(h, w)
    for _ in range(blocks):
        conv = _conv(rng, difficulty, size)
        pool = _pool(rng, difficulty)
        layers += [conv, {"type": str(rng.choice(ACTIVATIONS))}, pool]
        size = max(1, size // 2)
    if difficulty == "easy":
        # an even conv output so the 2x2/2 pool divides it: adjust the input by one
        conv = layers[0]
        out = h + 2 * conv["padding"] - conv["kernel"] + 1
        if out % 2:
            h = w = h + 1
    return {"input": [h, w, channels], "layers": layers}


# ---------------------------------------------------------------------------
# graded parts

def _spatial(params: dict) -> list[int]:
    return [i for i, layer in enumerate(params["layers"])
            if layer["type"] in ("conv", "maxpool", "avgpool")]


def parts(params: dict, answer: dict) -> list[Part]:
    found = []
    for i in _spatial(params):
        layer = params["layers"][i]
        word = "convolution" if layer["type"] == "conv" else "pooling"
        found.append(Part(f"layers.{i}.output", f"output size after layer {i + 1} ({word})",
                          answer["layers"][i]["output"]))
        if layer["type"] == "conv":
            found.append(Part(f"layers.{i}.params",
                              f"parameters (weights and biases) of layer {i + 1}",
                              answer["layers"][i]["params"]))
    return found


def choice_part(params: dict, answer: dict) -> Part:
    return Part("output", "final output size (H x W x C)", answer["output"])


# ---------------------------------------------------------------------------
# misconceptions: the whole stack walked with one wrong rule

def _walk(params: dict, *, conv_size=None, pool_size=None, depth=None) -> list[int] | None:
    h, w, c = params["input"]
    for layer in params["layers"]:
        kind = layer["type"]
        if kind not in ("conv", "maxpool", "avgpool"):
            continue
        k, s = layer["kernel"], layer.get("stride", 1 if kind == "conv" else layer["kernel"])
        p, d = layer.get("padding", 0), layer.get("dilation", 1)
        if kind == "conv":
            size = conv_size or (lambda n, k, s, p, d: conv_output_size(n, k, s, p, d))
            h, w = size(h, k, s, p, d), size(w, k, s, p, d)
            c = depth(c, layer) if depth else layer["filters"]
        else:
            ceil = layer.get("ceil_mode", False)
            size = pool_size or (lambda n, k, s, p, d, ceil: pool_output_size(n, k, s, p, d,
                                                                               ceil))
            h, w = size(h, k, s, p, d, ceil), size(w, k, s, p, d, ceil)
        if h < 1 or w < 1:
            return None
    return [int(h), int(w), int(c)]


def _no_plus_one(n, k, s, p, d):
    return (n + 2 * p - dilated_kernel(k, d)) // s


def _ignore_padding(n, k, s, p, d):
    return (n - dilated_kernel(k, d)) // s + 1


def _padding_once(n, k, s, p, d):
    return (n + p - dilated_kernel(k, d)) // s + 1


def _pool_no_plus_one(n, k, s, p, d, ceil):
    return (n + 2 * p - dilated_kernel(k, d)) // s


def _pool_skipped(n, k, s, p, d, ceil):
    return n


def _ignore_stride(n, k, s, p, d):
    return n + 2 * p - dilated_kernel(k, d) + 1


def _ignore_dilation(n, k, s, p, d):
    return (n + 2 * p - k) // s + 1


def _ceil_conv(n, k, s, p, d):
    return -(-(n + 2 * p - dilated_kernel(k, d)) // s) + 1


def _pool_by_kernel(n, k, s, p, d, ceil):
    return n // k


def _pool_floor(n, k, s, p, d, ceil):
    return pool_output_size(n, k, s, p, d, False)


def _pool_ceil_no_drop(n, k, s, p, d, ceil):
    span = n + 2 * p - dilated_kernel(k, d)
    return (-(-span // s) if ceil else span // s) + 1


def _pool_ignore_padding(n, k, s, p, d, ceil):
    return pool_output_size(n, k, s, 0, d, ceil) if n >= k else 0


MISCONCEPTIONS = (
    Misconception("forgot_plus_one", "forgot the +1 in (n + 2p - k)/s + 1",
                  lambda p, a: _walk(p, conv_size=_no_plus_one)),
    Misconception("ignored_padding", "ignored the convolution's padding",
                  lambda p, a: _walk(p, conv_size=_ignore_padding)),
    Misconception("ignored_stride", "ignored the convolution's stride",
                  lambda p, a: _walk(p, conv_size=_ignore_stride)),
    Misconception("ignored_dilation", "used the kernel size instead of the dilated extent "
                  "d(k - 1) + 1", lambda p, a: _walk(p, conv_size=_ignore_dilation)),
    Misconception("ceil_instead_of_floor", "rounded the convolution's size up (ceil) "
                  "instead of down", lambda p, a: _walk(p, conv_size=_ceil_conv)),
    Misconception("depth_from_input_channels", "kept the input's depth instead of the "
                  "number of filters", lambda p, a: _walk(p, depth=lambda c, layer: c)),
    Misconception("pool_divides_by_kernel", "divided by the pooling window instead of "
                  "applying the output-size formula", lambda p, a: _walk(
                      p, pool_size=_pool_by_kernel)),
    Misconception("floor_instead_of_ceil", "rounded down in a ceil-mode pooling",
                  lambda p, a: _walk(p, pool_size=_pool_floor)),
    Misconception("kept_dropped_window", "kept a ceil-mode window that would start in the "
                  "padding", lambda p, a: _walk(p, pool_size=_pool_ceil_no_drop)),
    Misconception("ignored_pool_padding", "ignored the pooling's padding",
                  lambda p, a: _walk(p, pool_size=_pool_ignore_padding)),
    Misconception("padding_once", "added the padding on one side only: (n + p - k)/s + 1",
                  lambda p, a: _walk(p, conv_size=_padding_once)),
    Misconception("pool_forgot_plus_one", "forgot the +1 in the pooling's output size",
                  lambda p, a: _walk(p, pool_size=_pool_no_plus_one)),
    Misconception("forgot_pooling", "stopped before the pooling: gave the convolution's "
                  "output", lambda p, a: _walk(p, pool_size=_pool_skipped)),
    Misconception("depth_times_input_channels", "took the depth as filters times input "
                  "channels (one map per filter and channel)",
                  lambda p, a: _walk(p, depth=lambda c, layer: c * layer["filters"])),
)


# ---------------------------------------------------------------------------
# independent check and worked steps

def _window_count(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """How many positions the window takes, counted one by one. A window starts at
    -p + o * s. Floor mode keeps windows that end inside the padded input; ceil mode also
    keeps one that runs past its end, as long as the previous window did not already
    reach the end and it starts inside the input or the left padding (PyTorch)."""
    extent = dilated_kernel(k, d)
    count, start = 0, -p
    while (start + extent - s < n + p and start < n) if ceil else start + extent <= n + p:
        count += 1
        start += s
    return count


def check(params: dict, answer: dict) -> Check:
    """Each graded size again, by counting the window positions (the definition of the
    output size) instead of applying the formula."""
    h, w, c = params["input"]
    bad = []
    for i, layer in enumerate(params["layers"]):
        if layer["type"] in ("conv", "maxpool", "avgpool"):
            k = layer["kernel"]
            s = layer.get("stride", 1 if layer["type"] == "conv" else k)
            p, d = layer.get("padding", 0), layer.get("dilation", 1)
            ceil = layer.get("ceil_mode", False)
            h, w = _window_count(h, k, s, p, d, ceil), _window_count(w, k, s, p, d, ceil)
            c = layer.get("filters", c)
        if [h, w, c] != answer["layers"][i]["output"]:
            bad.append(i)
    return Check("window_count", not bad, float(len(bad)),
                 f"layers {bad}: counted windows differ" if bad else "")


def work(params: dict, answer: dict) -> dict:
    """Per layer: the formula's numbers, so the solution can substitute them."""
    steps = []
    shape = params["input"]
    for i, layer in enumerate(params["layers"]):
        row = answer["layers"][i]
        step = {"index": i, "type": layer["type"], "input": shape, "output": row["output"]}
        if layer["type"] in ("conv", "maxpool", "avgpool"):
            k = layer["kernel"]
            step.update(
                k=k, s=layer.get("stride", 1 if layer["type"] == "conv" else k),
                p=layer.get("padding", 0), d=layer.get("dilation", 1),
                ceil=layer.get("ceil_mode", False), keff=dilated_kernel(k, layer.get(
                    "dilation", 1)),
                weights=row["weights"], biases=row["biases"], params=row["params"])
            step["axes"] = []
            for axis in range(2):
                n = shape[axis]
                span = n + 2 * step["p"] - step["keff"]
                raw = span // step["s"] + 1
                up = -(-span // step["s"]) + 1
                step["axes"].append({"n": n, "span": span, "floor": raw, "ceil": up,
                                     "dropped": bool(step["ceil"] and up != row["output"][axis]
                                                     ), "out": row["output"][axis]})
        steps.append(step)
        shape = row["output"]
    return {"steps": steps,
            "ceil_mode": any(layer.get("ceil_mode", False) for layer in params["layers"])}


FAMILY = Family(
    id="conv-pool-shape",
    title="Convolution and pooling output sizes",
    topic="convolutional networks",
    tags=("conv", "pooling", "shapes", "parameters"),
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
