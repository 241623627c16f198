"""Shared by the family tests: compile a bank's LaTeX with the function qgen build uses."""

from pathlib import Path

from qgen.build import compile_pdf
from qgen.export import export


def assert_latex_compiles(questions: list[dict], folder: Path, *, answers: bool = True):
    """Export the questions as one exam-class document and pdflatex it (a compile error
    raises QgenError carrying LaTeX's first error line)."""
    bank = {"schema": 1, "seed": 0, "questions": questions}
    (folder / "bank.tex").write_text(export(bank, "latex", answers=answers))
    assert compile_pdf(folder / "bank.tex").stat().st_size > 0
