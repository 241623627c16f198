"""receptive-field (the homework's question 3): reach a target x target receptive field
with stacks of smaller filters, as VGG-16 (3x3 stacks) and Inception v3 (1xk + kx1)
do, and compare the approaches: layers, the field they reach, parameters and model
size in bytes. Params are a ``receptive-field`` spec (DESIGN.md); the approaches are
every construction ``qgen solve receptive-field`` knows, in its order.

easy: the homework's setting (a square input, few channels, intermediate maps as deep
as the output, 32-bit floats, no biases), targets 5, 7 and 9. medium: targets up to 11,
intermediate depth that differs from the output's, biases sometimes, 16- or 32-bit
floats. hard: targets 11 to 15, rectangular inputs, 16-, 32- or 64-bit floats.

Model size counts parameters, never feature maps: the homework's student added the
H x W x C of the input, intermediate and output maps (20,192 bytes for two 5x5 layers);
that error is the first misconception below, computed exactly as the student did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part, solve_via, stored_bytes
from verify.formulas import dilated_kernel
from verify.specs import parse_net_summary, parse_receptive_field

LETTERS = "abcdefghijklmnopqrstuvwxyz"

# ---------------------------------------------------------------------------
# sample


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    if difficulty == "easy":
        target = int(rng.choice([5, 7, 9]))
        n = int(rng.choice([16, 20, 24, 28, 32]))
        out = int(rng.choice([2, 3, 4]))
        return {"target": target, "input": [n, n], "in_channels": int(rng.choice([1, 3, 5])),
                "out_channels": out, "mid_channels": out, "dtype_bytes": 4, "bias": False}
    if difficulty == "medium":
        target = int(rng.choice([5, 7, 9, 11]))
        n = int(rng.integers(target + 5, 41))
        out = int(rng.integers(2, 9))
        mid = int(rng.choice([c for c in range(2, 17) if c != out]))
        return {"target": target, "input": [n, n], "in_channels": int(rng.integers(1, 9)),
                "out_channels": out, "mid_channels": mid,
                "dtype_bytes": int(rng.choice([2, 4])), "bias": bool(rng.integers(2))}
    target = int(rng.choice([11, 13, 15]))
    h, w = (int(v) for v in rng.integers(target + 2, 49, size=2))
    if h == w:
        w += 1  # rectangular: the two axes must be followed apart
    return {"target": target, "input": [h, w], "in_channels": int(rng.integers(2, 13)),
            "out_channels": int(rng.integers(2, 13)), "mid_channels": int(rng.integers(2, 17)),
            "dtype_bytes": int(rng.choice([2, 4, 8])), "bias": bool(rng.integers(2))}


# ---------------------------------------------------------------------------
# graded parts


def parts(params: dict, answer: dict) -> list[Part]:
    found = []
    for i, approach in enumerate(answer["approaches"]):
        tag = f"approach ({LETTERS[i]})"
        key = f"approaches.{i}"
        found += [
            Part(f"{key}.layers", f"number of layers of {tag}", approach["layers"]),
            Part(f"{key}.receptive_field", f"receptive field (height x width) of {tag}",
                 approach["receptive_field"]),
            Part(f"{key}.params", f"parameters (weights and biases) of {tag}",
                 approach["params"]),
            Part(f"{key}.bytes", f"model size in bytes of {tag}", approach["bytes"]),
        ]
    return found


def choice_index(params: dict, answer: dict) -> int:
    """Which approach the multiple-choice question asks about: a stable function of the
    params (a hash of their JSON), so every approach is asked about in some questions."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return digest % len(answer["approaches"])


def choice_part(params: dict, answer: dict) -> Part:
    i = choice_index(params, answer)
    return Part(f"approaches.{i}.bytes", f"model size in bytes of approach ({LETTERS[i]})",
                answer["approaches"][i]["bytes"])


# ---------------------------------------------------------------------------
# misconceptions: the asked approach's model size, counted with one wrong rule


def weights_rule(kh, kw, d, c_in, c_out):
    """The right count: each of the C_out filters spans k_h x k_w x C_in."""
    return kh * kw * c_in * c_out


