"""Markdown: the question sheet; with answers, the answer key: each question's graded
values with their tolerances, then its worked solution."""

from __future__ import annotations

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


def export(bank: dict, *, answers: bool = False, title: str = "Question bank") -> str:
    questions = []
    for q in bank["questions"]:
        prompt, solution = render_question(q, "markdown")
        questions.append({**q, "prompt": prompt.strip(), "solution": solution.strip(),
                          "key": _key(q) if answers else []})
    template = environment().get_template("_documents/bank.md.j2")
    return template.render(title=markdown_escape(title), questions=questions,
                           answers=answers).rstrip() + "\n"
