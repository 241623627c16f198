"""Exporters: one module per output format, each
``export(bank, *, answers, title) -> str`` (``bytes`` for the Canvas zip)."""

from __future__ import annotations

import importlib

from qgen.errors import QgenError

__all__ = ["BINARY_FORMATS", "FORMATS", "export"]

FORMATS = ("json", "markdown", "latex", "moodle", "gift", "qti")
BINARY_FORMATS = ("qti",)


def export(bank: dict, fmt: str, *, answers: bool = False, title: str = "Question bank",
           course: str = "") -> str | bytes:
    if fmt not in FORMATS:
        raise QgenError(f"format={fmt!r} must be one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"qgen.export.{fmt}")
    if fmt == "latex":
        return module.export(bank, answers=answers, title=title, course=course)
    return module.export(bank, answers=answers, title=title)
