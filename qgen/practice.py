"""``qgen practice FAMILY``: practice in the terminal. Asks a generated question, reads
the answer, grades it with qgen.grade (naming the misconception a wrong answer matches),
shows the worked solution and keeps the score, until ``--count`` questions are done or
the input ends.

It reads plain lines, so it can be scripted (``printf '...' | qgen practice ...``):

- a part with one number: one line (``0.2689``);
- a vector or a shape: its entries on one line (``14x14x16``, ``14 14 16``, ``[14, 14, 16]``);
- a matrix: one line per row (``0.1 0.2 0.3``);
- an expression: one line (``a - y``); a multiple-choice question: the option's letter;
- or, as the first line of a question, the whole answer as one JSON object by part key
  (``{"loss": 0.81, "layers.0.W": [[...]]}``), as qgen.grade reads it.

End of input (Ctrl-D, or the end of a script) stops cleanly with the score; a question
whose answer was not complete is not counted.
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from qgen.errors import QgenError

__all__ = ["Score", "practice", "read_answer"]

_SPLIT = re.compile(r"[\s,;]+")


@dataclass
class Score:
    """What a session scored: questions graded, fully right, and the entries."""

    questions: int = 0
    right: int = 0
    entries: int = 0
    entries_correct: int = 0
    interrupted: bool = False

    def line(self) -> str:
        return (f"Score: {self.right} of {self.questions} question"
                f"{'' if self.questions == 1 else 's'} right "
                f"({self.entries_correct} of {self.entries} entries)")


class _EndOfInput(Exception):
    """The input ended (or was interrupted) before an answer was complete."""


class _Console:
    """Prompts and lines: input() on a terminal (line editing); otherwise plain
    readline, echoing what was read so that a scripted transcript reads like a session."""

    def __init__(self, stdin: TextIO, stdout: TextIO):
        self.stdin, self.stdout = stdin, stdout
        self.terminal = (stdin is sys.stdin and stdout is sys.stdout and stdin.isatty()
                         and stdout.isatty())

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str:
        if self.terminal:
            try:
                return input(prompt)
            except EOFError:
                self.say()
                raise _EndOfInput from None
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self.say()
            raise _EndOfInput
        line = line.rstrip("\r\n")
        self.say(line)
        return line


def _hint(part) -> str:
    """How a part's answer is typed, after its label (nothing for one number)."""
    if part.kind == "expression":
        return " (an expression)"
    shape = np.shape(part.shown)
    if len(shape) == 1:
        return " (H x W x C)" if part.key.endswith("output") and shape[0] == 3 else (
            f" ({shape[0]} numbers)")
    return ""


def read_answer(question: dict, ask) -> Any:
    """The answer to ``question``, read with ``ask(prompt) -> line``: the option's letter,
    one line per part (a matrix: one per row), or one JSON object on the first line."""
    from qgen.families import get_family

    if question.get("choices"):
        labels = [c["label"] for c in question["choices"]]
        return ask(f"Your choice ({labels[0]}-{labels[-1]}): ").strip()
    family = get_family(question["family"])
    parts = family.parts(question["params"], question["answer"])
    answer: dict[str, Any] = {}
    for n, part in enumerate(parts):
        shape = np.shape(part.shown) if part.kind == "number" else ()
        if len(shape) == 2:  # a matrix, row by row: lists of the typed tokens
            rows = []
            for i in range(shape[0]):
                line = ask(f"{part.label}, row {i + 1} of {shape[0]} ({shape[1]} numbers): ")
                if n == 0 and i == 0 and line.lstrip().startswith("{"):
                    return line
                rows.append([t for t in _SPLIT.split(line.strip()) if t])
            answer[part.key] = rows if any(rows) else ""  # all blank: not answered
            continue
        line = ask(f"{part.label}{_hint(part)}: ")
        if n == 0 and line.lstrip().startswith("{"):
            return line  # the whole answer as JSON (qgen.grade reads it)
        answer[part.key] = line.strip()
    return answer


