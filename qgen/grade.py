"""Grading a student's answers against a JSON bank: per part correct, incorrect, invalid
or missing, with the tolerance used, partial credit, and the misconception a wrong
answer matches.

What an answer may be (a JSON value, or text that is read as JSON when it is JSON):

- a multiple-choice question: the option's letter (``"B"``, ``"(b)"``; for expression
  options upper case only, as ``a`` is a variable) or the option's value;
- a question with one graded part: its value, bare; text that is not JSON answers a
  question's one expression part (its other parts are then missing);
- any question: an object by part key, ``{"loss": 0.8129, "layers.0.W": [[...], ...]}``;
  a part may also be reached through nested objects and lists, as ``qgen solve --json``
  prints the answer (``{"layers": [{"W": ...}]}``), or given entry by entry under the
  entry keys of the LMS exports (``"layers.0.W[1][2]": 0.2931``).

Numbers are a JSON number, a numeric string, a list or a nested list (a matrix); a
shape may be text, ``"14x14x16"``. An expression part takes text (``"sigma(z) - y"``).

How a part is graded:

- numbers: entry by entry, ``|given - shown| <= tolerance``, where ``shown`` is the key's
  value rounded to the part's display precision and the tolerance (the bank's, per part)
  is one unit in that place (families.base.Part). An entry that is not a number is
  invalid (not wrong); a wrong shape makes the whole part invalid.
- expressions: SymPy equivalence (qgen.symbolic_answers), with ``a`` standing for the
  question's activation of ``z``; unreadable text is invalid, with the reason.

The score is the fraction of scalar entries that are correct across all parts (a
matrix counts entry by entry, an expression once); a multiple-choice question is one
entry. A wrong answer that equals what one of the family's misconceptions gives for its
multiple-choice part (or, for a multiple-choice question, the wrong option chosen) is
named, with the misconception's description as feedback.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import QgenError
from qgen.families import get_family
from qgen.families.base import Family, Part, rounded

__all__ = ["STATUSES", "AnswerRow", "find_question", "grade", "grade_many", "read_answers"]

STATUSES = ("correct", "incorrect", "invalid", "missing")

# Slack on top of a part's tolerance for the float64 rounding of the comparison itself
# (0.2931 - 0.2930 is 1.0000000000000286e-04 in float64): the same as Part.differs.
RELATIVE_SLACK = 1e-9
ABSOLUTE_SLACK = 1e-12
# How deep a given value may nest (a matrix is 2); deeper input is refused, not recursed.
MAX_NESTING = 8

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_TEXT = re.compile(rf"\s*({_NUMBER})\s*")
# A shape or a vector as text: 14x14x16, 14 x 14 x 16, 14×14×16, (14, 14, 16), 3 4 5.
_SHAPE_TEXT = re.compile(rf"\s*[\[(]?\s*({_NUMBER}(?:\s*[x×X*,;]\s*{_NUMBER}|\s+{_NUMBER})+)"
                         rf"\s*[\])]?\s*")
_LETTER = re.compile(r"\s*\(?\s*([A-Za-z])\s*[).]?\s*")
_ENTRY_INDEX = re.compile(r"\[(\d+)\]")


class _Unreadable(Exception):
    """A given value that cannot be read as the part asks (its message says why)."""


@dataclass(frozen=True)
class _Bad:
    """An entry that is not a number."""

    value: Any


@dataclass(frozen=True)
class _Entries:
    """A part given entry by entry under entry keys: index tuple -> value."""

    values: dict


_MISSING = object()


# ---------------------------------------------------------------------------
# Reading a given value

def _decoded(answer: Any) -> Any:
    """Text that is JSON becomes its value ("0.27", "[1, 2]", '{"loss": 0.8}'); other
    text ("B", "a - y", "14x14x16") stays text."""
    if isinstance(answer, str):
        try:
            return json.loads(answer)
        except (ValueError, RecursionError):  # not JSON, or an integer too long to read
            return answer.strip()
    return answer


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _plain(value: Any, depth: int = 0) -> Any:
    """A given value as plain JSON (numpy to lists, non-finite floats to text), cut
    short below MAX_NESTING levels."""
    if depth > MAX_NESTING:
        return "..."
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _number_or_bad(value: Any) -> float | _Bad:
    if isinstance(value, str):
        text = value.replace("−", "-")
        if _NUMBER_TEXT.fullmatch(text) and math.isfinite(float(text)):
            return float(text)
        return _Bad(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return _Bad(value)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float64
        return _Bad(value)
    return number if math.isfinite(number) else _Bad(value)


def _numbers(value: Any, depth: int = 0) -> Any:
    """A given value as a float, a _Bad, or nested lists of them."""
    if depth > MAX_NESTING:
        raise _Unreadable(f"it nests deeper than {MAX_NESTING} levels")
    if isinstance(value, str):
        text = value.strip().replace("−", "-")
        if text[:1] and text[:1] in "[{\"":
            try:
                decoded = json.loads(text)
            except (ValueError, RecursionError):
                raise _Unreadable(f"{_short(value)} is not a number, a list of numbers "
                                  "or a matrix as JSON") from None
            return _numbers(decoded, depth + 1)
        match = _SHAPE_TEXT.fullmatch(text)
        if match:
            return [_number_or_bad(n) for n in re.findall(_NUMBER, match.group(1))]
        return _number_or_bad(text)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_numbers(v, depth + 1) if isinstance(v, (list, tuple, np.ndarray))
                else _number_or_bad(v) for v in value]
    if isinstance(value, dict):
        raise _Unreadable("a JSON object where numbers are expected")
    return _number_or_bad(value)


def _shape(nested: Any) -> tuple[int, ...]:
    if not isinstance(nested, list):
        return ()
    shapes = {_shape(v) for v in nested}
    if len(shapes) > 1:
        raise _Unreadable("its rows have different lengths")
    return (len(nested), *(shapes.pop() if shapes else ()))


def _describe_shape(shape: tuple[int, ...]) -> str:
    if shape == ():
        return "a number"
    if len(shape) == 1:
        return f"a list of {shape[0]} number{'s' if shape[0] != 1 else ''}"
    if len(shape) == 2:
        return f"a {shape[0]}x{shape[1]} matrix ({shape[0]} rows of {shape[1]})"
    return f"an array of shape {'x'.join(map(str, shape))}"


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(_plain(value))
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entry_key(key: str, index: tuple[int, ...]) -> str:
    """The entry's key as the LMS exports name it: layers.0.W[1][2] (qgen.export.items)."""
    return key + "".join(f"[{i}]" for i in index)


