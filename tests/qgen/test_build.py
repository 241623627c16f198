"""qgen build: recipes, per-student variants, the files it writes, and bad input."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgen.build import build
from qgen.errors import QgenError
from qgen.recipe import load_recipe, load_roster, parse_recipe, recipe_bank

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "examples" / "homework1.toml"
HAS_PDFLATEX = shutil.which("pdflatex") is not None
CLASS_FILES = {"quiz.md", "answers.md", "quiz.tex", "answers.tex", "moodle.xml", "quiz.gift",
               "canvas-qti.zip", "bank.json"}

SMALL = """
title = "Small & quick"
course = "DL 101"
seed = 7
[[sections]]
family = "conv-pool-shape"
difficulty = "easy"
count = 1
[[sections]]
family = "receptive-field"
difficulty = "easy"
count = 1
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "qgen", *args], capture_output=True,
                          text=True, cwd=ROOT)


def _pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_build_writes_every_file_of_the_example_recipe(tmp_path):
    out = tmp_path / "hw1"
    report = build(RECIPE, out)
    names = {p.name for p in out.iterdir()}
    assert names >= CLASS_FILES
    if HAS_PDFLATEX:
        assert {"quiz.pdf", "answers.pdf"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    bank = json.loads((out / "bank.json").read_text())
    assert len(bank["questions"]) == report.questions == 6
    assert [q["points"] for q in bank["questions"]] == [10, 10, 5, 5, 2, 2]
    assert all("choices" in q for q in bank["questions"][4:])


@pytest.mark.skipif(not HAS_PDFLATEX or shutil.which("pdftotext") is None,
                    reason="pdflatex and pdftotext (texlive, poppler-utils) not installed")
def test_pdfs_show_the_title_and_only_the_answer_pdf_shows_solutions(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(SMALL)
    build(recipe, tmp_path / "out")
    quiz = _pdftotext(tmp_path / "out" / "quiz.pdf")
    answers = _pdftotext(tmp_path / "out" / "answers.pdf")
    assert "Small & quick" in quiz and "DL 101" in quiz
    assert "Solution" not in quiz and "Solution" in answers
    bank = json.loads((tmp_path / "out" / "bank.json").read_text())
    final = bank["questions"][0]["answer"]["output"]
    assert " × ".join(map(str, final)) in answers.replace("×", " × ").replace("  ", " ") or \
        all(str(v) in answers for v in final)


def test_per_student_variants_differ_and_key_lists_every_answer(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada Lovelace\ns2,Alan Turing\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(SMALL)
    out = tmp_path / "per-student"
    build(recipe, out, roster=roster)
    assert {p.name for p in out.iterdir()} >= {"s1", "s2", "key.csv"}
    banks = {s: json.loads((out / s / "bank.json").read_text()) for s in ("s1", "s2")}
    assert banks["s1"]["questions"][0]["params"] != banks["s2"]["questions"][0]["params"]
    with open(out / "key.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"student", "question", "part", "answer", "tolerance"}
    for student, bank in banks.items():
        ids = {r["question"] for r in rows if r["student"] == student}
        assert ids == {q["id"] for q in bank["questions"]}


def test_reordering_or_adding_sections_keeps_each_sections_numbers_for_a_student():
    recipe = parse_recipe({"title": "t", "seed": 3, "sections": [
        {"family": "conv-pool-shape", "difficulty": "easy"},
        {"family": "receptive-field", "difficulty": "easy"}]})
    reordered = parse_recipe({"title": "t", "seed": 3, "sections": [
        {"family": "backprop-step", "difficulty": "easy"},
        {"family": "receptive-field", "difficulty": "easy"},
        {"family": "conv-pool-shape", "difficulty": "easy"}]})
    a = {q["section"]: q["params"] for q in recipe_bank(recipe, "s1")["questions"]}
    b = {q["section"]: q["params"] for q in recipe_bank(reordered, "s1")["questions"]}
    for key, params in a.items():
        assert b[key] == params


def test_an_existing_output_folder_is_kept_without_force_and_replaced_with_it(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(SMALL)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = run("build", str(recipe), "-o", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert (out / "mine.txt").read_text() == "keep me"
    build(recipe, out, force=True)
    assert not (out / "mine.txt").exists() and (out / "bank.json").exists()


def test_a_failing_build_leaves_no_output_folder(tmp_path, monkeypatch):
    import qgen.build as module

    def broken(*args, **kwargs):
        raise QgenError("boom")

    monkeypatch.setattr(module, "export", broken)
    recipe = tmp_path / "r.toml"
    recipe.write_text(SMALL)
    with pytest.raises(QgenError):
        build(recipe, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [recipe]


@pytest.mark.parametrize("text, fragment", [
    ("title = 'x'\nseed = 1\n[[sections]]\nfamily = 'nope'\n", "sections[0].family='nope'"),
    ("title = 'x'\nseed = 1\n[[sections]]\nfamily = 'conv-cost'\ncolour = 1\n",
     "sections[0].colour=1 is not a section field"),
    ("title = 'x'\nseed = 1\n[[sections]]\nfamily = 'conv-cost'\ncount = 0\n",
     "sections[0].count=0 must be at least 1"),
    ("title = 'x'\nseed = 'a'\n[[sections]]\nfamily = 'conv-cost'\n", "seed='a' must be"),
    ("title = 'x'\nseed = 1\n", "sections is missing"),
    ("title = 'x\nseed = 1\n", "not valid TOML"),
    ("title = 'x'\nseed = 1\nauthor = 'me'\n[[sections]]\nfamily = 'conv-cost'\n",
     "author='me' is not a recipe field"),
])
def test_bad_recipes_name_the_file_the_key_and_the_rule(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(QgenError) as error:
        load_recipe(path)
    assert str(error.value).startswith(str(path)) and fragment in str(error.value)
    result = run("build", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, fragment", [
    ("id,name\ns1,A\ns1,B\n", "line 3: id='s1' repeats line 2"),
    ("id,name\n,A\n", "line 2: id is empty"),
    ("name\nA\n", "line 1: the header must have columns id and name"),
    ("id,name\n../x,A\n", "id='../x' may only hold"),
])
def test_bad_rosters_are_refused(tmp_path, text, fragment):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(QgenError, match=None) as error:
        load_roster(path)
    assert fragment in str(error.value)


def test_missing_pdflatex_gives_a_warning_and_the_other_files(tmp_path, monkeypatch):
    import qgen.build as module

    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    recipe = tmp_path / "r.toml"
    recipe.write_text(SMALL)
    report = build(recipe, tmp_path / "out")
    assert any("pdflatex" in w for w in report.warnings)
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names >= CLASS_FILES and "quiz.pdf" not in names


@pytest.mark.skipif(not HAS_PDFLATEX or shutil.which("pdftotext") is None,
                    reason="pdflatex and pdftotext (texlive, poppler-utils) not installed")
def test_latex_answer_key_read_back_from_the_pdf_equals_the_banks_answers(tmp_path):
    import re

    from qgen.build import compile_pdf
    from qgen.export import export
    from qgen.export.items import entries
    from qgen.generate import generate
    from qgen.render import number

    bank = generate(["backprop-step", "conv-cost", "transposed-dilated"], count=1, seed=4,
                    difficulty="easy")
    bank["questions"] += generate(["conv-pool-shape"], count=1, seed=4,
                                  choices=4)["questions"]
    (tmp_path / "answers.tex").write_text(export(bank, "latex", answers=True))
    text = " ".join(_pdftotext(compile_pdf(tmp_path / "answers.tex")).split())

    # What the PDF says, in order: (part, values, tolerance) and the chosen letters.
    read = [(part, values.strip().rstrip(",").split(", "), float(tol))
            for part, values, tol in re.findall(r"(\S+) = ([-0-9., ]+?); tolerance (\S+)",
                                                text)]
    expected = []
    for q in bank["questions"]:
        if "choices" in q:
            continue
        parts: dict[str, tuple[list[str], float]] = {}
        for entry in entries(q):
            values, _ = parts.setdefault(entry.key.split("[", 1)[0], ([], entry.tolerance))
            values.append(number(entry.value, entry.decimals))
        expected += [(part, values, tol) for part, (values, tol) in parts.items()]
    assert read == expected
    for q in bank["questions"]:
        if "choices" in q:
            assert f"choice = {next(c['label'] for c in q['choices'] if c['correct'])}" in text
            assert q["tolerance"]  # the bank's tolerance map covers the graded part


LATIN1_TITLES = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255,
                           blacklist_categories=("Cc", "Cf", "Cs", "Zs")) | st.just(" "),
    min_size=1, max_size=40).filter(lambda t: t.strip())


@pytest.mark.skipif(not HAS_PDFLATEX or shutil.which("pdftotext") is None,
                    reason="pdflatex and pdftotext (texlive, poppler-utils) not installed")
@settings(max_examples=6, deadline=None)
@given(title=LATIN1_TITLES)
def test_titles_full_of_special_characters_survive_latex_and_the_pdf(tmp_path_factory, title):
    import unicodedata

    from qgen.build import compile_pdf
    from qgen.export import export
    from qgen.generate import generate

    folder = tmp_path_factory.mktemp("title")
    bank = generate(["conv-pool-shape"], count=1, seed=1, difficulty="easy")
    (folder / "quiz.tex").write_text(export(bank, "latex", title=title, course=title))
    # NFKC on both sides: pdftotext reads ligatures (fi) and spacing accents (¸) in
    # their compatibility forms.
    text = unicodedata.normalize("NFKC", _pdftotext(compile_pdf(folder / "quiz.tex")))
    wanted = unicodedata.normalize("NFKC", title)
    assert " ".join(wanted.split()) in " ".join(text.split())
