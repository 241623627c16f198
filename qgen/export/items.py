"""The graded numbers of a question, one scalar entry at a time, for the formats that
grade one number per field (Moodle cloze and numerical, GIFT, Canvas QTI, key.csv)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgen.families import get_family
from qgen.families.base import Part

__all__ = ["Entry", "entries", "expression_parts"]


@dataclass(frozen=True)
class Entry:
    key: str  # the part's key, with the entry's index: "layers.0.output[1]"
    label: str  # in words: "output size after layer 1 (convolution): W"
    value: float | int  # as displayed (rounded to the part's decimals)
    tolerance: float
    decimals: int | None


def _integer(v) -> int:
    return int(round(float(v)))


def _names(part: Part, length: int) -> list[str]:
    if part.key.endswith("output") and length == 3:
        return ["H", "W", "C"]
    if part.key.endswith(("receptive_field", "jump")) and length == 2:
        return ["height", "width"]
    return [f"entry {i + 1}" for i in range(length)]


def entries(question: dict) -> list[Entry]:
    """Every numeric part of a question flattened to scalars (vectors by entry, matrices
    row by row), each with its tolerance. Expression parts are left out."""
    family = get_family(question["family"])
    found = []
    for part in family.parts(question["params"], question["answer"]):
        if part.kind != "number":
            continue
        shown = np.asarray(part.shown, dtype=float)
        scalar = _integer if part.decimals is None else float

        if shown.ndim == 0:
            found.append(Entry(part.key, part.label, scalar(shown), part.tolerance,
                               part.decimals))
        elif shown.ndim == 1:
            for i, (name, v) in enumerate(zip(_names(part, len(shown)), shown, strict=True)):
                found.append(Entry(f"{part.key}[{i}]", f"{part.label}: {name}", scalar(v),
                                   part.tolerance, part.decimals))
        else:
            for (i, j), v in np.ndenumerate(shown):
                found.append(Entry(f"{part.key}[{i}][{j}]",
                                   f"{part.label}, row {i + 1}, column {j + 1}", scalar(v),
                                   part.tolerance, part.decimals))
    return found


def expression_parts(question: dict) -> list[Part]:
    family = get_family(question["family"])
    return [p for p in family.parts(question["params"], question["answer"])
            if p.kind == "expression"]
