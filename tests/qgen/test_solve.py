"""The solve contract (DESIGN.md) and the homework's question 2 as a golden test."""

import json
from pathlib import Path

import numpy as np
import pytest

import qgen

ROOT = Path(__file__).resolve().parents[2]
HOMEWORK_Q2 = json.loads((ROOT / "examples" / "homework1-q2.json").read_text())

# The homework prints its updated arrays to 8 significant digits (numpy's default
# print precision); 1e-8 is the precision at which those printed digits are exact.
GOLDEN_TOLERANCE = 1e-8


def test_homework_question_2_loss_and_every_update_match_the_golden_values():
    result = qgen.solve("backprop-step", HOMEWORK_Q2)
    answer = result["answer"]
    assert answer["loss"] == pytest.approx(2.599206094006428, abs=1e-12)
    golden = {
        0: ([[0.09994304, 0.2999309, 0.40000494], [0.19960128, 0.1995163, 0.10003456]],
            [0.3135904, -0.272511, 0.18633137]),
        1: ([[0.29449819, 0.101749], [0.4957476, 0.60135182], [0.1948608, 0.70163373]],
            [1.6090394, 0.17574853]),
    }
    for index, (W, b) in golden.items():
        np.testing.assert_allclose(answer["layers"][index]["W"], W, atol=GOLDEN_TOLERANCE)
        np.testing.assert_allclose(answer["layers"][index]["b"], b, atol=GOLDEN_TOLERANCE)
    record = result["verification"]
    assert record["passed"]
    assert set(record["methods"]) >= {"numeric", "symbolic", "finite_difference"}


def test_solve_result_follows_the_contract_and_is_plain_json():
    for family, params in [
        ("backprop-step", HOMEWORK_Q2),
        ("net-summary", {"input": [32, 32, 3], "layers": [
            {"type": "conv", "filters": 16, "kernel": 5}, {"type": "relu"},
            {"type": "maxpool", "kernel": 2, "stride": 2}]}),
        ("receptive-field", {"target": 9, "input": [24, 24], "in_channels": 5,
                             "out_channels": 3}),
    ]:
        result = qgen.solve(family, params)
        assert set(result) == {"family", "params", "answer", "verification"}
        assert result["family"] == family
        assert json.loads(json.dumps(result)) == result
        record = result["verification"]
        assert record["passed"] is True
        assert len(record["methods"]) >= 2
        assert isinstance(record["max_discrepancy"], float)


def test_homework_question_5_conv_then_pool_is_28x28x16_then_14x14x16():
    result = qgen.solve("net-summary", {"input": [32, 32, 3], "layers": [
        {"type": "conv", "filters": 16, "kernel": 5, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "maxpool", "kernel": 2, "stride": 2}]})
    layers = result["answer"]["layers"]
    assert layers[0]["output"] == [28, 28, 16]
    assert layers[2]["output"] == [14, 14, 16]
    assert layers[0]["weights"] == 5 * 5 * 3 * 16 and layers[0]["biases"] == 16


def test_homework_question_3_model_sizes_count_parameters_not_feature_maps():
    result = qgen.solve("receptive-field", {"target": 9, "input": [24, 24], "in_channels": 5,
                                            "out_channels": 3, "mid_channels": 3})
    by_name = {a["name"]: a for a in result["answer"]["approaches"]}
    assert len(by_name) >= 4
    single = by_name["single 9x9"]
    assert single["weights"] == 9 * 9 * 5 * 3 and single["bytes"] == 9 * 9 * 5 * 3 * 4
    stack = by_name["4 x (3x3)"]
    assert stack["layers"] == 4
    assert stack["weights"] == 3 * 3 * 5 * 3 + 3 * (3 * 3 * 3 * 3)
    for approach in by_name.values():
        assert approach["receptive_field"] == [9, 9]
        assert approach["output"] == [16, 16, 3]
        # The student's answers (20,192 and 18,288 bytes) added feature maps.
        assert approach["bytes"] not in (20192, 18288)


@pytest.mark.parametrize("family, params, field", [
    ("backprop-step", {**HOMEWORK_Q2, "lr": 0}, "lr"),
    ("backprop-step", {**HOMEWORK_Q2, "loss": "hinge"}, "loss"),
    ("net-summary", {"input": [4, 4, 1], "layers": [{"type": "conv", "filters": 1,
                                                     "kernel": 5}]}, "layers[0].kernel"),
    ("receptive-field", {"target": 9, "input": [8, 8], "in_channels": 1,
                         "out_channels": 1}, "input[0]"),
])
def test_bad_params_raise_one_qgen_error_naming_the_field(family, params, field):
    with pytest.raises(qgen.QgenError) as error:
        qgen.solve(family, params)
    assert str(error.value).startswith(field)
    assert "\n" not in str(error.value)


def test_a_wrong_closed_form_is_caught_by_the_independent_methods(monkeypatch):
    import verify.formulas as formulas

    def off_by_one(n, k, s=1, p=0, d=1):  # the classic slip: no +1
        return (n + 2 * p - formulas.dilated_kernel(k, d)) // s

    monkeypatch.setattr(formulas, "conv_output_size", off_by_one)
    with pytest.raises(qgen.VerificationError, match="symbolic|numeric"):
        qgen.solve("net-summary", {"input": [32, 32, 3], "layers": [
            {"type": "conv", "filters": 4, "kernel": 5}]})


def test_a_wrong_backprop_is_caught_by_sympy_and_finite_differences(monkeypatch):
    import verify.numeric.dense as dense

    real = dense.activation_derivative

    def sigma_not_sigma_prime(name, z, a):  # used sigma instead of sigma'
        return a if name == "sigmoid" else real(name, z, a)

    monkeypatch.setattr(dense, "activation_derivative", sigma_not_sigma_prime)
    with pytest.raises(qgen.VerificationError) as error:
        qgen.solve("backprop-step", HOMEWORK_Q2)
    assert "symbolic" in str(error.value) and "finite_difference" in str(error.value)
