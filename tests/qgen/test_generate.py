"""Properties of generation over every family x many seeds x every difficulty."""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

import qgen
from qgen.bank import load_bank, validate_bank
from qgen.export import export
from qgen.families import FAMILY_IDS, get_family
from qgen.families.base import DIFFICULTIES, Part
from qgen.generate import generate, make_question

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = MarkdownIt("commonmark").use(dollarmath_plugin, double_inline=True)

families = st.sampled_from(FAMILY_IDS)
difficulties = st.sampled_from(DIFFICULTIES)
seeds = st.integers(0, 2**32 - 1)


def _math_and_text(markdown: str) -> tuple[int, list[str]]:
    """(number of math spans, text outside math) as markdown-it with dollarmath reads it."""
    maths, texts = 0, []
    for token in MARKDOWN.parse(markdown):
        if token.type == "math_block":
            maths += 1
        for child in token.children or []:
            if child.type.startswith("math"):
                maths += 1
            elif child.type == "text":
                texts.append(child.content)
    return maths, texts


@given(family=families, difficulty=difficulties, seed=seeds)
def test_generated_question_is_valid_verified_and_equals_qgen_solve(family, difficulty, seed):
    fam = get_family(family)
    q = make_question(fam, seed, difficulty, 0)
    fam.validate(q["params"])
    assert q["verification"]["passed"]
    assert len(q["verification"]["methods"]) >= 2
    assert q["answer"] == qgen.solve(family, q["params"])["answer"]
    assert json.loads(json.dumps(q)) == q


@given(family=families, difficulty=difficulties, seed=seeds)
def test_rendered_markdown_parses_with_dollarmath_and_the_solution_shows_the_answer(
        family, difficulty, seed):
    fam = get_family(family)
    q = make_question(fam, seed, difficulty, 0)
    for text in (q["prompt"], q["solution"]):
        maths, plain = _math_and_text(text)
        assert maths > 0
        # Every $ was read as math: none is left over in the text.
        assert not any("$" in t for t in plain), [t for t in plain if "$" in t]
    for part in fam.parts(q["params"], q["answer"]):
        for shown in part.shown_texts():
            assert shown in q["solution"], (part.key, shown)
    assert set(q["tolerance"]) == {p.key for p in fam.parts(q["params"], q["answer"])}


@given(family=families, difficulty=difficulties, seed=seeds)
def test_multiple_choice_options_are_distinct_beyond_tolerance_with_one_correct(
        family, difficulty, seed):
    fam = get_family(family)
    q = make_question(fam, seed, difficulty, 0, choices=4)
    options = q["choices"]
    assert len(options) == 4
    assert [o["label"] for o in options] == ["A", "B", "C", "D"]
    assert sum(o["correct"] for o in options) == 1
    part = fam.choice_part(q["params"], q["answer"])
    for i, a in enumerate(options):
        for b in options[i + 1:]:
            assert Part(part.key, part.label, a["value"], part.decimals, part.kind).differs(
                b["value"])
        assert a["correct"] or a["misconception"] in {m.name for m in fam.misconceptions}


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_correct_positions_are_spread_evenly(family):
    bank = generate([family], count=8, seed=3, choices=4)
    positions = Counter(next(i for i, o in enumerate(q["choices"]) if o["correct"])
                        for q in bank["questions"])
    assert positions == {0: 2, 1: 2, 2: 2, 3: 2}


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_same_command_gives_byte_identical_output_in_two_processes(difficulty):
    outputs = []
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        result = subprocess.run(
            [sys.executable, "-m", "qgen", "generate", *FAMILY_IDS, "-n", "2", "-s", "11",
             "-d", difficulty, "--choices", "3"], capture_output=True, env=env, check=True,
            cwd=ROOT)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0]


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_different_seeds_give_different_questions(family):
    a = generate([family], count=3, seed=42, difficulty="medium")
    b = generate([family], count=3, seed=43, difficulty="medium")
    assert [q["params"] for q in a["questions"]] != [q["params"] for q in b["questions"]]


def test_question_ids_are_stable_content_hashes():
    a = generate(["conv-pool-shape"], count=3, seed=5)
    b = generate(["conv-pool-shape"], count=3, seed=5)
    assert [q["id"] for q in a["questions"]] == [q["id"] for q in b["questions"]]
    assert len({q["id"] for q in a["questions"]}) == 3


def test_json_bank_round_trips_and_validates(tmp_path):
    bank = generate(list(FAMILY_IDS), count=1, seed=9, choices=3)
    path = tmp_path / "bank.json"
    path.write_text(export(bank, "json"))
    assert load_bank(path) == bank
    assert validate_bank(bank) is bank


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@settings(max_examples=1)
@given(seed=seeds)
def test_latex_bank_of_every_family_and_difficulty_compiles(tmp_path_factory, seed):
    questions = []
    for difficulty in DIFFICULTIES:
        questions += generate(list(FAMILY_IDS), count=1, seed=seed, difficulty=difficulty,
                              choices=3 if difficulty == "easy" else None)["questions"]
    bank = {"schema": 1, "seed": seed, "questions": questions}
    folder = tmp_path_factory.mktemp("latex")
    (folder / "bank.tex").write_text(export(bank, "latex", answers=True,
                                            title="Bank & 100% {test} #1"))
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             "bank.tex"], cwd=folder, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (folder / "bank.pdf").stat().st_size > 0


# "Most seeds": most draws must yield enough distinct misconception values without
# resampling (the generator draws again for the rest, so a lower share only costs time),
# and the options must draw on several misconceptions, not one or two.
MIN_CHOICE_SHARE = 0.9
SEEDS_FOR_CHOICES = 40


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("family", FAMILY_IDS)
def test_misconceptions_give_four_distinct_options_in_most_seeds(family, difficulty):
    from collections import Counter as Tally
    from dataclasses import replace

    from qgen.generate import build_choices, question_rng

    fam = get_family(family)
    built, valid, seen = 0, 0, Tally()
    for seed in range(SEEDS_FOR_CHOICES):
        rng = question_rng(seed, fam.id, difficulty, 0)
        params = fam.sample(rng, difficulty)
        try:
            answer = fam.solve(params)["answer"]
        except qgen.QgenError:  # an invalid draw the generator would resample
            continue
        valid += 1
        options = build_choices(fam, params, answer, 4, 0, rng)
        if options is None:
            continue
        built += 1
        # Each wrong option is outside the answer's tolerance (a student choosing it is
        # graded wrong), and every two options differ by more than one display unit.
        part = fam.choice_part(params, answer)
        assert all(part.differs(o["value"]) for o in options if not o["correct"])
        values = [o["value"] for o in options]
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                assert replace(part, value=values[i]).differs(values[j])
        seen.update(o["misconception"] for o in options if not o["correct"])
    assert built >= MIN_CHOICE_SHARE * valid, (built, valid)
    assert len(seen) >= 3
