"""The ``qgen`` command: thin. Each command parses its arguments, calls one library
function and prints. Errors become one line on stderr and exit status 2.

Heavy modules (sympy, the solvers) are imported inside the commands, so that
``qgen --help`` starts as fast as click itself.
"""

from __future__ import annotations

import json
import os
import sys

# qgen's arrays are small: OpenBLAS's threads cost more than they save on them (half
# the speed when generating), and --jobs is the parallelism. This must be set before
# numpy loads; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click  # noqa: E402

from qgen.commands import BadInput  # noqa: E402

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_UNVERIFIED = 1


# click >= 8.2 raises this for a group called with no arguments.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _OneLineErrors(click.Group):
    """Usage errors as one line (``qgen solve: --params: ...``), not click's usage block."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            return super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("qgen: interrupted", err=True)
            sys.exit(130)
        except _NO_ARGS_IS_HELP as error:  # bare `qgen`: show the help, as click does
            click.echo(error.ctx.get_help())
            sys.exit(0)
        except click.ClickException as error:
            ctx = getattr(error, "ctx", None)
            where = ctx.command_path if ctx is not None else "qgen"
            click.echo(f"{where}: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except BadInput as error:
            click.echo(f"qgen: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)


def _load_params(text: str, option: str = "--params"):
    """JSON given inline (starting with '{' or '['), a file path, or '-' for stdin."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        source, where = text, "the inline JSON"
    elif text == "-":
        source, where = sys.stdin.read(), "stdin"
    else:
        try:
            with open(text, encoding="utf-8") as handle:
                source = handle.read()
        except FileNotFoundError:
            raise BadInput(f"{option}={text!r}: no such file") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
            raise BadInput(f"{option}={text!r}: cannot be read ({error.__class__.__name__})"
                           ) from None
        where = text
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        raise BadInput(f"{option}: {where} is not JSON ({error.msg} at line {error.lineno} "
                       f"column {error.colno})") from None


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qgen", message="qgen %(version)s")
def cli():
    """qgen: deep-learning questions whose answers are proven by independent methods.

    Example:

    \b
        qgen solve backprop-step --params examples/homework1-q2.json
        qgen solve --help
    """


@cli.command()
@click.argument("family", metavar="FAMILY")
@click.option("--params", "params_text", required=True, metavar="FILE|JSON",
              help="The params: a JSON file, inline JSON, or - for stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer and its verification "
              "record as one JSON object.")
