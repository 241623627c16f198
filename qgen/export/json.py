"""The JSON bank itself: ``{"schema": 1, "seed": S, "questions": [...]}`` (README).

One question per line: readable and diffable, and each line is written by json's C
encoder (an indented dump goes through the pure-Python one, several times slower on a
bank of thousands). Keys are sorted, so the bytes are reproducible."""

from __future__ import annotations

import json


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def export(bank: dict, *, answers: bool = True, title: str = "") -> str:
    # The bank always carries its answers: it is the key from which every other
    # format is made.
    head = {key: value for key, value in bank.items() if key != "questions"}
    lines = [_dumps(q) for q in bank.get("questions", [])]
    body = ",\n".join(lines)
    header = _dumps(head)[:-1]  # the other fields, without the closing brace
    separator = ", " if head else ""
    return f'{header}{separator}"questions": [\n{body}\n]}}\n'