# ---------------------------------------------------------------------------
# Grading one part

@dataclass
class _Graded:
    record: dict
    values: np.ndarray | None = None  # numbers read (nan where missing or invalid)


def _within(given: np.ndarray, expected: np.ndarray, tolerance: float) -> np.ndarray:
    return np.abs(given - expected) <= tolerance * (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK


def _base_record(part: Part, tolerance: float | None) -> dict:
    return {"key": part.key, "label": part.label, "status": "missing", "given": None,
            "expected": part.shown if part.kind == "number" else str(part.value),
            "tolerance": tolerance, "entries": 1, "entries_correct": 0}


def _grade_number(part: Part, tolerance: float, given: Any) -> _Graded:
    expected = np.asarray(part.shown, dtype=float)
    record = _base_record(part, tolerance)
    record["entries"] = int(expected.size)
    if given is _MISSING or _is_blank(given):
        record["message"] = f"no answer (expected {_describe_shape(expected.shape)})"
        return _Graded(record)
    if isinstance(given, _Entries):
        record["given"] = _plain(_assemble(given, expected.shape))
        read = _assemble(given, expected.shape)
    else:
        record["given"] = _plain(given)
        try:
            read = _numbers(given)
            shape = _shape(read)
        except _Unreadable as error:
            return _Graded({**record, "status": "invalid", "message": str(error)})
        if isinstance(read, _Bad):
            return _Graded({**record, "status": "invalid", "message":
                            f"{_short(read.value)} is not a number (expected "
                            f"{_describe_shape(expected.shape)})"})
        if shape != expected.shape:
            # A vector may come as one row or one column: same entries, same order.
            if expected.ndim <= 1 and math.prod(shape) == expected.size:
                read = np.asarray(read, dtype=object).reshape(expected.shape).tolist()
            else:
                return _Graded({**record, "status": "invalid", "message":
                                f"expected {_describe_shape(expected.shape)}, got "
                                f"{_describe_shape(shape)}"})
    flat = list(np.asarray(read, dtype=object).reshape(-1)) if expected.ndim else [read]
    values = np.full(expected.size, np.nan)
    invalid, missing, wrong, correct = [], [], [], 0
    for n, (index, entry) in enumerate(zip(np.ndindex(expected.shape), flat, strict=True)):
        name = _entry_key(part.key, index)
        if entry is None:
            missing.append(name)
        elif isinstance(entry, _Bad):
            invalid.append(f"{name}: {_short(entry.value)} is not a number")
        else:
            values[n] = entry
            if _within(np.float64(entry), expected[index], tolerance):
                correct += 1
            else:
                wrong.append(name)
    record["entries_correct"] = correct
    if invalid:
        record["status"] = "invalid"
        record["message"] = "; ".join(invalid)
    elif correct == expected.size:
        record["status"] = "correct"
    else:
        record["status"] = "incorrect"
        if expected.size > 1:
            record["wrong_entries"] = wrong + missing
        if missing:
            record["message"] = f"no answer for {', '.join(missing)}"
    return _Graded(record, values.reshape(expected.shape))


def _assemble(entries: _Entries, shape: tuple[int, ...]) -> Any:
    """The part as nested lists, None where an entry was not given."""
    array = np.full(shape, None, dtype=object)
    for index, value in entries.values.items():
        if len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape,
                                                                        strict=True)):
            array[index] = value
    return array.tolist()