def solve(family: str, params_text: str, as_json: bool):
    """Solve one problem and verify the answer by independent methods.

    FAMILY is backprop-step (one SGD step on a dense network), net-summary (shapes,
    parameters, MACs and receptive field of a layer stack), receptive-field (ways to
    build a target receptive field from smaller filters, with model sizes), or any
    question family of `qgen list`.

    Exit status: 0 verified, 1 the methods disagree, 2 bad input.

    Example:

    \b
        qgen solve backprop-step --params examples/homework1-q2.json
        qgen solve net-summary --json --params '{"input": [32, 32, 3], "layers":
          [{"type": "conv", "filters": 16, "kernel": 5}, {"type": "maxpool", "kernel": 2}]}'
        qgen solve receptive-field --params '{"target": 9, "input": [24, 24],
          "in_channels": 5, "out_channels": 3}'
    """
    from qgen.errors import QgenError
    from qgen.families import FAMILY_IDS
    from qgen.problems import PROBLEMS

    known = sorted(set(PROBLEMS) | set(FAMILY_IDS))
    if family not in known:
        raise BadInput(f"FAMILY={family!r} must be one of {', '.join(known)}")
    params = _load_params(params_text)
    from qgen.problems import solve as solve_problem

    try:
        result = solve_problem(family, params, require_verified=False)
    except QgenError as error:
        raise BadInput(str(error)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        from qgen.report import print_solution

        print_solution(result)
    if not result["verification"]["passed"]:
        click.echo("qgen solve: the independent methods disagree: "
                   + "; ".join(result["verification"].get("failures", [])), err=True)
        sys.exit(EXIT_UNVERIFIED)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the families as a JSON list.")
def list_families(as_json: bool):
    """List the question families.

    Example:

    \b
        qgen list
        qgen list --json
    """
    from qgen.families import all_families

    families = [f.metadata() for f in all_families()]
    if as_json:
        click.echo(json.dumps([{k: f[k] for k in ("id", "title", "topic", "difficulties")}
                               for f in families], indent=2))
        return
    from rich.table import Table

    from qgen.report import console

    table = Table(title="qgen families", title_justify="left")
    for name in ("id", "title", "topic", "difficulties"):
        table.add_column(name)
    for f in families:
        table.add_row(f["id"], f["title"], f["topic"], ", ".join(f["difficulties"]))
    console().print(table)


def _figures_dir(fmt: str, output: str | None):
    """Markdown written to a file gets its figures as SVG files in figures/ beside it;
    on stdout there is nowhere to put them."""
    if fmt != "markdown" or not output:
        return None
    from pathlib import Path

    return Path(output).parent / "figures"


def _progress(total: int, label: str):
    """A rich progress bar on a terminal; nothing at all when stderr is piped."""
    from contextlib import nullcontext

    if not sys.stderr.isatty():
        return nullcontext(lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(),
                        MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)

    class _Bar:
        def __enter__(self):
            progress.__enter__()
            task = progress.add_task(label, total=total)
            return lambda: progress.advance(task)

        def __exit__(self, *exc):
            return progress.__exit__(*exc)

    return _Bar()


@cli.command()
@click.argument("families", nargs=-1, required=True, metavar="FAMILY [FAMILY ...]")
@click.option("--count", "-n", type=click.IntRange(min=1), default=1, show_default=True,
              help="Questions of each family.")
@click.option("--seed", "-s", type=int, required=True, help="The bank's seed (an integer).")
@click.option("--difficulty", "-d", default="medium", show_default=True,
              help="easy, medium or hard.")
@click.option("--format", "-f", "fmt", default="json", show_default=True,
              help="json, markdown or latex.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (atomically) instead of stdout.")
@click.option("--answers", is_flag=True, help="Include the worked solutions "
              "(the JSON bank always has them).")
@click.option("--choices", "-k", type=click.IntRange(min=2, max=10), default=None,
              help="Turn numeric questions into K-option multiple choice.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes (0: one per CPU). The output is the same bytes.")
def generate(families, count, seed, difficulty, fmt, output, answers, choices, force, jobs):
    """Generate verified questions with worked solutions.

    Each question is seeded from (seed, family, difficulty, index): the same command
    gives the same bytes in any process. A question whose independent methods
    disagree is never emitted.

    Example:

    \b
        qgen generate conv-pool-shape --count 5 --seed 1 --format markdown --answers
        qgen generate backprop-step receptive-field -n 3 -s 7 -d hard -o bank.json
        qgen generate conv-pool-shape -n 10 -s 2 --choices 4 -f latex -o quiz.tex
    """
    from qgen.errors import QgenError
    from qgen.export import FORMATS, export
    from qgen.families import get_family
    from qgen.families.base import DIFFICULTIES
    from qgen.fileio import check_writable, write_atomic

    try:
        for name in families:
            get_family(name)
        if difficulty not in DIFFICULTIES:
            raise QgenError(f"--difficulty={difficulty!r} must be one of "
                            f"{', '.join(DIFFICULTIES)}")
        if fmt not in FORMATS:
            raise QgenError(f"--format={fmt!r} must be one of {', '.join(FORMATS)}")
        if output:
            check_writable(output, force=force)
        from qgen.generate import generate as generate_bank

        with _progress(count * len(families), "generating") as tick:
            import os

            bank = generate_bank(families, count=count, seed=seed, difficulty=difficulty,
                                 choices=choices, on_question=tick,
                                 jobs=jobs or os.cpu_count() or 1)
        text = export(bank, fmt, answers=answers, title=f"qgen questions (seed {seed})",
                      figures_dir=_figures_dir(fmt, output))
        if output:
            write_atomic(output, text, force=force)
        else:
            click.echo(text, nl=False)
    except QgenError as error:
        raise BadInput(str(error)) from None


def _progress_factory():
    """on_progress(total, label) for the library: a bar on a terminal, else nothing."""
    bars = []

    def start(total: int, label: str):
        bar = _progress(total, label)
        tick = bar.__enter__()
        bars.append(bar)
        return tick

    return start, bars


@cli.command()
@click.argument("recipe", metavar="RECIPE.toml")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="The folder to create.")
@click.option("--roster", type=click.Path(dir_okay=False),
              help="A CSV with columns id and name: one variant per student.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
def build(recipe, output, roster, force):
    """Build a quiz from a recipe: Markdown, LaTeX/PDF, Moodle XML, GIFT, Canvas QTI.

    Writes quiz.md, answers.md, quiz.tex, answers.tex (exam class), quiz.pdf and
    answers.pdf (when pdflatex is installed), moodle.xml, quiz.gift, canvas-qti.zip and
    bank.json. With --roster, one folder of documents per student, each seeded from
    (recipe seed, student id), and key.csv with every student's answers. The folder
    appears only when the whole build succeeded.

    Example:

    \b
        qgen build examples/homework1.toml -o build/homework1
        qgen build examples/homework1.toml --roster roster.csv -o build/per-student
    """
    from qgen.build import build as build_quiz
    from qgen.errors import QgenError

    start, bars = _progress_factory()
    try:
        report = build_quiz(recipe, output, roster=roster, force=force, on_progress=start)
    except QgenError as error:
        raise BadInput(str(error)) from None
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    for warning in report.warnings:
        click.echo(f"qgen build: warning: {warning}", err=True)
    click.echo(f"{report.directory}: {report.questions} questions, {len(report.files)} files")
    for name in report.files:
        click.echo(f"  {name}")


@cli.command(name="export")
@click.argument("bank", metavar="BANK.json")
@click.option("--format", "-f", "fmt", required=True,
              help="markdown, latex, moodle, gift, qti or json.")
@click.option("--answers", is_flag=True, help="Include answers and worked solutions "
              "(markdown, latex; the LMS formats always carry them).")
@click.option("--title", default="Question bank", show_default=True,
              help="The document's title.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (atomically) instead of stdout; required for qti.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def export_bank(bank, fmt, answers, title, output, force):
    """Export a bank made earlier (qgen generate -f json) to another format.

    Example:

    \b
        qgen generate conv-pool-shape -n 5 -s 1 -o bank.json
        qgen export bank.json -f moodle -o quiz.xml
        qgen export bank.json -f latex --answers -o answers.tex
        qgen export bank.json -f qti -o canvas.zip
    """
    from qgen.bank import load_bank
    from qgen.errors import QgenError
    from qgen.export import BINARY_FORMATS, FORMATS, export
    from qgen.fileio import check_writable, write_atomic

    try:
        if fmt not in FORMATS:
            raise QgenError(f"--format={fmt!r} must be one of {', '.join(FORMATS)}")
        if fmt in BINARY_FORMATS and not output:
            raise QgenError(f"--format={fmt!r} writes a zip file: give --output FILE")
        if output:
            check_writable(output, force=force)
        data = export(load_bank(bank), fmt, answers=answers, title=title,
                      figures_dir=_figures_dir(fmt, output))
        if output:
            write_atomic(output, data, force=force)
        else:
            click.echo(data, nl=False)
    except QgenError as error:
        raise BadInput(str(error)) from None


def _register_commands() -> None:
    """Commands that live in qgen.commands.<name> (each module imports only click at
    the top, so registering them keeps start-up light)."""
    import importlib
    import pkgutil

    import qgen.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"qgen.commands.{info.name}")
        cli.add_command(module.command)


_register_commands()


def main() -> None:
    try:
        cli.main(prog_name="qgen")
    finally:
        # The work is done and printed: move what is alive out of the collector's reach,
        # so the interpreter's last collection at exit skips it (SymPy, when a command
        # loaded it, is hundreds of thousands of objects: ~0.1 s).
        import gc

        gc.freeze()


if __name__ == "__main__":
    main()
