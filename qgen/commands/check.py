"""qgen check: grade answers against a bank (qgen.grade does the work)."""

from __future__ import annotations

import json
import sys

import click

from qgen.commands import BadInput

__all__ = ["command"]

_STYLES = {"correct": "green", "incorrect": "red", "invalid": "yellow", "missing": "dim"}
MAX_CELL = 80  # characters of a given or expected value in the table; --json keeps all


@click.command(name="check")
@click.argument("bank", metavar="BANK.json")
@click.argument("question_id", required=False, metavar="[QUESTION_ID")
@click.argument("answer", required=False, metavar="ANSWER]")
@click.option("--answers", "answers_path", metavar="FILE",
              help="Grade many: a JSON object {question id: answer}, a JSON list of "
              '{"id", "answer"}, or a CSV with columns question (or id) and answer.')
@click.option("--json", "as_json", is_flag=True, help="Print the grading as one JSON object.")
def command(bank: str, question_id: str | None, answer: str | None, answers_path: str | None,
            as_json: bool):
    """Grade answers to a bank's questions: correct, incorrect or invalid per part.

    ANSWER is JSON or plain text (- reads it from stdin): for a question with one part
    its value (0.2931, [14, 14, 16] or 14x14x16, an expression such as sigma(z) - y);
    for several parts a JSON object by part key ({"loss": 0.81, "layers.0.W": [[...]]});
    for multiple choice the option's letter or value. Numbers are right within the
    part's tolerance (one unit in the last displayed place), matrices entry by entry
    with partial credit; expressions by SymPy equivalence. A wrong answer that a known
    misconception gives is named. Exit status: 0 whatever the grades, 2 bad input.

    Example:

    \b
        qgen generate conv-pool-shape activation-loss-derivative -s 1 -o bank.json
        qgen check bank.json conv-pool-shape-39345d1a06 \\
          '{"layers.0.output": "10x10x16", "layers.0.params": 432, "layers.2.output": [3, 3, 16]}'
        qgen check bank.json activation-loss-derivative-c2dd9b1eaa \\
          '{"expression": "(1 - tanh(z)^2)*(tanh(z) - y)", "value": -0.5}'
        qgen check bank.json --answers answers.csv --json
    """
    from qgen.bank import load_bank
    from qgen.errors import QgenError
    from qgen.grade import AnswerRow, grade_many, read_answers

    if answers_path is not None and question_id is not None:
        raise BadInput("give QUESTION_ID ANSWER or --answers FILE, not both")
    if answers_path is None and (question_id is None or answer is None):
        missing = "QUESTION_ID and ANSWER" if question_id is None else "ANSWER"
        raise BadInput(f"{missing} missing (or give --answers FILE)")
    try:
        data = load_bank(bank)
        if answers_path is not None:
            rows = read_answers(answers_path)
        else:
            text = sys.stdin.read() if answer == "-" else answer
            rows = [AnswerRow(question_id, text)]
        grading = grade_many(data, rows, bank_name=bank)
    except QgenError as error:
        raise BadInput(str(error)) from None
    if as_json:
        click.echo(json.dumps(grading, indent=2, ensure_ascii=False))
    else:
        _print(grading)


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _feedback(part: dict) -> str:
    notes = []
    if part.get("given_option"):
        notes.append(f"chose {part['given_option']}, the answer is {part['expected_option']}")
    elif part.get("expected_option") and part["status"] != "correct":
        notes.append(f"the answer is {part['expected_option']}")
    if part.get("wrong_entries"):
        notes.append("wrong: " + ", ".join(part["wrong_entries"]))
    if part.get("message"):
        notes.append(part["message"])
    if part.get("misconception"):
        also = f" (or {', '.join(part['also'])})" if part.get("also") else ""
        notes.append(f"{part['misconception']}{also}: {part['feedback']}")
    return "; ".join(notes)


def _tolerance(part: dict) -> str:
    if part["tolerance"] is None:
        return "equivalent" if part.get("method") else "option"
    return "exact" if part["tolerance"] == 0 else f"±{part['tolerance']:g}"


def _print(grading: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    from qgen.report import console

    out = console()
    for result in grading["results"]:
        title = (f"{result['id']}: score {result['score']:.2f} "
                 f"({result['entries_correct']}/{result['entries']} entries correct)")
        table = Table(title=Text(title), title_justify="left")
        for name in ("part", "status", "given", "expected", "tolerance", "feedback"):
            table.add_column(name, overflow="fold")
        for part in result["parts"]:
            given = part.get("given_option") or part["given"]
            table.add_row(Text(part["key"]), Text(part["status"], style=_STYLES[part["status"]]),
                          Text("" if given is None else _cell(given)),
                          Text(_cell(part["expected"])), Text(_tolerance(part)),
                          Text(_feedback(part)))
        out.print(table)
        if result.get("unused"):
            out.print(Text(f"  not a part of this question (ignored): "
                           f"{', '.join(result['unused'])}"))
    total = grading["total"]
    if total["questions"] > 1:
        out.print(Text(f"{total['questions']} questions, {total['fully_correct']} fully "
                       f"correct: score {total['score']:.2f} of {total['questions']} "
                       f"(mean {total['mean_score']:.0%})"))
