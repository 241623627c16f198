"""Moodle XML: one ``<question>`` per bank question, under one category per family.

What each question becomes, by what it grades:

- ``choices`` -> ``multichoice``: single answer, fraction 100 for the right option and 0
  for the others, numbered ABCD and never shuffled (the generator balances the right
  option's position on purpose, and the worked solution names it by letter). A wrong
  option's feedback names the misconception that gives it.
- one scalar graded entry -> ``numerical``, with the entry's tolerance.
- several scalar entries (vectors, matrices, several parts) -> ``cloze``: the prompt, then
  one ``{1:NUMERICAL:=value:tolerance}`` field per entry, labelled by the entry.
- an expression part (a derivative to derive) -> ``essay``, graded by a person: Moodle has
  no core question type that checks an expression, and a cloze cannot hold a free-text
  answer beside its numbers. The grader information carries every expected answer (the
  expression and each value with its tolerance), then the worked solution.

The question text is the HTML dialect (math stays ``\\( \\)`` and ``\\[ \\]`` for
MathJax), the worked solution is the general feedback; lxml escapes both for XML, so HTML
is escaped first (by the dialect) and XML second. Category paths are
``$course$/<title>/<family>`` (``qgen`` when the title is blank).

A question's figure (qgen.figures) follows its prompt as an ``<img>`` of an SVG file that
the question carries, the way Moodle's own export does: ``<img src="@@PLUGINFILE@@/<id>.svg"
alt="<caption>">`` in the text and ``<file name="<id>.svg" path="/" encoding="base64">``
beside it, inside ``<questiontext>``. The figure of the worked solution, when it differs
(``<id>-solution.svg``), comes first in the general feedback (and in an essay's grader
information) the same way. A figure that cannot be drawn legibly is its note, as text.

The helpers (category paths, numbers as displayed, the options of a multiple-choice
prompt, misconception feedback, a figure's HTML) are shared with qgen.export.gift: GIFT is
Moodle's other import format, with the same categories and grading.
"""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import quote

import numpy as np
from lxml import etree

from qgen.errors import QgenError
from qgen.export.items import Entry, entries, expression_parts
from qgen.families import get_family
from qgen.figures import placed_figures
from qgen.generate import render_question

__all__ = ["MOODLE_FRACTIONS", "category_name", "category_path", "cloze_escape", "export",
           "figure_html", "misconception_feedback", "number_text", "question_type",
           "split_choices", "tolerance_text"]

# The grades Moodle accepts for an answer, in percent (question_bank::fraction_options();
# the XML import snaps any other value to the nearest of these). Negative ones exist too,
# for penalties; qgen uses only 100 and 0.
MOODLE_FRACTIONS = (100, 90, 83.33333, 80, 75, 70, 66.66667, 60, 50, 40, 33.33333, 30, 25,
                    20, 16.66667, 14.28571, 12.5, 11.11111, 10, 5, 0)
RIGHT, WRONG = 100, 0

# Moodle's own default: a third of the mark lost per wrong try in interactive mode.
PENALTY = "0.3333333"

# Characters XML 1.0 cannot carry at all (https://www.w3.org/TR/xml/#charsets), once the
# whitespace ones among the C0 controls (\x0b, \x0c, \x1c-\x1f) are folded into spaces.
_NOT_XML = re.compile("[\x00-\x08\x0e-\x1b\ufffe\uffff\ud800-\udfff]")

# The HTML dialect writes the options of a multiple-choice question as this list
# (qgen.dialects.Html.options); Moodle shows its own numbered answers instead.
_CHOICES = re.compile(r'\s*<ul class="choices">\n(?P<items>.*?)\n</ul>\s*', re.S)
_CHOICE = re.compile(r"<li><strong>(?P<label>[A-Z])\.</strong> (?P<text>.*?)</li>"
                     r"(?=\n<li><strong>[A-Z]\.</strong> |\Z)", re.S)

# Inside a cloze answer these characters must be escaped with a backslash (Moodle docs,
# "Embedded Answers (Cloze) question type": } # ~ / " and the backslash itself).
_CLOZE_SPECIAL = re.compile(r'([}#~/"\\])')


def category_name(title: str) -> str:
    """The bank's title as one Moodle category name: one line, trimmed (Moodle trims
    names and a category path has no line breaks), ``qgen`` when nothing is left."""
    if not isinstance(title, str):
        raise QgenError(f"title={title!r} must be a string")
    line = " ".join(title.split())
    bad = _NOT_XML.search(line)
    if bad:
        raise QgenError(f"title={title!r} contains U+{ord(bad.group()):04X}, which an XML "
                        f"or GIFT file cannot carry")
    return line or "qgen"


