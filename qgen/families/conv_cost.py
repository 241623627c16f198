"""conv-cost: what a layer or a small network costs to store and to run. Weights,
biases and MACs of each layer with parameters; total parameters, model size in bytes
and MACs for one input. Params are a ``net-summary`` spec (DESIGN.md).

easy: one convolution on a square image ('valid' or 'same' padding, stride 1, 32-bit
floats). medium: a VGG-style block, two 3x3 convolutions with ReLUs then a 2x2 max
pooling, 16- or 32-bit floats. hard: one or two convolution blocks (strides, 'same' or
'valid' padding, a convolution without bias now and then) on a rectangular image, then
flatten and a dense head of two layers.

Counting follows DESIGN.md: conv MACs = H_out W_out C_out k_h k_w C_in, dense MACs =
n_in n_out, pooling and activations none, bias additions not counted; model size is
parameters times bytes per parameter, never activations.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part, solve_via, stored_bytes
from verify.formulas import conv_output_size, pool_output_size, summarize
from verify.specs import parse_net_summary

# The family's check runs every layer with all its channels, so a question's MACs are
# counted by an actual run whatever the solver's own budget (qgen.problems runs one
# channel per layer above NUMERIC_MAC_BUDGET). numpy runs about 1e9 MACs a second:
# this bound keeps the worst check near 5 ms (a draw above it is drawn again).
MAX_MACS = 5_000_000

# numpy element types whose itemsize is the model's bytes per parameter; any other
# size is measured on raw bytes of that width.


# ---------------------------------------------------------------------------
# sample


def _conv(filters: int, kernel: int, stride: int = 1, padding: int = 0,
          bias: bool = True) -> dict:
    layer = {"type": "conv", "filters": filters, "kernel": kernel, "stride": stride,
             "padding": padding}
    if not bias:
        layer["bias"] = False
    return layer


def _easy(rng: np.random.Generator) -> dict:
    n = int(rng.choice([16, 28, 32, 64]))
    k = int(rng.choice([1, 3, 5]) if n <= 32 else rng.choice([3, 5]))
    padding = int(rng.choice([0, (k - 1) // 2]))
    return {"input": [n, n, int(rng.choice([1, 3]))], "dtype_bytes": 4,
            "layers": [_conv(int(rng.choice([8, 16, 32])), k, 1, padding)]}


def _medium(rng: np.random.Generator) -> dict:
    n = int(rng.choice([16, 24, 28, 32]))
    c1 = int(rng.choice([8, 16, 32]))
    c2 = int(rng.choice([c1, 2 * c1]))
    padding = int(rng.choice([1, 1, 0]))  # VGG pads to keep the size ('same')
    return {"input": [n, n, int(rng.choice([1, 3]))], "dtype_bytes": int(rng.choice([2, 4])),
            "layers": [_conv(c1, 3, 1, padding), {"type": "relu"}, _conv(c2, 3, 1, padding),
                       {"type": "relu"}, {"type": "maxpool", "kernel": 2, "stride": 2}]}


def _hard(rng: np.random.Generator) -> dict:
    h, w = (int(v) for v in rng.integers(20, 49, size=2))
    size = min(h, w)
    layers: list[dict] = []
    filters = int(rng.choice([4, 6, 8, 12, 16]))
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.choice([3, 5]))
        stride = int(rng.choice([1, 1, 2]))
        padding = int(rng.choice([0, (k - 1) // 2]))
        bias = bool(rng.integers(4))  # a conv before batch norm has no bias
        if size + 2 * padding < k:
            break
        layers += [_conv(filters, k, stride, padding, bias), {"type": "relu"}]
        size = conv_output_size(size, k, stride, padding)
        if rng.integers(2) and size >= 3:  # a second 3x3 'same' conv, VGG-style
            layers += [_conv(filters, 3, 1, 1), {"type": "relu"}]
        if size >= 4:
            layers.append({"type": str(rng.choice(["maxpool", "avgpool"])), "kernel": 2,
                           "stride": 2})
            size = pool_output_size(size, 2, 2)
        filters *= 2
    hidden = int(rng.choice([16, 32, 64, 128]))
    layers += [{"type": "flatten"}, {"type": "dense", "units": hidden}, {"type": "relu"},
               {"type": "dense", "units": int(rng.choice([2, 5, 10]))}]
    return {"input": [h, w, int(rng.choice([1, 3, 4]))],
            "dtype_bytes": int(rng.choice([2, 4, 8])), "layers": layers}


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    draw = {"easy": _easy, "medium": _medium, "hard": _hard}[difficulty]
    while True:  # redraws only the rare stack too costly to run as a check
        params = draw(rng)
        if summarize(parse_net_summary(params))["total"]["macs"] <= MAX_MACS:
            return params


# ---------------------------------------------------------------------------
# graded parts


def _costly(params: dict) -> list[int]:
    """Indices of the layers with parameters (conv and dense)."""
    return [i for i, layer in enumerate(params["layers"]) if layer["type"] in ("conv",
                                                                               "dense")]


def _layer_word(params: dict, i: int) -> str:
    return "convolution" if params["layers"][i]["type"] == "conv" else "dense layer"


def parts(params: dict, answer: dict) -> list[Part]:
    costly = _costly(params)
    found = []
    for i in costly:
        row = answer["layers"][i]
        tag = f"layer {i + 1} ({_layer_word(params, i)})"
        found += [Part(f"layers.{i}.weights", f"weights of {tag}", row["weights"]),
                  Part(f"layers.{i}.biases", f"biases of {tag}", row["biases"])]
        if len(costly) > 1:  # with one layer its MACs are the total's
            found.append(Part(f"layers.{i}.macs", f"MACs of {tag}", row["macs"]))
    total = answer["total"]
    return found + [
        Part("total.params", "total parameters (weights and biases)", total["params"]),
        Part("total.bytes", "model size in bytes", total["bytes"]),
        Part("total.macs", "total MACs for one input", total["macs"]),
    ]


def asks_macs(params: dict) -> bool:
    """Whether the multiple-choice question asks for the MACs (else the model size): a
    stable function of the params (a hash of their JSON), half of the questions each."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


