"""examples/autograde runs as a course's CI would: `pytest examples/autograde` passes on the
correct submission and fails on the buggy one, showing Hypothesis's shrunk example."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "autograde"


def grade(student: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADE_STUDENT": student, "HYPOTHESIS_PROFILE": "ci"}
    return subprocess.run([sys.executable, "-m", "pytest", str(EXAMPLE), "-p",
                           "no:cacheprovider"], capture_output=True, text=True, cwd=ROOT,
                          env=env)


def failed_tests(output: str) -> set[str]:
    return set(re.findall(r"^FAILED \S+::(\w+)", output, flags=re.MULTILINE))


def test_the_correct_submission_passes():
    result = grade("student_correct")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
    assert "student under test:" in result.stdout and "student_correct.py" in result.stdout


def test_the_buggy_submission_fails_with_a_shrunk_minimal_example():
    result = grade("student_buggy")
    assert result.returncode == 1, result.stdout + result.stderr
    # Hypothesis >= 6.159 says "Failing test case", older versions "Falsifying example".
    assert re.search(r"(Falsifying example|Failing test case): sgd_step_matches_reference\(",
                     result.stdout), result.stdout
    assert failed_tests(result.stdout) == {"test_homework_question_2",
                                           "test_sgd_step_matches_reference"}
    # Shrunk: the smallest network with a hidden layer, where the derivative matters.
    assert "network 1-1-1" in result.stdout
    assert "layers[0].b[0] (returned as new_biases[0][0]) differs" in result.stdout


def test_an_unknown_submission_is_a_usage_error():
    result = grade("student_missing")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "AUTOGRADE_STUDENT='student_missing' must name a module of" in result.stderr
