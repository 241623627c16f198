"""``qgen selftest``: the toolkit's own property checks against the installed package."""

from __future__ import annotations

import sys

import click

from qgen.commands import BadInput

__all__ = ["command"]

EXIT_FAILED = 1
_VERSIONS = ("qgen", "numpy", "sympy", "hypothesis")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in _VERSIONS:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def _print_checks(console) -> None:
    from rich.table import Table

    from qgen.selftest import CHECKS

    table = Table(title="qgen selftest checks", title_justify="left")
    table.add_column("check")
    table.add_column("claim")
    for check in CHECKS:
        table.add_row(check.name, check.claim)
    console.print(table)


def _print_report(console, results, seconds: float) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"qgen selftest: {_versions()}"))
    table = Table(title_justify="left")
    for name, justify in (("check", "left"), ("status", "left"), ("examples", "right"),
                          ("time", "right")):
        table.add_column(name, justify=justify)
    for result in results:
        status = Text("pass", style="green") if result.passed else Text("FAIL", style="bold red")
        table.add_row(result.name, status, str(result.examples), f"{result.seconds:.2f} s")
    console.print(table)
    failed = [result for result in results if not result.passed]
    for result in failed:
        # Messages and examples are plain text: no rich markup in what a check printed.
        console.print(Text(f"\nFAIL {result.name}: {result.claim}", style="bold red"))
        console.print(Text(_indent(result.error or "")))
        if result.counterexample:
            console.print(Text(_indent(result.counterexample)))
    held = len(results) - len(failed)
    if failed:
        names = ", ".join(result.name for result in failed)
        console.print(Text(f"\n{len(failed)} of {len(results)} checks failed: {names} "
                           f"({seconds:.1f} s)", style="bold red"))
    else:
        console.print(Text(f"\nall {held} checks hold ({seconds:.1f} s)", style="green"))


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


@click.command(name="selftest")
@click.option("--examples", "-n", "max_examples", type=click.IntRange(min=1), default=None,
              help="Examples per check (default 100; the homework's golden check has one).")
@click.option("--check", "-k", "names", multiple=True, metavar="NAME",
              help="Run only this check (repeatable); see --list.")
@click.option("--list", "list_only", is_flag=True, help="List the checks and their claims.")
def command(max_examples, names, list_only):
    """Run the toolkit's own property checks against the installed package.

    Each check is a Hypothesis property over verify: backprop against finite
    differences and against SymPy, output sizes, receptive fields and MACs against
    actual runs, the closed forms against the SymPy formulas, and the homework's
    question 2 against its printed answer. Runs are derandomized, so every install
    tests the same examples; a failing check shows its shrunk minimal example.

    Exit status: 0 when every check holds, 1 when one fails, 2 bad input.

    Example:

    \b
        qgen selftest
        qgen selftest --examples 1000
        qgen selftest --check backprop-vs-symbolic --check formulas-vs-symbolic
        qgen selftest --list
    """
    import time

    from qgen.cli import _progress
    from qgen.errors import QgenError
    from qgen.report import console as make_console
    from qgen.selftest import CHECKS, DEFAULT_EXAMPLES, run_selftest

    console = make_console()
    if list_only:
        _print_checks(console)
        return
    options = {"names": names, "max_examples": max_examples or DEFAULT_EXAMPLES}
    total = len(set(names)) if names else len(CHECKS)
    start = time.perf_counter()
    try:
        with _progress(total, "selftest") as tick:
            results = run_selftest(**options, on_result=lambda result: tick())
    except QgenError as error:
        raise BadInput(f"selftest: {error}") from None
    _print_report(console, results, time.perf_counter() - start)
    if not all(result.passed for result in results):
        sys.exit(EXIT_FAILED)
