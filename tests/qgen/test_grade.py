"""Grading: the key's own values are right for every family, anything beyond the tolerance
is wrong, what is not an answer is invalid (never a crash), a misconception's value is
named, and `qgen check` prints the grading and refuses bad input in one line."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qgen.errors import QgenError
from qgen.families import FAMILY_IDS, get_family
from qgen.generate import generate
from qgen.grade import STATUSES, AnswerRow, grade, grade_many, read_answers

ROOT = Path(__file__).resolve().parents[2]
CASES = [(f, d) for f in FAMILY_IDS for d in get_family(f).difficulties]


@functools.cache
def bank(family: str, difficulty: str = "medium", choices: int | None = None) -> dict:
    return generate([family], count=2, seed=11, difficulty=difficulty, choices=choices)


def parts_of(question: dict):
    return get_family(question["family"]).parts(question["params"], question["answer"])


def key_answer(question: dict) -> dict:
    """Every part as the key shows it."""
    return {part.key: part.shown for part in parts_of(question)}


def statuses(result: dict) -> dict:
    return {part["key"]: part["status"] for part in result["parts"]}


def matrix_question() -> dict:
    return bank("backprop-step")["questions"][0]


def symbolic_question() -> dict:
    """sigmoid + bce: the key is a - y."""
    question = bank("activation-loss-derivative", "easy")["questions"][0]
    assert question["params"]["activation"] == "sigmoid" and question["answer"]["expression"] \
        == "a - y"
    return question


# ---------------------------------------------------------------------------
# the key itself, and the tolerance around it

@pytest.mark.parametrize(("family", "difficulty"), CASES)
def test_the_keys_shown_values_grade_correct_for_every_family(family, difficulty):
    for question in bank(family, difficulty)["questions"]:
        for answer in (key_answer(question), json.dumps(key_answer(question)),
                       question["answer"]):  # by part key, as text, as `qgen solve` prints
            result = grade(question, answer)
            assert result["score"] == 1, result
            assert set(statuses(result).values()) == {"correct"}
            assert "unused" not in result or answer is question["answer"]


@pytest.mark.parametrize(("family", "difficulty"), CASES)
def test_the_right_option_grades_correct_by_letter_and_by_value(family, difficulty):
    for question in bank(family, difficulty, choices=4)["questions"]:
        right = next(o for o in question["choices"] if o["correct"])
        for answer in (right["label"], f"({right['label']})", right["value"]):
            result = grade(question, answer)
            assert result["score"] == 1 and result["parts"][0]["given_option"] == right["label"]


@given(index=st.integers(0, 10**6), sign=st.sampled_from([-1, 1]),
       fraction=st.floats(0.0, 0.99))
def test_an_entry_within_its_tolerance_of_the_shown_value_is_correct(index, sign, fraction):
    question = matrix_question()
    answer = key_answer(question)
    W = np.asarray(answer["layers.0.W"], dtype=float)
    entry = np.unravel_index(index % W.size, W.shape)
    W[entry] += sign * fraction * question["tolerance"]["layers.0.W"]
    result = grade(question, {**answer, "layers.0.W": W.tolist()})
    assert result["score"] == 1


@given(index=st.integers(0, 10**6), sign=st.sampled_from([-1, 1]),
       factor=st.floats(1.01, 1e4))
def test_an_entry_beyond_its_tolerance_is_incorrect_with_partial_credit(index, sign, factor):
    question = matrix_question()
    answer = key_answer(question)
    W = np.asarray(answer["layers.0.W"], dtype=float)
    entry = np.unravel_index(index % W.size, W.shape)
    W[entry] += sign * factor * question["tolerance"]["layers.0.W"]
    result = grade(question, {**answer, "layers.0.W": W.tolist()})
    part = next(p for p in result["parts"] if p["key"] == "layers.0.W")
    assert part["status"] == "incorrect"
    assert part["wrong_entries"] == [f"layers.0.W[{entry[0]}][{entry[1]}]"]
    assert part["entries_correct"] == W.size - 1
    assert result["score"] == pytest.approx((result["entries"] - 1) / result["entries"])
    assert result["parts"][0]["tolerance"] == question["tolerance"]["loss"]


def test_an_exact_part_is_off_by_one_incorrect():
    question = bank("conv-cost")["questions"][0]
    answer = key_answer(question)
    result = grade(question, {**answer, "total.params": answer["total.params"] + 1})
    assert statuses(result)["total.params"] == "incorrect"
    assert next(p for p in result["parts"] if p["key"] == "total.params")["tolerance"] == 0


def test_shapes_may_be_text_and_parts_may_be_given_entry_by_entry():
    question = bank("conv-pool-shape")["questions"][0]
    answer = key_answer(question)
    shape = answer["layers.0.output"]
    text = {**answer, "layers.0.output": "x".join(map(str, shape))}
    assert grade(question, text)["score"] == 1
    matrix = matrix_question()
    answer = key_answer(matrix)
    W = answer.pop("layers.0.W")
    by_entry = {f"layers.0.W[{i}][{j}]": v for i, row in enumerate(W) for j, v in enumerate(row)}
    assert grade(matrix, {**answer, **by_entry})["score"] == 1
    del by_entry["layers.0.W[0][0]"]
    part = grade(matrix, {**answer, **by_entry})["parts"][1]
    assert part["status"] == "incorrect" and "layers.0.W[0][0]" in part["message"]


# ---------------------------------------------------------------------------
# what is not an answer

@pytest.mark.parametrize("bad", ["abc", True, None, [0.1, "x"], {"a": 1}, "NaN",
                                 "Infinity", "[[1, 2]", [[1, 2], [3]], "1" * 5000, "1; x",
                                 [10**400, 1], "1e400 2"])
def test_a_non_number_where_a_number_is_expected_is_invalid_not_wrong(bad):
    question = matrix_question()
    answer = {**key_answer(question), "layers.0.b": bad}
    result = grade(question, answer)
    part = next(p for p in result["parts"] if p["key"] == "layers.0.b")
    assert part["status"] == ("missing" if bad is None else "invalid")
    assert part["entries_correct"] == 0 and part.get("message")
    assert statuses(result)["loss"] == "correct"
    json.dumps(result, allow_nan=False)


def test_wrong_shape_is_invalid_and_a_bare_value_for_many_parts_says_to_give_keys():
    question = matrix_question()
    result = grade(question, {**key_answer(question), "layers.0.W": [1, 2, 3]})
    part = next(p for p in result["parts"] if p["key"] == "layers.0.W")
    assert part["status"] == "invalid" and "matrix" in part["message"]
    result = grade(question, "0.5")
    assert set(statuses(result).values()) == {"invalid"}
    assert "JSON object by part key" in result["parts"][0]["message"]
    result = grade(question, {**key_answer(question), "los": 1})
    assert result["unused"] == ["los"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)


@pytest.mark.parametrize("family", ["backprop-step", "conv-pool-shape",
                                    "activation-loss-derivative"])
@given(answer=json_values | st.text(max_size=30))
def test_any_answer_is_graded_never_a_crash(family, answer):
    for question in (bank(family)["questions"][0], bank(family, choices=4)["questions"][0]):
        result = grade(question, answer)
        assert 0 <= result["score"] <= 1
        assert all(part["status"] in STATUSES for part in result["parts"])
        json.dumps(result, allow_nan=False)


# ---------------------------------------------------------------------------
# misconceptions

@pytest.mark.parametrize("family", FAMILY_IDS)
def test_a_misconceptions_value_is_named_as_feedback(family):
    from qgen.grade import _locate  # which part (and entry) the misconceptions are about

    question = bank(family)["questions"][0]
    fam = get_family(family)
    parts = parts_of(question)
    part, index = _locate(fam.choice_part(question["params"], question["answer"]), parts)
    named = 0
    for misconception in fam.misconceptions:
        wrong = misconception.wrong(question["params"], question["answer"])
        if wrong is None:
            continue
        answer = key_answer(question)
        if index:
            value = json.loads(json.dumps(answer[part.key]))
            value[index[0]][index[1]] = wrong
            answer[part.key] = value
        else:
            answer[part.key] = wrong
        record = next(p for p in grade(question, answer)["parts"] if p["key"] == part.key)
        if record["status"] == "correct":
            continue  # this wrong method happens to give the right value here
        assert record["status"] == "incorrect"
        assert misconception.name in [record["misconception"], *record.get("also", [])]
        assert record["feedback"]
        named += 1
    assert named


def test_a_wrong_option_names_its_misconception_by_letter_and_by_value():
    question = bank("conv-pool-shape", choices=4)["questions"][0]
    wrong = next(o for o in question["choices"] if not o["correct"])
    for answer in (wrong["label"], wrong["label"].lower(), wrong["value"]):
        part = grade(question, answer)["parts"][0]
        assert part["status"] == "incorrect" and part["given_option"] == wrong["label"]
        assert part["misconception"] == wrong["misconception"] and part["feedback"]
    part = grade(question, "Z")["parts"][0]
    assert part["status"] == "invalid" and "not one of the options" in part["message"]


# ---------------------------------------------------------------------------
# expressions

@pytest.mark.parametrize("text", ["a - y", "-(y - a)", "sigma(z) - y", "a-y", "-y + a",
                                  "1/(1 + exp(-z)) - y"])
def test_equivalent_forms_of_the_symbolic_answer_are_correct(text):
    question = symbolic_question()
    for answer in (text, {"expression": text, "value": question["answer"]["value"]}):
        part = grade(question, answer)["parts"][0]
        assert part["key"] == "expression" and part["status"] == "correct", part


def test_a_different_expression_is_incorrect_and_its_misconception_named():
    part = grade(symbolic_question(), "y - a")["parts"][0]
    assert part["status"] == "incorrect" and part["misconception"] == "sign_flip"


@pytest.mark.parametrize("text", ["a - ", "__import__('os')", "a.b", "'a'", "9**9**9**9",
                                  "a" * 1000, "", "exp(", 5j])
def test_an_unreadable_expression_is_invalid_with_a_reason(text):
    part = grade(symbolic_question(), {"expression": text})["parts"][0]
    assert part["status"] == ("missing" if text == "" else "invalid")
    assert part["message"]


def test_symbolic_multiple_choice_takes_capital_letters_and_expressions():
    question = bank("activation-loss-derivative", "easy", choices=4)["questions"][0]
    right = next(o for o in question["choices"] if o["correct"])
    assert grade(question, right["label"])["score"] == 1
    assert grade(question, f"-(y - ({right['value']})) + y")["score"] == 1
    lower = grade(question, "a")["parts"][0]  # the variable a, not option A
    assert "capital letter" in lower.get("message", "") or lower["status"] == "correct"


# ---------------------------------------------------------------------------
# many answers, files

def test_grade_many_totals_and_refuses_an_unknown_id():
    data = bank("conv-cost")
    first, second = data["questions"]
    grading = grade_many(data, {first["id"]: key_answer(first), second["id"]: "{}"})
    assert grading["total"]["questions"] == 2 and grading["total"]["fully_correct"] == 1
    assert grading["total"]["score"] == 1
    with pytest.raises(QgenError, match="'nope'.*not in"):
        grade_many(data, [AnswerRow("nope", 1, "answers.csv: line 3")])
    with pytest.raises(QgenError, match="answers.csv: line 3"):
        grade_many(data, [AnswerRow("nope", 1, "answers.csv: line 3")])


def test_answers_files_in_json_and_csv(tmp_path):
    data = bank("conv-cost")
    question = data["questions"][0]
    answer = key_answer(question)
    (tmp_path / "a.json").write_text(json.dumps({question["id"]: answer}))
    (tmp_path / "b.json").write_text(json.dumps([{"question": question["id"],
                                                  "answer": answer}], indent=1))
    (tmp_path / "c.csv").write_text(f'id,answer\n{question["id"]},"'
                                    + json.dumps(answer).replace('"', '""') + '"\n')
    for name in ("a.json", "b.json", "c.csv"):
        rows = read_answers(tmp_path / name)
        assert grade_many(data, rows)["total"]["fully_correct"] == 1, name
    assert read_answers(tmp_path / "b.json")[0].where.endswith("b.json: line 3")
    assert read_answers(tmp_path / "c.csv")[0].where.endswith("c.csv: line 2")


@pytest.mark.parametrize(("name", "text", "where"), [
    ("bad.json", '{\n  "q": 1,\n  "r": \n}', "bad.json: line 4"),
    ("bad.csv", 'question,answer\nq,1\nq,"1\n', "bad.csv: line 3"),
    ("cells.csv", "question,answer\nq,1\nq,[1,2]\n", "cells.csv: line 3"),
    ("header.csv", "name,value\nq,1\n", "header.csv: line 1"),
    ("items.json", '[{"id": "q"}]', "items.json: line 1"),
])
def test_a_malformed_answers_file_names_the_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(QgenError, match=where):
        read_answers(tmp_path / name)


# ---------------------------------------------------------------------------
# qgen check

def run(*args, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "qgen", "check", *args], capture_output=True,
                          text=True, cwd=cwd, input=stdin)


@pytest.fixture
def bank_file(tmp_path):
    data = {**bank("backprop-step"), "questions": [
        *bank("backprop-step")["questions"], *bank("activation-loss-derivative", "easy")[
            "questions"]]}
    (tmp_path / "bank.json").write_text(json.dumps(data))
    return data


def test_check_one_answer_prints_a_table_and_json(tmp_path, bank_file):
    question = bank_file["questions"][0]
    answer = key_answer(question)
    answer["layers.0.W"][0][0] += 0.5
    result = run("bank.json", question["id"], json.dumps(answer), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "incorrect" in result.stdout and "layers.0.W[0][0]" in result.stdout
    result = run("bank.json", question["id"], "-", "--json", cwd=tmp_path,
                 stdin=json.dumps(answer))
    grading = json.loads(result.stdout)
    assert grading["results"][0]["id"] == question["id"]
    assert 0 < grading["results"][0]["score"] < 1
    symbolic = bank_file["questions"][-1]
    result = run("bank.json", symbolic["id"], "sigma(z) - y", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["results"][0]["parts"][0]["status"] == "correct"
    result = run("bank.json", symbolic["id"], "a - ", cwd=tmp_path)
    assert result.returncode == 0 and "invalid" in result.stdout


def test_check_answers_files_json_and_csv(tmp_path, bank_file):
    first, second = bank_file["questions"][:2]
    (tmp_path / "a.json").write_text(json.dumps({first["id"]: key_answer(first),
                                                 second["id"]: {"loss": "abc"}}))
    result = run("bank.json", "--answers", "a.json", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["questions"] == 2 and total["fully_correct"] == 1
    symbolic = bank_file["questions"][-1]
    (tmp_path / "a.csv").write_text(f'question,answer\n{symbolic["id"]},-(y - a)\n'
                                    f'{symbolic["id"]},"__import__(\'os\')"\n')
    result = run("bank.json", "--answers", "a.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "correct" in result.stdout and "invalid" in result.stdout


@pytest.mark.parametrize(("args", "files", "fragment"), [
    (["bank.json", "no-such-id", "1"], {}, "'no-such-id'"),
    (["bank.json", "--answers", "a.json"], {"a.json": '{"x": 1,}'}, "a.json: line 1"),
    (["bank.json", "--answers", "a.csv"], {"a.csv": 'question,answer\n"x,1\n'}, "a.csv: line"),
    (["bank.json", "--answers", "a.csv"], {"a.csv": "question,answer\nnope,1\n"},
     "a.csv: line 2: question id 'nope'"),
    (["bank.json", "--answers", "missing.json"], {}, "missing.json: no such file"),
    (["bank.json"], {}, "ANSWER"),
    (["nothing.json", "x", "1"], {}, "nothing.json"),
])
def test_check_bad_input_exits_2_with_one_line_and_nothing_on_stdout(tmp_path, bank_file, args,
                                                                     files, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