def one_filter_rule(kh, kw, d, c_in, c_out):
    """The homework's count: one filter's k_h x k_w x C_in per layer."""
    return kh * kw * c_in


def _no_input_channels(kh, kw, d, c_in, c_out):
    return kh * kw * c_out


def _area_only(kh, kw, d, c_in, c_out):
    return kh * kw


def _dilated_extent(kh, kw, d, c_in, c_out):
    return dilated_kernel(kh, d) * dilated_kernel(kw, d) * c_in * c_out


def _square(kh, kw, d, c_in, c_out):
    k = max(kh, kw)
    return k * k * c_in * c_out


def model_size(params: dict, approach: dict, *, weights: Callable = weights_rule,
               out_everywhere: bool = False, biases: bool | None = None,
               feature_maps: bool = False, dtype_bytes: int | None = None,
               bits: bool = False) -> int:
    """Model size in bytes of ``approach`` counted by a student's rules: the defaults
    give the answer; each misconception changes one rule. ``feature_maps`` adds the
    H x W x C of the input and of every layer's output, as the homework did."""
    chans = approach["channels"]
    if out_everywhere:
        chans = [chans[0]] + [params["out_channels"]] * (len(chans) - 1)
    with_bias = params["bias"] if biases is None else biases
    h, w = params["input"]
    maps = h * w * chans[0]
    count = 0
    for (kh, kw), d, c_in, c_out in zip(approach["kernels"], approach["dilations"],
                                        chans[:-1], chans[1:], strict=True):
        count += weights(kh, kw, d, c_in, c_out) + (c_out if with_bias else 0)
        h, w = h - d * (kh - 1), w - d * (kw - 1)
        maps += h * w * c_out
    if feature_maps:
        count += maps
    size = count * (dtype_bytes or params["dtype_bytes"])
    return size * 8 if bits else size


def _asked(params: dict, answer: dict) -> dict:
    return answer["approaches"][choice_index(params, answer)]


def _wrong(condition: Callable[[dict, dict], bool] | None = None, **rules):
    """The asked approach's size under ``rules``; None when ``condition`` says the
    mistake cannot happen for these params (forgetting biases needs biases), so it is
    never offered as a distractor equal to the answer for the wrong reason."""
    def wrong(params: dict, answer: dict) -> int | None:
        if condition is not None and not condition(params, answer):
            return None
        return model_size(params, _asked(params, answer), **rules)

    return wrong


MISCONCEPTIONS = (
    Misconception(
        "homework_feature_maps", "the homework's method: one filter's k x k x C_in per layer, "
        "plus the H x W x C of the input, intermediate and output feature maps",
        _wrong(weights=one_filter_rule, feature_maps=True)),
    Misconception(
        "counted_feature_maps", "added the feature maps (H x W x C of the input, intermediate "
        "and output maps) to the model size", _wrong(feature_maps=True)),
    Misconception(
        "forgot_input_channels", "counted k x k x C_out weights per layer (forgot that each "
        "filter spans every input channel)", _wrong(weights=_no_input_channels)),
    Misconception(
        "one_filter_per_layer", "counted one filter per layer, k x k x C_in (forgot the "
        "number of filters)", _wrong(weights=one_filter_rule)),
    Misconception(
        "kernel_area_only", "counted k x k weights per layer (no channels at all)",
        _wrong(weights=_area_only)),
    Misconception(
        "out_channels_everywhere", "gave every intermediate map the output's depth",
        _wrong(lambda p, a: p["mid_channels"] != p["out_channels"]
               and _asked(p, a)["layers"] > 1, out_everywhere=True)),
    Misconception("bits_not_bytes", "gave the size in bits, not bytes", _wrong(bits=True)),
    Misconception("parameters_not_bytes", "gave the number of parameters, not bytes",
                  _wrong(dtype_bytes=1)),
    Misconception("assumed_float32", "assumed 4-byte (32-bit) floats",
                  _wrong(lambda p, a: p["dtype_bytes"] != 4, dtype_bytes=4)),
    Misconception("forgot_biases", "left out the biases",
                  _wrong(lambda p, a: p["bias"], biases=False)),
    Misconception("added_biases", "added a bias per filter to layers without biases",
                  _wrong(lambda p, a: not p["bias"], biases=True)),
    Misconception(
        "dilated_extent_as_weights", "counted a dilated filter's extent d(k - 1) + 1 as its "
        "size (the holes hold no weights)",
        _wrong(lambda p, a: any(d > 1 for d in _asked(p, a)["dilations"]),
               weights=_dilated_extent)),
    Misconception(
        "factorised_as_square", "counted a 1 x k or k x 1 filter as k x k",
        _wrong(lambda p, a: any(kh != kw for kh, kw in _asked(p, a)["kernels"]),
               weights=_square)),
)


