"""Canvas QTI 1.2: every export is unzipped in memory and every XML file parsed back with
lxml; each numerical range must give back the bank's answer and tolerance (through the
scale its item states), each multiple-choice key the bank's correct option, and titles
full of special characters must survive every place they are written. Each figure is an SVG
file of the zip, listed in the manifest and shown by the items of its question."""

import copy
import functools
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from qgen.errors import QgenError
from qgen.export import qti
from qgen.export.items import entries, expression_parts
from qgen.families import FAMILY_IDS, get_family
from qgen.families.base import DIFFICULTIES
from qgen.figures import FigureUnavailable, placed_figures
from qgen.generate import generate, question_id, render_question

QTI = {"q": qti.QTI_NS}
MANIFEST = {"m": qti.MANIFEST_NS, "imsmd": qti.IMSMD_NS}
META = {"c": qti.CANVAS_NS}
SEED = 20240611
COUNT = 2
UNITS = re.compile(r"units of \\\(10\^\{-(\d+)\}\\\)")
# A figure as the exporters write it (an image and its caption), or the note of one that
# cannot be drawn; each with the line break after it.
FIGURE = re.compile(r'<p class="figure"><img src="(?P<src>[^"]*)" alt="(?P<alt>[^"]*)"></p>\n'
                    r'<p class="figure-caption"><em>Figure: (?P<caption>[^<]*)\.</em></p>\n?')
NOTE = re.compile(r'<p class="figure-note"><em>(?P<note>[^<]*)</em></p>\n?')


def without_figures(html: str) -> str:
    return NOTE.sub("", FIGURE.sub("", html))


@functools.cache
def bank(difficulty: str, choices: int | None = None) -> dict:
    families = [f for f in FAMILY_IDS if difficulty in get_family(f).difficulties]
    return generate(families, count=COUNT, seed=SEED, difficulty=difficulty, choices=choices)


BANKS = [(d, c) for d in DIFFICULTIES for c in (None, 4)]


