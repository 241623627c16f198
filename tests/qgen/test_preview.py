"""qgen preview: the page and its KaTeX files, every question in it, the answers it checks
against, figures that fail, and bad input (exit 2, one line naming the file and place)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import lxml.html
import pytest

from qgen.export.items import entries
from qgen.generate import generate
from qgen.grade import grade
from qgen.preview import KatexNotFound, find_katex, page_html, write_preview

ROOT = Path(__file__).resolve().parents[2]

try:
    find_katex()
    NO_KATEX = None
except KatexNotFound as error:
    NO_KATEX = str(error)
needs_katex = pytest.mark.skipif(NO_KATEX is not None, reason=f"{NO_KATEX} (CI installs it)")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "qgen", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def bank():
    """Numeric questions of three kinds (shapes, a matrix step, an expression) and
    multiple-choice ones: every way the page asks for an answer."""
    numeric = generate(["conv-pool-shape", "backprop-step", "activation-loss-derivative"],
                       count=1, seed=11, difficulty="easy")
    choice = generate(["conv-pool-shape", "activation-loss-derivative"], count=1, seed=12,
                      difficulty="easy", choices=4)
    return {**numeric, "questions": numeric["questions"] + choice["questions"]}


@pytest.fixture(scope="module")
def bank_file(bank, tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank.json"
    path.write_text(json.dumps(bank))
    return path


@pytest.fixture(scope="module")
def page(bank_file, tmp_path_factory):
    if NO_KATEX:
        pytest.skip(NO_KATEX)
    out = tmp_path_factory.mktemp("preview") / "site"
    result = run("preview", str(bank_file), "-o", str(out), "--title", "Week <3> & more")
    assert result.returncode == 0, result.stderr
    return out


def _answers(document) -> dict:
    return json.loads(document.get_element_by_id("qgen-answers").text)


@needs_katex
def test_preview_writes_the_page_and_every_katex_file_it_refers_to(page):
    for name in ("index.html", "katex/katex.min.js", "katex/katex.min.css",
                 "katex/contrib/auto-render.min.js"):
        assert (page / name).is_file(), name
    css = (page / "katex" / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert fonts and all((page / "katex" / font).is_file() for font in fonts)
    assert not [p for p in page.parent.iterdir() if p.name.startswith(".")]  # no temp left


@needs_katex
def test_page_loads_nothing_from_outside_its_folder(page):
    text = (page / "index.html").read_text()
    document = lxml.html.fromstring(text)
    refs = [*document.xpath("//script/@src"), *document.xpath("//link/@href"),
            *document.xpath("//img/@src")]
    local = [r for r in refs if not r.startswith("data:")]
    assert local and all((page / r).is_file() for r in local)
    # Nothing anywhere (figures included) links outside: an SVG's xmlns is a name only.
    links = [value for element in document.iter() if isinstance(element.tag, str)
             for name, value in element.attrib.items()
             if name in ("src", "href", "action") or name.endswith("}href")]
    assert not [v for v in links if v.startswith(("http:", "https:", "//"))]
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert "@import" not in text


@needs_katex
def test_every_question_is_in_the_page_with_its_solution_behind_a_toggle(page, bank):
    document = lxml.html.fromstring((page / "index.html").read_text())
    assert document.findtext(".//title") == "Week <3> & more"  # escaped, then read back
    sections = document.xpath("//section[@class='question']")
    assert [s.get("data-qid") for s in sections] == [q["id"] for q in bank["questions"]]
    for section in sections:
        assert section.xpath(".//div[@class='prompt']")[0].text_content().strip()
        details = section.xpath(".//details[@class='solution']")
        assert len(details) == 1 and details[0].get("open") is None
        assert details[0].xpath("./summary") and details[0].text_content().strip()
    # The math stays LaTeX between \( \) and \[ \] for KaTeX's auto-render.
    assert "\\(" in document.text_content() and "\\[" in document.text_content()


@needs_katex
def test_embedded_answers_are_the_banks_entries_and_grade_as_right(page, bank):
    document = lxml.html.fromstring((page / "index.html").read_text())
    answers = _answers(document)
    assert len(answers) == len(bank["questions"])
    for n, q in enumerate(bank["questions"], start=1):
        data = answers[f"q{n}"]
        assert data["id"] == q["id"]
        section = document.get_element_by_id(f"q{n}")
        if "choices" in q:
            assert data["kind"] == "choice"
            right = [o["label"] for o in data["options"] if o["correct"]]
            assert right == [c["label"] for c in q["choices"] if c["correct"]]
            assert grade(q, right[0])["score"] == 1
            assert sorted(section.xpath(".//input[@type='radio']/@value")) == sorted(
                c["label"] for c in q["choices"])
            continue
        expected = [(e.key, e.value, e.tolerance) for e in entries(q)]
        assert [(e["key"], e["value"], e["tolerance"]) for e in data["entries"]] == expected
        assert section.xpath(".//input[@data-entry]/@name") == [k for k, _, _ in expected]
        # Independently of items.entries: qgen.grade reads the bank and finds every
        # embedded value right (entry keys, as the LMS exports give them).
        result = grade(q, {e["key"]: e["value"] for e in data["entries"]})
        numeric = [p for p in result["parts"] if p["tolerance"] is not None]
        assert numeric and all(p["status"] == "correct" for p in numeric)
        if q["family"] == "activation-loss-derivative":
            assert data["expressions"] and "expression" in section.text_content()


def test_page_escapes_text_and_keeps_the_json_inside_its_script(bank):
    odd = {**bank, "questions": bank["questions"][:1]}
    text = page_html(odd, title="</script><b>x</b>")
    document = lxml.html.fromstring(text)
    assert document.findtext(".//h1") == "</script><b>x</b>"
    assert _answers(document)["q1"]["id"] == odd["questions"][0]["id"]


def _figures_by_family(page: str, bank: dict) -> dict:
    """family -> (SVGs beside the question, SVGs in the solution, figure notes)."""
    document = lxml.html.fromstring(page)
    found = {}
    for q, section in zip(bank["questions"], document.xpath("//section[@class='question']"),
                          strict=True):
        svg = ".//figure[@class='figure']/*[local-name()='svg']"
        found.setdefault(q["family"], (
            len(section.xpath(f"./{svg[3:]}")),
            len(section.xpath(f".//div[@class='solution-body']{svg[1:]}")),
            [n.text_content() for n in section.xpath(".//p[@class='figure-note']")]))
    return found


def test_figures_are_inlined_beside_the_question_and_the_solution(bank):
    found = _figures_by_family(page_html(bank), bank)
    assert found["backprop-step"] == (1, 0, [])  # the network, once
    assert found["conv-pool-shape"] == (1, 1, [])  # the shapes; with the sizes, solved
    assert found["activation-loss-derivative"] == (0, 0, [])  # no figure, and no note


def test_a_figure_that_cannot_be_drawn_is_a_note_not_a_crash(bank, monkeypatch):
    import qgen.figures
    from qgen.figures import FigureUnavailable

    class Broken:
        caption = "a network"

        def svg(self):
            raise ValueError("no room for 9 layers")

    def placed_figures(question, *, answers=False):
        if question["family"] == "activation-loss-derivative":
            raise RuntimeError("the drawing code has a bug")
        if question["family"] == "backprop-step":
            return Broken(), None
        return FigureUnavailable("shapes", "13 stages are too many to draw"), None

    monkeypatch.setattr(qgen.figures, "placed_figures", placed_figures)
    found = _figures_by_family(page_html(bank), bank)
    assert found["backprop-step"] == (0, 0, [
        "Figure not drawn: ValueError: no room for 9 layers."])
    assert found["conv-pool-shape"] == (0, 0, [
        "Figure not drawn: 13 stages are too many to draw."])
    assert found["activation-loss-derivative"] == (0, 0, [
        "Figure not drawn: RuntimeError: the drawing code has a bug."])


@needs_katex
def test_build_folder_can_hold_a_preview(bank, tmp_path):
    report = write_preview(bank, tmp_path / "preview", title="t")
    assert report.questions == len(bank["questions"])
    assert (tmp_path / "preview" / "index.html").is_file()


@pytest.mark.parametrize("text, fragments", [
    ('{"schema": 1,\n "seed": 1,\n "questions": [}', ["line 3 column"]),
    ('{"schema": 1, "seed": 1, "questions": [{"id": "x"}]}', ["questions[0].family"]),
    ('[1, 2]', ["must be a JSON object"]),
])
def test_a_bank_that_does_not_parse_exits_2_naming_the_file_and_place(tmp_path, text,
                                                                      fragments):
    path = tmp_path / "broken.json"
    path.write_text(text)
    result = run("preview", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and all(f in lines[0] for f in fragments), lines[0]
    assert not (tmp_path / "out").exists()


def test_a_missing_bank_file_exits_2(tmp_path):
    result = run("preview", str(tmp_path / "nope.json"), "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and "nope.json: no such file" in result.stderr


def test_without_katex_the_error_says_what_to_install(bank_file, tmp_path):
    import os

    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("preview", str(bank_file), "-o", str(tmp_path / "out"),
                 env={**os.environ, "QGEN_KATEX_DIR": str(empty)})
    assert result.returncode == 2
    assert "libjs-katex" in result.stderr and "katex.min.js" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@needs_katex
def test_an_existing_folder_is_replaced_only_with_force(bank_file, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("preview", str(bank_file), "-o", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert (out / "keep.txt").exists()
    result = run("preview", str(bank_file), "-o", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert (out / "index.html").exists() and not (out / "keep.txt").exists()
