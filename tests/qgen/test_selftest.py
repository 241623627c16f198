"""qgen selftest: every check holds on this install; a broken one fails the command,
named, with its shrunk example; the runs are derandomized."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import strategies as st

import qgen.selftest
from qgen.cli import cli
from qgen.errors import QgenError
from qgen.selftest import CHECKS, Check, run_check, run_selftest

ROOT = Path(__file__).resolve().parents[2]


def _at_most_nine(n: int) -> None:
    assert n < 10, f"{n} is not below 10"


BROKEN = Check("broken-on-purpose", "every integer is below 10",
               lambda: st.integers(0, 1000), _at_most_nine)


def selftest(*args):
    return CliRunner().invoke(cli, ["selftest", *args])


def test_every_check_holds_and_the_summary_names_each():
    result = selftest()
    assert result.exit_code == 0, result.output
    for check in CHECKS:
        assert check.name in result.output
    assert f"all {len(CHECKS)} checks hold" in result.output
    assert "FAIL" not in result.output


def test_a_broken_check_fails_the_command_and_is_named_with_its_shrunk_example(monkeypatch):
    monkeypatch.setattr(qgen.selftest, "CHECKS", [CHECKS[0], BROKEN])
    result = selftest("--examples", "50")
    assert result.exit_code == 1, result.output
    assert "FAIL broken-on-purpose: every integer is below 10" in result.output
    assert "AssertionError: 10 is not below 10" in result.output
    assert "broken_on_purpose(" in result.output and "example=10" in result.output
    assert "1 of 2 checks failed: broken-on-purpose" in result.output


def test_run_check_reports_the_shrunk_counterexample_and_never_raises():
    result = run_check(BROKEN, max_examples=50)
    assert not result.passed
    assert result.error.startswith("AssertionError: 10 is not below 10")
    assert "example=10" in result.counterexample
    assert result.examples >= 1 and result.seconds >= 0
    # Derandomized and without a database: the same report on every run and machine.
    assert run_check(BROKEN, max_examples=50).counterexample == result.counterexample


def test_an_exception_other_than_assertion_is_a_failure_too():
    def crashes(n):
        raise ZeroDivisionError("division by zero")

    result = run_check(Check("crashes", "never crashes", lambda: st.integers(), crashes))
    assert not result.passed and result.error.startswith("ZeroDivisionError")


def test_selected_checks_run_in_order_and_report_each():
    seen = []
    names = ["pool-output-size-vs-run", "homework-q2-golden"]
    results = run_selftest(names=names, max_examples=5, on_result=seen.append)
    assert [r.name for r in results] == ["homework-q2-golden", "pool-output-size-vs-run"]
    assert seen == results and all(r.passed for r in results)
    assert results[0].examples == 1  # the golden check has one example


@pytest.mark.parametrize(("options", "message"), [
    ({"names": ["nope"]}, "check='nope' must be one of homework-q2-golden, "),
    ({"max_examples": 0}, "max_examples=0 must be a positive integer"),
])
def test_run_selftest_refuses_bad_options(options, message):
    with pytest.raises(QgenError, match=message):
        run_selftest(**options)


def test_an_unknown_check_is_bad_input_in_one_line():
    result = subprocess.run([sys.executable, "-m", "qgen", "selftest", "--check", "nope"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.startswith("qgen: selftest: check='nope' must be one of ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_list_shows_each_check_and_its_claim():
    result = selftest("--list")
    assert result.exit_code == 0
    for check in CHECKS:
        assert check.name in result.output
