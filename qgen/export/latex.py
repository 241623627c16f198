"""LaTeX: an ``exam``-class document; with answers, the worked solutions are printed."""

from __future__ import annotations

from qgen.generate import render_question
from qgen.render import environment


def export(bank: dict, *, answers: bool = False, title: str = "Question bank",
           course: str = "") -> str:
    questions = []
    for q in bank["questions"]:
        prompt, solution = render_question(q, "latex")
        questions.append({**q, "prompt": prompt.strip(), "solution": solution.strip()})
    template = environment().get_template("_documents/bank.tex.j2")
    return template.render(title=title, course=course, questions=questions,
                           answers=answers).rstrip() + "\n"
