"""verify.strategies, verify.checks and the pytest plugin, as a course's CI uses them.

The strategies draw only what the reference accepts and honour their options; the checks
accept an independent textbook implementation and reject planted bugs with messages that
name the entry and both values; the plugin gives another project the three profiles.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from verify.checks import (
    assert_conv_output_size_matches,
    assert_pool_output_size_matches,
    assert_receptive_field_matches,
    assert_sgd_step_matches,
    check_conv_output_size,
    check_pool_output_size,
    check_receptive_field,
    check_sgd_step,
)
from verify.formulas import conv_output_size, pool_output_size, summarize
from verify.specs import parse_net_summary
from verify.strategies import backprop_steps, conv_configs, layer_stacks, pool_configs

HOMEWORK_Q2 = {
    "x": [0.1, 0.7], "y": [0, 1.0], "lr": 0.01, "loss": "bce",
    "layers": [
        {"W": [[0.1, 0.3, 0.4], [0.2, 0.2, 0.1]], "b": [0.31416, -0.27182, 0.186282],
         "activation": "sigmoid"},
        {"W": [[0.3, 0.1], [0.5, 0.6], [0.2, 0.7]], "b": [1.618, 0.1729],
         "activation": "sigmoid"},
    ],
}
# A few examples are enough to show that a helper runs a property; the properties of the
# strategies themselves run under the loaded profile.
FEW = settings(max_examples=10, derandomize=True, database=None)


def failing_case(error: BaseException) -> str:
    """Hypothesis's report of the shrunk example ("Failing test case" since 6.159,
    "Falsifying example" before)."""
    notes = "\n".join(getattr(error, "__notes__", []))
    assert "Failing test case" in notes or "Falsifying example" in notes, notes
    return notes


# ---------------------------------------------------------------------------
# A student's textbook implementation, written here from the definitions


_ACTIVATIONS = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
}


def textbook_sgd_step(x, y, weights, biases, lr, *, activations, loss):
    a_s, z_s = [np.atleast_2d(x)], []
    y = np.atleast_2d(y)
    for W, b, name in zip(weights, biases, activations, strict=True):
        z_s.append(a_s[-1] @ W + b)
        a_s.append(_ACTIVATIONS[name][0](z_s[-1]))
    z, a = z_s[-1], a_s[-1]
    if loss == "bce":
        delta = a - y
    elif loss == "mse":
        delta = (a - y) * _ACTIVATIONS[activations[-1]][1](z, a)
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        delta = e / e.sum(axis=1, keepdims=True) - y  # one-hot targets sum to 1
    new_weights, new_biases = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        new_weights[layer] = weights[layer] - lr * a_s[layer].T @ delta / len(y)
        new_biases[layer] = biases[layer] - lr * delta.mean(axis=0)
        if layer:
            derivative = _ACTIVATIONS[activations[layer - 1]][1]
            delta = delta @ weights[layer].T * derivative(z_s[layer - 1], a_s[layer])
    return new_weights, new_biases


def homework_sgd_step(x, y, weights, biases, lr):
    return textbook_sgd_step(x, y, weights, biases, lr,
                             activations=("sigmoid",) * len(weights), loss="bce")


# ---------------------------------------------------------------------------
# Strategies: valid by construction, options honoured


@given(config=conv_configs(min_size=3, max_size=9, max_kernel=4, max_dilation=3))
def test_conv_configs_fit_the_padded_input_and_honour_their_bounds(config):
    n, k, s, p, d = config.values()
    assert list(config) == ["n", "kernel", "stride", "padding", "dilation"]
    assert 3 <= n <= 9 and 1 <= k <= 4 and 1 <= d <= 3 and 0 <= p <= 3 and 1 <= s <= 4
    assert d * (k - 1) + 1 <= n + 2 * p
    assert conv_output_size(n, k, s, p, d) >= 1


def _pool_layer(config: dict) -> dict:
    return {"type": "maxpool", "kernel": [config["kernel"], 1],
            "stride": [config["stride"], 1], "padding": [config["padding"], 0],
            "dilation": [config["dilation"], 1], "ceil_mode": config["ceil_mode"]}


@given(config=pool_configs(max_dilation=3))
def test_pool_configs_are_what_the_reference_accepts(config):
    assert 2 * config["padding"] <= config["kernel"]  # PyTorch's rule
    summary = summarize(parse_net_summary({"input": [config["n"], 1, 1],
                                           "layers": [_pool_layer(config)]}))
    assert summary["output"][0] == pool_output_size(*list(config.values()))


@given(ceil_mode=st.booleans(), data=st.data())
def test_pool_configs_honour_ceil_mode(ceil_mode, data):
    assert data.draw(pool_configs(ceil_mode=ceil_mode))["ceil_mode"] is ceil_mode


def test_pool_configs_reach_a_dropped_last_window():
    def dropped(c):
        n, k, s, p, d, _ = c.values()
        span = n + 2 * p - d * (k - 1) - 1
        return pool_output_size(n, k, s, p, d, ceil_mode=True) < -(-span // s) + 1

    config = find(pool_configs(ceil_mode=True), dropped, settings=FEW)
    assert config["ceil_mode"] and dropped(config)


@given(stack=layer_stacks(min_layers=2, max_layers=3, kinds=("conv", "avgpool", "tanh"),
                          max_size=12))
def test_layer_stacks_are_accepted_by_the_formulas_and_honour_their_options(stack):
    summary = summarize(parse_net_summary(stack))  # raises on any invalid geometry
    assert 2 <= len(stack["layers"]) <= 3
    assert {layer["type"] for layer in stack["layers"]} <= {"conv", "avgpool", "tanh"}
    assert all(1 <= size <= 12 for size in stack["input"][:2])
    assert summary["layers"][-1]["receptive_field"] is not None


@given(stack=layer_stacks(square=True))
def test_square_layer_stacks_have_int_geometry_and_square_fields(stack):
    assert stack["input"][0] == stack["input"][1]
    for layer in stack["layers"]:
        assert all(isinstance(layer[key], int) for key in ("kernel", "stride", "padding")
                   if key in layer)
    rf = summarize(parse_net_summary(stack))["layers"][-1]["receptive_field"]
    assert rf[0] == rf[1]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: conv_configs(min_size=5, max_size=2), "min_size=5 is larger than max_size=2"),
    (lambda: conv_configs(max_padding=-1), "max_padding=-1 must be at least 0"),
    (lambda: conv_configs(max_kernel=2.5), "max_kernel=2.5 must be an integer"),
    (lambda: pool_configs(ceil_mode="yes"), "ceil_mode='yes' must be True, False or None"),
    (lambda: pool_configs(max_dilation=0), "max_dilation=0 must be at least 1"),
    (lambda: layer_stacks(kinds=("conv", "dense")), "kinds contains 'dense', not one of"),
    (lambda: layer_stacks(kinds=()), r"kinds=\(\) must not be empty"),
    (lambda: layer_stacks(min_layers=0), "min_layers=0 must be at least 1"),
    (lambda: layer_stacks(square=1), "square=1 must be True or False"),
    (lambda: backprop_steps(min_depth=3, max_depth=2), "min_depth=3 is larger than max_depth=2"),
    (lambda: backprop_steps(losses=("hinge",)), "losses contains 'hinge', not one of"),
    (lambda: backprop_steps(weight_bound=0), "weight_bound=0 must be a finite number > 0"),
])
def test_strategy_arguments_are_checked_with_argument_value_and_rule(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------------------
# check_sgd_step


def test_check_sgd_step_accepts_the_homework_answer():
    check_sgd_step(homework_sgd_step, HOMEWORK_Q2)


@given(params=backprop_steps())
def test_check_sgd_step_accepts_a_textbook_implementation_of_every_architecture(params):
    check_sgd_step(textbook_sgd_step, params, with_architecture=True)


def test_check_sgd_step_allows_an_update_in_place():
    def in_place(x, y, weights, biases, lr):
        new_weights, new_biases = homework_sgd_step(x, y, weights, biases, lr)
        for old, new in zip(weights + biases, new_weights + new_biases, strict=True):
            old[...] = new
        return weights, biases

    check_sgd_step(in_place, HOMEWORK_Q2)


def _wrong_bias_of_first_layer(x, y, weights, biases, lr):
    new_weights, new_biases = homework_sgd_step(x, y, weights, biases, lr)
    return new_weights, [biases[0], *new_biases[1:]]  # forgot to update b of layer 0


def test_check_sgd_step_names_the_entry_and_both_values():
    with pytest.raises(AssertionError) as caught:
        check_sgd_step(_wrong_bias_of_first_layer, HOMEWORK_Q2)
    message = str(caught.value)
    # The entry furthest outside its tolerance: the largest update of layer 0's biases.
    assert "layers[0].b[1] (returned as new_biases[0][1])" in message
    assert "student   -0.27182\n" in message
    assert "reference -0.272511" in message  # the homework prints -0.272511
    assert "3 of 3 entries of layers[0].b differ" in message
    assert "network 2-3-2" in message and "loss bce" in message


@pytest.mark.parametrize(("student", "message"), [
    (lambda x, y, W, b, lr: None, r"must return \(new_weights, new_biases\); it returned "
                                  "NoneType None"),
    (lambda x, y, W, b, lr: (W[:1], b), "new_weights must be a list of 2 arrays"),
    (lambda x, y, W, b, lr: ([W[0].T, W[1]], b),
     r"new_weights\[0\] has shape \(3, 2\); layers\[0\].W has shape \(2, 3\) \(W is"),
    (lambda x, y, W, b, lr: (W, [b[0], "x"]), r"new_biases\[1\] must be an array of numbers"),
    (lambda x, y, W, b, lr: ([w * np.nan for w in W], b), r"layers\[0\].W\[0\]\[0\]"),
])
def test_check_sgd_step_explains_what_it_cannot_compare(student, message):
    with pytest.raises(AssertionError, match=message):
        check_sgd_step(student, HOMEWORK_Q2)


def test_check_sgd_step_sees_a_wrong_gradient_however_small_the_step():
    # The tolerance is relative to the update lr * grad, not to the weight: at lr 1e-6 a
    # gradient 1% off moves a weight by 1e-8 of itself, and is still caught.
    tiny = {**HOMEWORK_Q2, "lr": 1e-6}

    def one_percent_off(x, y, weights, biases, lr):
        return homework_sgd_step(x, y, weights, biases, lr * 1.01)

    check_sgd_step(homework_sgd_step, tiny)
    with pytest.raises(AssertionError, match="differs from the reference"):
        check_sgd_step(one_percent_off, tiny)


def test_assert_sgd_step_matches_passes_a_correct_step_and_shrinks_a_wrong_one():
    assert_sgd_step_matches(homework_sgd_step, settings=FEW)
    assert_sgd_step_matches(textbook_sgd_step, with_architecture=True, settings=FEW)
    with pytest.raises(AssertionError) as caught:
        assert_sgd_step_matches(_wrong_bias_of_first_layer, settings=FEW)
    notes = failing_case(caught.value)
    assert "sgd_step_matches_reference(" in notes
    assert "'W': [[0.0]]" in notes  # shrunk: one neuron per layer, zero weights


def test_assert_sgd_step_matches_needs_a_fixed_architecture_unless_told():
    with pytest.raises(ValueError, match=r"activations=\('sigmoid', 'tanh'\) must name "
                                         "exactly one when with_architecture=False"):
        assert_sgd_step_matches(homework_sgd_step, activations=("sigmoid", "tanh"))


# ---------------------------------------------------------------------------
# Output sizes and receptive fields


def test_check_conv_output_size_accepts_an_integral_float_and_rejects_a_fraction():
    config = {"n": 32, "kernel": 5, "stride": 1, "padding": 0, "dilation": 1}
    check_conv_output_size(lambda n, k, s, p, d: 28.0, config)
    with pytest.raises(AssertionError, match=r"conv output size for n=8, kernel=3, stride=2, "
                                             r"padding=0, dilation=1: student 3.5, "
                                             r"reference 3 = floor\("):
        check_conv_output_size(lambda n, k, s, p, d: (n - k) / s + 1,
                               {**config, "n": 8, "kernel": 3, "stride": 2})
    with pytest.raises(AssertionError, match="must return a number; it returned bool"):
        check_conv_output_size(lambda *args: True, config)


def test_check_conv_output_size_refuses_a_config_the_reference_refuses():
    with pytest.raises(ValueError, match=r"config=.* is not a valid geometry: kernel=5 "
                                         "must fit in the padded input"):
        check_conv_output_size(lambda *args: 1, {"n": 3, "kernel": 5})


def test_check_pool_output_size_explains_the_dropped_last_window():
    # n=5, k=3, s=3, p=1: ceil_mode's third window would start at 5 = n; PyTorch drops it.
    config = {"n": 5, "kernel": 3, "stride": 3, "padding": 1, "dilation": 1, "ceil_mode": True}
    check_pool_output_size(lambda *args: 2, config)
    with pytest.raises(AssertionError, match="student 3, reference 2 .*drops a last window"):
        check_pool_output_size(lambda n, k, s, p, d, c: -(-(n + 2 * p - k) // s) + 1, config)


def test_assert_output_size_helpers_pass_the_formulas_and_shrink_a_missing_dilation():
    assert_conv_output_size_matches(conv_output_size, settings=FEW)
    assert_pool_output_size_matches(pool_output_size, max_dilation=3, settings=FEW)
    with pytest.raises(AssertionError) as caught:
        assert_conv_output_size_matches(lambda n, k, s, p, d: (n + 2 * p - k) // s + 1)
    assert "'dilation': 2" in failing_case(caught.value)


RF_STACK = {"input": [24, 24, 5], "layers": [
    {"type": "conv", "filters": 3, "kernel": 3, "stride": 2},
    {"type": "relu"},
    {"type": "maxpool", "kernel": [2, 3], "stride": 1}]}


def test_check_receptive_field_takes_an_int_for_square_fields_and_pairs_for_others():
    square = {**RF_STACK, "layers": RF_STACK["layers"][:2]}
    check_receptive_field(lambda stack: 3, square)
    check_receptive_field(lambda stack: (3, 3), square)
    check_receptive_field(lambda stack: [5, 7], RF_STACK)
    with pytest.raises(AssertionError) as caught:
        check_receptive_field(lambda stack: 6, RF_STACK)  # forgot the first stride
    message = str(caught.value)
    assert "student 6, reference [5, 7]" in message
    assert "conv(k=3, s=2), relu, maxpool(k=[2, 3], s=1)" in message
    assert "[3, 3] -> [3, 3] -> [5, 7]" in message


def test_check_receptive_field_refuses_a_stack_without_one():
    stack = {"input": [8, 8, 1], "layers": [{"type": "flatten"}]}
    with pytest.raises(ValueError, match="has no single receptive field"):
        check_receptive_field(lambda stack: 1, stack)


def test_assert_receptive_field_matches_shrinks_a_missing_stride_product():
    def no_jump(stack):
        return 1 + sum(layer["dilation"] * (layer["kernel"] - 1)
                       for layer in stack["layers"] if "kernel" in layer and "dilation" in layer)

    with pytest.raises(AssertionError) as caught:
        assert_receptive_field_matches(no_jump, square=True, kinds=("conv", "maxpool"))
    assert "receptive_field_matches_reference(" in failing_case(caught.value)


# ---------------------------------------------------------------------------
# The pytest plugin, in a project of its own

PROBE = """
from hypothesis import settings