def choice_part(params: dict, answer: dict) -> Part:
    if asks_macs(params):
        return Part("total.macs", "total MACs for one input", answer["total"]["macs"])
    return Part("total.bytes", "model size in bytes", answer["total"]["bytes"])


# ---------------------------------------------------------------------------
# misconceptions: the whole stack counted again with one wrong rule


def _walk(params: dict, *, plus_one: bool = True, padding: bool = True, stride: bool = True,
          input_channels: bool = True, filters: bool = True, biases: str = "filters",
          macs_at: str = "output", bias_macs: bool = False, pool_macs: bool = False
          ) -> dict | None:
    """Totals (weights, biases, params, macs, maps) of the stack under the given rules;
    None when a wrong rule leaves a size below 1. ``maps`` is the size of the input and
    of every convolution's, pooling's and dense layer's output (activations)."""
    h, w, c = params["input"]
    flat = None
    weights = bias_count = macs = 0
    maps = h * w * c

    def size(n, k, s, p, pool=False):
        s = s if stride or pool else 1
        p = p if padding or pool else 0
        return (n + 2 * p - k) // s + (1 if plus_one else 0)

    for layer in params["layers"]:
        kind = layer["type"]
        if kind == "conv":
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
            h_out, w_out, c_out = size(h, k, s, p), size(w, k, s, p), layer["filters"]
            if h_out < 1 or w_out < 1:
                return None
            c_in = c if input_channels else 1
            weights += k * k * c_in * (c_out if filters else 1)
            has_bias = layer.get("bias", True)
            units = h_out * w_out * c_out
            if has_bias and biases != "none":
                bias_count += units if biases == "units" else c_out
            h_macs, w_macs = (h_out, w_out) if macs_at == "output" else (h, w)
            macs += h_macs * w_macs * c_out * k * k * c_in
            if bias_macs and has_bias:
                macs += units
            h, w, c = h_out, w_out, c_out
            maps += units
        elif kind in ("maxpool", "avgpool"):
            k, s = layer["kernel"], layer.get("stride", layer["kernel"])
            h_out, w_out = size(h, k, s, 0, pool=True), size(w, k, s, 0, pool=True)
            if h_out < 1 or w_out < 1:
                return None
            if pool_macs:
                macs += h_out * w_out * c * k * k
            h, w = h_out, w_out
            maps += h * w * c
        elif kind == "flatten":
            flat = h * w * c
        elif kind == "dense":
            units = layer["units"]
            weights += flat * units
            has_bias = layer.get("bias", True)
            if has_bias and biases != "none":
                bias_count += units
            macs += flat * units + (units if bias_macs and has_bias else 0)
            flat = units
            maps += units
    return {"weights": weights, "biases": bias_count, "params": weights + bias_count,
            "macs": macs, "maps": maps}