def unpack(data: bytes) -> dict[str, etree._Element]:
    """Every file of the zip, parsed."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: etree.fromstring(archive.read(name)) for name in archive.namelist()}


def assessment_of(files: dict) -> etree._Element:
    (root,) = [r for r in files.values() if etree.QName(r).localname == "questestinterop"]
    return root


def meta_of(files: dict) -> etree._Element:
    (root,) = [r for r in files.values() if etree.QName(r).localname == "quiz"]
    return root


@functools.cache
def exported_zip(difficulty: str, choices: int | None, answers: bool = True) -> bytes:
    return qti.export(bank(difficulty, choices), answers=answers)


@functools.cache
def exported(difficulty: str, choices: int | None, answers: bool = True) -> dict:
    return unpack(exported_zip(difficulty, choices, answers))


def raw_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def field(item, label: str) -> str:
    (entry,) = item.xpath(f".//q:qtimetadatafield[q:fieldlabel='{label}']/q:fieldentry",
                          namespaces=QTI)
    return entry.text or ""


def text_of(item) -> str:
    return item.find("q:presentation/q:material/q:mattext", QTI).text


def feedback_of(item) -> str | None:
    found = item.find("q:itemfeedback[@ident='general_fb']/q:flow_mat/q:material/q:mattext",
                      QTI)
    return None if found is None else found.text


def items_by_ident(files: dict) -> dict[str, etree._Element]:
    items = assessment_of(files).findall(".//q:item", QTI)
    idents = [item.get("ident") for item in items]
    assert len(set(idents)) == len(idents), "item idents must be unique"
    return dict(zip(idents, items, strict=True))


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def exact_answer(answer: dict, key: str):
    """The bank's exact value at an entry's key ("layers.0.W[1][0]"), walked here
    independently of qgen.export.items."""
    path, *indices = key.split("[")
    value = answer
    for step in path.split("."):
        value = value[int(step)] if step.isdigit() else value[step]
    for index in indices:
        value = value[int(index.rstrip("]"))]
    return value


def graded_range(item) -> tuple[int, Decimal, Decimal]:
    """(the stated scale exponent, and the answer and tolerance in the bank's units)."""
    (low,) = item.xpath(".//q:respcondition/q:conditionvar/q:vargte", namespaces=QTI)
    (high,) = item.xpath(".//q:respcondition/q:conditionvar/q:varlte", namespaces=QTI)
    stated = UNITS.findall(text_of(item))
    assert len(stated) <= 1
    exponent = int(stated[0]) if stated else 0
    low, high = Decimal(low.text), Decimal(high.text)
    for end in (low, high):  # what Canvas keeps is what was written
        assert -end.as_tuple().exponent <= qti.CANVAS_DECIMALS, end
    return exponent, ((low + high) / 2).scaleb(-exponent), ((high - low) / 2).scaleb(-exponent)


# ---------------------------------------------------------------------------
# layout

@pytest.mark.parametrize(("difficulty", "choices"), BANKS)
def test_manifest_references_exactly_the_files_in_the_zip_in_canvas_layout(difficulty,
                                                                           choices):
    files = exported(difficulty, choices)
    manifest = files["imsmanifest.xml"]
    hrefs = {f.get("href") for f in manifest.iterfind(".//m:file", MANIFEST)}
    assert set(files) == hrefs | {"imsmanifest.xml"}
    resources = {r.get("identifier"): r for r in manifest.iterfind(".//m:resource", MANIFEST)}
    (quiz,) = [r for r in resources.values() if r.get("type") == "imsqti_xmlv1p2"]
    ident = quiz.get("identifier")
    assert quiz.find("m:file", MANIFEST).get("href") == f"{ident}/{ident}.xml"
    meta_resource = resources[quiz.find("m:dependency", MANIFEST).get("identifierref")]
    assert meta_resource.get("href") == f"{ident}/assessment_meta.xml"
    assert etree.QName(files[f"{ident}/{ident}.xml"]).namespace == qti.QTI_NS
    assert assessment_of(files).find("q:assessment", QTI).get("ident") == ident
    meta = files[f"{ident}/assessment_meta.xml"]
    assert meta.get("identifier") == ident
    assert meta.find("c:shuffle_answers", META).text == "false"
    items = items_by_ident(files)
    points = sum(float(field(item, "points_possible")) for item in items.values())
    assert float(meta.find("c:points_possible", META).text) == points == len(items)
    assert float(meta.find("c:assignment/c:points_possible", META).text) == points


# ---------------------------------------------------------------------------
# numerical entries: ranges round-trip to the bank's answers and tolerances

@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_every_numerical_range_maps_back_to_the_banks_answer_and_tolerance(difficulty):
    the_bank = bank(difficulty)
    items = items_by_ident(exported(difficulty, None))
    checked = essays = 0
    for q in the_bank["questions"]:
        prompt, solution = render_question(q, "html")
        graded = entries(q) + expression_parts(q)
        mine = {ident: item for ident, item in items.items()
                if re.fullmatch(re.escape(q["id"]) + r"-\d+", ident)}
        assert len(mine) == len(graded)
        by_title = {item.get("title"): (ident, item) for ident, item in mine.items()}
        for entry in graded:
            ident, item = by_title.pop(f"{q['id']}: {entry.label}")
            k = int(ident.rsplit("-", 1)[1])
            text = text_of(item)
            assert text.startswith(prompt)
            assert (f"Part {k}: {entry.label}" in plain(text)) == (len(graded) > 1)
            assert without_figures(feedback_of(item)).startswith(solution)
            if getattr(entry, "kind", "number") == "expression":
                assert field(item, "question_type") == "essay_question"
                essays += 1
                continue
            assert field(item, "question_type") == "numerical_question"
            exponent, value, tolerance = graded_range(item)
            # The bank's key, as displayed, and its tolerance: exactly.
            assert float(value) == entry.value
            assert float(tolerance) == entry.tolerance == q["tolerance"][entry.key.split("[")[0]]
            exact = exact_answer(q["answer"], entry.key)
            assert abs(entry.value - exact) <= entry.tolerance / 2 + 1e-12
            # The scale is the smallest that Canvas's 4 decimals hold exactly.
            if exponent:
                smaller = [n.scaleb(exponent - 1) for n in (value, tolerance)]
                assert any(-n.normalize().as_tuple().exponent > qti.CANVAS_DECIMALS
                           for n in smaller)
            checked += 1
    assert checked > 0 and essays > 0


def test_parts_follow_the_prompts_order_derive_first_then_evaluate():
    (q,) = generate(["activation-loss-derivative"], count=1, seed=SEED, difficulty="easy")[
        "questions"]
    items = items_by_ident(unpack(qti.export({"questions": [q]})))
    kinds = [field(items[f"{q['id']}-{k}"], "question_type") for k in (1, 2)]
    assert kinds == ["essay_question", "numerical_question"]


def test_backprop_steps_six_decimals_are_asked_in_units_of_a_hundredth():
    """Updated weights and the loss print to 6 decimals (tolerance 1e-6): Canvas would keep
    4, so each is asked in units of 10^-2 and graded on value*100 +- 1e-4."""
    the_bank = generate(["backprop-step"], count=3, seed=SEED, difficulty="medium")
    items = items_by_ident(unpack(qti.export(the_bank)))
    for q in the_bank["questions"]:
        for k, entry in enumerate(entries(q), start=1):
            item = items[f"{q['id']}-{k}"]
            assert entry.tolerance == 1e-6
            exponent, value, tolerance = graded_range(item)
            assert exponent == 2
            assert "Give the answer in units of \\(10^{-2}\\)" in text_of(item)
            assert float(value) == entry.value and float(tolerance) == 1e-6
            assert f"this answer is {value.scaleb(2).normalize():f}" in feedback_of(item)


@pytest.mark.parametrize(("loss", "exponent", "low", "high"), [
    (0.000003, 2, "0.0002", "0.0004"),  # below 1e-4: would have been graded as 0
    (0.0, 2, "-0.0001", "0.0001"),
    (-0.000051, 2, "-0.0052", "-0.005"),
    (12.5, 2, "1249.9999", "1250.0001"),
])
def test_tiny_answers_are_rescaled_never_rounded_to_zero(loss, exponent, low, high):
    q = copy.deepcopy(bank("easy")["questions"][0])
    assert q["family"] == "backprop-step"
    q["answer"]["loss"] = loss
    item = items_by_ident(unpack(qti.export({"questions": [q]})))[f"{q['id']}-1"]
    assert item.xpath(".//q:vargte/text()", namespaces=QTI) == [low]
    assert item.xpath(".//q:varlte/text()", namespaces=QTI) == [high]
    stated, value, tolerance = graded_range(item)
    assert (stated, float(value), float(tolerance)) == (exponent, loss, 1e-6)


@pytest.mark.parametrize(("value", "tolerance", "exponent", "scaled", "scaled_tolerance"), [
    (288, 0.0, 0, "288", "0"),
    (0.2689, 1e-4, 0, "0.2689", "0.0001"),
    (1.5e-5, 1e-6, 2, "0.0015", "0.0001"),
    (1.23e-9, 1e-10, 7, "0.0123", "0.001"),
    (10**18, 0.0, 0, "1000000000000000000", "0"),
])
def test_canvas_range_picks_the_smallest_power_of_ten(value, tolerance, exponent, scaled,
                                                      scaled_tolerance):
    found = qti.canvas_range(value, tolerance, "here")
    assert found.exponent == exponent
    assert found.value == Decimal(scaled) and found.tolerance == Decimal(scaled_tolerance)


@given(st.integers(-10**17, 10**17), st.integers(0, 14))
def test_canvas_range_is_exact_at_four_decimals_or_refused(mantissa, decimals):
    value, tolerance = mantissa / 10**decimals, 10.0**-decimals
    try:
        found = qti.canvas_range(value, tolerance, "here")
    except QgenError as error:
        assert "significant digits" in str(error) and "\n" not in str(error)
        return
    for end in (found.low, found.high):
        assert -end.normalize().as_tuple().exponent <= qti.CANVAS_DECIMALS
        assert len(end.normalize().as_tuple().digits) <= qti.CANVAS_SIGNIFICANT_DIGITS
    assert float(found.value.scaleb(-found.exponent)) == value
    assert float(found.tolerance.scaleb(-found.exponent)) == tolerance


@pytest.mark.parametrize(("loss", "words"), [
    (123456789012.345678, "significant digits"),
    (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"),
])
def test_an_answer_canvas_cannot_hold_is_refused_naming_question_and_entry(loss, words):
    q = copy.deepcopy(bank("easy")["questions"][0])
    q["answer"]["loss"] = loss
    with pytest.raises(QgenError) as raised:
        qti.export({"questions": [q]})
    message = str(raised.value)
    assert "\n" not in message and words in message
    assert q["id"] in message and "'loss'" in message


# ---------------------------------------------------------------------------
# multiple choice and expressions

@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_multiple_choice_key_is_the_banks_correct_option(difficulty):
    the_bank = bank(difficulty, 4)
    items = items_by_ident(exported(difficulty, 4))
    assert len(items) == len(the_bank["questions"])
    for q in the_bank["questions"]:
        item = items[f"{q['id']}-1"]
        assert field(item, "question_type") == "multiple_choice_question"
        labels = item.findall(".//q:response_lid/q:render_choice/q:response_label", QTI)
        texts = [label.find("q:material/q:mattext", QTI).text for label in labels]
        assert len(texts) == len(q["choices"])
        for choice, text, label in zip(q["choices"], texts, labels, strict=True):
            assert text.startswith(f"<strong>{choice['label']}.</strong> ")
            assert label.get("ident") == f"{q['id']}-1-{choice['label']}"
            numbers = choice["value"] if isinstance(choice["value"], list) else [choice["value"]]
            if all(isinstance(n, int) for n in numbers):
                assert all(str(n) in text for n in numbers)
        (scored,) = item.xpath(".//q:respcondition[q:setvar='100']", namespaces=QTI)
        (key,) = scored.xpath("q:conditionvar/q:varequal/text()", namespaces=QTI)
        (correct,) = [c for c in q["choices"] if c["correct"]]
        assert key == f"{q['id']}-1-{correct['label']}"
        # Canvas shows the options: the prompt's printed list is not repeated.
        assert 'class="choices"' not in text_of(item)
        assert without_figures(feedback_of(item)) == render_question(q, "html")[1]


def test_expression_only_question_is_an_essay_with_the_solution_as_feedback():
    family = get_family("activation-loss-derivative")
    params = {"activation": "tanh", "loss": "mse"}
    answer = family.solve(params)["answer"]
    q = {"id": question_id(family.id, "easy", params), "family": family.id,
         "difficulty": "easy", "params": params, "answer": answer,
         "tolerance": {"expression": 0.0}}
    files = unpack(qti.export({"questions": [q]}))
    (item,) = items_by_ident(files).values()
    prompt, solution = render_question(q, "html")
    assert field(item, "question_type") == "essay_question"
    assert text_of(item) == prompt  # one part: no "Part 1"
    assert feedback_of(item) == solution and answer["latex"] in solution
    assert not item.xpath(".//q:setvar", namespaces=QTI)  # graded by hand


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_without_answers_no_solution_is_shown_but_grading_is_kept(difficulty):
    for choices in (None, 4):
        with_key, without = exported(difficulty, choices), exported(difficulty, choices, False)
        assert all(feedback_of(i) is None for i in items_by_ident(without).values())
        assert not assessment_of(without).xpath(".//q:displayfeedback", namespaces=QTI)
        strip = ".//q:vargte/text()|.//q:varlte/text()|.//q:varequal/text()"
        assert (assessment_of(with_key).xpath(strip, namespaces=QTI)
                == assessment_of(without).xpath(strip, namespaces=QTI))
        assert meta_of(without).find("c:show_correct_answers", META).text == "false"


def test_a_repeated_question_keeps_unique_idents():
    q = bank("easy", 4)["questions"][0]
    items = items_by_ident(unpack(qti.export({"questions": [q, q, q]})))
    assert list(items) == [f"{q['id']}-1", f"{q['id']}-copy2-1", f"{q['id']}-copy3-1"]


# ---------------------------------------------------------------------------
# titles and determinism

SPECIALS = "&<>\"'{}\\$%#_^~|`*[]()!\t\n\r "
titles = st.text(alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(
    blacklist_categories=("Cs", "Cc"))), min_size=1, max_size=40)


@functools.cache
def small_bank() -> dict:
    return {"questions": [bank("easy", 4)["questions"][0], bank("easy")["questions"][-1]]}


@given(titles)
def test_titles_full_of_special_characters_survive_every_place_they_are_written(title):
    files = unpack(qti.export(small_bank(), title=title))
    meta = meta_of(files)
    found = [
        assessment_of(files).find("q:assessment", QTI).get("title"),
        meta.find("c:title", META).text,
        meta.find("c:assignment/c:title", META).text,
        files["imsmanifest.xml"].find(".//imsmd:title/imsmd:string", MANIFEST).text,
    ]
    assert found == [title] * 4


@pytest.mark.parametrize("title", ["bad\x00title", "form\x0cfeed", "lone \ud800"])
def test_a_title_xml_cannot_carry_is_refused(title):
    with pytest.raises(QgenError, match="title="):
        qti.export(small_bank(), title=title)


def test_item_text_is_html_escaped_once_more_for_xml_and_reads_back_verbatim():
    q = bank("easy")["questions"][0]
    data = qti.export({"questions": [q]})
    item = items_by_ident(unpack(data))[f"{q['id']}-1"]
    prompt = render_question(q, "html")[0]
    assert "&amp;" in prompt and text_of(item).startswith(prompt)  # matrices: & in math
    (raw,) = [data for name, data in raw_files(data).items()
              if name.endswith(".xml") and b"questestinterop" in data]
    assert b"&lt;p&gt;" in raw and b"&amp;amp;" in raw and b"<p>" not in raw


def test_same_bank_gives_the_same_bytes_in_another_process(tmp_path):
    the_bank = bank("medium", 4)
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(the_bank))
    loaded = json.loads(path.read_text())
    first = qti.export(loaded, title="Quiz & <1>")
    assert qti.export(loaded, title="Quiz & <1>") == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist()[0] == "imsmanifest.xml"
        assert {info.date_time for info in archive.infolist()} == {qti.ZIP_DATE}
    code = ("import json, sys; from qgen.export.qti import export; "
            "sys.stdout.buffer.write(export(json.load(open(sys.argv[1])), "
            "title='Quiz & <1>'))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                           capture_output=True, env=env).stdout
    assert other == first
    assert qti.export(loaded, title="Another") != first


# ---------------------------------------------------------------------------
# figures

def _check_figure(html: str | None, drawn, path: str, raw: dict[str, bytes]) -> None:
    """The item's HTML shows ``drawn`` as an <img> of the zip's file at ``path``, through
    Canvas's $IMS-CC-FILEBASE$; a note when it cannot be drawn; nothing when none."""
    if drawn is None:
        assert html is None or not (FIGURE.search(html) or NOTE.search(html))
        return
    if not drawn.available:
        assert not FIGURE.search(html)
        (note,) = NOTE.finditer(html)
        assert note["note"] == drawn.note
        return
    (image,) = FIGURE.finditer(html)
    assert image["src"] == f"$IMS-CC-FILEBASE$/{path}"
    assert image["alt"] == escape_attribute(drawn.caption)
    assert raw[path] == drawn.svg().encode("utf-8")


def escape_attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;").replace("'", "&#x27;")


@pytest.mark.parametrize(("difficulty", "choices"), BANKS)
def test_each_figure_is_an_svg_file_of_the_zip_listed_and_shown_by_its_items(difficulty,
                                                                            choices):
    for answers in (True, False):
        data = exported_zip(difficulty, choices, answers)
        raw, files = raw_files(data), exported(difficulty, choices, answers)
        resources = files["imsmanifest.xml"].iterfind(".//m:resource", MANIFEST)
        listed = {r.get("href"): r.get("type") for r in resources}
        items = items_by_ident(files)
        expected = set()
        for q in bank(difficulty, choices)["questions"]:
            shown, solved = placed_figures(q, answers=answers)
            mine = [item for ident, item in items.items()
                    if re.fullmatch(re.escape(q["id"]) + r"-\d+", ident)]
            assert mine
            for item in mine:
                _check_figure(text_of(item), shown, f"figures/{q['id']}.svg", raw)
                _check_figure(feedback_of(item), solved, f"figures/{q['id']}-solution.svg",
                              raw)
                if solved is not None:  # the answer figure comes before the worked solution
                    assert feedback_of(item).startswith('<p class="figure')
            expected |= {f"figures/{q['id']}{suffix}.svg"
                         for drawn, suffix in ((shown, ""), (solved, "-solution"))
                         if drawn is not None and drawn.available}
        figures = {name for name in raw if name.startswith("figures/")}
        assert figures == expected and (not answers or figures)
        assert all(listed[name] == "webcontent" for name in figures)
        # The manifest first, then the quiz's two files, then the figures.
        names = list(raw)
        assert names[0] == "imsmanifest.xml" and set(names[3:]) == figures


def test_a_figure_that_cannot_be_drawn_is_its_note(monkeypatch):
    missing = FigureUnavailable("shapes", "the stack has 9 stages; at most 8 blocks fit")
    monkeypatch.setattr(qti, "placed_figures", lambda question, answers=False:
                        (missing, missing))
    data = qti.export(small_bank())
    raw = raw_files(data)
    assert not any(name.startswith("figures/") for name in raw)
    for item in items_by_ident(unpack(data)).values():
        _check_figure(text_of(item), missing, "", raw)
        _check_figure(feedback_of(item), missing, "", raw)
        assert "Figure not drawn: the stack has 9 stages" in text_of(item)