def _activation(question: dict) -> str | None:
    """What ``a`` stands for in an expression answer: the question's activation of z."""
    from qgen.symbolic_answers import ACTIVATIONS

    activation = question["params"].get("activation")
    return activation if activation in ACTIVATIONS else None


def _expression_text(given: Any) -> str:
    if isinstance(given, str):
        return given
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return repr(given)  # "0" read as JSON is the number 0: the expression 0
    raise _Unreadable(f"expected an expression as text, got {_short(given)}")


def _equivalent(first: str, second: str, activation: str | None) -> bool:
    from qgen.symbolic_answers import equivalent

    return equivalent(first, second, activation=activation)


def _grade_expression(part: Part, given: Any, activation: str | None) -> _Graded:
    from qgen.symbolic_answers import AnswerParseError, parse_answer

    record = {**_base_record(part, None), "method": "symbolic equivalence (SymPy)"}
    if given is _MISSING or _is_blank(given):
        record["message"] = "no answer (expected an expression)"
        return _Graded(record)
    record["given"] = _plain(given)
    try:
        text = _expression_text(given)
        parse_answer(text, activation=activation)  # the student's reading error, if any
        same = _equivalent(str(part.value), text, activation)
    except _Unreadable as error:
        return _Graded({**record, "status": "invalid", "message": str(error)})
    except AnswerParseError as error:
        return _Graded({**record, "status": "invalid", "message": str(error)})
    except (ArithmeticError, TypeError, ValueError, RecursionError) as error:
        # SymPy could not compare them: say so rather than call the answer wrong.
        return _Graded({**record, "status": "invalid", "message":
                        f"{_short(text)} could not be compared with the key "
                        f"({error.__class__.__name__})"})
    record["status"] = "correct" if same else "incorrect"
    record["entries_correct"] = int(same)
    return _Graded(record)


