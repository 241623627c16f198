"""qgen practice: scripted stdin with right and wrong answers, misconceptions named,
the score kept, end of input as a clean exit, and the same questions for the same seed."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qgen.errors import QgenError
from qgen.families import get_family
from qgen.generate import make_question
from qgen.practice import practice
from qgen.render import number

ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "qgen", *args], capture_output=True,
                          text=True, input=stdin, cwd=ROOT,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def session(lines, family, **options):
    """practice() on scripted lines: (score, everything it printed)."""
    out = io.StringIO()
    score = practice(family, stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
                     stdout=out, **options)
    return score, out.getvalue()


def right_lines(question) -> list[str]:
    """What a student who is right types: one line per part, a matrix row by row."""
    if question.get("choices"):
        return [next(c["label"] for c in question["choices"] if c["correct"])]
    lines = []
    for part in get_family(question["family"]).parts(question["params"], question["answer"]):
        if part.kind == "expression":
            lines.append(str(part.value))
            continue
        shown = np.asarray(part.shown, dtype=float)
        if shown.ndim == 2:
            lines += [" ".join(number(v, part.decimals) for v in row) for row in shown]
        else:
            lines.append(" ".join(number(v, part.decimals) for v in np.ravel(shown)))
    return lines


@pytest.mark.parametrize("family, difficulty", [
    ("conv-pool-shape", "medium"), ("backprop-step", "easy"),
    ("activation-loss-derivative", "easy"), ("receptive-field", "easy"),
])
def test_right_answers_score_full_marks_and_show_the_solution(family, difficulty):
    question = make_question(get_family(family), 5, difficulty, 0)
    score, text = session(right_lines(question), family, seed=5, difficulty=difficulty,
                          count=1)
    assert (score.questions, score.right) == (1, 1), text
    assert score.entries_correct == score.entries > 0
    assert "Right:" in text and "Worked solution" in text
    assert question["solution"].strip().splitlines()[0] in text
    assert text.rstrip().endswith("Score: 1 of 1 question right "
                                  f"({score.entries} of {score.entries} entries).")


def test_a_wrong_choice_is_refused_and_its_misconception_named():
    family = get_family("conv-pool-shape")
    question = make_question(family, 1, "easy", 0, choices=4)
    wrong = next(c for c in question["choices"] if c["misconception"])
    score, text = session([wrong["label"]], "conv-pool-shape", seed=1, difficulty="easy",
                          choices=4, count=1)
    assert (score.questions, score.right) == (1, 0)
    assert "Not quite" in text and f"misconception {wrong['misconception']}" in text
    description = next(m.description for m in family.misconceptions
                       if m.name == wrong["misconception"])
    assert description in text


def test_a_wrong_number_matching_a_misconception_is_named():
    family = get_family("conv-pool-shape")
    question = make_question(family, 3, "medium", 0)
    parts = family.parts(question["params"], question["answer"])
    # The last layer's output is the family's multiple-choice part: type a misconception's
    # value there, everything else right.
    for misconception in family.misconceptions:
        wrong = misconception.wrong(question["params"], question["answer"])
        if wrong is not None and wrong != family.choice_part(question["params"],
                                                             question["answer"]).value:
            break
    lines = right_lines(question)
    last = max(i for i, p in enumerate(parts) if p.key.endswith("output"))
    lines[last] = "x".join(map(str, wrong))
    score, text = session(lines, "conv-pool-shape", seed=3, count=1)
    assert score.right == 0 and 0 < score.entries_correct < score.entries
    assert f"misconception {misconception.name}" in text, text


def test_a_json_answer_on_one_line_is_graded():
    question = make_question(get_family("conv-cost"), 2, "easy", 0)
    parts = get_family("conv-cost").parts(question["params"], question["answer"])
    answer = "{" + ", ".join(f'"{p.key}": {p.shown}' for p in parts) + "}"
    score, text = session([answer], "conv-cost", seed=2, difficulty="easy", count=1)
    assert score.right == 1, text


def test_end_of_input_stops_cleanly_with_the_score():
    lines = right_lines(make_question(get_family("conv-pool-shape"), 4, "medium", 0))
    # One question answered, the second cut off half-way: only the first is counted.
    score, text = session(lines + lines[:1], "conv-pool-shape", seed=4)
    assert (score.questions, score.right) == (1, 1)
    assert text.rstrip().endswith("Done. Score: 1 of 1 question right "
                                  f"({score.entries} of {score.entries} entries).")


def test_closed_stdin_exits_0_with_the_score():
    result = run("practice", "conv-pool-shape", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("Done. Score: 0 of 0 questions right "
                                           "(0 of 0 entries).")
    assert result.stderr == ""


def test_the_command_grades_a_scripted_session():
    result = run("practice", "conv-pool-shape", "-s", "1", "-d", "easy", "-k", "4", "-n",
                 "2", stdin="A\nA\n")
    assert result.returncode == 0, result.stderr
    assert "Question 2 of 2" in result.stdout
    assert "Done. Score: 1 of 2 questions right" in result.stdout


def test_the_same_seed_asks_the_same_questions():
    first = session(["1", "2"], "backprop-step", seed=9, difficulty="easy")[1]
    again = session(["1", "2"], "backprop-step", seed=9, difficulty="easy")[1]
    other = session(["1", "2"], "backprop-step", seed=10, difficulty="easy")[1]
    assert first == again and first != other


def test_invalid_text_is_reported_not_a_crash():
    score, text = session(["abc", "", ""], "conv-pool-shape", seed=1, count=1)
    assert score.questions == 1 and score.right == 0
    assert "invalid" in text and "missing" in text


@pytest.mark.parametrize("args, fragment", [
    (["practice", "no-such-family"], "family='no-such-family' must be one of"),
    (["practice", "conv-pool-shape", "-d", "extreme"], "--difficulty='extreme'"),
    (["practice", "conv-pool-shape", "--count", "0"], "--count"),
])
def test_bad_options_exit_2_with_one_line(args, fragment):
    result = run(*args)
    assert result.returncode == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_library_checks_its_arguments_first():
    with pytest.raises(QgenError, match="choices=1"):
        practice("conv-pool-shape", choices=1, stdin=io.StringIO(""), stdout=io.StringIO())
