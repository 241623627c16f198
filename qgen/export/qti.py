"""Canvas QTI 1.2: a zip that Canvas imports as a quiz (Settings > Import course content >
"QTI .zip file").

The layout is the one Canvas's own quiz exports and text2qti use::

    imsmanifest.xml                    the package: the assessment and its metadata
    <assessment>/assessment_meta.xml   Canvas's quiz settings: title, points, shuffle off
    <assessment>/<assessment>.xml      the items, in the ims_qtiasiv1p2 namespace
    figures/<question id>.svg          the questions' figures (webcontent resources)

What each question becomes:

- a question with ``choices``: one ``multiple_choice_question``; the correct option scores
  100, options keep the bank's order and labels (the worked solution names "option B");
- otherwise a Canvas numerical question holds one answer, so every scalar entry of the
  question (``qgen.export.items.entries``) becomes one ``numerical_question`` whose text is
  the prompt plus "Part k: <entry label>", graded on the range
  ``[value - tolerance, value + tolerance]`` (an exact integer: ``[value, value]``);
- every expression part becomes an ``essay_question``: Canvas cannot compare expressions,
  so it is graded by hand, with the worked solution as its feedback.

Canvas keeps numerical answers to 4 decimal places: an answer below 1e-4 becomes 0 and a
tolerance of 1e-6 collapses, so the key would be silently wrong. Such an entry is asked
"in units of 10^-k" (said in its text) and exported as value * 10^k and tolerance * 10^k;
an entry no power of ten can save (not finite, or too many significant digits for
Canvas's float64) is refused with a QgenError naming the question and the entry.

A question's figure (qgen.figures) follows the prompt in each of its items as an ``<img>``
of its SVG file, referenced as ``$IMS-CC-FILEBASE$/figures/<question id>.svg``: Canvas
imports the file into the course's files and resolves the prefix to the package's root,
as for text2qti's ``images/`` folder. With ``answers``, the answer figure, when it differs
(``<question id>-solution.svg``), comes first in the feedback. Each file is listed in
imsmanifest.xml as a ``webcontent`` resource, as text2qti does for images. A figure that
cannot be drawn legibly is its note, as text.

Identifiers derive from the question ids (and the title), never from random uuids, and
the zip's entries have a fixed date and order: the same bank gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from urllib.parse import quote

from lxml import etree

from qgen.errors import QgenError
from qgen.export.items import Entry, entries
from qgen.export.moodle import figure_html
from qgen.families import get_family
from qgen.figures import placed_figures
from qgen.generate import render_question

__all__ = ["CANVAS_DECIMALS", "CanvasRange", "canvas_range", "export"]

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
IMSMD_NS = "http://www.imsglobal.org/xsd/imsmd_v1p2"
CANVAS_NS = "http://canvas.instructure.com/xsd/cccv1p0"

# Canvas rounds numerical answers and range ends to 4 decimal places (below 1e-4: 0).
CANVAS_DECIMALS = 4
# Canvas stores answers as float64, which holds any decimal of 15 significant digits
# exactly (DBL_DIG); a range end with more would be graded against a rounded number.
CANVAS_SIGNIFICANT_DIGITS = 15
POINTS_PER_ITEM = 1
# The folder of the figures' SVG files in the zip, and how the items' HTML reaches it.
FIGURES = "figures"
FILEBASE = "$IMS-CC-FILEBASE$"
# A fixed timestamp (the earliest a zip can hold), so the bytes depend on the bank only.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# The options the templates print (qgen.dialects.Html.options): Canvas shows its own.
_OPTIONS = re.compile(r'\n*<ul class="choices">\n(?P<body>.*?)\n</ul>\n*', re.S)
_OPTION = re.compile(r"<li>(?P<html><strong>(?P<label>[A-Z])\.</strong> .*?)</li>")
# XML 1.0 cannot hold these characters, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# ---------------------------------------------------------------------------
# numbers at Canvas's precision

@dataclass(frozen=True)
class CanvasRange:
    """An entry as Canvas grades it: in units of 10^-exponent, value and tolerance
    scaled by 10^exponent, each with at most CANVAS_DECIMALS decimals."""

    exponent: int
    value: Decimal
    tolerance: Decimal

    @property
    def low(self) -> Decimal:
        return self.value - self.tolerance

    @property
    def high(self) -> Decimal:
        return self.value + self.tolerance


def _decimal(number: float | int) -> Decimal:
    # repr is the shortest text that reads back as the same float: 0.253068, not the
    # binary expansion 0.25306799999999998...
    return Decimal(number) if isinstance(number, int) else Decimal(repr(float(number)))


def _decimals(number: Decimal) -> int:
    return max(0, -number.normalize().as_tuple().exponent)


def _significant_digits(number: Decimal) -> int:
    return 0 if number == 0 else len(number.normalize().as_tuple().digits)


def canvas_range(value: float | int, tolerance: float, where: str) -> CanvasRange:
    """The smallest power of ten that leaves value and tolerance with at most 4 decimals,
    so Canvas stores them exactly (a nonzero value or tolerance below 1e-4 always needs
    one). ``where`` names the entry in the QgenError raised when none can."""
    for name, number in (("answer", value), ("tolerance", tolerance)):
        if isinstance(number, bool) or not math.isfinite(number):
            raise QgenError(f"{where}: {name} {number!r} is not a finite number; "
                            "Canvas cannot grade it")
    if tolerance < 0:
        raise QgenError(f"{where}: tolerance {tolerance!r} must be at least 0")
    exact_value, exact_tolerance = _decimal(value), _decimal(tolerance)
    exponent = max(0, _decimals(exact_value) - CANVAS_DECIMALS,
                   _decimals(exact_tolerance) - CANVAS_DECIMALS)
    scaled = CanvasRange(exponent, exact_value.scaleb(exponent),
                         exact_tolerance.scaleb(exponent))
    digits = max(_significant_digits(scaled.low), _significant_digits(scaled.high))
    if digits > CANVAS_SIGNIFICANT_DIGITS:
        raise QgenError(
            f"{where}: {value!r} ± {tolerance!r} needs {digits} significant digits at "
            f"Canvas's precision of {CANVAS_DECIMALS} decimal places, more than the "
            f"{CANVAS_SIGNIFICANT_DIGITS} it keeps; export this question in another format")
    return scaled


def _number_text(number: Decimal) -> str:
    return "0" if number == 0 else format(number.normalize(), "f")


# ---------------------------------------------------------------------------
# the items of one question

@dataclass(frozen=True)
class _Item:
    ident: str
    title: str
    kind: str  # a Canvas question_type
    text_html: str
    feedback_html: str | None
    answer: CanvasRange | None = None  # numerical_question
    options: tuple[tuple[str, str, bool], ...] = ()  # multiple choice: (ident, html, correct)


def _html_paragraph(html: str) -> str:
    return f"<p>{html}</p>\n"  # after a prompt or solution, which ends in a newline


def _split_options(prompt: str, choices: list[dict]) -> tuple[str, list[str]]:
    """(the prompt without its printed options, each option's HTML as printed there).
    A prompt that prints no options keeps its text; its options show the bare values."""
    labels = [choice["label"] for choice in choices]
    match = _OPTIONS.search(prompt)
    if match:
        found = _OPTION.findall(match["body"])
        if [label for _, label in found] == labels:
            stem = prompt[: match.start()] + "\n" + prompt[match.end():]
            return stem.strip() + "\n", [html for html, _ in found]
    return prompt, [f"<strong>{choice['label']}.</strong> {escape(str(choice['value']))}"
                    for choice in choices]


def _scale_note(scaled: CanvasRange) -> str:
    k = scaled.exponent
    return _html_paragraph(
        f"Give the answer in units of \\(10^{{-{k}}}\\): enter it multiplied by "
        f"\\(10^{{{k}}}\\) (Canvas keeps only {CANVAS_DECIMALS} decimal places).")


def _graded(question: dict) -> list:
    """The scalar entries (Entry) and expression parts (Part), in the family's order of
    parts, which is the order the prompt asks them in."""
    flat = entries(question)
    found = []
    for part in get_family(question["family"]).parts(question["params"], question["answer"]):
        if part.kind == "expression":
            found.append(part)
        else:
            found += [e for e in flat if e.key == part.key or e.key.startswith(part.key + "[")]
    return found


def _figure(drawn, name: str, figures: dict[str, str]) -> str:
    """A figure's HTML; its SVG is added to ``figures`` (zip path -> SVG)."""
    if drawn is None or not drawn.available:
        return figure_html(drawn, "")
    figures.setdefault(f"{FIGURES}/{name}", drawn.svg())
    return figure_html(drawn, f"{FILEBASE}/{FIGURES}/{quote(name)}")


def _question_items(question: dict, base: str, answers: bool,
                    figures: dict[str, str]) -> Iterator[_Item]:
    qid = question["id"]
    prompt, solution = render_question(question, "html")
    shown, solved = placed_figures(question, answers=answers)
    figure = _figure(shown, f"{qid}.svg", figures)
    feedback = solution if answers else None
    if feedback is not None and solved is not None:
        feedback = f"{_figure(solved, f'{qid}-solution.svg', figures)}\n{feedback}"
    if question.get("choices"):
        stem, htmls = _split_options(prompt, question["choices"])
        if figure:
            stem += figure + "\n"
        ident = f"{base}-1"
        yield _Item(ident, qid, "multiple_choice_question", stem, feedback, options=tuple(
            (f"{ident}-{choice['label']}", html, bool(choice["correct"]))
            for choice, html in zip(question["choices"], htmls, strict=True)))
        return
    if figure:
        prompt += figure + "\n"
    parts = _graded(question)
    several = len(parts) > 1
    for k, part in enumerate(parts, start=1):
        ident = f"{base}-{k}"
        text = prompt
        if several:
            text += _html_paragraph(f"<strong>Part {k}</strong>: {escape(part.label)}")
        title = f"{qid}: {part.label}"
        if isinstance(part, Entry):
            where = f"question {qid!r}, entry {part.key!r} ({part.label})"
            scaled = canvas_range(part.value, part.tolerance, where)
            item_feedback = feedback
            if scaled.exponent:
                text += _scale_note(scaled)
                if feedback is not None:
                    item_feedback = feedback + _html_paragraph(
                        f"In units of \\(10^{{-{scaled.exponent}}}\\) this answer is "
                        f"{_number_text(scaled.value)}.")
            yield _Item(ident, title, "numerical_question", text, item_feedback, scaled)
        else:  # an expression: Canvas has no symbolic grading, so a person grades it
            yield _Item(ident, title, "essay_question", text, feedback)


def _items(bank: dict, answers: bool) -> tuple[list[_Item], dict[str, str]]:
    """The items, and the figures they show (zip path -> SVG, in order of appearance)."""
    items, seen, figures = [], {}, {}
    for question in bank["questions"]:
        qid = question["id"]
        # Ids hash the params, so a bank may repeat a question: keep idents unique.
        seen[qid] = seen.get(qid, 0) + 1
        base = qid if seen[qid] == 1 else f"{qid}-copy{seen[qid]}"
        items.extend(_question_items(question, base, answers, figures))
    return items, figures


# ---------------------------------------------------------------------------
# XML

def _sub(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    namespace = etree.QName(parent).namespace
    element = etree.SubElement(parent, f"{{{namespace}}}{tag}" if namespace else tag,
                               {k.rstrip("_"): v for k, v in attributes.items()})
    if text is not None:
        element.text = text
    return element


def _bytes(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _material(parent, html: str) -> None:
    _sub(_sub(parent, "material"), "mattext", html, texttype="text/html")


def _metadata_field(parent, label: str, entry: str) -> None:
    field = _sub(parent, "qtimetadatafield")
    _sub(field, "fieldlabel", label)
    _sub(field, "fieldentry", entry)


def _item_xml(section, item: _Item) -> None:
    element = _sub(section, "item", ident=item.ident, title=item.title)
    metadata = _sub(_sub(element, "itemmetadata"), "qtimetadata")
    answer_ids = {"numerical_question": f"{item.ident}-answer", "essay_question": "",
                  "multiple_choice_question": ",".join(o[0] for o in item.options)}
    for label, entry in (("question_type", item.kind),
                         ("points_possible", str(POINTS_PER_ITEM)),
                         ("original_answer_ids", answer_ids[item.kind]),
                         ("assessment_question_identifierref", f"{item.ident}-ref")):
        _metadata_field(metadata, label, entry)

    presentation = _sub(element, "presentation")
    _material(presentation, item.text_html)
    if item.kind == "multiple_choice_question":
        response = _sub(presentation, "response_lid", ident="response1", rcardinality="Single")
        render = _sub(response, "render_choice")
        for ident, html, _ in item.options:
            _material(_sub(render, "response_label", ident=ident), html)
    else:
        response = _sub(presentation, "response_str", ident="response1", rcardinality="Single")
        if item.kind == "numerical_question":
            _sub(_sub(response, "render_fib", fibtype="Decimal"), "response_label",
                 ident="answer1")
        else:
            _sub(_sub(response, "render_fib"), "response_label", ident="answer1", rshuffle="No")

    processing = _sub(element, "resprocessing")
    _sub(_sub(processing, "outcomes"), "decvar", maxvalue="100", minvalue="0",
         varname="SCORE", vartype="Decimal")
    if item.feedback_html is not None:
        condition = _sub(processing, "respcondition", continue_="Yes")
        _sub(_sub(condition, "conditionvar"), "other")
        _sub(condition, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
    condition = _sub(processing, "respcondition", continue_="No")
    test = _sub(condition, "conditionvar")
    if item.kind == "multiple_choice_question":
        correct = next(ident for ident, _, right in item.options if right)
        _sub(test, "varequal", correct, respident="response1")
        _sub(condition, "setvar", "100", action="Set", varname="SCORE")
    elif item.kind == "numerical_question":
        _sub(test, "vargte", _number_text(item.answer.low), respident="response1")
        _sub(test, "varlte", _number_text(item.answer.high), respident="response1")
        _sub(condition, "setvar", "100", action="Set", varname="SCORE")
    else:
        _sub(test, "other")  # an essay is graded by hand

    if item.feedback_html is not None:
        feedback = _sub(element, "itemfeedback", ident="general_fb")
        _material(_sub(feedback, "flow_mat"), item.feedback_html)


def _assessment_xml(ident: str, title: str, items: list[_Item]) -> bytes:
    root = etree.Element(f"{{{QTI_NS}}}questestinterop", nsmap={None: QTI_NS})
    assessment = _sub(root, "assessment", ident=ident, title=title)
    _metadata_field(_sub(assessment, "qtimetadata"), "cc_maxattempts", "1")
    section = _sub(assessment, "section", ident="root_section")
    for item in items:
        _item_xml(section, item)
    return _bytes(root)


def _meta_xml(ids: dict, title: str, description: str, points: int, answers: bool) -> bytes:
    root = etree.Element(f"{{{CANVAS_NS}}}quiz", nsmap={None: CANVAS_NS},
                         identifier=ids["assessment"])
    _sub(root, "title", title)
    _sub(root, "description", description)
    for tag, text in (("shuffle_answers", "false"), ("scoring_policy", "keep_highest"),
                      ("quiz_type", "assignment"), ("points_possible", f"{points:.1f}"),
                      ("show_correct_answers", "true" if answers else "false"),
                      ("allowed_attempts", "1"), ("one_question_at_a_time", "false"),
                      ("cant_go_back", "false"), ("available", "false")):
        _sub(root, tag, text)
    assignment = _sub(root, "assignment", identifier=ids["assignment"])
    for tag, text in (("title", title), ("workflow_state", "unpublished"),
                      ("quiz_identifierref", ids["assessment"]),
                      ("points_possible", f"{points:.1f}"), ("grading_type", "points"),
                      ("submission_types", "online_quiz")):
        _sub(assignment, tag, text)
    _sub(root, "assignment_group_identifierref", ids["group"])
    return _bytes(root)


def _manifest_xml(ids: dict, title: str, files: dict[str, str], figures: list[str]
                  ) -> bytes:
    root = etree.Element(f"{{{MANIFEST_NS}}}manifest",
                         nsmap={None: MANIFEST_NS, "imsmd": IMSMD_NS},
                         identifier=ids["manifest"])
    metadata = _sub(root, "metadata")
    _sub(metadata, "schema", "IMS Content")
    _sub(metadata, "schemaversion", "1.1.3")
    lom = etree.SubElement(metadata, f"{{{IMSMD_NS}}}lom")
    general = etree.SubElement(lom, f"{{{IMSMD_NS}}}general")
    _sub(_sub(general, "title"), "string", title)
    _sub(root, "organizations")
    resources = _sub(root, "resources")
    assessment = _sub(resources, "resource", identifier=ids["assessment"],
                      type="imsqti_xmlv1p2")
    _sub(assessment, "file", href=files["assessment"])
    _sub(assessment, "dependency", identifierref=ids["meta"])
    meta = _sub(resources, "resource", identifier=ids["meta"],
                type="associatedcontent/imscc_xmlv1p1/learning-application-resource",
                href=files["meta"])
    _sub(meta, "file", href=files["meta"])
    for path in figures:
        digest = hashlib.sha256(path.encode()).hexdigest()[:16]
        figure = _sub(resources, "resource", identifier=f"qgen_figure_{digest}",
                      type="webcontent", href=quote(path))
        _sub(figure, "file", href=quote(path))
    return _bytes(root)


# ---------------------------------------------------------------------------
# the zip

def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the platform (the default varies)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _check_title(title: str) -> None:
    if not isinstance(title, str):
        raise QgenError(f"title={title!r} must be a string")
    bad = _NOT_XML.search(title)
    if bad:
        raise QgenError(f"title={title!r} holds U+{ord(bad.group()):04X}, a character "
                        "XML (and so Canvas QTI) cannot carry")


def export(bank: dict, *, answers: bool = True, title: str = "Question bank") -> bytes:
    """The bank as a Canvas QTI 1.2 zip (bytes). With ``answers``, each item carries the
    worked solution as feedback and Canvas shows the correct answers after submission;
    grading (ranges, the correct option) is always in the package, as Canvas needs it."""
    _check_title(title)
    items, figures = _items(bank, answers)
    key = json.dumps({"title": title, "ids": [q["id"] for q in bank["questions"]]})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    ids = {name: f"qgen_{name}_{digest}"
           for name in ("manifest", "assessment", "meta", "assignment", "group")}
    folder = ids["assessment"]
    files = {"meta": f"{folder}/assessment_meta.xml", "assessment": f"{folder}/{folder}.xml"}
    seed = bank.get("seed")
    description = "" if seed is None else escape(f"Generated by qgen from seed {seed}.")
    return _zip([
        ("imsmanifest.xml", _manifest_xml(ids, title, files, list(figures))),
        (files["meta"], _meta_xml(ids, title, description, POINTS_PER_ITEM * len(items),
                                  answers)),
        (files["assessment"], _assessment_xml(folder, title, items)),
        *((path, svg.encode("utf-8")) for path, svg in figures.items()),
    ])
