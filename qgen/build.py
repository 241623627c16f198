"""``qgen build RECIPE -o DIR``: every file of a quiz in one run, or one file set per
student with ``--roster``; all written into a temporary folder beside DIR and renamed
into place at the end, so a build that fails leaves nothing behind."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qgen.errors import QgenError
from qgen.export import export
from qgen.recipe import Recipe, load_recipe, load_roster, recipe_bank

__all__ = ["BuildReport", "build", "compile_pdf"]

# pdflatex on a quiz of a few pages takes about a second; a run that has not finished
# in this long is stuck (it never waits for input: -interaction=nonstopmode).
PDFLATEX_TIMEOUT = 120


@dataclass
class BuildReport:
    directory: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    questions: int = 0


def compile_pdf(tex: Path) -> Path:
    """pdflatex ``tex`` in its folder; keep the PDF, drop the aux and log files. A
    compile error raises QgenError with LaTeX's own first error line."""
    argv = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
            tex.name]
    result = subprocess.run(argv, cwd=tex.parent, capture_output=True, text=True,
                            errors="replace", timeout=PDFLATEX_TIMEOUT)
    for suffix in (".aux", ".log", ".out"):
        tex.with_suffix(suffix).unlink(missing_ok=True)
    pdf = tex.with_suffix(".pdf")
    if result.returncode != 0 or not pdf.exists():
        first = next((line for line in result.stdout.splitlines() if line.startswith("!")),
                     f"pdflatex exited with status {result.returncode}")
        raise QgenError(f"{tex.name}: LaTeX failed to compile: {first}")
    return pdf


def _title(recipe: Recipe, student: dict | None) -> str:
    if student:
        return f"{recipe.title} ({student['name'] or student['id']})"
    return recipe.title


def _write(folder: Path, name: str, data: str | bytes, report: BuildReport, root: Path):
    path = folder / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    report.files.append(str(path.relative_to(root)))


def _documents(bank: dict, folder: Path, title: str, course: str, report: BuildReport,
               root: Path, pdf: bool, lms: bool, tick: Callable[[], None]) -> None:
    heading = f"{title} - {course}" if course else title
    _write(folder, "bank.json", export(bank, "json"), report, root)
    figures = folder / "figures"
    _write(folder, "quiz.md", export(bank, "markdown", answers=False, title=heading,
                                     figures_dir=figures), report, root)
    _write(folder, "answers.md", export(bank, "markdown", answers=True, title=heading,
                                        figures_dir=figures), report, root)
    if figures.is_dir():
        report.files += sorted(str(p.relative_to(root)) for p in figures.iterdir())
    for name, answers in (("quiz", False), ("answers", True)):
        _write(folder, f"{name}.tex", export(bank, "latex", answers=answers, title=title,
                                             course=course), report, root)
        if pdf:
            compile_pdf(folder / f"{name}.tex")
            report.files.append(str((folder / f"{name}.pdf").relative_to(root)))
        tick()
    if lms:
        _write(folder, "moodle.xml", export(bank, "moodle", title=heading), report, root)
        _write(folder, "quiz.gift", export(bank, "gift", title=heading), report, root)
        _write(folder, "canvas-qti.zip", export(bank, "qti", title=heading), report, root)


def _key_rows(student: str, bank: dict) -> list[list]:
    from qgen.export.items import entries, expression_parts
    from qgen.render import number

    rows = []
    for q in bank["questions"]:
        if "choices" in q:
            correct = next(c for c in q["choices"] if c["correct"])
            rows.append([student, q["id"], "choice", correct["label"], ""])
            continue
        for entry in entries(q):
            rows.append([student, q["id"], entry.key, number(entry.value, entry.decimals),
                         repr(entry.tolerance)])
        for part in expression_parts(q):
            rows.append([student, q["id"], part.key, str(part.value), "symbolic"])
    return rows


def build(recipe_path: str | Path, out_dir: str | Path, *, roster: str | Path | None = None,
          force: bool = False, on_progress: Callable[[int, str], Callable[[], None]] | None
          = None) -> BuildReport:
    """Build every file of a recipe into ``out_dir`` (see the module docstring).

    ``on_progress(total, label)`` may return a function called once per step."""
    recipe = load_recipe(recipe_path)
    students = load_roster(roster) if roster else None
    target = Path(out_dir)
    if target.exists() and not force:
        raise QgenError(f"--output={str(out_dir)!r} exists; use --force to replace it")
    if target.exists() and not target.is_dir():
        raise QgenError(f"--output={str(out_dir)!r} is a file, not a folder")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise QgenError(f"--output={str(out_dir)!r}: folder {str(parent)!r} does not exist")

    pdf = shutil.which("pdflatex") is not None
    per_bank = sum(s.count for s in recipe.sections) + 2  # questions, then two documents
    total = per_bank * (len(students) if students else 1)
    tick = on_progress(total, "building") if on_progress else None
    tick = tick or (lambda: None)

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    report = BuildReport(directory=target)
    if not pdf:
        report.warnings.append("pdflatex not found: quiz.pdf and answers.pdf were not made "
                               "(install texlive-latex-extra); the other files were")
    from qgen.preview import KatexNotFound, find_katex, write_preview

    try:
        katex = find_katex()
    except KatexNotFound as error:
        katex = None
        report.warnings.append(f"{error}; preview/ was not made, the other files were")
    try:
        if students is None:
            bank = recipe_bank(recipe, on_question=tick)
            report.questions = len(bank["questions"])
            _documents(bank, tmp, recipe.title, recipe.course, report, tmp, pdf, True, tick)
            if katex is not None:
                heading = (f"{recipe.title} - {recipe.course}" if recipe.course
                           else recipe.title)
                write_preview(bank, tmp / "preview", title=heading, katex=katex)
                report.files.append("preview/index.html")
        else:
            rows = []
            for student in students:
                folder = tmp / student["id"]
                folder.mkdir()
                bank = recipe_bank(recipe, student["id"], on_question=tick)
                report.questions += len(bank["questions"])
                _documents(bank, folder, _title(recipe, student), recipe.course, report,
                           tmp, pdf, False, tick)
                rows += _key_rows(student["id"], bank)
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["student", "question", "part", "answer", "tolerance"])
            writer.writerows(rows)
            _write(tmp, "key.csv", out.getvalue(), report, tmp)
            _write(tmp, "roster.json", json.dumps(students, indent=1) + "\n", report, tmp)
        tmp.chmod(0o755)
        if target.exists():  # --force: swap the old folder out only once the new is whole
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            target.rename(old / target.name)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report