def test_profile():
    current = settings.get_current_profile_name()
    print(f"PROFILE={current} max_examples={settings.default.max_examples}")
"""


def run_project(tmp_path, *args, env=None, conftest=None):
    (tmp_path / "test_probe.py").write_text(PROBE)
    if conftest:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    # Neither a chosen profile nor a CI service's variables (Hypothesis loads its `ci`
    # profile by itself on CI) leak in from the run that runs this test.
    try:
        from hypothesis._settings import _CI_VARS  # what Hypothesis itself looks at
    except ImportError:  # a private name: fall back to the two it has always read
        _CI_VARS = {"CI": None, "TF_BUILD": "true"}

    environment = {k: v for k, v in os.environ.items()
                   if k != "HYPOTHESIS_PROFILE" and k not in _CI_VARS}
    # -p no:qgen -p verify.pytest_plugin: the plugin whether or not its entry point is
    # installed, and only once.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", "-p", "no:qgen",
         "-p", "verify.pytest_plugin", *args],
        cwd=tmp_path, capture_output=True, text=True, env={**environment, **(env or {})})
    return result


@pytest.mark.parametrize(("args", "env", "expected"), [
    ((), {}, "PROFILE=dev max_examples=30"),
    ((), {"HYPOTHESIS_PROFILE": "ci"}, "PROFILE=ci max_examples=60"),
    ((), {"CI": "true"}, "PROFILE=ci max_examples=60"),
    (("--hypothesis-profile=thorough",), {}, "PROFILE=thorough max_examples=1000"),
])
def test_plugin_registers_and_loads_the_three_profiles(tmp_path, args, env, expected):
    result = run_project(tmp_path, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


def test_plugin_keeps_a_projects_own_registration_and_choice(tmp_path):
    conftest = """
        from hypothesis import settings
        settings.register_profile("ci", max_examples=7)
        settings.register_profile("mine", max_examples=9)
        settings.load_profile("mine")
    """
    result = run_project(tmp_path, conftest=conftest)
    assert "PROFILE=mine max_examples=9" in result.stdout, result.stdout + result.stderr
    result = run_project(tmp_path, env={"HYPOTHESIS_PROFILE": "ci"}, conftest=conftest)
    assert "PROFILE=ci max_examples=7" in result.stdout, result.stdout + result.stderr


def test_plugin_refuses_an_unknown_profile_in_one_line(tmp_path):
    result = run_project(tmp_path, env={"HYPOTHESIS_PROFILE": "fast"})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert ("HYPOTHESIS_PROFILE='fast' is not a registered Hypothesis profile "
            "(qgen registers dev, ci, thorough)") in result.stderr


def test_plugin_entry_point_is_installed():
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    if "qgen" not in plugins:
        pytest.skip("the pytest11 entry point qgen = verify.pytest_plugin is not installed "
                    "(pyproject.toml, then pip install -e .)")
    assert plugins["qgen"] == "verify.pytest_plugin"

