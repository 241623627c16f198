"""Banks shared by the export tests: every family at every difficulty, with and without
multiple choice, and a small two-family bank for the cheaper properties."""

import pytest

from qgen.families import FAMILY_IDS, get_family
from qgen.families.base import DIFFICULTIES
from qgen.generate import generate


def make_bank(difficulty: str, choices: int | None, count: int = 2, seed: int = 20240) -> dict:
    families = [f for f in FAMILY_IDS if difficulty in get_family(f).difficulties]
    return generate(families, count=count, seed=seed, difficulty=difficulty, choices=choices)


@pytest.fixture(scope="module", params=[(d, c) for d in DIFFICULTIES for c in (None, 4)],
                ids=lambda p: f"{p[0]}-{'choices' if p[1] else 'open'}")
def bank(request) -> dict:
    return make_bank(*request.param)


@pytest.fixture(scope="module")
def small_bank() -> dict:
    # Two families, so that the properties see two categories; cheap to render.
    return generate(["transposed-dilated", "conv-pool-shape"], count=1, seed=3,
                    difficulty="easy")
