"""Figures (qgen.figures): drawn from the params, the same bytes on every call and in
every process; the SVG parses, the TikZ compiles, the exports carry them; a figure that
cannot be drawn is a note with its reason, never a crash."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

import qgen
from qgen.export import export
from qgen.export import markdown as markdown_export
from qgen.families.base import DIFFICULTIES
from qgen.figures import (
    MAX_COLUMNS,
    MAX_FIELD,
    MAX_NEURONS,
    Figure,
    FigureUnavailable,
    figure,
    placed_figures,
    receptive_field_figure,
)
from qgen.generate import generate

SVG = "{http://www.w3.org/2000/svg}"
FIGURE_FAMILIES = ("backprop-step", "receptive-field", "conv-pool-shape", "transposed-dilated")
SEED = 7
PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not installed")

# The homework's Figure 1 (question 2), as DESIGN.md writes its params.
HOMEWORK_NETWORK = {
    "x": [0.1, 0.7], "y": [0, 1.0], "lr": 0.01, "loss": "bce",
    "layers": [
        {"W": [[0.1, 0.3, 0.4], [0.2, 0.2, 0.1]], "b": [0.31416, -0.27182, 0.186282],
         "activation": "sigmoid"},
        {"W": [[0.3, 0.1], [0.5, 0.6], [0.2, 0.7]], "b": [1.618, 0.1729],
         "activation": "sigmoid"}]}

# Computes every figure of the fixture's bank and prints one digest of their bytes.
DIGEST_SCRIPT = """
import hashlib
from qgen.figures import figure
from qgen.generate import generate
digest = hashlib.sha256()
for family in {families!r}:
    for difficulty in {difficulties!r}:
        for q in generate([family], count=1, seed={seed}, difficulty=difficulty)["questions"]:
            for answers in (False, True):
                drawn = figure(q, answers=answers)
                if drawn is not None:
                    digest.update(drawn.svg().encode())
                    digest.update(drawn.tikz().encode())