def _path_segment(name: str) -> str:
    """Moodle's assemble_category_path for one name: "/" doubled, and a space beside a
    leading or trailing "/" so that it is not read as a separator (Moodle trims it)."""
    escaped = name.replace("/", "//")
    if escaped.startswith("/"):
        escaped = " " + escaped
    if escaped.endswith("/"):
        escaped += " "
    return escaped


def category_path(title: str, family: str) -> str:
    """``$course$/<title>/<family>``. The title is HTML-escaped: Moodle strips tags from
    category names on import (PARAM_TEXT), and shows them as HTML."""
    top = html.escape(category_name(title), quote=False)
    return f"$course$/{_path_segment(top)}/{_path_segment(family)}"


def number_text(value) -> str:
    """A graded number as displayed: ints as ints, floats as their shortest round-trip
    repr, written without an exponent (Moodle's cloze and GIFT parsers expect plain
    decimals: 1e-06 is written 0.000001)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    text = repr(value)
    if "e" in text or "E" in text:
        text = np.format_float_positional(value, unique=True, trim="-")
    return text


def tolerance_text(entry: Entry) -> str:
    """An entry's tolerance: 0 for an exact integer, else one unit of its last decimal."""
    return "0" if entry.decimals is None else number_text(entry.tolerance)


def cloze_escape(text: str) -> str:
    return _CLOZE_SPECIAL.sub(r"\\\1", text)


def split_choices(question: dict, prompt: str) -> tuple[str, list[str]]:
    """(the HTML prompt without its list of options, each option's HTML text)."""
    wanted = [choice["label"] for choice in question.get("choices") or []]
    found = _CHOICES.search(prompt)
    options = list(_CHOICE.finditer(found.group("items"))) if found else []
    if not found or [m.group("label") for m in options] != wanted:
        raise QgenError(f"question {question.get('id')!r}: its rendered options "
                        f"{[m.group('label') for m in options]} do not match its choices "
                        f"{wanted}")
    stripped = (prompt[:found.start()] + "\n" + prompt[found.end():]).strip()
    return stripped, [m.group("text") for m in options]


def question_type(question: dict, graded: list[Entry] | None = None) -> str:
    """multichoice, essay, numerical or cloze: what the question grades decides."""
    if question.get("choices"):
        return "multichoice"
    if expression_parts(question):
        return "essay"
    graded = entries(question) if graded is None else graded
    return "numerical" if len(graded) == 1 else "cloze"


def misconception_feedback(question: dict, choice: dict) -> str:
    if choice["correct"] or not choice.get("misconception"):
        return ""
    family = get_family(question["family"])
    for misconception in family.misconceptions:
        if misconception.name == choice["misconception"]:
            return (f"<p>This is what you get if you "
                    f"{html.escape(misconception.description, quote=False)}.</p>")
    return ""


def figure_html(drawn, src: str) -> str:
    """A figure as HTML: the image at ``src`` (its caption as the alt text) and its
    caption below; a FigureUnavailable is its note; None (no figure) is ''."""
    if drawn is None:
        return ""
    if not drawn.available:
        return f'<p class="figure-note"><em>{html.escape(drawn.note, quote=False)}</em></p>'
    return (f'<p class="figure"><img src="{html.escape(src)}" '
            f'alt="{html.escape(drawn.caption)}"></p>\n'
            f'<p class="figure-caption"><em>Figure: '
            f'{html.escape(drawn.caption, quote=False)}.</em></p>')


def _figure(drawn, name: str) -> tuple[str, dict[str, str]]:
    """(the figure's HTML, {file name: SVG}) for a Moodle text: the SVG is a file of the
    text, referenced as @@PLUGINFILE@@/<name>."""
    if drawn is None or not drawn.available:
        return figure_html(drawn, ""), {}
    return figure_html(drawn, f"@@PLUGINFILE@@/{quote(name)}"), {name: drawn.svg()}


