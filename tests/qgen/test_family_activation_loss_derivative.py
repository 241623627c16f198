"""The activation-loss-derivative family: derivations, graded parts, misconceptions,
validation and rendering."""

import json
import math
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qgen
from qgen.export import export
from qgen.families import activation_loss_derivative as module
from qgen.families import get_family
from qgen.families.base import DIFFICULTIES
from qgen.generate import generate, make_question, question_rng, render_question
from qgen.symbolic_answers import equivalent
from tests.qgen.latex_support import assert_latex_compiles
from verify.specs import SpecError

FAMILY = get_family("activation-loss-derivative")
seeds = st.integers(min_value=0, max_value=2**32 - 1)
difficulties = st.sampled_from(DIFFICULTIES)
ALL_PAIRS = [pair for difficulty in DIFFICULTIES for pair in module.PAIRS[difficulty]]
# Golden values below are printed to 1e-8; the family's own value is exact to ~1e-15.
GOLDEN_TOLERANCE = 1e-8


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


def _question(seed, difficulty, choices=None):
    return make_question(FAMILY, seed, difficulty, 0, choices=choices)


# ---------------------------------------------------------------------------
# the derivations

@pytest.mark.parametrize(("activation", "loss", "textbook"), [
    ("sigmoid", "bce", "a - y"),
    ("sigmoid", "mse", "(a - y) a (1 - a)"),
    ("tanh", "mse", "(a - y)(1 - a^2)"),
    ("linear", "mse", "a - y"),
    ("relu", "mse", "(a - y) step(z)"),
    ("softmax", "ce", "a - y"),
    ("tanh", "bce", "2((1 + a)/2 - y)"),
])
def test_derived_expression_is_the_textbook_one(activation, loss, textbook):
    answer = qgen.solve(FAMILY.id, {"activation": activation, "loss": loss})["answer"]
    assert equivalent(answer["expression"], textbook,
                      activation=None if activation == "softmax" else activation)
    assert set(answer) == {"expression", "latex"}


@pytest.mark.parametrize(("params", "value"), [
    # sigma(1) - 1, sigma(0) - 0, sigma(-2) - 1
    ({"activation": "sigmoid", "loss": "bce", "z": 1.0, "y": 1.0}, _sigmoid(1) - 1),
    ({"activation": "sigmoid", "loss": "bce", "z": 0.0, "y": 0.0}, 0.5),
    ({"activation": "sigmoid", "loss": "bce", "z": -2.0, "y": 1.0}, _sigmoid(-2) - 1),
    # (tanh(0.5) - 0.2)(1 - tanh(0.5)^2)
    ({"activation": "tanh", "loss": "mse", "z": 0.5, "y": 0.2},
     (math.tanh(0.5) - 0.2) * (1 - math.tanh(0.5) ** 2)),
    ({"activation": "relu", "loss": "mse", "z": -0.7, "y": 1.5}, 0.0),
    ({"activation": "relu", "loss": "mse", "z": 0.7, "y": 1.5}, 0.7 - 1.5),
    ({"activation": "linear", "loss": "mse", "z": 1.3, "y": -0.4}, 1.7),
    ({"activation": "tanh", "loss": "bce", "z": 0.3, "y": 1.0}, math.tanh(0.3) - 1),
])
def test_value_at_a_point_matches_a_hand_computation(params, value):
    answer = qgen.solve(FAMILY.id, params)["answer"]
    assert answer["value"] == pytest.approx(value, abs=GOLDEN_TOLERANCE)


def test_softmax_value_is_softmax_minus_the_targets():
    z, y = [0.5, -1.0, 2.0], [0.0, 1.0, 0.0]
    total = sum(math.exp(v) for v in z)
    answer = qgen.solve(FAMILY.id, {"activation": "softmax", "loss": "ce", "z": z,
                                    "y": y})["answer"]
    assert answer["value"] == pytest.approx(
        [math.exp(v) / total - t for v, t in zip(z, y, strict=True)], abs=GOLDEN_TOLERANCE)


@pytest.mark.parametrize(("activation", "loss"), ALL_PAIRS)
def test_chain_rule_and_composite_derivative_agree_for_every_pair(activation, loss):
    derivation = module.derive(activation, loss)
    assert derivation.agrees
    assert {s.name for s in derivation.answer.free_symbols} <= {"a", "y", "z"}


# ---------------------------------------------------------------------------
# generated questions

