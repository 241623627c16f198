"""Loading a JSON bank back, with errors that name the file and the place."""

from __future__ import annotations

import json
from pathlib import Path

from qgen.errors import QgenError

__all__ = ["QUESTION_FIELDS", "load_bank", "validate_bank"]

QUESTION_FIELDS = ("id", "family", "difficulty", "params", "answer", "verification",
                   "tolerance", "prompt", "solution")


def validate_bank(bank, where: str = "bank") -> dict:
    """Check the shape of a bank (README, "The JSON bank"); return it unchanged."""
    from qgen.families import FAMILY_IDS
    from qgen.generate import SCHEMA

    if not isinstance(bank, dict):
        raise QgenError(f"{where}: must be a JSON object with schema, seed and questions")
    if bank.get("schema") != SCHEMA:
        raise QgenError(f"{where}: schema={bank.get('schema')!r} must be {SCHEMA}")
    if not isinstance(bank.get("seed"), int) or isinstance(bank.get("seed"), bool):
        raise QgenError(f"{where}: seed={bank.get('seed')!r} must be an integer")
    questions = bank.get("questions")
    if not isinstance(questions, list):
        raise QgenError(f"{where}: questions must be a list")
    seen = set()
    for i, q in enumerate(questions):
        place = f"{where}: questions[{i}]"
        if not isinstance(q, dict):
            raise QgenError(f"{place} must be an object")
        for key in QUESTION_FIELDS:
            if key not in q:
                raise QgenError(f"{place}.{key} is missing")
        if q["family"] not in FAMILY_IDS:
            raise QgenError(f"{place}.family={q['family']!r} must be one of "
                            f"{', '.join(FAMILY_IDS)}")
        if q["id"] in seen:
            raise QgenError(f"{place}.id={q['id']!r} appears twice")
        seen.add(q["id"])
        if not isinstance(q["tolerance"], dict):
            raise QgenError(f"{place}.tolerance must map answer parts to tolerances")
        if "choices" in q and (not isinstance(q["choices"], list)
                               or sum(bool(c.get("correct")) for c in q["choices"]) != 1):
            raise QgenError(f"{place}.choices must be a list with exactly one correct option")
    return bank


def load_bank(path: str | Path) -> dict:
    """Read and validate a bank file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QgenError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QgenError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    try:
        bank = json.loads(text)
    except json.JSONDecodeError as error:
        raise QgenError(f"{path}: line {error.lineno} column {error.colno}: {error.msg}"
                        ) from None
    return validate_bank(bank, str(path))
