"""verify.symbolic against the independent references: numpy backprop, the closed forms
of verify.formulas, and the proofs' own identities."""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from verify import formulas
from verify import symbolic as sym
from verify.numeric.dense import backprop
from verify.specs import ACTIVATIONS, LOSSES, SpecError, parse_net_summary

ROOT = Path(__file__).resolve().parents[2]

# The generated code and numpy backprop evaluate the same real function in float64
# through different expressions (1/(1 + e^-z) against a stable sigmoid, scalar sums
# against matmul, SymPy's cancelled softmax error term against e/sum(e) - y). Each
# operation rounds by at most eps = 2.2e-16 relative to its operands; an error in an
# error term reaches a weight gradient through at most 3 layers of at most 5-term sums
# with |w| <= 3, amplified by at most (5 * 3)^3 ~ 3.4e3. A gradient entry (delta * a_prev)
# can be far smaller than its operands, so the bound is relative to their scale,
# (1 + max|a|)(1 + max|delta|): 3.4e3 * eps ~ 7.5e-13, times ~10 roundings per
# operation. (Observed over 3000 random networks: at most 1.5 eps times that scale.)
GRADIENT_TOLERANCE = 1e-11
# A relu pre-activation this close to 0 may round to either side in the two orders of
# summation (|z| terms are at most ~1e4 here, so rounding is ~1e-12).
RELU_KINK_MARGIN = 1e-9
WEIGHT_BOUND = 3.0