@given(seed=seeds, difficulty=difficulties)
def test_sampled_params_are_valid_and_rounded_to_what_is_shown(seed, difficulty):
    params = FAMILY.sample(question_rng(seed, FAMILY.id, difficulty, 0), difficulty)
    assert FAMILY.validate(params) is params
    assert json.loads(json.dumps(params)) == params
    assert (params["activation"], params["loss"]) in module.PAIRS[difficulty]
    zs = params["z"] if isinstance(params["z"], list) else [params["z"]]
    ys = params["y"] if isinstance(params["y"], list) else [params["y"]]
    decimals = {"easy": 0, "medium": 1, "hard": 2}[difficulty]
    for v in [*zs, *ys]:
        assert round(v, decimals) == v
    if difficulty == "easy":  # clean numbers
        assert params["z"] in (-2, -1, 0, 1, 2) and params["y"] in (0, 1)
    if params["activation"] == "relu":
        assert params["z"] != 0


@given(seed=seeds, difficulty=difficulties)
def test_answer_is_what_qgen_solve_gives_and_three_methods_agree(seed, difficulty):
    question = _question(seed, difficulty)
    assert question["answer"] == qgen.solve(FAMILY.id, question["params"])["answer"]
    record = question["verification"]
    assert record["passed"]
    assert {"symbolic", "finite_difference", "complex_step"} <= set(record["methods"])
    assert question["tolerance"] == {"expression": 0.0, "value": 1e-4}


@given(seed=seeds, difficulty=difficulties, choices=st.sampled_from([None, 4]))
def test_solution_shows_every_graded_part_in_both_dialects(seed, difficulty, choices):
    question = _question(seed, difficulty, choices)
    parts = FAMILY.parts(question["params"], question["answer"])
    for dialect in ("markdown", "latex"):
        prompt, solution = render_question(question, dialect)
        assert prompt.strip() and solution.strip()
        for part in parts:
            for text in part.shown_texts():
                assert text in solution, (dialect, part.key, text)
    if choices:
        correct = next(c for c in question["choices"] if c["correct"])
        assert f"option {correct['label']}" in question["solution"]
        for option in question["choices"]:
            assert module.work(question["params"], question["answer"])["latex"][
                option["value"]] in question["prompt"].replace("$", "")


def test_params_without_a_point_ask_for_the_expression_alone():
    for params in ({"activation": "tanh", "loss": "mse"},
                   {"activation": "softmax", "loss": "ce", "n_outputs": 4}):
        result = qgen.solve(FAMILY.id, params)
        assert "value" not in result["answer"] and result["verification"]["passed"]
        question = {"family": FAMILY.id, "difficulty": "hard", "params": params,
                    "answer": result["answer"]}
        prompt, solution = render_question(question, "markdown")
        assert "evaluate" not in prompt and result["answer"]["latex"] in solution


# ---------------------------------------------------------------------------
# misconceptions

@pytest.mark.parametrize(("activation", "loss"), ALL_PAIRS)
def test_options_that_differ_with_a_free_also_differ_once_a_is_the_activation(
        activation, loss):
    """build_choices compares texts with a free symbol a (Part.differs); no two of them
    may then turn out equal once a stands for the activation of z."""
    answer = qgen.solve(FAMILY.id, {"activation": activation, "loss": loss})["answer"]
    texts = [answer["expression"]] + [found[0] for found in
                                      module.wrong_answers(activation, loss).values() if found]
    meaning = None if activation == "softmax" else activation
    for i, first in enumerate(texts):
        for second in texts[i + 1:]:
            if not equivalent(first, second):
                assert not equivalent(first, second, activation=meaning), (first, second)


@pytest.mark.parametrize(("activation", "loss", "name", "textbook"), [
    ("sigmoid", "bce", "sign_flip", "y - a"),
    ("sigmoid", "bce", "derivative_counted_twice", "(a - y) a (1 - a)"),
    ("sigmoid", "bce", "forgot_activation_derivative", "-y/a + (1 - y)/(1 - a)"),
    ("sigmoid", "bce", "activation_instead_of_derivative", "(-y/a + (1 - y)/(1 - a)) a"),
    ("sigmoid", "mse", "forgot_activation_derivative", "a - y"),
    ("tanh", "mse", "tanh_derivative_one_minus_a", "(a - y)(1 - a)"),
    ("tanh", "mse", "used_sigmoid_derivative", "(a - y) a (1 - a)"),
    ("tanh", "mse", "dropped_one_half", "2 (a - y)(1 - a^2)"),
    ("softmax", "ce", "softmax_diagonal_only", "-y/a * a (1 - a)"),
    ("softmax", "ce", "forgot_activation_derivative", "-y/a"),
    ("relu", "mse", "forgot_activation_derivative", "a - y"),
    ("tanh", "bce", "forgot_rescaling_derivative", "4 ((1 + a)/2 - y)"),
    ("tanh", "bce", "tanh_output_as_probability", "(-y/a + (1 - y)/(1 - a))(1 - a^2)"),
])
def test_each_misconception_is_its_wrong_method(activation, loss, name, textbook):
    text = module.wrong_answers(activation, loss)[name][0]
    assert equivalent(text, textbook)