def _grade_part(question: dict, part: Part, given: Any) -> _Graded:
    if part.kind == "expression":
        return _grade_expression(part, given, _activation(question))
    tolerance = question.get("tolerance", {}).get(part.key, part.tolerance)
    return _grade_number(part, float(tolerance), given)


# ---------------------------------------------------------------------------
# Misconceptions

def _description(family: Family, name: str) -> str:
    for misconception in family.misconceptions:
        if misconception.name == name:
            return misconception.description
    return ""


def _wrong_values(family: Family, question: dict) -> list[tuple[str, str, Any]]:
    """(name, description, value for the choice part) of each misconception that applies."""
    found = []
    for misconception in family.misconceptions:
        try:
            value = misconception.wrong(question["params"], question["answer"])
        except (QgenError, ArithmeticError, ValueError, IndexError, KeyError):
            continue  # a wrong method that cannot even be carried out on these params
        if value is not None:
            found.append((misconception.name, misconception.description, value))
    return found


def _locate(choice: Part, parts: list[Part]) -> tuple[Part, tuple[int, ...]] | None:
    """Which graded part (and entry of it) asks for the multiple-choice part's value."""
    for part in parts:
        if part.key == choice.key:
            return part, ()
    for part in parts:  # one entry of a matrix: layers.0.W.1.2 is W[1][2]
        rest = choice.key.removeprefix(part.key + ".")
        if rest != choice.key and all(s.isdigit() for s in rest.split(".")):
            return part, tuple(int(s) for s in rest.split("."))
    for part in reversed(parts):  # the final "output" is the last layer's output
        if (part.key.endswith("." + choice.key) and part.kind == "number"
                and np.array_equal(np.asarray(part.value), np.asarray(choice.value))):
            return part, ()
    return None


def _matches(part: Part, tolerance: float, given: np.ndarray, wrong: Any) -> bool:
    try:
        shown = np.asarray(rounded(wrong, part.decimals), dtype=float)
    except (TypeError, ValueError):
        return False
    given = np.asarray(given, dtype=float)
    return (shown.shape == given.shape and bool(np.all(np.isfinite(given)))
            and bool(np.all(_within(given, shown, tolerance))))


def _misconception(family: Family, question: dict, part: Part, graded: _Graded,
                   index: tuple[int, ...]) -> dict | None:
    """The first misconception (in the family's order) whose value the wrong answer is,
    and the names of any others that give the same value (``also``)."""
    record = graded.record
    found = []
    for name, description, wrong in _wrong_values(family, question):
        if part.kind == "expression":
            try:
                same = _equivalent(str(wrong), _expression_text(record["given"]),
                                   _activation(question))
            except (_Unreadable, ArithmeticError, TypeError, ValueError, RecursionError):
                same = False
        else:
            given = graded.values[index] if index else graded.values
            same = given is not None and _matches(part, record["tolerance"], given, wrong)
        if same:
            found.append((name, description))
    if not found:
        return None
    (name, description), others = found[0], [n for n, _ in found[1:]]
    return {"misconception": name, "feedback": description, **({"also": others} if others
                                                                 else {})}


# ---------------------------------------------------------------------------
# Multiple choice

def _option_letter(text: Any, expression: bool) -> str | None:
    """The option a text names by its letter, or None when it is not a letter."""
    if not isinstance(text, str):
        return None
    match = _LETTER.fullmatch(text)
    if not match:
        return None
    letter = match.group(1)
    if expression and not letter.isupper():
        return None  # "a" is the variable a
    return letter.upper()


