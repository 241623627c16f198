"""Seeded generation of verified questions, and the JSON bank.

Each question has its own numpy Generator from a SeedSequence over (bank seed, family,
difficulty, index, attempt): the same command gives the same bytes in any process,
whatever PYTHONHASHSEED. A sample whose methods disagree, or whose multiple-choice
options cannot be told apart, is never emitted: the generator draws again (the next
attempt) and counts the rejection.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from qgen.errors import QgenError
from qgen.families import get_family
from qgen.families.base import DIFFICULTIES, Family, Part
from qgen.render import render

__all__ = ["SCHEMA", "Stats", "generate", "make_question", "question_rng", "stable_key"]

SCHEMA = 1
MAX_ATTEMPTS = 50
LETTERS = "ABCDEFGHIJ"


def stable_key(text: str) -> int:
    """A 64-bit integer from text, the same in every process (never Python's hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def question_rng(seed: int, family: str, difficulty: str, index: int,
                 attempt: int = 0) -> np.random.Generator:
    entropy = [seed & (2**64 - 1), stable_key(family), DIFFICULTIES.index(difficulty),
               index, attempt]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def question_id(family: str, difficulty: str, params: dict) -> str:
    """A hash of the content: the same question always has the same id."""
    content = json.dumps({"family": family, "difficulty": difficulty, "params": params},
                         sort_keys=True, separators=(",", ":"))
    return f"{family}-{hashlib.sha256(content.encode()).hexdigest()[:10]}"


@dataclass
class Stats:
    emitted: int = 0
    rejected: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"emitted": self.emitted, "rejected": dict(sorted(self.rejected.items()))}


