"""conv-cost: weights, biases, bytes and MACs of a layer or a small network, generated
over many seeds x every difficulty; the homework's question 5 layer as a golden test."""

import functools
import json
import shutil

import pytest

import qgen
from qgen.families import conv_cost as cc
from qgen.families import get_family
from qgen.families.base import DIFFICULTIES, Part
from qgen.generate import make_question, render_question
from tests.qgen.latex_support import assert_latex_compiles

FAMILY = get_family("conv-cost")
SEEDS = range(25)
CASES = [(seed, difficulty) for difficulty in DIFFICULTIES for seed in SEEDS]

# The homework's question 5: 32x32x3 through 16 filters of 5x5, stride 1, no padding.
HOMEWORK_Q5 = {"input": [32, 32, 3], "layers": [
    {"type": "conv", "filters": 16, "kernel": 5, "stride": 1, "padding": 0},
    {"type": "relu"}, {"type": "maxpool", "kernel": 2, "stride": 2}]}


@functools.cache
def question(seed: int, difficulty: str, choices: int | None = 4) -> dict:
    return make_question(FAMILY, seed, difficulty, 0, choices=choices)


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_sampled_params_are_valid_plain_json_and_fit_the_difficulty(seed, difficulty):
    params = question(seed, difficulty)["params"]
    FAMILY.validate(params)
    assert json.loads(json.dumps(params)) == params
    types = [layer["type"] for layer in params["layers"]]
    if difficulty == "easy":
        assert types == ["conv"] and params["dtype_bytes"] == 4
    elif difficulty == "medium":
        assert types == ["conv", "relu", "conv", "relu", "maxpool"]
        assert params["layers"][0]["kernel"] == params["layers"][2]["kernel"] == 3
    else:
        assert types[-4:] == ["flatten", "dense", "relu", "dense"] and "conv" in types
    assert question(seed, difficulty)["answer"]["total"]["macs"] <= cc.MAX_MACS


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_answer_is_exactly_qgen_solve_and_confirmed_by_layer_runs(seed, difficulty):
    q = question(seed, difficulty)
    assert q["answer"] == qgen.solve("conv-cost", q["params"])["answer"]
    assert q["answer"] == qgen.solve("net-summary", q["params"])["answer"]
    assert q["verification"]["passed"]
    assert "numeric_layer_runs" in q["verification"]["methods"]


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_solution_shows_every_graded_part_in_both_dialects(seed, difficulty):
    q = question(seed, difficulty, None)
    parts = FAMILY.parts(q["params"], q["answer"])
    assert {"total.params", "total.bytes", "total.macs"} <= {p.key for p in parts}
    for dialect in ("markdown", "latex"):
        prompt, solution = render_question(q, dialect)
        assert prompt.strip()
        for part in parts:
            for shown in part.shown_texts():
                assert shown in solution, (dialect, part.key, shown)


@pytest.mark.parametrize(("seed", "difficulty"), CASES)
def test_four_choices_distinct_each_from_a_named_misconception(seed, difficulty):
    q = question(seed, difficulty)
    part = FAMILY.choice_part(q["params"], q["answer"])
    assert part.key == ("total.macs" if cc.asks_macs(q["params"]) else "total.bytes")
    options = q["choices"]
    assert len(options) == 4 and sum(o["correct"] for o in options) == 1
    names = {m.name for m in FAMILY.misconceptions}
    for i, a in enumerate(options):
        assert a["correct"] == (a["value"] == part.shown)
        assert a["correct"] or a["misconception"] in names
        for b in options[i + 1:]:
            assert Part(part.key, part.label, a["value"]).differs(b["value"])


@pytest.mark.parametrize(("seed", "difficulty"), CASES[::3])
def test_each_misconception_changes_one_rule_of_the_right_count(seed, difficulty):
    """With no rule changed, the misconceptions' walk gives the answer's totals."""
    q = question(seed, difficulty)
    walked = cc._walk(q["params"])
    total = q["answer"]["total"]
    assert {k: walked[k] for k in ("weights", "biases", "params", "macs")} == {
        k: total[k] for k in ("weights", "biases", "params", "macs")}


def test_homework_question_5_layer_costs_and_its_wrong_counts():
    answer = qgen.solve("conv-cost", HOMEWORK_Q5)["answer"]
    conv = answer["layers"][0]
    assert (conv["weights"], conv["biases"], conv["macs"]) == (5 * 5 * 3 * 16, 16,
                                                              28 * 28 * 16 * 5 * 5 * 3)
    assert answer["total"]["bytes"] == (1200 + 16) * 4
    assert cc._walk(HOMEWORK_Q5, macs_at="input")["macs"] == 32 * 32 * 16 * 75
    assert cc._walk(HOMEWORK_Q5, plus_one=False)["macs"] == 27 * 27 * 16 * 75
    assert cc._walk(HOMEWORK_Q5, input_channels=False)["weights"] == 5 * 5 * 16
    assert cc._walk(HOMEWORK_Q5, pool_macs=True)["macs"] == conv["macs"] + 14 * 14 * 16 * 4


def test_check_catches_wrong_macs_and_wrong_bytes():
    answer = qgen.solve("conv-cost", HOMEWORK_Q5)["answer"]
    assert FAMILY.check(HOMEWORK_Q5, answer).passed
    for key in ("macs", "bytes"):
        broken = json.loads(json.dumps(answer))
        broken["total"][key] += 1
        if key == "macs":
            broken["layers"][0]["macs"] += 1
        assert not FAMILY.check(HOMEWORK_Q5, broken).passed


def test_bytes_are_measured_at_the_element_size():
    half = {**HOMEWORK_Q5, "dtype_bytes": 2}
    answer = qgen.solve("conv-cost", half)["answer"]
    assert answer["total"]["bytes"] == 1216 * 2
    assert FAMILY.check(half, answer).passed


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_bank_with_answers_compiles(tmp_path):
    questions = [question(seed, difficulty, choices) for difficulty in DIFFICULTIES
                 for seed, choices in ((0, None), (1, 4))]
    assert_latex_compiles(questions, tmp_path)