def _grade_choice(question: dict, family: Family, given: Any, unused: list[str]) -> dict:
    """The multiple-choice part, from a letter or a value; keys of an answer object
    other than the part's are added to ``unused``."""
    options = question["choices"]
    choice = family.choice_part(question["params"], question["answer"])
    right = next(o for o in options if o.get("correct"))
    expression = choice.kind == "expression"
    if isinstance(given, Mapping):
        unused.extend(str(k) for k in given if k != choice.key)
        given = given.get(choice.key, _MISSING)
    letter = _option_letter(given, expression)
    if letter is not None:
        record = {**_base_record(choice, None), "given": given,
                  "expected": right["value"], "expected_option": right["label"],
                  "given_option": letter}
        chosen = next((o for o in options if o["label"] == letter), None)
        if chosen is None:
            labels = ", ".join(o["label"] for o in options)
            return {**record, "status": "invalid",
                    "message": f"{letter} is not one of the options {labels}"}
        if chosen.get("correct"):
            return {**record, "status": "correct", "entries_correct": 1}
        record["status"] = "incorrect"
        if chosen.get("misconception"):
            record.update(misconception=chosen["misconception"],
                          feedback=_description(family, chosen["misconception"]))
        return record
    # The option's value: graded as the part, all or nothing.
    graded = _grade_part(question, choice, given)
    record = {**graded.record, "expected": right["value"], "expected_option": right["label"],
              "entries": 1, "entries_correct": int(graded.record["status"] == "correct")}
    record.pop("wrong_entries", None)
    if (record["status"] in ("invalid", "incorrect") and isinstance(given, str)
            and any(o["label"] == given.strip().upper() for o in options)):
        hint = f"to choose an option, give its capital letter ({given.strip().upper()})"
        record["message"] = f"{record['message']} ({hint})" if "message" in record else hint
    if record["status"] == "correct":
        record["given_option"] = right["label"]
    if record["status"] != "incorrect":
        return record
    for option in options:
        probe = replace(choice, value=option["value"], decimals=None)
        if expression:
            same = _grade_expression(probe, given, _activation(question)).record["status"]
        else:
            same = _grade_number(probe, record["tolerance"], given).record["status"]
        if same == "correct":
            record["given_option"] = option["label"]
            if option.get("misconception"):
                record.update(misconception=option["misconception"],
                              feedback=_description(family, option["misconception"]))
                return record
    found = _misconception(family, question, choice, graded, ())
    if found:
        record.update(found)
    return record


# ---------------------------------------------------------------------------
# Grading a question

def _lookup(given: Mapping, key: str, used: set) -> Any:
    """A part's value in an answer object: by its key, by the path through nested
    objects and lists, or entry by entry (``key[i][j]``); _MISSING when absent."""
    if key in given:
        used.add(key)
        return given[key]
    node: Any = given
    path = key.split(".")
    for step in path:
        if isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            break
    else:
        used.add(path[0])
        return node
    entries = {}
    for name, value in given.items():
        if isinstance(name, str) and name.startswith(key + "["):
            rest = name[len(key):]
            indices = _ENTRY_INDEX.findall(rest)
            if "".join(f"[{i}]" for i in indices) == rest:
                entries[tuple(int(i) for i in indices)] = value
                used.add(name)
    return _Entries(entries) if entries else _MISSING


def grade(question: dict, answer: Any) -> dict:
    """Grade one answer (a JSON value, or text) to a bank question.

    Returns ``{"id", "family", "difficulty", "score", "entries", "entries_correct",
    "parts": [{"key", "label", "status", "given", "expected", "tolerance", "entries",
    "entries_correct", "message"?, "wrong_entries"?, "misconception"?, "feedback"?,
    "also"?, "given_option"?, "expected_option"?}], "unused"?}``: ``status`` is one of
    STATUSES, ``score`` the fraction of correct entries in [0, 1], ``tolerance`` None
    for an expression (compared by equivalence) or an option's letter, ``also`` other
    misconceptions that give the same wrong value, ``unused`` the keys of an answer
    object that name no part.
    Never raises for what the answer holds (the question is one of a bank that
    load_bank or generate gave).
    """
    family = get_family(question["family"])
    answer = _decoded(answer)
    unused: list[str] = []
    if question.get("choices"):
        records = [_grade_choice(question, family, _MISSING if _is_blank(answer) else answer,
                                 unused)]
    else:
        records, unused = _grade_parts(question, family, answer)
    entries = sum(r["entries"] for r in records)
    correct = sum(r["entries_correct"] for r in records)
    result = {"id": question["id"], "family": question["family"],
              "difficulty": question.get("difficulty"),
              "score": correct / entries if entries else 0.0,
              "entries": entries, "entries_correct": correct, "parts": records}
    if unused:
        result["unused"] = unused
    return result


