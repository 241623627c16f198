"""``qgen practice FAMILY``: questions in the terminal, graded, with worked solutions."""

from __future__ import annotations

import sys

import click

from qgen.commands import BadInput

EXIT_INTERRUPTED = 130


@click.command(name="practice")
@click.argument("family", metavar="FAMILY")
@click.option("--difficulty", "-d", default="medium", show_default=True,
              help="easy, medium or hard.")
@click.option("--seed", "-s", type=int, default=None,
              help="Ask the questions of this seed (default: a new seed, printed).")
@click.option("--count", "-n", type=click.IntRange(min=1), default=None,
              help="Stop after N questions (default: until the input ends).")
@click.option("--choices", "-k", type=click.IntRange(min=2, max=10), default=None,
              help="Ask K-option multiple-choice questions.")
def command(family, difficulty, seed, count, choices):
    """Practice in the terminal: answer generated questions, get each graded (with the
    misconception a wrong answer matches) and its worked solution, and keep a score.

    Type one line per part: a number, a shape or vector on one line (14x14x16), a
    matrix one row per line, an expression (a - y), an option's letter; or the whole
    answer as one JSON object by part key. End the input (Ctrl-D) to stop: the score
    is printed and the exit status is 0. Plain stdin, so it can be scripted.

    Example:

    \b
        qgen practice conv-pool-shape --difficulty easy
        qgen practice backprop-step --seed 7 --count 1
        printf '12x12x24\\n' | qgen practice conv-pool-shape -s 1 -n 1 -k 4
        printf 'A\\n' | qgen practice conv-pool-shape -s 1 -n 1 -k 4
    """
    from qgen.errors import QgenError
    from qgen.practice import practice

    try:
        score = practice(family, difficulty=difficulty, seed=seed, count=count,
                         choices=choices)
    except QgenError as error:
        raise BadInput(str(error)) from None
    if score.interrupted:
        sys.exit(EXIT_INTERRUPTED)