@pytest.fixture(autouse=True, scope="module")
def private_cache_dir(tmp_path_factory):
    """Derivations made by these tests go to a temporary cache, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QGEN_CACHE_DIR", str(tmp_path_factory.mktemp("qgen-cache")))
        yield


# ---------------------------------------------------------------------------
# Gradients

@st.composite
def architectures(draw, max_depth=3, max_width=5):
    """(sizes, activations, loss): depth 1..max_depth, a valid activation/loss pair."""
    depth = draw(st.integers(1, max_depth))
    sizes = tuple(draw(st.lists(st.integers(1, max_width), min_size=depth + 1,
                                max_size=depth + 1)))
    loss = draw(st.sampled_from(LOSSES))
    activations = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=depth, max_size=depth))
    if loss == "bce":
        activations[-1] = "sigmoid"  # and targets in [0, 1]
    elif loss == "softmax_ce":
        activations[-1] = "linear"  # logits, and targets a distribution
    return sizes, tuple(activations), loss


@st.composite
def network_inputs(draw, sizes, loss, bound=WEIGHT_BOUND, max_batch=4):
    """(x, y, weights, biases) for one architecture, every parameter in [-bound, bound]."""
    values = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    batch = draw(st.integers(1, max_batch))
    x = draw(arrays(np.float64, (batch, sizes[0]), elements=values))
    weights = [draw(arrays(np.float64, (sizes[l], sizes[l + 1]), elements=values))
               for l in range(len(sizes) - 1)]
    biases = [draw(arrays(np.float64, (n,), elements=values)) for n in sizes[1:]]
    targets = values if loss == "mse" else st.floats(0, 1)
    y = draw(arrays(np.float64, (batch, sizes[-1]), elements=targets))
    if loss == "softmax_ce":
        y[y.sum(axis=1) == 0, 0] = 1.0
        y = y / y.sum(axis=1, keepdims=True)
    return x, y, weights, biases


def networks():
    return architectures().flatmap(
        lambda arch: network_inputs(arch[0], arch[2]).map(lambda inputs: (*arch, *inputs)))


def _params(activations, loss, x, y, weights, biases) -> dict:
    return {"x": x.tolist(), "y": y.tolist(), "lr": 0.1, "loss": loss,
            "layers": [{"W": W.tolist(), "b": b.tolist(), "activation": name}
                       for W, b, name in zip(weights, biases, activations, strict=True)]}


def _assert_matches_backprop(f, activations, loss, x, y, weights, biases):
    reference_loss, traces = backprop(_params(activations, loss, x, y, weights, biases))
    value, grads_W, grads_b = f(x, y, weights, biases)
    forward = [x, y, *(t.z for t in traces), *(t.a for t in traces)]
    scale = ((1 + max(float(np.max(np.abs(v))) for v in forward))
             * (1 + max(float(np.max(np.abs(t.delta))) for t in traces)))
    tolerance = GRADIENT_TOLERANCE * scale
    assert abs(value - reference_loss) <= tolerance, (value, reference_loss)
    for l, trace in enumerate(traces):
        assert grads_W[l].shape == trace.grad_W.shape and grads_b[l].shape == trace.grad_b.shape
        np.testing.assert_allclose(grads_W[l], trace.grad_W, rtol=0, atol=tolerance,
                                   err_msg=f"grad_W[{l}]")
        np.testing.assert_allclose(grads_b[l], trace.grad_b, rtol=0, atol=tolerance,
                                   err_msg=f"grad_b[{l}]")


def _off_relu_kinks(activations, loss, x, y, weights, biases) -> bool:
    _, traces = backprop(_params(activations, loss, x, y, weights, biases))
    return all(name != "relu" or np.min(np.abs(t.z)) > RELU_KINK_MARGIN
               for name, t in zip(activations, traces, strict=True))


@given(networks())
def test_symbolic_gradient_equals_numpy_backprop(network):
    sizes, activations, loss, x, y, weights, biases = network
    assume(_off_relu_kinks(activations, loss, x, y, weights, biases))
    f = sym.gradient_function(sizes, activations, loss)
    _assert_matches_backprop(f, activations, loss, x, y, weights, biases)


@pytest.mark.parametrize("activations, loss", [
    (("sigmoid", "sigmoid"), "bce"),
    (("tanh", "sigmoid"), "mse"),
    (("sigmoid", "linear"), "softmax_ce"),
    (("linear", "linear"), "softmax_ce"),
])
def test_symbolic_gradient_stays_finite_and_exact_on_saturated_units(activations, loss):
    # Pre-activations of +-1000 and beyond: exp overflows, and written in z the sigmoid
    # derivative is inf/inf. The derivation's forms in a (a(1 - a), a - y) and its shifted
    # softmax keep every figure finite and equal to the stable reference.
    x = np.array([[1.0, -1.0], [-1.0, 0.5]])
    y = np.array([[1.0, 0.0], [0.25, 0.75]])
    weights = [np.array([[600.0, -700.0], [-500.0, 800.0]]),
               np.array([[900.0, -300.0], [-800.0, 1000.0]])]
    biases = [np.array([0.5, -0.5]), np.array([2.0, -3.0])]
    f = sym.gradient_function((2, 2, 2), activations, loss)
    value, grads_W, grads_b = f(x, y, weights, biases)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads_W + grads_b)
    _assert_matches_backprop(f, activations, loss, x, y, weights, biases)


def _assignment(source: str, name: str):
    """The right-hand side of ``name = ...`` in generated code, as a SymPy expression."""
    import sympy as sp

    (line,) = [line for line in source.splitlines() if line.strip().startswith(f"{name} = ")]
    return sp.sympify(line.split(" = ", 1)[1])


@pytest.mark.parametrize("activations, loss, name, textbook", [
    (("sigmoid", "sigmoid"), "bce", "gz1_0", "a1_0 - y0"),  # dL/dz_L = a - y
    (("sigmoid", "sigmoid"), "bce", "gz0_0", "ga0_0*a0_0*(1 - a0_0)"),  # sigma' = a(1 - a)
    (("tanh", "tanh"), "mse", "gz1_1", "(a1_1 - y1)*(1 - a1_1**2)"),  # tanh' = 1 - a^2
])
def test_sympy_finds_the_textbook_error_terms_itself(activations, loss, name, textbook):
    # Nothing in the derivation states them: SymPy reduces the differentiated functions
    # to the forms the textbook (and verify.numeric.dense) writes by hand, in terms of a.
    import sympy as sp

    source = sym.gradient_function((2, 3, 2), activations, loss).source
    assert sp.expand(_assignment(source, name) - sp.sympify(textbook)) == 0


@functools.cache
def _naive(sizes, activations, loss):
    return sym.naive_gradient_function(sizes, activations, loss)


NAIVE_ARCHITECTURES = [
    ((2, 2), ("sigmoid",), "bce"),
    ((2, 2, 2), ("tanh", "linear"), "softmax_ce"),
    ((1, 2, 1), ("relu", "sigmoid"), "mse"),
]


@given(st.sampled_from(NAIVE_ARCHITECTURES), st.data())
def test_naive_gradient_equals_symbolic_gradient(architecture, data):
    sizes, activations, loss = architecture
    # |z| <= 2 * (2 * 2) + 2 = 10: the naive loss, evaluated as written, is accurate there.
    x, y, weights, biases = data.draw(network_inputs(sizes, loss, bound=2.0, max_batch=3))
    assume(_off_relu_kinks(activations, loss, x, y, weights, biases))
    naive = _naive(sizes, activations, loss)(x, y, weights, biases)
    fast = sym.gradient_function(sizes, activations, loss)(x, y, weights, biases)
    # Both evaluate the same expressions up to the order of operations (see
    # GRADIENT_TOLERANCE); all figures here are of order 1.
    assert naive[0] == pytest.approx(fast[0], rel=GRADIENT_TOLERANCE, abs=GRADIENT_TOLERANCE)
    for a, b in zip(naive[1] + naive[2], fast[1] + fast[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=GRADIENT_TOLERANCE, atol=GRADIENT_TOLERANCE)


@pytest.mark.parametrize("sizes, activations, loss, field", [
    ((3,), (), "mse", "sizes"),
    ((2, 0), ("linear",), "mse", "sizes[1]"),
    ((2, 2), ("linear", "linear"), "mse", "activations"),
    ((2, 2), ("gelu",), "mse", "activations[0]"),
    ((2, 2), ("linear",), "hinge", "loss"),
    ((2, 2), ("tanh",), "bce", "activations[-1]"),
    ((2, 2), ("sigmoid",), "softmax_ce", "activations[-1]"),
])
def test_invalid_architecture_raises_spec_error_naming_the_field(sizes, activations, loss, field):
    with pytest.raises(SpecError) as error:
        sym.gradient_function(sizes, activations, loss)
    assert error.value.field == field


def test_inputs_of_the_wrong_shape_raise_spec_error_naming_the_field():
    f = sym.gradient_function((2, 1), ("sigmoid",), "bce")
    weights, biases = [np.zeros((2, 1))], [np.zeros(1)]
    with pytest.raises(SpecError) as error:
        f(np.zeros((1, 3)), np.zeros((1, 1)), weights, biases)
    assert error.value.field == "x.shape"
    with pytest.raises(SpecError) as error:
        f(np.zeros((2, 2)), np.zeros((1, 1)), weights, biases)
    assert error.value.field == "y.shape"
    with pytest.raises(SpecError) as error:
        f(np.zeros((1, 2)), np.zeros((1, 1)), [np.zeros((1, 2))], biases)
    assert error.value.field == "weights[0].shape"


# ---------------------------------------------------------------------------
# Caches

CACHED = ((3, 4, 2), ("tanh", "sigmoid"), "bce")


def _inputs(sizes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (3, sizes[0]))
    y = rng.uniform(0, 1, (3, sizes[-1]))
    weights = [rng.uniform(-2, 2, (m, n)) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.uniform(-2, 2, n) for n in sizes[1:]]
    return x, y, weights, biases


def test_disk_cached_derivation_gives_identical_results_to_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setenv("QGEN_CACHE_DIR", str(tmp_path))
    sym.derivation_cache_clear()
    assert sym.gradient_function(*CACHED).origin == "derived"
    assert len(list(tmp_path.glob("symbolic-gradient-*.py"))) == 1
    sym.derivation_cache_clear()
    cached = sym.gradient_function(*CACHED)
    fresh = sym.gradient_function(*CACHED, disk_cache=False)
    assert (cached.origin, fresh.origin) == ("disk", "derived")
    assert cached.source == fresh.source
    inputs = _inputs(CACHED[0])
    ours, theirs = cached(*inputs), fresh(*inputs)
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1] + ours[2], theirs[1] + theirs[2], strict=True):
        assert np.array_equal(a, b)


def test_a_damaged_cache_file_is_derived_again(tmp_path, monkeypatch):
    monkeypatch.setenv("QGEN_CACHE_DIR", str(tmp_path))
    sym.derivation_cache_clear()
    expected = sym.gradient_function(*CACHED).source
    (path,) = tmp_path.glob("symbolic-gradient-*.py")
    path.write_text(expected.splitlines()[0] + "\ndef gradient(:\n")
    sym.derivation_cache_clear()
    again = sym.gradient_function(*CACHED)
    assert again.origin == "derived" and again.source == expected
    assert path.read_text() == expected


def test_unwritable_cache_dir_falls_back_to_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("QGEN_CACHE_DIR", str(blocker / "cache"))
    sym.derivation_cache_clear()
    f = sym.gradient_function(*CACHED)
    assert f.origin == "derived"
    assert np.isfinite(f(*_inputs(CACHED[0]))[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


_SCRIPT = """
import json, sys
import numpy as np
from verify.symbolic import gradient_function
x, y, weights, biases = json.loads(sys.argv[1])
f = gradient_function(*json.loads(sys.argv[2]))
loss, grads_W, grads_b = f(np.array(x), np.array(y), [np.array(w) for w in weights],
                           [np.array(b) for b in biases])