def _figure(params: dict, totals: dict | None, *, bits: bool = False,
            dtype_bytes: int | None = None, feature_maps: bool = False) -> int | None:
    """The asked figure (MACs or bytes) from a walk's totals."""
    if totals is None:
        return None
    if asks_macs(params):
        return totals["macs"]
    count = totals["params"] + (totals["maps"] if feature_maps else 0)
    return count * (dtype_bytes or params["dtype_bytes"]) * (8 if bits else 1)


def _bytes_only(wrong):
    """A mistake in counting the model size: None when the question asks for MACs."""
    return lambda p, a: None if asks_macs(p) else wrong(p, a)


def _macs_only(wrong):
    return lambda p, a: wrong(p, a) if asks_macs(p) else None


def _walked(**rules):
    return lambda p, a: _figure(p, _walk(p, **rules))


def _any_conv(params: dict, test) -> bool:
    return any(test(layer) for layer in params["layers"] if layer["type"] == "conv")


MISCONCEPTIONS = (
    # model size
    Misconception("forgot_biases", "left out the biases",
                  _bytes_only(lambda p, a: _figure(p, _walk(p, biases="none"))
                              if a["total"]["biases"] else None)),
    Misconception("bias_per_output_unit", "counted a convolution's biases once per output "
                  "unit (H x W x C) instead of once per filter",
                  _bytes_only(_walked(biases="units"))),
    Misconception("one_filter_per_layer", "counted one filter per convolution, "
                  "k x k x C_in (forgot the number of filters)",
                  _bytes_only(_walked(filters=False))),
    Misconception("counted_feature_maps", "added the feature maps (activations) to the "
                  "model size", _bytes_only(lambda p, a: _figure(p, _walk(p),
                                                                 feature_maps=True))),
    Misconception("bits_not_bytes", "gave the size in bits, not bytes",
                  _bytes_only(lambda p, a: _figure(p, _walk(p), bits=True))),
    Misconception("parameters_not_bytes", "gave the number of parameters, not bytes",
                  _bytes_only(lambda p, a: _figure(p, _walk(p), dtype_bytes=1))),
    Misconception("assumed_float32", "assumed 4-byte (32-bit) floats",
                  _bytes_only(lambda p, a: _figure(p, _walk(p), dtype_bytes=4)
                              if p.get("dtype_bytes", 4) != 4 else None)),
    # MACs
    Misconception("macs_with_input_size", "counted a convolution's MACs with the input's "
                  "H x W instead of the output's", _macs_only(_walked(macs_at="input"))),
    Misconception("flops_not_macs", "counted FLOPs (2 per MAC) instead of MACs",
                  _macs_only(lambda p, a: 2 * a["total"]["macs"])),
    Misconception("macs_equal_weights", "counted one MAC per weight (forgot that a filter "
                  "is applied at every output position)",
                  _macs_only(lambda p, a: a["total"]["weights"])),
    Misconception("counted_bias_additions", "counted each bias addition as a MAC",
                  _macs_only(_walked(bias_macs=True))),
    Misconception("counted_pooling", "counted a pooling window's k x k reads as MACs",
                  _macs_only(lambda p, a: _figure(p, _walk(p, pool_macs=True))
                             if any(layer["type"].endswith("pool") for layer in p["layers"])
                             else None)),
    # either figure: sizes or weights counted wrongly through the stack
    Misconception("forgot_input_channels", "left the input channels out of a filter's "
                  "weights (k x k per filter)", _walked(input_channels=False)),
    Misconception("forgot_plus_one", "forgot the +1 in a layer's output size "
                  "(n + 2p - k)/s + 1", _walked(plus_one=False)),
    Misconception("ignored_padding", "ignored a convolution's padding",
                  lambda p, a: _figure(p, _walk(p, padding=False))
                  if _any_conv(p, lambda layer: layer.get("padding", 0)) else None),
    Misconception("ignored_stride", "ignored a convolution's stride",
                  lambda p, a: _figure(p, _walk(p, stride=False))
                  if _any_conv(p, lambda layer: layer.get("stride", 1) != 1) else None),
)