# ---------------------------------------------------------------------------
# independent check: each approach built and run as a layer stack


def _stack(params: dict, approach: dict, field: int) -> dict:
    """The approach as a net-summary stack on a ``field`` x ``field`` input."""
    return {"input": [field, field, params["in_channels"]],
            "dtype_bytes": params["dtype_bytes"],
            "layers": [{"type": "conv", "filters": c, "kernel": list(k), "dilation": d,
                        "bias": params["bias"]}
                       for k, d, c in zip(approach["kernels"], approach["dilations"],
                                          approach["channels"][1:], strict=True)]}


def check(params: dict, answer: dict) -> Check:
    """Each approach run as a numpy layer stack on an input exactly the target's size:
    layers and model size from the arrays it allocates (stored at the params' element
    size; their shapes do not depend on the map's size, so the small input keeps the
    run cheap), and the receptive field from how much the run shrinks the map: with stride
    1 and no padding an output unit sees exactly input - output + 1 rows (and columns),
    so a stack that reaches the target leaves a single output unit."""
    from verify.numeric.conv import run_stack
    from verify.specs import SpecError

    task = parse_receptive_field(params)
    t = task.target
    wrong = []
    for approach in answer["approaches"]:
        spec = parse_net_summary(_stack(params, approach, t))
        try:
            _, arrays, shapes = run_stack(spec, np.zeros(spec.input),
                                          rng=np.random.default_rng(0))
        except SpecError as error:  # a field larger than the target
            wrong.append(f"{approach['name']}: {error}")
            continue
        h, w, _ = shapes[-1]
        measured = {"layers": sum(p is not None for p in arrays),
                    "receptive_field": [t - h + 1, t - w + 1],
                    "bytes": stored_bytes(arrays, task.dtype_bytes),
                    "channels": [task.in_channels, *(p["W"].shape[-1] for p in arrays)]}
        claimed = {key: approach[key] for key in measured}
        if measured != claimed:
            wrong.append(f"{approach['name']}: run {measured}, answer {claimed}")
    if any(a["receptive_field"] != [t, t] for a in answer["approaches"]):
        wrong.append(f"not every approach reaches {t} x {t}")
    return Check("numeric_stack_run", not wrong, float(len(wrong)), "; ".join(wrong[:2]))


# ---------------------------------------------------------------------------
# worked steps


def _group(terms: list[str]) -> list[tuple[str, int]]:
    """Equal terms gathered, in order of first appearance: [(term, count), ...]."""
    counts: dict[str, int] = {}
    for term in terms:
        counts[term] = counts.get(term, 0) + 1
    return list(counts.items())


def _sum(terms: list[str]) -> str:
    """A LaTeX sum with repeated terms written once with their count."""
    return " + ".join(t if n == 1 else f"{n} \\cdot {_wrap(t)}" for t, n in _group(terms))


def _wrap(term: str) -> str:
    return f"({term})" if " " in term and not term.startswith("(") else term


def _field_expr(extents: list[int]) -> str:
    """1 + sum (k_eff - 1), without the terms that add nothing (a 1-wide kernel)."""
    terms = [f"({k} - 1)" for k in extents if k > 1]
    return "1 + " + _sum(terms) if terms else "1"