print(digest.hexdigest())
"""


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    """One question of each family with a figure, at every difficulty."""
    return [q for family in FIGURE_FAMILIES for difficulty in DIFFICULTIES
            for q in generate([family], count=1, seed=SEED, difficulty=difficulty)["questions"]]


def _drawn(questions):
    """(question, answers, figure) for every figure the questions have."""
    for q in questions:
        for answers in (False, True):
            drawn = figure(q, answers=answers)
            if drawn is not None:
                yield q, answers, drawn


def _question(family: str, params: dict, difficulty: str = "hard") -> dict:
    """A bank question around hand-written params (the answer solved, not sampled)."""
    answer = qgen.solve(family, params)["answer"]
    digest = hashlib.sha256(repr(params).encode()).hexdigest()[:10]
    return {"id": f"{family}-{digest}", "family": family, "difficulty": difficulty,
            "params": params, "answer": answer}


def _network(sizes: list[int]) -> dict:
    layers = [{"W": [[0.1 * ((i + j) % 5 - 2) for j in range(n_out)] for i in range(n_in)],
               "b": [0.1] * n_out, "activation": "sigmoid"}
              for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    return {"x": [0.5] * sizes[0], "y": [1.0] * sizes[-1], "lr": 0.1, "loss": "bce",
            "layers": layers}


def _texts(svg: str) -> list[str]:
    root = etree.fromstring(svg.encode())
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def _pdflatex(folder: Path, name: str) -> None:
    result = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error",
                             "-no-shell-escape", name], cwd=folder, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (folder / name).with_suffix(".pdf").stat().st_size > 0


# ---------------------------------------------------------------------------
# which questions have which figure


def test_every_figure_family_has_its_figure_at_every_difficulty(questions):
    for q in questions:
        solved = figure(q, answers=True)
        assert isinstance(solved, Figure), (q["id"], solved)
        shown = figure(q)
        if q["family"] == "receptive-field":
            assert shown is None  # drawing the fields is the student's task
        else:
            assert isinstance(shown, Figure), (q["id"], shown)


def test_families_without_a_figure_have_none():
    for family in ("conv-cost", "activation-loss-derivative"):
        q = generate([family], count=1, seed=SEED)["questions"][0]
        assert figure(q) is None and figure(q, answers=True) is None
        assert placed_figures(q, answers=True) == (None, None)


def test_solution_figure_only_where_it_differs_from_the_question_figure(questions):
    for q in questions:
        shown, solved = placed_figures(q, answers=True)
        if q["family"] == "backprop-step":
            assert shown is not None and solved is None
        elif q["family"] == "receptive-field":
            assert shown is None and solved is not None
        else:
            assert shown is not None and solved is not None and shown.svg() != solved.svg()
        assert placed_figures(q, answers=False)[1] is None


# ---------------------------------------------------------------------------
# SVG: parses, self-contained, deterministic


def test_svg_parses_with_lxml_and_needs_no_external_resource(questions):
    for q, _, drawn in _drawn(questions):
        svg = drawn.svg()
        root = etree.fromstring(svg.encode())
        assert root.tag == f"{SVG}svg"
        assert float(root.get("width")) > 0 and float(root.get("height")) > 0
        assert root.findtext(f"{SVG}title") == drawn.caption
        assert svg.isascii() and not svg.startswith("<?xml")
        for el in root.iter():
            assert not el.tag.endswith(("image", "use", "style", "script")), q["id"]
            for key, value in el.attrib.items():
                assert "href" not in key and "url(" not in value, (q["id"], key)


def test_svg_coordinates_have_at_most_two_decimals(questions):
    number = re.compile(r"-?\d+(?:\.\d+)?")
    for _, _, drawn in _drawn(questions):
        root = etree.fromstring(drawn.svg().encode())
        for el in root.iter():
            for key in ("x", "y", "width", "height", "cx", "cy", "r", "points", "dy",
                        "stroke-width", "font-size"):
                for value in number.findall(el.get(key) or ""):
                    assert re.fullmatch(r"-?\d+(\.\d{1,2})?", value), (key, value)
                    assert not value.startswith("-0") or value.startswith("-0."), value


def test_same_question_gives_the_same_bytes_on_every_call(questions):
    for q, answers, drawn in _drawn(questions):
        again = figure(dict(q), answers=answers)
        assert again == drawn
        assert again.svg() == drawn.svg() and again.tikz() == drawn.tikz()


def test_same_question_gives_the_same_bytes_in_another_process(questions):
    digest = hashlib.sha256()
    for _, _, drawn in _drawn(questions):
        digest.update(drawn.svg().encode())
        digest.update(drawn.tikz().encode())
    script = DIGEST_SCRIPT.format(families=FIGURE_FAMILIES, difficulties=DIFFICULTIES,
                                  seed=SEED)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": "4321"}, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == digest.hexdigest()


# ---------------------------------------------------------------------------
# what each figure shows


def test_network_figure_of_the_homework_shows_every_weight_and_bias():
    drawn = figure({"family": "backprop-step", "params": HOMEWORK_NETWORK})
    texts = _texts(drawn.svg())
    assert sorted(t for t in texts if re.fullmatch("[xho][0-9]", t)) == [
        "h1", "h2", "h3", "o1", "o2", "x1", "x2"]
    assert {"input", "hidden (sigmoid)", "output (sigmoid)"} <= set(texts)
    weights = [t for t in texts if re.fullmatch(r"\u2212?\d+(\.\d+)?", t)]
    assert sorted(weights) == sorted(str(w) for layer in HOMEWORK_NETWORK["layers"]
                                     for row in layer["W"] for w in row)
    # biases: as written when short, four significant digits otherwise
    assert {t for t in texts if t.startswith("b = ")} == {
        "b = 0.3142", "b = \u22120.2718", "b = 0.1863", "b = 1.618", "b = 0.1729"}


def test_network_with_many_edges_draws_them_without_weight_labels():
    drawn = figure({"family": "backprop-step", "params": _network([4, 5, 2])})
    texts = _texts(drawn.svg())
    assert "W(1)" in drawn.caption and "W(2)" not in drawn.caption  # 20 edges, then 10
    assert sum(1 for t in texts if re.fullmatch(r"\u2212?\d+(\.\d+)?", t)) == 10


def test_question_figure_of_a_shape_question_hides_the_sizes_to_find(questions):
    for q in questions:
        if q["family"] not in ("conv-pool-shape", "transposed-dilated"):
            continue
        sized = [row["output"] for layer, row in zip(q["params"]["layers"],
                                                     q["answer"]["layers"], strict=True)
                 if layer["type"] in ("conv", "convtranspose", "maxpool", "avgpool")]
        labels = ["\u00d7".join(map(str, shape)) for shape in sized]
        source = "\u00d7".join(map(str, q["params"]["input"]))
        shown = _texts(figure(q).svg())
        solved = _texts(figure(q, answers=True).svg())
        assert source in shown and source in solved
        assert shown.count("?") == len(sized)
        assert not set(labels) - {source} & set(shown)
        assert all(label in solved for label in labels)


def test_receptive_field_figure_draws_the_field_the_answer_gives(questions):
    from qgen.figures import _extent, _supports

    for q in questions:
        if q["family"] != "receptive-field":
            continue
        for approach in q["answer"]["approaches"]:
            cells = _supports(approach["kernels"], approach["dilations"], approach["strides"])
            assert list(_extent(cells[-1])) == approach["receptive_field"], approach["name"]
            taps = [kh * kw for kh, kw in approach["kernels"]]
            # one layer: its taps exactly (a dilated filter's are sparse)
            assert approach["layers"] > 1 or len(cells[0]) == taps[0]
            # each layer's field holds the one before it, shifted to its centre
            for inner, outer in zip(cells, cells[1:], strict=False):
                assert len(inner) <= len(outer)


# ---------------------------------------------------------------------------
# figures that cannot be drawn


@pytest.mark.parametrize(("sizes", "words"), [
    ([2, MAX_NEURONS + 1, 1], f"layer 1 has {MAX_NEURONS + 1} neurons"),
    ([MAX_NEURONS + 2, 2, 1], f"the input has {MAX_NEURONS + 2} neurons"),
    ([2] * (MAX_COLUMNS + 1), f"{MAX_COLUMNS + 1} layers of neurons"),
])
def test_network_too_large_to_draw_is_unavailable_with_its_reason(sizes, words):
    drawn = figure({"family": "backprop-step", "params": _network(sizes)})
    assert isinstance(drawn, FigureUnavailable) and not drawn.available
    assert words in drawn.reason and drawn.note.startswith("Figure not drawn: ")
    assert not hasattr(drawn, "svg")  # the preview prints the reason instead


def test_receptive_field_too_large_to_draw_is_unavailable():
    target = MAX_FIELD + 4
    params = {"target": target, "input": [target + 3, target + 3], "in_channels": 1,
              "out_channels": 1, "mid_channels": 1, "dtype_bytes": 4, "bias": False}
    drawn = figure(_question("receptive-field", params), answers=True)
    assert isinstance(drawn, FigureUnavailable)
    assert f"{target} x {target} field" in drawn.reason


def test_params_a_figure_cannot_read_are_unavailable_not_a_crash():
    for family in ("backprop-step", "conv-pool-shape"):
        drawn = figure({"family": family, "params": {"layers": [{}]}, "answer": {}},
                       answers=True)
        assert isinstance(drawn, FigureUnavailable) and "cannot be drawn" in drawn.reason


def test_text_is_escaped_for_svg_and_latex(tmp_path):
    answer = {"approaches": [{"name": "<a> & b_% #1 {x} ~\\ \x07", "kernels": [[3, 3]],
                              "dilations": [2], "strides": [1]}]}
    drawn = receptive_field_figure({}, answer)
    assert "(a) <a> & b_% #1 {x} ~\\ " in _texts(drawn.svg())
    if PDFLATEX:
        (tmp_path / "escape.tex").write_text(
            "\\documentclass{article}\n\\usepackage{tikz}\n\\begin{document}\n"
            + drawn.tikz() + "\n\\end{document}\n")
        _pdflatex(tmp_path, "escape.tex")


# ---------------------------------------------------------------------------
# TikZ and the exports


@needs_pdflatex
def test_tikz_figures_compile(questions, tmp_path):
    pictures = [drawn.tikz() for _, _, drawn in _drawn(questions)]
    pictures.append(figure({"family": "backprop-step", "params": HOMEWORK_NETWORK}).tikz())
    (tmp_path / "figures.tex").write_text(
        "\\documentclass{article}\n\\usepackage{tikz}\n\\begin{document}\n"
        + "\n\n\\clearpage\n".join(pictures) + "\n\\end{document}\n")
    _pdflatex(tmp_path, "figures.tex")


def _bank(questions: list[dict]) -> dict:
    unavailable = _question("backprop-step", _network([2] * (MAX_COLUMNS + 1)))
    return {"schema": 1, "seed": SEED, "questions": [*questions, unavailable]}


def test_markdown_export_writes_the_svgs_it_references(questions, tmp_path):
    bank = _bank(questions)
    for answers in (False, True):
        folder = tmp_path / ("answers" if answers else "quiz")
        text = markdown_export.export(bank, answers=answers, title="Quiz",
                                      figures_dir=folder / "figures")
        referenced = re.findall(r"!\[Figure: [^\n]*\]\(figures/([^)]+\.svg)\)", text)
        written = sorted(p.name for p in (folder / "figures").iterdir())
        assert sorted(referenced) == written and len(set(referenced)) == len(referenced)
        for name in written:
            etree.parse(str(folder / "figures" / name))
        expected = sum(1 for q in questions for drawn in placed_figures(q, answers=answers)
                       if drawn is not None)
        assert len(written) == expected
        assert text.count("*Figure not drawn: ") == 1
        assert f"{MAX_COLUMNS + 1} layers of neurons" in text
        assert ("receptive-field" in " ".join(written)) == answers


def test_markdown_export_without_figures_dir_is_unchanged(questions):
    bank = _bank(questions)
    text = export(bank, "markdown", answers=True, title="Quiz")
    assert "![Figure" not in text and "Figure not drawn" not in text
    assert text == markdown_export.export(bank, answers=True, title="Quiz")


def test_latex_export_embeds_tikz_and_notes(questions):
    bank = _bank(questions)
    text = export(bank, "latex", answers=True, title="Quiz", course="DL")
    assert "\\usepackage{tikz}" in text
    expected = sum(1 for q in questions for drawn in placed_figures(q, answers=True)
                   if drawn is not None)
    assert text.count("\\begin{tikzpicture}") == expected
    assert text.count("Figure not drawn: ") == 1
    from qgen.export import latex

    assert "tikzpicture" not in latex.export(bank, answers=True, figures=False)


@needs_pdflatex
def test_latex_bank_with_figures_compiles(questions, tmp_path):
    (tmp_path / "bank.tex").write_text(export(_bank(questions), "latex", answers=True,
                                              title="Figures & 100% {test}"))
    _pdflatex(tmp_path, "bank.tex")
