"""Markdown: a question sheet (and, with answers, each worked solution after its question)."""

from __future__ import annotations

from qgen.generate import render_question
from qgen.render import environment, markdown_escape


def export(bank: dict, *, answers: bool = False, title: str = "Question bank") -> str:
    questions = []
    for q in bank["questions"]:
        prompt, solution = render_question(q, "markdown")
        questions.append({**q, "prompt": prompt.strip(), "solution": solution.strip()})
    template = environment().get_template("_documents/bank.md.j2")
    return template.render(title=markdown_escape(title), questions=questions,
                           answers=answers).rstrip() + "\n"
