"""``qgen preview BANK.json -o DIR``: a static HTML page of a bank, math by KaTeX."""

from __future__ import annotations

import click

from qgen.commands import BadInput


@click.command(name="preview")
@click.argument("bank", metavar="BANK.json")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="The folder to write: index.html and katex/.")
@click.option("--title", default=None, help="The page's title (default: the bank's file "
              "name and seed).")
@click.option("--force", is_flag=True, help="Replace an existing, non-empty folder.")
def command(bank, output, title, force):
    """Write a self-contained HTML page of a bank: questions, figures, worked solutions
    behind a show/hide toggle, and an answer box per question that checks the answer
    in the browser. Math is rendered offline by KaTeX, copied into the folder (Debian:
    apt-get install libjs-katex fonts-katex; or npm install katex).

    Open DIR/index.html in a browser; nothing is fetched from the network.

    Example:

    \b
        qgen generate conv-pool-shape backprop-step -n 3 -s 1 -o bank.json
        qgen preview bank.json -o preview
        xdg-open preview/index.html
    """
    from qgen.errors import QgenError
    from qgen.preview import preview

    try:
        report = preview(bank, output, title=title, force=force)
    except QgenError as error:
        raise BadInput(str(error)) from None
    click.echo(f"{report.directory / 'index.html'}: {report.questions} questions")
