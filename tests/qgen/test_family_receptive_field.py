"""receptive-field (the homework's question 3): generated questions over many seeds x
every difficulty, the homework's own numbers as a golden test, and the LaTeX bank."""

import functools
import json
import shutil

import pytest

import qgen
from qgen.families import get_family
from qgen.families import receptive_field as rf
from qgen.families.base import DIFFICULTIES, Part
from qgen.generate import make_question, render_question
from tests.qgen.latex_support import assert_latex_compiles

FAMILY = get_family("receptive-field")
SEEDS = range(25)
CASES = [(seed, difficulty) for difficulty in DIFFICULTIES for seed in SEEDS]

# The homework's question 3: a 9x9 field, 24x24 input, 5 in and 3 out channels, float32.
HOMEWORK = {"target": 9, "input": [24, 24], "in_channels": 5, "out_channels": 3,
            "mid_channels": 3, "dtype_bytes": 4, "bias": False}


@functools.cache
def question(seed: int, difficulty: str, choices: int | None = 4) -> dict:
    return make_question(FAMILY, seed, difficulty, 0, choices=choices)


def _approach(answer: dict, name: str) -> dict:
    return next(a for a in answer["approaches"] if a["name"] == name)


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_sampled_params_are_valid_plain_json_and_fit_the_difficulty(seed, difficulty):
    params = question(seed, difficulty)["params"]
    task = FAMILY.validate(params)
    assert json.loads(json.dumps(params)) == params
    assert task.target % 2 == 1
    if difficulty == "easy":
        assert task.target in (5, 7, 9) and task.input[0] == task.input[1]
        assert (task.dtype_bytes, task.bias, task.mid_channels) == (4, False,
                                                                     task.out_channels)
    elif difficulty == "hard":
        assert task.target >= 11 and task.input[0] != task.input[1]


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_answer_is_exactly_qgen_solve_and_every_approach_reaches_the_target(seed, difficulty):
    q = question(seed, difficulty)
    assert q["answer"] == qgen.solve("receptive-field", q["params"])["answer"]
    assert q["verification"]["passed"]
    assert "numeric_stack_run" in q["verification"]["methods"]
    t = q["params"]["target"]
    assert all(a["receptive_field"] == [t, t] for a in q["answer"]["approaches"])


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_solution_shows_every_graded_part_in_both_dialects(seed, difficulty):
    q = question(seed, difficulty, None)
    parts = FAMILY.parts(q["params"], q["answer"])
    assert len(parts) == 4 * len(q["answer"]["approaches"])
    for dialect in ("markdown", "latex"):
        prompt, solution = render_question(q, dialect)
        assert prompt.strip() and "never part of its size" in solution
        for part in parts:
            for shown in part.shown_texts():
                assert shown in solution, (dialect, part.key, shown)


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_four_choices_distinct_each_from_a_named_misconception(seed, difficulty):
    q = question(seed, difficulty)
    part = FAMILY.choice_part(q["params"], q["answer"])
    options = q["choices"]
    assert len(options) == 4 and sum(o["correct"] for o in options) == 1
    names = {m.name for m in FAMILY.misconceptions}
    for i, a in enumerate(options):
        assert a["correct"] == (a["value"] == part.shown)
        assert a["correct"] or a["misconception"] in names
        for b in options[i + 1:]:
            assert Part(part.key, part.label, a["value"]).differs(b["value"])
    asked = f"approach ({rf.LETTERS[rf.choice_index(q['params'], q['answer'])]})"
    assert asked in q["prompt"]


@pytest.mark.parametrize(("seed", "difficulty"), CASES[::3])
def test_each_misconception_changes_one_rule_of_the_right_count(seed, difficulty):
    """With no rule changed, the misconceptions' counting gives the answer itself."""
    q = question(seed, difficulty)
    for approach in q["answer"]["approaches"]:
        assert rf.model_size(q["params"], approach) == approach["bytes"]


def test_homework_question_3_students_sizes_are_feature_maps_not_parameters():
    answer = qgen.solve("receptive-field", HOMEWORK)["answer"]
    two_5x5 = _approach(answer, "2 x (5x5)")
    # Right: 5*5*5*3 + 5*5*3*3 = 600 weights, no biases, 4 bytes each.
    assert (two_5x5["params"], two_5x5["bytes"]) == (600, 2400)
    assert (_approach(answer, "single 9x9")["bytes"], _approach(answer, "4 x (3x3)")["bytes"]
            ) == (9 * 9 * 5 * 3 * 4, (3 * 3 * 5 * 3 + 3 * 3 * 3 * 3 * 3) * 4)
    # The student's 20,192 bytes: one filter per layer plus every feature map.
    student = rf.model_size(HOMEWORK, two_5x5, weights=rf.one_filter_rule, feature_maps=True)
    assert student == 20192 != two_5x5["bytes"]


def test_check_catches_a_wrong_model_size():
    answer = qgen.solve("receptive-field", HOMEWORK)["answer"]
    assert FAMILY.check(HOMEWORK, answer).passed
    broken = json.loads(json.dumps(answer))
    broken["approaches"][1]["bytes"] += 4
    result = FAMILY.check(HOMEWORK, broken)
    assert not result.passed and "4 x (3x3)" in result.detail


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_bank_with_answers_compiles(tmp_path):
    questions = [question(seed, difficulty, choices) for difficulty in DIFFICULTIES
                 for seed, choices in ((0, None), (1, 4))]
    assert_latex_compiles(questions, tmp_path)