def _shown(value: Any, decimals: int | None) -> str:
    from qgen.render import number

    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return "; ".join(_shown(row, decimals) for row in value)
        return " x ".join(_shown(v, decimals) for v in value) if decimals is None else (
            ", ".join(_shown(v, decimals) for v in value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value, decimals)
    return str(value)


def _given(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "; ".join(_given(v) for v in value) if value and isinstance(value[0], list) \
            else " ".join(map(str, value))
    return str(value)


def _report(result: dict, question: dict, say) -> None:
    from qgen.families import get_family

    family = get_family(question["family"])
    decimals = {p.key: p.decimals for p in family.parts(question["params"],
                                                          question["answer"])}
    verdict = "Right" if result["score"] == 1 else "Not quite"
    say(f"{verdict}: {result['entries_correct']} of {result['entries']} "
        f"entr{'y' if result['entries'] == 1 else 'ies'} correct.")
    for record in result["parts"]:
        status = record["status"]
        line = f"  {status:<9}  {record['label']}"
        if status != "correct":
            expected = _shown(record["expected"], decimals.get(record["key"]))
            if record.get("expected_option"):
                expected = f"{record['expected_option']} ({expected})"
            line += f": you gave {_given(record.get('given_option') or record['given'])}, "
            line += f"the answer is {expected}"
            tolerance = record.get("tolerance")
            if tolerance:
                line += f" (± {tolerance:g})"
        say(line)
        if record.get("message") and status not in ("correct", "missing"):
            say(f"             {record['message']}")
        if record.get("misconception"):
            say(f"             misconception {record['misconception']}: you "
                f"{record.get('feedback') or 'made a known mistake'}")


def practice(family_id: str, *, difficulty: str = "medium", seed: int | None = None,
             count: int | None = None, choices: int | None = None,
             stdin: TextIO | None = None, stdout: TextIO | None = None) -> Score:
    """Run a practice session (see the module docstring); returns the score.

    Question ``i`` is question ``i`` of ``qgen generate FAMILY --seed SEED``: the same seed
    asks the same questions. Without a seed one is drawn and printed."""
    from qgen.families import get_family
    from qgen.families.base import DIFFICULTIES
    from qgen.generate import LETTERS, make_question
    from qgen.grade import grade

    family = get_family(family_id)
    if difficulty not in family.difficulties:
        raise QgenError(f"--difficulty={difficulty!r} must be one of "
                        f"{', '.join(d for d in DIFFICULTIES if d in family.difficulties)}")
    if count is not None and count < 1:
        raise QgenError(f"--count={count} must be at least 1")
    if choices is not None and not 2 <= choices <= len(LETTERS):
        raise QgenError(f"--choices={choices} must be between 2 and {len(LETTERS)}")
    console = _Console(stdin or sys.stdin, stdout or sys.stdout)
    if seed is None:
        seed = secrets.randbits(32)
    score = Score()
    repeat = f"qgen practice {family.id} --difficulty {difficulty} --seed {seed}"
    console.say(f"{family.title} ({difficulty}). Seed {seed}: `{repeat}` asks the same "
                "questions.")
    console.say("Type each answer on its own line; end the input (Ctrl-D) to stop.")
    index = 0
    try:
        while count is None or index < count:
            question = make_question(family, seed, difficulty, index, choices=choices)
            index += 1
            total = f" of {count}" if count else ""
            console.say(f"\n## Question {index}{total}  ({question['id']})\n")
            console.say(question["prompt"].rstrip())
            console.say()
            answer = read_answer(question, console.ask)
            result = grade(question, answer)
            score.questions += 1
            score.right += result["score"] == 1
            score.entries += result["entries"]
            score.entries_correct += result["entries_correct"]
            console.say()
            _report(result, question, console.say)
            console.say("\n### Worked solution\n")
            console.say(question["solution"].rstrip())
            console.say(f"\n{score.line()}")
    except _EndOfInput:
        pass
    except KeyboardInterrupt:
        console.say()
        score.interrupted = True
    console.say(f"\nDone. {score.line()}.")
    return score