# ---------------------------------------------------------------------------
# independent check: the stack run layer by layer


def check(params: dict, answer: dict) -> Check:
    """Each layer run on its own with numpy, fed the previous layer's actual output:
    weights and biases from the arrays it allocates, MACs from a MacCounter that tallies
    the multiplications the layer performs, its output shape from the run; the model
    size from the arrays stored at the params' element size."""
    from verify.numeric.conv import MacCounter, run_stack
    from verify.specs import NetSummary

    spec = parse_net_summary(params)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.input)
    wrong = []
    all_arrays = []
    macs_total = 0
    for i, (layer, row) in enumerate(zip(spec.layers, answer["layers"], strict=True)):
        counter = MacCounter()
        one = NetSummary(input=tuple(x.shape), layers=(layer,), dtype_bytes=spec.dtype_bytes)
        x, arrays, shapes = run_stack(one, x, rng=rng, counter=counter)
        p = arrays[0] or {}
        measured = {"output": list(shapes[0]),
                    "weights": p["W"].size if "W" in p else 0,
                    "biases": p["b"].size if p.get("b") is not None else 0,
                    "macs": counter.count}
        claimed = {key: row[key] for key in measured}
        if measured != claimed:
            wrong.append(f"layers[{i}]: run {measured}, answer {claimed}")
        all_arrays += arrays
        macs_total += counter.count
    stored = stored_bytes(all_arrays, spec.dtype_bytes)
    if (stored, macs_total) != (answer["total"]["bytes"], answer["total"]["macs"]):
        wrong.append(f"total: stored {stored} bytes and ran {macs_total} MACs, answer "
                     f"{answer['total']['bytes']} and {answer['total']['macs']}")
    return Check("numeric_layer_runs", not wrong, float(len(wrong)), "; ".join(wrong[:2]))


# ---------------------------------------------------------------------------
# worked steps


def work(params: dict, answer: dict) -> dict:
    """Per layer: the numbers each formula substitutes (sizes per axis, weights, MACs)."""
    spec = parse_net_summary(params)
    shape = list(spec.input)
    steps = []
    for i, (layer, row) in enumerate(zip(spec.layers, answer["layers"], strict=True)):
        step = {"index": i, "number": i + 1, "type": layer.type, "input": shape,
                "output": row["output"], "weights": row["weights"], "biases": row["biases"],
                "params": row["params"], "macs": row["macs"]}
        if layer.type in ("conv", "maxpool", "avgpool"):
            step["axes"] = [{"n": shape[a], "k": layer.kernel[a], "s": layer.stride[a],
                             "p": layer.padding[a], "out": row["output"][a]} for a in range(2)]
            step["same_axes"] = step["axes"][0] == step["axes"][1]
        if layer.type == "conv":
            kh, kw = layer.kernel
            step.update(kh=kh, kw=kw, c_in=shape[2], c_out=layer.filters,
                        bias=layer.bias)
        if layer.type == "dense":
            step.update(n_in=shape[0], units=layer.units, bias=layer.bias)
        steps.append(step)
        shape = row["output"]
    costly = _costly(params)
    return {"steps": steps, "costly": costly,
            "macs_terms": [answer["layers"][i]["macs"] for i in costly],
            "weights_terms": [answer["layers"][i]["weights"] for i in costly],
            "biases_terms": [answer["layers"][i]["biases"] for i in costly],
            "asks_macs": asks_macs(params)}


FAMILY = Family(
    id="conv-cost",
    title="Parameters, model size and MACs of a convolutional network",
    topic="convolutional networks",
    tags=("conv", "dense", "parameters", "model size", "MACs"),
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