print(json.dumps({"origin": f.origin, "sympy": "sympy" in sys.modules, "loss": loss,
                  "grads": [g.tolist() for g in grads_W + grads_b]}))
"""


def _run(code: str, *args: str, cache: Path) -> str:
    env = {**os.environ, "QGEN_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_loading_a_cached_derivation_does_not_import_sympy(tmp_path):
    x, y, weights, biases = _inputs(CACHED[0])
    inputs = json.dumps([x.tolist(), y.tolist(), [w.tolist() for w in weights],
                         [b.tolist() for b in biases]])
    architecture = json.dumps(CACHED)
    first = json.loads(_run(_SCRIPT, inputs, architecture, cache=tmp_path))
    second = json.loads(_run(_SCRIPT, inputs, architecture, cache=tmp_path))
    assert (first["origin"], first["sympy"]) == ("derived", True)
    assert (second["origin"], second["sympy"]) == ("disk", False)
    assert second["loss"] == first["loss"] and second["grads"] == first["grads"]


def test_importing_symbolic_does_not_import_sympy(tmp_path):
    code = "import sys, verify.symbolic; print('sympy' in sys.modules)"
    assert _run(code, cache=tmp_path).strip() == "False"


# ---------------------------------------------------------------------------
# Proofs

def test_sigmoid_derivative_identity_holds():
    proof = sym.prove_sigmoid_derivative()
    assert proof.passed, proof.statement


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_derivative_identities_hold(activation):
    proof = sym.prove_activation_derivative(activation)
    assert proof.passed, proof.statement


@pytest.mark.parametrize("loss, activation", [
    ("bce", "sigmoid"), ("softmax_ce", "linear"),
    *(("mse", name) for name in ACTIVATIONS),
])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_output_delta_identities_hold(loss, activation, n_outputs):
    proof = sym.prove_output_delta(loss, n_outputs, activation=activation)
    assert proof.passed, proof.statement


@pytest.mark.parametrize("sizes, activations, loss", [
    ((2, 3, 2), ("sigmoid", "sigmoid"), "bce"),
    ((3, 2, 2), ("sigmoid", "tanh"), "mse"),
    ((2, 3, 3), ("relu", "linear"), "softmax_ce"),
    ((2, 2, 2, 1), ("tanh", "relu", "sigmoid"), "bce"),
])
def test_matrix_backprop_equations_hold(sizes, activations, loss):
    proof = sym.prove_matrix_backprop(sizes, activations, loss)
    assert proof.passed, proof.statement


def test_receptive_field_closed_form_equals_recurrence():
    proof = sym.prove_receptive_field_recurrence(6)
    assert proof.passed, proof.statement


def test_every_listed_proof_passes():
    results = sym.proofs()
    assert [p.name for p in results if not p.passed] == []
    names = [p.name for p in results]
    assert len(names) == len(set(names))
    assert {"sigmoid_derivative", "output_delta_bce_sigmoid", "output_delta_softmax_ce_linear",
            "matrix_backprop_2-3-2_sigmoid_sigmoid_bce", "receptive_field_recurrence"} <= set(names)


def test_a_wrong_textbook_derivative_fails_the_proofs(monkeypatch):
    # The proofs must be able to fail: with sigma' "= a(1 + a)" the identity, and the
    # hidden layer of the matrix equations, no longer hold.
    original = sym._textbook_derivative

    def wrong(name, z, a):
        return a * (1 + a) if name == "sigmoid" else original(name, z, a)

    monkeypatch.setattr(sym, "_textbook_derivative", wrong)
    assert not sym.prove_sigmoid_derivative().passed
    assert not sym.prove_matrix_backprop((2, 2, 1), ("sigmoid", "sigmoid"), "bce").passed


# ---------------------------------------------------------------------------
# Shape, receptive-field and cost formulas

@given(n=st.integers(1, 300), k=st.integers(1, 11), s=st.integers(1, 7), p=st.integers(0, 6),
       d=st.integers(1, 4))
def test_symbolic_shape_formulas_equal_closed_forms(n, k, s, p, d):
    assume(formulas.dilated_kernel(k, d) <= n + 2 * p)
    assert sym.formula("dilated_kernel")(k=k, d=d) == formulas.dilated_kernel(k, d)
    assert sym.formula("conv_output")(n, k, s, p, d) == formulas.conv_output_size(n, k, s, p, d)
    assert sym.formula("pool_output")(n, k, s, p, d) == formulas.pool_output_size(n, k, s, p, d)
    assert (sym.formula("pool_output_ceil")(n, k, s, p, d)
            == formulas.pool_output_size(n, k, s, p, d, ceil_mode=True))


@given(n=st.integers(1, 300), k=st.integers(1, 11), s=st.integers(1, 7), p=st.integers(0, 6),
       d=st.integers(1, 4), output_padding=st.integers(0, 6))
def test_symbolic_transposed_conv_formula_equals_closed_form(n, k, s, p, d, output_padding):
    assume(output_padding < max(s, d))
    assert (sym.formula("convtranspose_output")(n, k, s, p, d, output_padding)
            == formulas.convtranspose_output_size(n, k, s, p, d, output_padding))


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 5), st.integers(1, 4)),
                min_size=1, max_size=10))
def test_symbolic_receptive_field_equals_closed_form(layers):
    kernels, strides, dilations = (list(v) for v in zip(*layers, strict=True))
    r, jump = sym.receptive_field_formula(len(layers))
    expected = formulas.receptive_field(kernels, strides, dilations)
    assert (r(*kernels, *strides, *dilations), jump(*kernels, *strides, *dilations)) == expected


def test_unknown_formula_name_raises_spec_error():
    with pytest.raises(SpecError) as error:
        sym.formula("conv_area")
    assert error.value.field == "name"


def _pair(draw, lo, hi):
    return draw(st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=2,
                                                       max_size=2)))


def _axes(value):
    return value if isinstance(value, list) else [value, value]


@st.composite
def layer_stacks(draw):
    """net-summary params for a valid stack: each layer drawn against the shape it gets."""
    if draw(st.integers(0, 5)) == 0:
        shape = [draw(st.integers(1, 64))]
    else:
        shape = [draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 4))]
    params = {"input": list(shape), "dtype_bytes": draw(st.sampled_from([1, 2, 4, 8])),
              "layers": []}
    for _ in range(draw(st.integers(1, 8))):
        flat = len(shape) == 1
        kind = draw(st.sampled_from(
            ["dense", "relu", "sigmoid", "tanh", "flatten"] if flat else
            ["conv", "conv", "convtranspose", "maxpool", "avgpool", "relu", "tanh", "flatten"]))
        layer = {"type": kind}
        if kind in ("conv", "convtranspose"):
            layer |= {"filters": draw(st.integers(1, 8)), "kernel": _pair(draw, 1, 5),
                      "stride": _pair(draw, 1, 3), "padding": _pair(draw, 0, 2),
                      "dilation": _pair(draw, 1, 3), "bias": draw(st.booleans())}
            if kind == "convtranspose":
                bound = [max(s, d) - 1 for s, d in zip(_axes(layer["stride"]),
                                                      _axes(layer["dilation"]), strict=True)]
                layer["output_padding"] = [draw(st.integers(0, b)) for b in bound]
        elif kind in ("maxpool", "avgpool"):
            kernel = _axes(_pair(draw, 1, 4))
            layer |= {"kernel": kernel, "stride": _pair(draw, 1, 3),
                      "padding": [draw(st.integers(0, k // 2)) for k in kernel],
                      "ceil_mode": draw(st.booleans())}
            if kind == "maxpool":
                layer["dilation"] = _pair(draw, 1, 2)
        elif kind == "dense":
            layer |= {"units": draw(st.integers(1, 16)), "bias": draw(st.booleans())}
        params["layers"].append(layer)
        try:  # the shape the next layer receives; a layer that does not fit is skipped
            shape = formulas.summarize(parse_net_summary(params))["output"]
        except SpecError:
            params["layers"].pop()
        if max(shape) > 400:  # keep transposed convolutions from growing without bound
            break
    assume(params["layers"])
    return params


@given(layer_stacks())
def test_summarize_symbolic_equals_formulas_summarize(params):
    spec = parse_net_summary(params)
    assert sym.summarize_symbolic(spec) == formulas.summarize(spec)


def test_summarize_symbolic_on_the_design_example():
    spec = parse_net_summary({
        "input": [32, 32, 3], "dtype_bytes": 4,
        "layers": [{"type": "conv", "filters": 16, "kernel": 5},
                   {"type": "relu"},
                   {"type": "maxpool", "kernel": 2, "stride": 2}]})
    summary = sym.summarize_symbolic(spec)
    assert summary["output"] == [14, 14, 16]
    assert summary["layers"][0] == {
        "type": "conv", "output": [28, 28, 16], "weights": 5 * 5 * 3 * 16, "biases": 16,
        "params": 1216, "bytes": 4864, "macs": 28 * 28 * 16 * 5 * 5 * 3,
        "receptive_field": [5, 5], "jump": [1, 1]}
    assert summary["layers"][2]["receptive_field"] == [6, 6]
    assert summary["layers"][2]["jump"] == [2, 2]
    assert summary == formulas.summarize(spec)
