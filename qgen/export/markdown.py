"""Markdown: the question sheet; with answers, the answer key: each question's graded
values with their tolerances, then its worked solution.

With ``figures_dir``, each question's figure (qgen.figures) is written there as
``<question id>.svg`` and shown after its prompt; an answer figure that differs from it
(a shape diagram with its sizes, the receptive-field diagram) is written as
``<question id>-solution.svg`` and shown in the solution. The documents refer to the
files as ``<figures_url>/<file>``: by default the folder's name, for a document written
beside the folder. A figure that cannot be drawn legibly is a note in its place."""

from __future__ import annotations

from pathlib import Path

from qgen.families import get_family
from qgen.generate import render_question
from qgen.render import environment, markdown_escape, number


def _key(q: dict) -> list[str]:
    if "choices" in q:
        correct = next(c for c in q["choices"] if c["correct"])
        return [f"correct option: **{correct['label']}**"]
    lines = []
    family = get_family(q["family"])
    for part in family.parts(q["params"], q["answer"]):
        if part.kind == "expression":
            lines.append(f"{part.label}: ${part.latex or part.value}$")
            continue
        shown = part.shown
        text = (", ".join(number(v, part.decimals) for v in _flat(shown))
                if isinstance(shown, list) else number(shown, part.decimals))
        tolerance = f" (± {number(part.tolerance)})" if part.tolerance else " (exact)"
        lines.append(f"{part.label}: {text}{tolerance}")
    return lines


def _flat(value):
    for v in value:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v


def _figure_md(drawn, folder: Path, url: str, filename: str) -> str:
    """Write the figure's SVG and return its image line and caption; a note when it
    cannot be drawn; '' when there is no figure."""
    if drawn is None:
        return ""
    if not drawn.available:
        return f"*{markdown_escape(drawn.note)}*"
    (folder / filename).write_text(drawn.svg() + "\n", encoding="utf-8")
    caption = markdown_escape(f"Figure: {drawn.caption}.")
    return f"![{caption}]({url}/{filename})\n\n*{caption}*"


def export(bank: dict, *, answers: bool = False, title: str = "Question bank",
           figures_dir: str | Path | None = None, figures_url: str | None = None) -> str:
    """The document. ``figures_dir`` (created if missing) receives the figures' SVG
    files; without it the document has no figures."""
    folder = Path(figures_dir) if figures_dir is not None else None
    if folder is not None:
        from qgen.figures import placed_figures

        folder.mkdir(parents=True, exist_ok=True)
        url = (figures_url if figures_url is not None else folder.name).rstrip("/") or "."
    questions = []
    for q in bank["questions"]:
        prompt, solution = render_question(q, "markdown")
        figure = solution_figure = ""
        if folder is not None:
            shown, solved = placed_figures(q, answers=answers)
            figure = _figure_md(shown, folder, url, f"{q['id']}.svg")
            solution_figure = _figure_md(solved, folder, url, f"{q['id']}-solution.svg")
        questions.append({**q, "prompt": prompt.strip(), "solution": solution.strip(),
                          "key": _key(q) if answers else [], "figure": figure,
                          "solution_figure": solution_figure})
    template = environment().get_template("_documents/bank.md.j2")
    return template.render(title=markdown_escape(title), questions=questions,
                           answers=answers).rstrip() + "\n"
