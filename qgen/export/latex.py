"""LaTeX: an ``exam``-class document; with answers, the worked solutions are printed.
A question with a figure (qgen.figures) carries it as an inline TikZ picture after its
prompt, and its answer figure (when it differs) in its solution; a figure that cannot be
drawn legibly is a note in its place."""

from __future__ import annotations

from qgen.generate import render_question
from qgen.render import environment, latex_escape


def _figure_tex(drawn) -> str:
    """A figure centred with its caption, a note when it cannot be drawn, or ''."""
    if drawn is None:
        return ""
    if not drawn.available:
        return rf"\par\noindent\emph{{({latex_escape(drawn.note)})}}\par"
    return ("\\begin{center}\n" + drawn.tikz() + "\n\n"
            rf"{{\small Figure: {latex_escape(drawn.caption)}.}}" + "\n\\end{center}")


def key_lines(q: dict) -> list[str]:
    """The answer key of a question, one line per graded part: the part's path, its
    values as displayed and its tolerance (in typewriter type, so that pdftotext reads
    them back verbatim)."""
    from qgen.export.items import entries, expression_parts
    from qgen.render import number

    if "choices" in q:
        correct = next(c for c in q["choices"] if c["correct"])
        return [rf"\texttt{{choice = {correct['label']}}}"]
    lines, current, values, tolerance = [], None, [], None

    def flush():
        if current is not None:
            lines.append(rf"\texttt{{{latex_escape(current)} = {', '.join(values)}; "
                         rf"tolerance {latex_escape(tolerance)}}}")

    for entry in entries(q):
        part = entry.key.split("[", 1)[0]
        if part != current:
            flush()
            current, values = part, []
            tolerance = "0" if not entry.tolerance else number(entry.tolerance)
        values.append(number(entry.value, entry.decimals))
    flush()
    for part in expression_parts(q):
        lines.append(rf"\texttt{{{latex_escape(part.key)}}} = \({part.latex or part.value}\)"
                     " (any equivalent expression)")
    return lines


def export(bank: dict, *, answers: bool = False, title: str = "Question bank",
           course: str = "", figures: bool = True) -> str:
    """The document; ``figures=False`` leaves every figure (and note) out."""
    from qgen.figures import placed_figures

    questions = []
    for q in bank["questions"]:
        prompt, solution = render_question(q, "latex")
        shown, solved = placed_figures(q, answers=answers) if figures else (None, None)
        questions.append({**q, "prompt": prompt.strip(), "solution": solution.strip(),
                          "figure": _figure_tex(shown), "solution_figure": _figure_tex(solved),
                          "key": key_lines(q) if answers else []})
    template = environment().get_template("_documents/bank.tex.j2")
    return template.render(title=title, course=course, questions=questions,
                           answers=answers).rstrip() + "\n"
