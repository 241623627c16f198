"""Exporters: one module per output format, each ``export(bank, *, answers, title) -> str``."""

from __future__ import annotations

import importlib

from qgen.errors import QgenError

__all__ = ["FORMATS", "export"]

FORMATS = ("json", "markdown", "latex")


def export(bank: dict, fmt: str, *, answers: bool = False, title: str = "Question bank") -> str:
    if fmt not in FORMATS:
        raise QgenError(f"format={fmt!r} must be one of {', '.join(FORMATS)}")
    return importlib.import_module(f"qgen.export.{fmt}").export(bank, answers=answers,
                                                               title=title)
