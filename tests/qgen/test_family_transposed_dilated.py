"""The transposed-dilated family: sampled stacks, answers, the window count, the
misconceptions as wrong methods, and rendering."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qgen
from qgen.export import export
from qgen.families import get_family
from qgen.families.base import DIFFICULTIES
from qgen.generate import generate, make_question, question_rng, render_question
from tests.qgen.latex_support import assert_latex_compiles
from verify.formulas import dilated_kernel
from verify.numeric.conv import run_stack
from verify.specs import parse_net_summary

FAMILY = get_family("transposed-dilated")
seeds = st.integers(min_value=0, max_value=2**32 - 1)
difficulties = st.sampled_from(DIFFICULTIES)


def _question(seed, difficulty, choices=None):
    return make_question(FAMILY, seed, difficulty, 0, choices=choices)


def _pair(value):
    return tuple(value) if isinstance(value, list) else (value, value)


@given(seed=seeds, difficulty=difficulties)
def test_sampled_stacks_are_valid_and_shaped_by_difficulty(seed, difficulty):
    params = FAMILY.sample(question_rng(seed, FAMILY.id, difficulty, 0), difficulty)
    parse_net_summary(params)
    assert json.loads(json.dumps(params)) == params
    answer = qgen.solve("net-summary", params)["answer"]
    sized = [(i, layer) for i, layer in enumerate(params["layers"])
             if layer["type"] in ("conv", "convtranspose")]
    h, w, _ = params["input"]
    if difficulty == "easy":
        (_, layer), = sized
        assert h == w
        if layer["type"] == "conv":  # dilated, stride 1: nothing to floor
            assert layer["dilation"] > 1 and layer["stride"] == 1
        else:  # doubles the size
            assert answer["output"][:2] == [2 * h, 2 * w]
    elif difficulty == "medium":
        assert [layer["type"] for _, layer in sized] == ["conv", "convtranspose"]
        conv = sized[0][1]
        extent = dilated_kernel(conv["kernel"], conv["dilation"])
        assert (h + 2 * conv["padding"] - extent) % conv["stride"] == 0  # divides
    else:
        assert h != w
        down, up = sized[0][1], sized[-1][1]
        extent = dilated_kernel(down["kernel"], down["dilation"])
        remainders = [(n + 2 * down["padding"] - extent) % down["stride"] for n in (h, w)]
        assert any(remainders)  # floor matters on some axis
        assert list(up["output_padding"]) == remainders  # ... and is undone there
        assert answer["output"] == params["input"]


@given(seed=seeds, difficulty=difficulties)
def test_answer_is_what_qgen_solve_gives_and_the_window_count_agrees(seed, difficulty):
    question = _question(seed, difficulty)
    assert question["answer"] == qgen.solve(FAMILY.id, question["params"])["answer"]
    assert question["answer"] == qgen.solve("net-summary", question["params"])["answer"]
    record = question["verification"]
    assert record["passed"]
    assert {"closed_form", "numeric", "window_count"} <= set(record["methods"])


@given(seed=seeds, difficulty=difficulties)
def test_graded_sizes_match_an_actual_numpy_run(seed, difficulty):
    question = _question(seed, difficulty)
    _, _, shapes = run_stack(parse_net_summary(question["params"]),
                             rng=np.random.default_rng(0))
    for part in FAMILY.parts(question["params"], question["answer"]):
        index = int(part.key.split(".")[1])
        assert list(shapes[index]) == part.value


@given(seed=seeds, difficulty=difficulties, choices=st.sampled_from([None, 4]))
def test_solution_shows_every_graded_part_in_both_dialects(seed, difficulty, choices):
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
        # The formula, then the numbers in it, then the result: for every sized layer.
        assert solution.count("_{out}") >= len(parts) - bool(choices)
    if choices:
        correct = next(c for c in question["choices"] if c["correct"])
        assert f"option {correct['label']}" in question["solution"]


def test_known_stacks_give_the_pytorch_sizes():
    # Dumoulin & Visin's examples in PyTorch's terms: a 3x3 dilated by 2 on 7x7 gives
    # 3x3; a stride-2 transposed 3x3, padding 1, output padding 1, on 5x5 gives 10x10.
    dilated = {"input": [7, 7, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3,
                                               "dilation": 2}]}
    assert qgen.solve(FAMILY.id, dilated)["answer"]["output"] == [3, 3, 1]
    up = {"input": [5, 5, 2], "layers": [{"type": "convtranspose", "filters": 4, "kernel": 3,
                                          "stride": 2, "padding": 1, "output_padding": 1}]}
    assert qgen.solve(FAMILY.id, up)["answer"]["output"] == [10, 10, 4]


@pytest.mark.parametrize(("layer", "n", "wrong"), [
    # a dilated 3x3 (d = 2, valid) on 32: the answer is 28
    ({"type": "conv", "filters": 8, "kernel": 3, "dilation": 2}, 32, {
        "ignored_dilation": 30, "dilated_extent_d_times_k": 27, "forgot_plus_one": 27,
        "ignored_padding": 28, "transposed_as_conv": 28}),
    # a stride-2 transposed 4x4, padding 1, on 16: the answer is 32
    ({"type": "convtranspose", "filters": 8, "kernel": 4, "stride": 2, "padding": 1}, 16, {
        "transposed_as_conv": 8, "n_times_stride": 34, "forgot_plus_one": 31,
        "added_padding": 36, "ignored_padding": 34, "upsampled_by_stride": 32}),
    # a stride-3 transposed 3x3 dilated by 2, padding 1, output padding 2, on 8: 26
    ({"type": "convtranspose", "filters": 8, "kernel": 3, "stride": 3, "padding": 1,
      "dilation": 2, "output_padding": 2}, 8, {
        "ignored_dilation": 24, "dilated_extent_d_times_k": 27, "forgot_output_padding": 24,
        "transposed_as_conv": 2}),
    # a strided dilated conv where floor matters: (26 + 2 - 5) / 3 = 7.67 -> 8
    ({"type": "conv", "filters": 8, "kernel": 3, "stride": 3, "padding": 1, "dilation": 2},
     26, {"ceil_instead_of_floor": 9, "forgot_plus_one": 7, "ignored_dilation": 9}),
])
def test_each_misconception_is_its_wrong_method(layer, n, wrong):
    params = {"input": [n, n, 3], "layers": [layer]}
    answer = qgen.solve(FAMILY.id, params)["answer"]
    by_name = {m.name: m for m in FAMILY.misconceptions}
    for name, size in wrong.items():
        assert by_name[name].wrong(params, answer) == [size, size, 8], name
    assert by_name["depth_from_input_channels"].wrong(params, answer)[2] == 3


def test_every_misconception_is_a_distinct_wrong_answer_for_some_question():
    shown = set()
    for difficulty in DIFFICULTIES:
        for seed in range(30):
            params = FAMILY.sample(question_rng(seed, FAMILY.id, difficulty, 0), difficulty)
            answer = FAMILY.solve(params)["answer"]
            part = FAMILY.choice_part(params, answer)
            for m in FAMILY.misconceptions:
                value = m.wrong(params, answer)
                if value is not None and part.differs(value):
                    shown.add(m.name)
    assert shown == {m.name for m in FAMILY.misconceptions}


def test_check_counts_windows_and_catches_a_wrong_size():
    params = FAMILY.sample(question_rng(0, FAMILY.id, "hard", 0), "hard")
    answer = qgen.solve(FAMILY.id, params)["answer"]
    assert FAMILY.check(params, answer).passed
    wrong = json.loads(json.dumps(answer))
    wrong["layers"][-1]["output"][1] += 1  # as if the output padding were forgotten + 1
    result = FAMILY.check(params, wrong)
    assert not result.passed and str(len(params["layers"]) - 1) in result.detail


def test_markdown_bank_renders_every_question():
    bank = generate([FAMILY.id], count=3, seed=5, difficulty="hard")
    text = export(bank, "markdown", answers=True)
    assert text.count("### Solution") == 3 and "\\lfloor" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_bank_with_answers_compiles(tmp_path):
    questions = []
    for difficulty in DIFFICULTIES:
        for seed in range(3):
            for choices in (None, 4):
                questions += generate([FAMILY.id], count=1, seed=seed, difficulty=difficulty,
                                      choices=choices)["questions"]
    assert_latex_compiles(questions, tmp_path)
