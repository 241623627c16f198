"""Exporters: one module per output format, each
``export(bank, *, answers, title) -> str`` (``bytes`` for the Canvas zip)."""

from __future__ import annotations

import importlib

from qgen.errors import QgenError

__all__ = ["BINARY_FORMATS", "FORMATS", "export"]

FORMATS = ("json", "markdown", "latex", "moodle", "gift", "qti")
BINARY_FORMATS = ("qti",)


def export(bank: dict, fmt: str, *, answers: bool = False, title: str = "Question bank",
           course: str = "", figures_dir=None) -> str | bytes:
    """The bank in ``fmt``. Markdown with ``figures_dir`` writes the figures there as
    SVG files and references them as ``figures/<name>.svg`` (the folder's name)."""
    if fmt not in FORMATS:
        raise QgenError(f"format={fmt!r} must be one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"qgen.export.{fmt}")
    if fmt == "latex":
        return module.export(bank, answers=answers, title=title, course=course)
    if fmt == "markdown" and figures_dir is not None:
        return module.export(bank, answers=answers, title=title, figures_dir=figures_dir)
    return module.export(bank, answers=answers, title=title)
