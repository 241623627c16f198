"""``qgen audit KEY.toml``: check an answer key written by a person (qgen.audit)."""

from __future__ import annotations

import click

from qgen.commands import BadInput


@click.command(name="audit")
@click.argument("key", metavar="KEY.toml")
@click.option("--json", "as_json", is_flag=True,
              help='Print the findings as JSON: {"items": [{"id", "status", "claimed", '
                   '"verified", "misconception"?, "reason"?}]}.')
@click.option("--only", multiple=True, metavar="ID",
              help="Audit only the item with this id (repeat for several).")
def command(key: str, as_json: bool, only: tuple[str, ...]):
    """Audit an answer key written by a person: is each claimed answer right?

    KEY.toml lists items, each with a `qgen solve` family, its params (inline, or
    params_file) and claims: answer paths mapped to the claimed values. Each claim is
    correct (within the precision it was written to), wrong (with the likely
    misconception when a known one gives exactly the claimed value) or unchecked (a
    path the answer does not have, or prose), with the verified value.

    Exit status: 0 whatever the findings, 2 bad input.

    Example:

    \b
        qgen audit examples/homework1-key.toml
        qgen audit examples/homework1-key.toml --only q3 --json
    """
    import json

    from qgen.audit import audit_key, print_audit
    from qgen.errors import QgenError

    try:
        result = audit_key(key, only=only or None)
    except QgenError as error:
        raise BadInput(str(error)) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_audit(result)
