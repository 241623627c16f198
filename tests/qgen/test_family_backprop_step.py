"""The backprop-step family: sampled params, answers, checks, misconceptions, rendering."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qgen
from qgen.export import export
from qgen.families import backprop_step as family_module
from qgen.families import get_family
from qgen.families.base import DIFFICULTIES
from qgen.generate import generate, make_question, question_rng, render_question
from tests.qgen.latex_support import assert_latex_compiles
from verify.specs import parse_backprop_step

ROOT = Path(__file__).resolve().parents[2]
FAMILY = get_family("backprop-step")
HOMEWORK_Q2 = json.loads((ROOT / "examples" / "homework1-q2.json").read_text())

seeds = st.integers(min_value=0, max_value=2**32 - 1)
difficulties = st.sampled_from(DIFFICULTIES)
# Params are drawn on grids of at most this many decimals (weights 1-2, biases 2,
# inputs and targets 1), so what the student reads is exactly what is solved.
PARAM_DECIMALS = 2


def _numbers(value):
    if isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _question(seed, difficulty, choices=None):
    return make_question(FAMILY, seed, difficulty, 0, choices=choices)


@given(seed=seeds, difficulty=difficulties)
def test_sampled_params_are_valid_specs_already_rounded_to_what_is_shown(seed, difficulty):
    params = FAMILY.sample(question_rng(seed, FAMILY.id, difficulty, 0), difficulty)
    step = parse_backprop_step(params)
    assert json.loads(json.dumps(params)) == params
    for v in _numbers([params["x"], params["y"], params["lr"],
                       [[layer["W"], layer["b"]] for layer in params["layers"]]]):
        assert round(v, PARAM_DECIMALS) == v
    if difficulty == "easy":
        assert step.activations == ("sigmoid", "sigmoid") and step.loss == "bce"
        assert not step.batched and params["lr"] in (0.1, 0.5)
    if difficulty == "hard":
        assert step.batched and step.x.shape[0] in (2, 3)
    from verify.numeric.dense import forward

    cache, _ = forward(step)
    for layer, (z, _) in zip(step.layers, cache, strict=True):
        if layer.activation == "relu":
            assert np.min(np.abs(z)) >= family_module.RELU_MARGIN


@given(seed=seeds, difficulty=difficulties)
def test_answer_is_exactly_what_qgen_solve_gives_and_every_method_agrees(seed, difficulty):
    question = _question(seed, difficulty)
    solved = qgen.solve("backprop-step", question["params"])
    assert question["answer"] == solved["answer"]
    record = question["verification"]
    assert record["passed"]
    assert {"numeric", "symbolic", "forward_central_difference"} <= set(record["methods"])
    for part in FAMILY.parts(question["params"], question["answer"]):
        assert question["tolerance"][part.key] == 10.0 ** -part.decimals


@given(seed=seeds, difficulty=difficulties, choices=st.sampled_from([None, 4]))
def test_solution_shows_every_graded_part_as_displayed_in_both_dialects(seed, difficulty,
                                                                       choices):
    question = _question(seed, difficulty, choices)
    parts = FAMILY.parts(question["params"], question["answer"])
    if choices:
        parts.append(FAMILY.choice_part(question["params"], question["answer"]))
    for dialect in ("markdown", "latex"):
        prompt, solution = render_question(question, dialect)
        assert prompt.strip() and solution.strip()
        for part in parts:
            for text in part.shown_texts():
                assert text in solution, (dialect, part.key, text)
    if choices:
        correct = [c for c in question["choices"] if c["correct"]]
        assert len(correct) == 1
        assert f"option {correct[0]['label']}" in question["solution"]


@given(seed=seeds, difficulty=difficulties)
def test_each_misconception_with_the_right_rules_is_the_answer(seed, difficulty):
    """The wrong methods are the right one with one rule changed: unchanged, it gives
    the answer's weight, so every distractor differs by that one rule only."""
    question = _question(seed, difficulty)
    params, answer = question["params"], question["answer"]
    i, j = family_module.choice_index(answer)
    assert family_module._wrong_weight(params, answer) == pytest.approx(
        answer["layers"][0]["W"][i][j], abs=1e-12)


def test_every_misconception_is_a_distinct_wrong_answer_for_some_question():
    shown = set()
    for difficulty in DIFFICULTIES:
        for seed in range(25):
            params = FAMILY.sample(question_rng(seed, FAMILY.id, difficulty, 0), difficulty)
            answer = FAMILY.solve(params)["answer"]
            part = FAMILY.choice_part(params, answer)
            for m in FAMILY.misconceptions:
                value = m.wrong(params, answer)
                if value is not None and part.differs(round(value, part.decimals)):
                    shown.add(m.name)
    assert shown == {m.name for m in FAMILY.misconceptions}


def test_check_confirms_the_homework_answer_and_catches_one_wrong_digit():
    answer = qgen.solve("backprop-step", HOMEWORK_Q2)["answer"]
    assert FAMILY.check(HOMEWORK_Q2, answer).passed
    # A slip one unit in the 6th decimal of one updated weight is caught.
    wrong = json.loads(json.dumps(answer))
    wrong["layers"][0]["W"][1][2] += 1e-6
    result = FAMILY.check(HOMEWORK_Q2, wrong)
    assert not result.passed and result.discrepancy == pytest.approx(1e-6, rel=1e-2)
    wrong = json.loads(json.dumps(answer))
    wrong["loss"] += 1e-7
    assert not FAMILY.check(HOMEWORK_Q2, wrong).passed


def test_markdown_bank_renders_every_question():
    bank = generate(["backprop-step"], count=2, seed=5, difficulty="medium", choices=4)
    text = export(bank, "markdown", answers=True)
    assert text.count("### Solution") == 2
    assert "$$" in text and "\\begin{bmatrix}" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_bank_with_answers_compiles(tmp_path):
    questions = []
    for difficulty in DIFFICULTIES:
        for choices in (None, 4):
            questions += generate(["backprop-step"], count=1, seed=3, difficulty=difficulty,
                                  choices=choices)["questions"]
    assert_latex_compiles(questions, tmp_path)