def _correct_position(seed: int, family: str, difficulty: str, index: int, k: int) -> int:
    """Positions cycle through a shuffled order in each block of k questions, so every
    position holds the answer equally often and no fixed pattern gives it away."""
    block = np.random.default_rng(np.random.SeedSequence(
        [seed & (2**64 - 1), stable_key(family + "/choices"), DIFFICULTIES.index(difficulty),
         index // k])).permutation(k)
    return int(block[index % k])


def build_choices(family: Family, params: dict, answer: dict, k: int, position: int,
                  rng: np.random.Generator) -> list[dict] | None:
    """k options: the answer and k - 1 misconceptions' values, each outside the part's
    tolerance of the answer and of each other. None when too few distinct ones exist."""
    part = family.choice_part(params, answer)
    distractors: list[Part] = []  # each misconception's value, as displayed
    names: list[str] = []
    for misconception in family.misconceptions:
        value = misconception.wrong(params, answer)
        if value is None:
            continue
        shown = replace(part, value=replace(part, value=value).shown)
        printed = replace(part, value=part.shown)
        # Distinct from the exact answer and from the answer as printed (two printed
        # options one unit apart would be the same answer to a student), and from the
        # other distractors.
        if (not part.differs(shown.value) or not printed.differs(shown.value)
                or any(not other.differs(shown.value) for other in distractors)):
            continue
        distractors.append(shown)
        names.append(misconception.name)
    if len(distractors) < k - 1:
        return None
    keep = sorted(rng.permutation(len(distractors))[: k - 1])
    options = [{"value": distractors[i].value, "correct": False, "misconception": names[i]}
               for i in keep]
    options.insert(position, {"value": part.shown, "correct": True, "misconception": None})
    return [{"label": letter, **option} for letter, option in zip(LETTERS, options,
                                                                   strict=False)]


def _context(family: Family, question: dict, parts: list[Part]) -> dict:
    return {
        "params": question["params"],
        "answer": question["answer"],
        "difficulty": question["difficulty"],
        "parts": parts,
        "choices": question.get("choices"),
        "work": family.work(question["params"], question["answer"]),
    }


def render_question(question: dict, dialect: str) -> tuple[str, str]:
    """(prompt, solution) of a question in a dialect, from its params and answer."""
    family = get_family(question["family"])
    parts = family.parts(question["params"], question["answer"])
    context = _context(family, question, parts)
    prompt = render(f"{family.id}/question.j2", dialect, **context)
    solution = render(f"{family.id}/solution.j2", dialect, **context)
    return prompt.strip() + "\n", solution.strip() + "\n"


def make_question(family: Family, seed: int, difficulty: str, index: int, *,
                  choices: int | None = None, stats: Stats | None = None) -> dict:
    """One verified question; resamples (and counts) until every method agrees."""
    stats = stats if stats is not None else Stats()
    for attempt in range(MAX_ATTEMPTS):
        rng = question_rng(seed, family.id, difficulty, index, attempt)
        params = family.sample(rng, difficulty)
        try:
            result = family.solve(params)
        except QgenError:  # e.g. a kernel that outgrew a feature map: draw again
            stats.rejected["invalid sample"] += 1
            continue
        answer, record = result["answer"], dict(result["verification"])
        if not record["passed"]:
            stats.rejected["methods disagree"] += 1
            continue
        check = family.check(params, answer)
        if not check.passed:
            stats.rejected["family check failed"] += 1
            continue
        if check.method not in record["methods"]:
            record["methods"] = [*record["methods"], check.method]
            record["max_discrepancy"] = max(record["max_discrepancy"], check.discrepancy)
        parts = family.parts(params, answer)
        question = {
            "id": question_id(family.id, difficulty, params),
            "family": family.id,
            "difficulty": difficulty,
            "params": params,
            "answer": answer,
            "verification": record,
            "tolerance": {part.key: part.tolerance for part in parts},
        }
        if choices:
            position = _correct_position(seed, family.id, difficulty, index, choices)
            options = build_choices(family, params, answer, choices, position, rng)
            if options is None:
                stats.rejected["too few distinct distractors"] += 1
                continue
            question["choices"] = options
        question["prompt"], question["solution"] = render_question(question, "markdown")
        stats.emitted += 1
        return question
    raise QgenError(f"family={family.id!r}: no verified question after {MAX_ATTEMPTS} samples "
                    f"at difficulty {difficulty!r} ({dict(stats.rejected)})")


def _make_chunk(task: tuple) -> tuple[list[dict], dict]:
    """A worker's share: questions ``indices`` of one family (a top-level function, so
    that worker processes can run it)."""
    family_id, seed, difficulty, indices, choices = task
    family = get_family(family_id)
    stats = Stats()
    questions = [make_question(family, seed, difficulty, i, choices=choices, stats=stats)
                 for i in indices]
    return questions, dict(stats.rejected)


# Questions are handed to worker processes in chunks this large: big enough that the
# cost of sending a chunk (pickling its questions) is small next to making them.
CHUNK = 50


def generate(families: Iterable[str], *, count: int, seed: int, difficulty: str = "medium",
             choices: int | None = None, on_question: Callable[[], None] | None = None,
             jobs: int = 1) -> dict:
    """A JSON bank: ``count`` questions of each family, in order.

    ``jobs`` > 1 makes questions in that many worker processes. Every question depends
    only on (seed, family, difficulty, index), so the bank is the same bytes whatever
    the number of jobs."""
    families = [get_family(name) for name in families]
    if count < 1:
        raise QgenError(f"count={count} must be at least 1")
    if choices is not None and not 2 <= choices <= len(LETTERS):
        raise QgenError(f"choices={choices} must be between 2 and {len(LETTERS)}")
    if jobs < 1:
        raise QgenError(f"jobs={jobs} must be at least 1")
    for family in families:
        if difficulty not in family.difficulties:
            raise QgenError(f"difficulty={difficulty!r} must be one of "
                            f"{', '.join(family.difficulties)}")
    stats = Stats()
    questions = []
    if jobs == 1 or count * len(families) <= CHUNK:
        for family in families:
            for index in range(count):
                questions.append(make_question(family, seed, difficulty, index,
                                               choices=choices, stats=stats))
                if on_question:
                    on_question()
    else:
        import multiprocessing

        tasks = [(family.id, seed, difficulty, range(start, min(start + CHUNK, count)),
                  choices) for family in families for start in range(0, count, CHUNK)]
        import gc

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        # Forked workers share the parent's memory until they write to it; the collector
        # writes to every object it visits, so freeze what exists now (Python's advice
        # for fork): the workers' collections skip it and the pages stay shared.
        gc.freeze()
        try:
            with multiprocessing.get_context(method).Pool(jobs) as pool:
                for chunk, rejected in pool.imap(_make_chunk, tasks):  # in order
                    questions += chunk
                    stats.rejected.update(rejected)
                    for _ in chunk:
                        if on_question:
                            on_question()
        finally:
            gc.unfreeze()
        stats.emitted = len(questions)
    return {"schema": SCHEMA, "seed": seed, "generator": stats.to_dict(),
            "questions": questions}