def _grade_parts(question: dict, family: Family, answer: Any) -> tuple[list[dict], list[str]]:
    params, key = question["params"], question["answer"]
    parts = family.parts(params, key)
    used: set = set()
    if isinstance(answer, Mapping):
        givens = [_lookup(answer, part.key, used) for part in parts]
    elif _is_blank(answer):
        givens = [_MISSING] * len(parts)
    elif len(parts) == 1:
        givens = [answer]
    elif isinstance(answer, str) and [p.kind for p in parts].count("expression") == 1:
        # Text answers the one expression part (a - y); the numbers are then missing.
        givens = [answer if part.kind == "expression" else _MISSING for part in parts]
    else:
        keys = ", ".join(part.key for part in parts)
        message = (f"this question has {len(parts)} parts: give a JSON object by part key "
                   f"({keys})")
        records = []
        for part in parts:
            record = _grade_part(question, part, _MISSING).record
            records.append({**record, "status": "invalid", "given": _plain(answer),
                            "message": message})
        return records, []
    located = None
    records = []
    for part, given in zip(parts, givens, strict=True):
        graded = _grade_part(question, part, given)
        if graded.record["status"] == "incorrect":
            if located is None:
                located = _locate(family.choice_part(params, key), parts) or (None, ())
            target, index = located
            if target is part:
                found = _misconception(family, question, part, graded, index)
                if found:
                    graded.record.update(found)
        records.append(graded.record)
    unused = []
    if isinstance(answer, Mapping):
        unused = [str(k) for k in answer if k not in used]
    return records, unused


# ---------------------------------------------------------------------------
# Many answers

@dataclass(frozen=True)
class AnswerRow:
    """One answer to grade, with where it came from (for messages)."""

    question_id: str
    answer: Any
    where: str = ""


def find_question(bank: dict, question_id: Any, *, where: str = "",
                  bank_name: str = "the bank") -> dict:
    """The bank's question with this id; a QgenError naming the id otherwise."""
    for question in bank["questions"]:
        if question["id"] == question_id:
            return question
    ids = [q["id"] for q in bank["questions"]]
    close = difflib.get_close_matches(str(question_id), ids, n=1) if ids else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    prefix = f"{where}: " if where else ""
    raise QgenError(f"{prefix}question id {question_id!r} is not in {bank_name} "
                    f"({len(ids)} questions){hint}")


def grade_many(bank: dict, answers: Mapping[str, Any] | Iterable[AnswerRow | tuple], *,
               bank_name: str = "the bank") -> dict:
    """Grade many answers: ``{"results": [grade(...), ...], "total": {...}}``.

    ``answers`` maps question ids to answers, or is a sequence of AnswerRow or
    (question id, answer) pairs (read_answers gives one). An unknown id is a QgenError
    naming it, and where it was given; every id is checked before anything is graded.
    """
    rows = ([AnswerRow(k, v) for k, v in answers.items()] if isinstance(answers, Mapping)
            else [row if isinstance(row, AnswerRow) else AnswerRow(*row) for row in answers])
    questions = [find_question(bank, row.question_id, where=row.where, bank_name=bank_name)
                 for row in rows]
    results = [grade(question, row.answer) for question, row in zip(questions, rows,
                                                                     strict=True)]
    score = sum(r["score"] for r in results)
    total = {"questions": len(results),
             "fully_correct": sum(r["score"] == 1 for r in results),
             "score": score,
             "mean_score": score / len(results) if results else 0.0,
             "entries": sum(r["entries"] for r in results),
             "entries_correct": sum(r["entries_correct"] for r in results)}
    return {"results": results, "total": total}


