"""Quiz recipes (TOML): title, course, seed and sections, validated with errors that name
the file, the key and the rule; and the bank a recipe makes, for the class or for one
student.

    title = "Homework 1"
    course = "Deep Learning"
    seed = 2024

    [[sections]]
    family = "backprop-step"
    count = 1
    difficulty = "easy"
    points = 10
    type = "numeric"      # or "choice" (multiple choice, `choices` options, default 4)

Each section is seeded from (recipe seed, student id, section key): the key is the
section's ``name`` if it has one, else its family, difficulty and type (numbered when
several sections share them). So reordering or adding sections never changes another
section's numbers for a student.
"""

from __future__ import annotations

import csv
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from qgen.errors import QgenError

__all__ = ["Recipe", "Section", "load_recipe", "load_roster", "recipe_bank"]

SECTION_KEYS = {"name", "family", "count", "difficulty", "points", "type", "choices"}
TOP_KEYS = {"title", "course", "seed", "sections"}
TYPES = ("numeric", "choice")
MAX_COUNT = 500


@dataclass(frozen=True)
class Section:
    key: str
    family: str
    count: int
    difficulty: str
    points: float
    type: str
    choices: int | None


@dataclass(frozen=True)
class Recipe:
    title: str
    course: str
    seed: int
    sections: tuple[Section, ...]
    path: str = "recipe"


def _fail(path: str, key: str, value, rule: str) -> QgenError:
    shown = repr(value) if isinstance(value, str) else value
    return QgenError(f"{path}: {key}={shown} {rule}")


def _int(path, key, value, minimum=None, maximum=None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, key, value, "must be an integer")
    if minimum is not None and value < minimum:
        raise _fail(path, key, value, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(path, key, value, f"must be at most {maximum}")
    return value


def _text(path, key, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, value, "must be a non-empty string")
    return value


def parse_recipe(data: dict, path: str = "recipe") -> Recipe:
    from qgen.families import FAMILY_IDS
    from qgen.families.base import DIFFICULTIES

    for key in data:
        if key not in TOP_KEYS:
            raise _fail(path, key, data[key], f"is not a recipe field (known: "
                        f"{', '.join(sorted(TOP_KEYS))})")
    for key in ("title", "seed", "sections"):
        if key not in data:
            raise QgenError(f"{path}: {key} is missing (a recipe needs title, seed and "
                            "sections)")
    title = _text(path, "title", data["title"])
    course = _text(path, "course", data.get("course", "qgen"))
    seed = _int(path, "seed", data["seed"], minimum=0)
    raw_sections = data["sections"]
    if not isinstance(raw_sections, list) or not raw_sections:
        raise _fail(path, "sections", raw_sections, "must be a non-empty array of tables "
                    "([[sections]])")
    sections = []
    default_keys: Counter = Counter()
    names = set()
    for i, raw in enumerate(raw_sections):
        where = f"sections[{i}]"
        if not isinstance(raw, dict):
            raise _fail(path, where, raw, "must be a table")
        for key in raw:
            if key not in SECTION_KEYS:
                raise _fail(path, f"{where}.{key}", raw[key], "is not a section field "
                            f"(known: {', '.join(sorted(SECTION_KEYS))})")
        if "family" not in raw:
            raise QgenError(f"{path}: {where}.family is missing")
        family = raw["family"]
        if family not in FAMILY_IDS:
            raise _fail(path, f"{where}.family", family,
                        f"must be one of {', '.join(FAMILY_IDS)}")
        difficulty = raw.get("difficulty", "medium")
        if difficulty not in DIFFICULTIES:
            raise _fail(path, f"{where}.difficulty", difficulty,
                        f"must be one of {', '.join(DIFFICULTIES)}")
        kind = raw.get("type", "numeric")
        if kind not in TYPES:
            raise _fail(path, f"{where}.type", kind, f"must be one of {', '.join(TYPES)}")
        count = _int(path, f"{where}.count", raw.get("count", 1), 1, MAX_COUNT)
        points = raw.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise _fail(path, f"{where}.points", points, "must be a number >= 0")
        choices = None
        if kind == "choice":
            choices = _int(path, f"{where}.choices", raw.get("choices", 4), 2, 10)
        elif "choices" in raw:
            raise _fail(path, f"{where}.choices", raw["choices"],
                        "needs type = \"choice\"")
        if "name" in raw:
            key = _text(path, f"{where}.name", raw["name"])
            if key in names:
                raise _fail(path, f"{where}.name", key, "is used by another section")
            names.add(key)
        else:
            base = f"{family}/{difficulty}/{kind}"
            default_keys[base] += 1
            key = base if default_keys[base] == 1 else f"{base}#{default_keys[base]}"
        sections.append(Section(key, family, count, difficulty, float(points), kind, choices))
    return Recipe(title, course, seed, tuple(sections), path)


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QgenError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QgenError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as error:
        raise QgenError(f"{path}: not valid TOML: {error}") from None
    return parse_recipe(data, str(path))


def load_roster(path: str | Path) -> list[dict]:
    """A CSV with columns id and name; ids must be non-empty and unique."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QgenError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QgenError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "id" not in fields or "name" not in fields:
        raise QgenError(f"{path}: line 1: the header must have columns id and name "
                        f"(found {', '.join(reader.fieldnames or []) or 'nothing'})")
    students, seen = [], {}
    for line, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        sid = row.get("id", "")
        if not sid:
            raise QgenError(f"{path}: line {line}: id is empty")
        if not all(ch.isalnum() or ch in "-_." for ch in sid):
            raise QgenError(f"{path}: line {line}: id={sid!r} may only hold letters, "
                            "digits, '-', '_' and '.' (it names the student's folder)")
        if sid in seen:
            raise QgenError(f"{path}: line {line}: id={sid!r} repeats line {seen[sid]}")
        seen[sid] = line
        students.append({"id": sid, "name": row.get("name", "")})
    if not students:
        raise QgenError(f"{path}: the roster has no students")
    return students


def section_seed(recipe: Recipe, section: Section, student: str = "") -> int:
    from qgen.generate import stable_key

    return stable_key(f"{recipe.seed}/{student}/{section.key}")


def recipe_bank(recipe: Recipe, student: str = "", on_question=None) -> dict:
    """The bank of a recipe (for one student when ``student`` is given): each section
    generated from its own seed, questions tagged with their section and points."""
    from qgen.families import get_family
    from qgen.generate import Stats, make_question

    stats = Stats()
    questions = []
    for section in recipe.sections:
        family = get_family(section.family)
        seed = section_seed(recipe, section, student)
        for index in range(section.count):
            q = make_question(family, seed, section.difficulty, index,
                              choices=section.choices, stats=stats)
            q["section"] = section.key
            q["points"] = section.points
            questions.append(q)
            if on_question:
                on_question()
    bank = {"schema": 1, "seed": recipe.seed, "title": recipe.title, "course": recipe.course,
            "generator": stats.to_dict(), "questions": questions}
    if student:
        bank["student"] = student
    return bank