def _kind(kernels: list[list[int]], dilations: list[int]) -> dict:
    """The shape of a construction, for the question's words (the template's cases)."""
    n = len(kernels)
    (kh, kw), d = kernels[0], dilations[0]
    if n == 1:
        return {"kind": "dilated" if d > 1 else "single", "k": kh, "d": d}
    if all(d == 1 for d in dilations):
        if all(k == [kh, kh] for k in kernels):
            return {"kind": "stack", "n": n, "k": kh}
        if n == 2 and kh == kw and kernels[1][0] == kernels[1][1]:
            return {"kind": "mixed", "k": kh, "k2": kernels[1][0]}
        if n == 2 and kh == 1 and kernels[1] == [kw, 1]:
            return {"kind": "factorised", "k": kw}
        pair = [[1, kw], [kw, 1]]
        if n % 2 == 0 and kh == 1 and all(k == pair[i % 2] for i, k in enumerate(kernels)):
            return {"kind": "factorised_stack", "n": n // 2, "k": kw}
    return {"kind": "other"}


def _label(kernels: list[list[int]], dilations: list[int]) -> str:
    """The construction in LaTeX: 4 \\times (3 \\times 3), 1 \\times 9 + 9 \\times 1, ..."""
    shape = _kind(kernels, dilations)
    kind = shape["kind"]

    def sq(k: int) -> str:
        return f"{k} \\times {k}"

    if kind == "single":
        return sq(shape["k"])
    if kind == "dilated":
        return f"{sq(shape['k'])},\\ d = {shape['d']}"
    if kind == "stack":
        return f"{shape['n']} \\times ({sq(shape['k'])})"
    if kind == "mixed":
        return f"{sq(shape['k'])} + {sq(shape['k2'])}"
    if kind == "factorised":
        return f"1 \\times {shape['k']} + {shape['k']} \\times 1"
    if kind == "factorised_stack":
        return f"{shape['n']} \\times (1 \\times {shape['k']} + {shape['k']} \\times 1)"
    return " + ".join(f"{kh} \\times {kw}" for kh, kw in kernels)


def work(params: dict, answer: dict) -> dict:
    """Per approach: its words, each layer's map and field, and the sums substituted."""
    h0, w0 = params["input"]
    approaches = []
    for i, approach in enumerate(answer["approaches"]):
        rows = []
        h, w = h0, w0
        rh = rw = 1
        weight_terms, bias_terms, ext_h, ext_w = [], [], [], []
        square = all(kh == kw for kh, kw in approach["kernels"])
        chans = approach["channels"]
        for j, ((kh, kw), d) in enumerate(zip(approach["kernels"], approach["dilations"],
                                              strict=True)):
            eh, ew = dilated_kernel(kh, d), dilated_kernel(kw, d)
            h, w = h - (eh - 1), w - (ew - 1)
            rh, rw = rh + eh - 1, rw + ew - 1
            ext_h.append(eh)
            ext_w.append(ew)
            c_in, c_out = chans[j], chans[j + 1]
            weight_terms.append(f"{kh} \\cdot {kw} \\cdot {c_in} \\cdot {c_out}")
            bias_terms.append(str(c_out))
            rows.append({"index": j + 1, "kernel": [kh, kw], "dilation": d,
                         "extent": [eh, ew], "c_in": c_in, "c_out": c_out,
                         "output": [h, w, c_out], "field": [rh, rw],
                         "weights": kh * kw * c_in * c_out})
        approaches.append({
            "letter": LETTERS[i], **_kind(approach["kernels"], approach["dilations"]),
            "label": _label(approach["kernels"], approach["dilations"]),
            "rows": rows, "square": square, "dilated": any(d > 1 for d in
                                                           approach["dilations"]),
            "field_h": _field_expr(ext_h), "field_w": _field_expr(ext_w),
            "weights_sum": _sum(weight_terms),
            "biases_sum": _sum(bias_terms) if params["bias"] else "0",
        })
    asked = choice_index(params, answer)
    return {"approaches": approaches, "asked": asked, "asked_letter": LETTERS[asked]}


FAMILY = Family(
    id="receptive-field",
    title="Large receptive fields from small filters",
    topic="convolutional networks",
    tags=("conv", "receptive field", "parameters", "model size"),
    sample=sample,
    validate=parse_receptive_field,
    solve=solve_via("receptive-field"),
    check=check,
    parts=parts,
    choice_part=choice_part,
    misconceptions=MISCONCEPTIONS,
    work=work,
    problem="receptive-field",
)