def _text(parent: etree._Element, tag: str, text: str, fmt: str | None = "html",
          files: dict[str, str] | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if fmt:
        element.set("format", fmt)
    etree.SubElement(element, "text").text = text
    for name, svg in (files or {}).items():
        file = etree.SubElement(element, "file", name=name, path="/", encoding="base64")
        file.text = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return element


def _simple(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(parent, tag).text = text


def _label(label: str) -> str:
    # As written (not capitalised: a label may start with a symbol, as dL/dz does).
    return html.escape(label, quote=False)


def _cloze_field(entry: Entry) -> str:
    value = cloze_escape(number_text(entry.value))
    tolerance = cloze_escape(tolerance_text(entry))
    return f"{{1:NUMERICAL:={value}:{tolerance}}}"


def _key(question: dict, graded: list[Entry]) -> str:
    """The expected answers, for the person who grades an essay."""
    items = [f"<li>{_label(part.label)}: "
             f"\\({html.escape(part.latex or str(part.value), quote=False)}\\)</li>"
             for part in expression_parts(question)]
    items += [f"<li>{_label(e.label)}: {number_text(e.value)} "
              f"(tolerance {tolerance_text(e)})</li>" for e in graded]
    body = "\n".join(items)
    return f'<p><strong>Expected answers</strong></p>\n<ul class="key">\n{body}\n</ul>'


def _question(quiz: etree._Element, question: dict) -> None:
    graded = entries(question)
    kind = question_type(question, graded)
    prompt, solution = (text.strip() for text in render_question(question, "html"))
    shown, solved = placed_figures(question, answers=True)
    figure, figure_files = _figure(shown, f"{question['id']}.svg")
    solution_figure, solution_files = _figure(solved, f"{question['id']}-solution.svg")
    element = etree.SubElement(quiz, "question", type=kind)
    _text(element, "name", question["id"], fmt=None)
    if kind == "multichoice":
        prompt, options = split_choices(question, prompt)
    if figure:
        prompt = f"{prompt}\n{figure}"
    if solution_figure:
        solution = f"{solution_figure}\n{solution}"
    if kind == "cloze":
        fields = "\n".join(f"<li>{_label(e.label)}: {_cloze_field(e)}</li>"
                           for e in graded)
        prompt = f'{prompt}\n<ul class="answers">\n{fields}\n</ul>'
    _text(element, "questiontext", prompt, files=figure_files)
    _text(element, "generalfeedback", solution, files=solution_files)
    grade = len(graded) if kind == "cloze" else 1
    _simple(element, "defaultgrade", str(grade))
    _simple(element, "penalty", "0" if kind == "essay" else PENALTY)
    _simple(element, "hidden", "0")

    if kind == "multichoice":
        _simple(element, "single", "true")
        _simple(element, "shuffleanswers", "false")
        _simple(element, "answernumbering", "ABCD")
        _simple(element, "showstandardinstruction", "0")
        for tag in ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback"):
            _text(element, tag, "")
        for choice, text in zip(question["choices"], options, strict=True):
            answer = _text(element, "answer", text)
            answer.set("fraction", str(RIGHT if choice["correct"] else WRONG))
            _text(answer, "feedback", misconception_feedback(question, choice))
    elif kind == "numerical":
        (entry,) = graded
        answer = _text(element, "answer", number_text(entry.value), fmt="moodle_auto_format")
        answer.set("fraction", str(RIGHT))
        _text(answer, "feedback", "")
        _simple(answer, "tolerance", tolerance_text(entry))
        _simple(element, "unitgradingtype", "0")
        _simple(element, "unitpenalty", "0.1000000")
        _simple(element, "showunits", "3")  # qtype_numerical::UNITNONE: no units asked
        _simple(element, "unitsleft", "0")
    elif kind == "essay":
        _simple(element, "responseformat", "editor")
        _simple(element, "responserequired", "1")
        _simple(element, "responsefieldlines", "10")
        _simple(element, "attachments", "0")
        _simple(element, "attachmentsrequired", "0")
        _text(element, "graderinfo", f"{_key(question, graded)}\n{solution}",
              files=solution_files)
        _text(element, "responsetemplate", "")


def _category(quiz: etree._Element, title: str, family: str) -> None:
    element = etree.SubElement(quiz, "question", type="category")
    _text(element, "category", category_path(title, family), fmt=None)
    _text(element, "info", html.escape(get_family(family).title, quote=False))


def export(bank: dict, *, answers: bool = True, title: str = "Question bank") -> str:
    """The bank as a Moodle XML quiz file. ``answers`` is ignored: an LMS grades from the
    answers, so they are always written (students see them only as Moodle allows)."""
    category_name(title)  # a bad title fails before any question is rendered
    quiz = etree.Element("quiz")
    family = None
    for question in bank["questions"]:
        if question["family"] != family:
            family = question["family"]
            _category(quiz, title, family)
        _question(quiz, question)
    body = etree.tostring(quiz, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body
