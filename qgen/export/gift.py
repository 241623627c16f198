"""GIFT, Moodle's text import format: named questions, one ``$CATEGORY`` per family.

GIFT has one answer block per question, so a bank question becomes:

- ``choices`` -> one multiple-choice question ``{=right#... ~wrong#feedback ...}``; a
  wrong option's feedback names its misconception. GIFT cannot say "do not shuffle": keep
  the quiz's "shuffle within questions" off, as the worked solution names the options
  by letter.
- an expression part -> one essay ``{####solution}``, graded by a person (as in the
  Moodle XML export; GIFT has no grader information, so the key is the worked solution,
  shown as general feedback).
- one scalar graded entry -> one numerical question ``{#value:tolerance}`` named by the
  question's id.
- several scalar entries (vectors, matrices, several parts) -> one numerical question per
  entry, named ``<id>-entry<N>`` (N from 1, in the order of qgen.export.items.entries):
  the prompt, then the one entry this question grades.

Every question is ``[html]``: the HTML dialect's text (math as ``\\( \\)`` and ``\\[ \\]``)
with the worked solution as general feedback (``####``). Text is escaped as Moodle's own
GIFT export does (qformat_gift::repchar): the backslash doubled first (so LaTeX's ``\\frac``
is written ``\\\\frac``), then ``~ = # { } :`` each behind a backslash, and every line
break written ``\\n``. A question is then one line (its options aside) and has no blank
line, which would end it.

GIFT carries no files, so a question's figure (qgen.figures) is inlined: after the prompt,
an ``<img src="data:image/svg+xml;base64,...">`` with the caption as its alt text and below
it (the answer figure, when it differs, before the worked solution). The data URI survives
GIFT's escaping like any text (its ``:`` and ``=`` are escaped and read back), and Moodle
shows question text as its author wrote it (questions are trusted text, not cleaned), so
the browser draws the SVG. A figure that cannot be drawn legibly is its note, as text.
"""

from __future__ import annotations

import base64
import html

from qgen.export.items import Entry, entries, expression_parts
from qgen.export.moodle import (
    category_name,
    category_path,
    figure_html,
    misconception_feedback,
    number_text,
    split_choices,
    tolerance_text,
)
from qgen.figures import placed_figures
from qgen.generate import render_question

__all__ = ["data_uri", "escape", "export"]

_SPECIAL = "~=#{}:"


def escape(text: str) -> str:
    """Text as GIFT carries it: Moodle's import reads it back unchanged."""
    text = text.replace("\\", "\\\\")
    for char in _SPECIAL:
        text = text.replace(char, "\\" + char)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def _category(title: str, family: str) -> str:
    # Moodle reads a category line without its escapes: only "\\" is undone there
    # (qformat_gift::escapedchar_pre), so only the backslash is doubled.
    return "$CATEGORY: " + category_path(title, family).replace("\\", "\\\\")


def _head(name: str, prompt: str) -> str:
    return f"::{escape(name)}::[html]{escape(prompt)}"


def _numerical(name: str, prompt: str, entry: Entry, solution: str) -> str:
    answer = f"#{number_text(entry.value)}:{tolerance_text(entry)}"
    return f"{_head(name, prompt)}{{{answer}####{escape(solution)}}}"


def _one_entry(prompt: str, entry: Entry) -> str:
    label = html.escape(entry.label, quote=False)
    return f"{prompt}\n<p><strong>In this question, give only:</strong> {label}.</p>"


def data_uri(svg: str) -> str:
    """An SVG as a data URI: the image itself, for a format that carries no files."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _figure(drawn) -> str:
    if drawn is None or not drawn.available:
        return figure_html(drawn, "")
    return figure_html(drawn, data_uri(drawn.svg()))


def _questions(question: dict) -> list[str]:
    """The GIFT questions of one bank question."""
    prompt, solution = (text.strip() for text in render_question(question, "html"))
    shown, solved = placed_figures(question, answers=True)
    figure, solution_figure = _figure(shown), _figure(solved)
    if solution_figure:
        solution = f"{solution_figure}\n{solution}"
    qid = question["id"]
    options = None
    if question.get("choices"):
        prompt, options = split_choices(question, prompt)
    if figure:
        prompt = f"{prompt}\n{figure}"
    if options is not None:
        lines = [_head(qid, prompt) + "{"]
        for choice, text in zip(question["choices"], options, strict=True):
            feedback = misconception_feedback(question, choice)
            mark = "=" if choice["correct"] else "~"
            lines.append(f"\t{mark}{escape(text)}" + (f"#{escape(feedback)}" if feedback else ""))
        lines += [f"\t####{escape(solution)}", "}"]
        return ["\n".join(lines)]
    if expression_parts(question):
        return [f"{_head(qid, prompt)}{{####{escape(solution)}}}"]
    graded = entries(question)
    if len(graded) == 1:
        return [_numerical(qid, prompt, graded[0], solution)]
    return [_numerical(f"{qid}-entry{n}", _one_entry(prompt, entry), entry, solution)
            for n, entry in enumerate(graded, start=1)]


def export(bank: dict, *, answers: bool = True, title: str = "Question bank") -> str:
    """The bank as a GIFT file. ``answers`` is ignored: an LMS grades from the answers, so
    they are always written."""
    name = category_name(title)  # a bad title fails before any question is rendered
    blocks = [f"// {name}: exported by qgen (GIFT, for Moodle's question import)"]
    family = None
    for question in bank["questions"]:
        if question["family"] != family:
            family = question["family"]
            blocks.append(_category(title, family))
        blocks.extend(_questions(question))
    return "\n\n".join(blocks) + "\n"