def read_answers(path: str | Path) -> list[AnswerRow]:
    """Answers from a file: JSON (``{question id: answer}`` or a list of ``{"id" or
    "question", "answer"}``) or CSV with columns ``question`` (or ``id``) and ``answer``
    (a cell may hold JSON: quote it, as CSV quotes any cell with commas). The format
    follows the suffix (.json, .csv), else the first character. Errors name the file
    and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QgenError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QgenError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in ("{", "["))
    return _json_answers(path, text) if is_json else _csv_answers(path, text)


def _json_answers(path: Path, text: str) -> list[AnswerRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise QgenError(f"{path}: line {error.lineno} column {error.colno}: {error.msg}"
                        ) from None
    except ValueError as error:  # an integer literal beyond Python's digit limit
        raise QgenError(f"{path}: cannot be read as JSON ({error})") from None
    except RecursionError:
        raise QgenError(f"{path}: nests too deeply to be read") from None
    lines = _LineFinder(text)
    if isinstance(data, dict):
        return [AnswerRow(k, v, lines.place(path, k, f"answer for {k!r}"))
                for k, v in data.items()]
    if not isinstance(data, list):
        raise QgenError(f"{path}: must be a JSON object {{question id: answer}} or a list "
                        'of {"id": ..., "answer": ...}')
    rows = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise QgenError(f'{path}: item {i} must be an object {{"id": ..., "answer": ...}}')
        question_id = item.get("id", item.get("question"))
        if not isinstance(question_id, str):
            raise QgenError(f'{path}: item {i}: "id" (or "question") must be a question id, '
                            f"not {question_id!r}")
        place = lines.place(path, question_id, f"item {i}")
        if "answer" not in item:
            raise QgenError(f'{place}: "answer" is missing')
        rows.append(AnswerRow(question_id, item["answer"], place))
    return rows


class _LineFinder:
    """The line of each question id in a JSON text, in order: json.loads keeps no
    positions, so each id is found as the JSON string it was written as, searching on
    from the last one found (ids come in the order the rows are read)."""

    def __init__(self, text: str):
        self.text, self.position = text, 0

    def place(self, path: Path, question_id: str, otherwise: str) -> str:
        """Where the id is written (FILE: line N), else FILE: otherwise."""
        found = self.text.find(json.dumps(question_id, ensure_ascii=False), self.position)
        if found < 0:
            found = self.text.find(json.dumps(question_id), self.position)
        if found < 0:
            return f"{path}: {otherwise}"
        self.position = found + 1
        line = self.text.count("\n", 0, found) + 1
        return f"{path}: line {line}"


def _csv_answers(path: Path, text: str) -> list[AnswerRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, header, line = [], None, 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                id_column = next((header.index(n) for n in ("question", "id", "question_id")
                                  if n in header), None)
                if id_column is None or "answer" not in header:
                    raise QgenError(f"{path}: line {start}: the header must name the columns "
                                    f"question (or id) and answer, not {', '.join(cells)}")
                answer_column = header.index("answer")
                continue
            if len(cells) != len(header):
                raise QgenError(f"{path}: line {start}: {len(cells)} cells for "
                                f"{len(header)} columns (quote a cell that holds commas)")
            question_id = cells[id_column].strip()
            if not question_id:
                raise QgenError(f"{path}: line {start}: the question id is empty")
            rows.append(AnswerRow(question_id, cells[answer_column], f"{path}: line {start}"))
    except csv.Error as error:
        raise QgenError(f"{path}: line {reader.line_num}: {error}") from None
    if header is None:
        raise QgenError(f"{path}: is empty (expected a CSV header: question,answer)")
    return rows
