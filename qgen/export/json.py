"""The JSON bank itself: ``{"schema": 1, "seed": S, "questions": [...]}`` (README)."""

from __future__ import annotations

import json


def export(bank: dict, *, answers: bool = True, title: str = "") -> str:
    # The bank always carries its answers: it is the key from which every other
    # format is made. sort_keys and fixed separators make the bytes reproducible.
    return json.dumps(bank, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