def test_every_misconception_is_a_distinct_wrong_answer_for_some_pair():
    shown = set()
    for activation, loss in ALL_PAIRS:
        answer = qgen.solve(FAMILY.id, {"activation": activation, "loss": loss})["answer"]
        for name, found in module.wrong_answers(activation, loss).items():
            if found and not equivalent(found[0], answer["expression"]):
                shown.add(name)
    assert shown == {m.name for m in FAMILY.misconceptions}


# ---------------------------------------------------------------------------
# the check and validation

def test_check_confirms_the_answer_and_catches_a_wrong_expression_or_value():
    params = {"activation": "tanh", "loss": "mse", "z": 0.4, "y": -0.3}
    answer = qgen.solve(FAMILY.id, params)["answer"]
    assert FAMILY.check(params, answer).passed
    wrong = {**answer, "expression": "(1 - a)*(a - y)"}
    assert not FAMILY.check(params, wrong).passed
    wrong = {**answer, "value": answer["value"] + 1e-6}
    result = FAMILY.check(params, wrong)
    assert not result.passed and result.discrepancy == pytest.approx(1e-6, rel=1e-3)


@pytest.mark.parametrize(("params", "field", "rule"), [
    ([], "params", "JSON object"),
    ({"loss": "bce"}, "activation", "required"),
    ({"activation": "swish", "loss": "mse"}, "activation", "must be one of"),
    ({"activation": "relu", "loss": "bce"}, "loss", "must be one of mse"),
    ({"activation": "softmax", "loss": "mse"}, "loss", "must be one of ce"),
    ({"activation": "sigmoid", "loss": "bce", "z": 1.0}, "y", "required"),
    ({"activation": "sigmoid", "loss": "bce", "z": "1", "y": 0}, "z", "number"),
    ({"activation": "sigmoid", "loss": "bce", "z": 9.0, "y": 0}, "z", "[-5, 5]"),
    ({"activation": "sigmoid", "loss": "bce", "z": 1.0, "y": 1.5}, "y", "[0, 1]"),
    ({"activation": "relu", "loss": "mse", "z": 0, "y": 1.0}, "z", "convention"),
    ({"activation": "relu", "loss": "mse", "z": 1e-6, "y": 1.0}, "z", "away from 0"),
    ({"activation": "sigmoid", "loss": "bce", "z": float("nan"), "y": 0}, "z", "finite"),
    ({"activation": "softmax", "loss": "ce", "z": 1.0, "y": 1.0}, "z", "list"),
    ({"activation": "softmax", "loss": "ce", "z": [1.0, 2.0], "y": [1.0, 0, 0]}, "y",
     "entries"),
    ({"activation": "softmax", "loss": "ce", "z": [1, 2], "y": [0.5, 0.6]}, "y",
     "distribution"),
    ({"activation": "softmax", "loss": "ce", "z": [1, 2], "y": [1, 0], "n_outputs": 3},
     "n_outputs", "len(z)"),
    ({"activation": "tanh", "loss": "mse", "n_outputs": 3}, "n_outputs", "softmax"),
    ({"activation": "tanh", "loss": "mse", "x": 1}, "x", "not a known field"),
])
def test_invalid_params_raise_spec_error_naming_the_field(params, field, rule):
    with pytest.raises(SpecError) as error:
        FAMILY.validate(params)
    assert error.value.field == field and rule in str(error.value)
    with pytest.raises(qgen.QgenError, match=rule.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        qgen.solve(FAMILY.id, params)


# ---------------------------------------------------------------------------
# determinism and rendering

def test_markdown_bank_renders_every_question():
    bank = generate([FAMILY.id], count=3, seed=5, difficulty="medium")
    text = export(bank, "markdown", answers=True)
    assert text.count("### Solution") == 3 and "$$" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_bank_with_answers_compiles(tmp_path):
    questions = []
    for difficulty in DIFFICULTIES:
        for seed in range(3):
            for choices in (None, 4):
                questions += generate([FAMILY.id], count=1, seed=seed, difficulty=difficulty,
                                      choices=choices)["questions"]
    assert_latex_compiles(questions, tmp_path)
